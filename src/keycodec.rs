//! Primary-key value <-> S3 object key. The object key is the table prefix
//! followed by the key value verbatim: no escaping, so objects written by other
//! tools map to rows one to one.

use std::cmp::Ordering;
use std::fmt;

/// S3's limit on the length of an object key, in UTF-8 bytes.
pub const MAX_OBJECT_KEY_BYTES: usize = 1024;

/// Why a key value cannot name an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Empty,
    NotUtf8,
    /// `len` is the object key's length including the prefix.
    TooLong {
        len: usize,
    },
    /// The key column compares with PAD SPACE, so `a` and `a ` would be the
    /// same row but different objects.
    TrailingSpace,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => {
                f.write_str("the key is empty: S3 cannot store an object with an empty key")
            }
            KeyError::NotUtf8 => {
                f.write_str("the key is not valid UTF-8: S3 object keys are UTF-8")
            }
            KeyError::TooLong { len } => write!(
                f,
                "the object key would be {len} bytes with the table prefix; \
                 S3 allows at most {MAX_OBJECT_KEY_BYTES}"
            ),
            KeyError::TrailingSpace => f.write_str(
                "the key ends with a space, which the key column's PAD SPACE collation ignores; \
                 use VARBINARY or utf8mb4_nopad_bin for such keys",
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// Whether S3's listing order (UTF-8 bytes) is the key column's own order,
/// so that ranges on the key can be LISTs from a start key: for bytes
/// (`binary`), and for Unicode text compared by code point (the key's
/// collation is byte-exact: `check_schema`). Not for other charsets: latin1
/// is cp1252, whose byte order is not code-point order.
pub fn listing_in_key_order(charset: &str, binary: bool) -> bool {
    binary || matches!(charset, "utf8mb4" | "utf8mb3" | "ascii")
}

/// The object key for key value `key` in the table under `prefix`.
/// `pad_space`: the key column's collation ignores trailing spaces.
pub fn object_key(prefix: &str, key: &[u8], pad_space: bool) -> Result<String, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    let key = std::str::from_utf8(key).map_err(|_| KeyError::NotUtf8)?;
    let len = prefix.len() + key.len();
    if len > MAX_OBJECT_KEY_BYTES {
        return Err(KeyError::TooLong { len });
    }
    if pad_space && key.ends_with(' ') {
        return Err(KeyError::TrailingSpace);
    }
    let mut out = String::with_capacity(len);
    out.push_str(prefix);
    out.push_str(key);
    Ok(out)
}

/// The key value of an object listed under `prefix`, or None when the object
/// is not a row: outside the prefix, or named exactly like the prefix (a
/// console "folder marker").
pub fn key_of<'a>(prefix: &str, object_key: &'a str) -> Option<&'a str> {
    object_key
        .strip_prefix(prefix)
        .filter(|key| !key.is_empty())
}

/// How a PAD SPACE collation (`utf8mb4_bin`) orders two keys given as
/// UTF-8 bytes: as if the shorter were padded with spaces. UTF-8 byte order
/// is code point order, and every byte of a multi-byte character is above
/// space, so comparing bytes against padding spaces is the collation's rule.
pub fn pad_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    match a[..n].cmp(&b[..n]) {
        Ordering::Equal => {}
        o => return o,
    }
    // The longer one's rest against spaces.
    let rest_vs_spaces = |rest: &[u8]| {
        rest.iter()
            .find(|&&c| c != b' ')
            .map_or(Ordering::Equal, |&c| c.cmp(&b' '))
    };
    if a.len() > n {
        rest_vs_spaces(&a[n..])
    } else {
        rest_vs_spaces(&b[n..]).reverse()
    }
}

/// `key` without its trailing spaces: under PAD SPACE the same value.
pub fn pad_trim(mut key: &[u8]) -> &[u8] {
    while let [rest @ .., b' '] = key {
        key = rest;
    }
    key
}

/// The first key, in byte order, that a PAD SPACE collation puts at or above
/// `bound`: the shortest prefix of `bound` that compares >= it. A prefix
/// compares as itself padded with spaces, so `'a'` >= `'a\t'` and
/// `'a'` >= `'a \u{1}'`: those sort before their prefix, but S3 lists them after.
pub fn pad_floor(bound: &[u8]) -> &[u8] {
    (0..=bound.len())
        .map(|i| &bound[..i])
        .find(|p| pad_cmp(p, bound) != Ordering::Less)
        .unwrap_or(bound)
}

/// Whether no key listed after `listed` (S3's byte order) can sort at or
/// below `held` under PAD SPACE. Only keys extending `held` with spaces and
/// then a byte below space (or nothing) do, and S3 lists every such key
/// before the first key that extends it with spaces and then a byte above
/// space, or that does not extend it at all.
pub fn pad_settled(held: &[u8], listed: &[u8]) -> bool {
    match listed.strip_prefix(held) {
        None => true,
        Some(rest) => rest.iter().find(|&&c| c != b' ').is_some_and(|&c| c > b' '),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_order_is_key_order_for_bytes_and_unicode_only() {
        assert!(listing_in_key_order("binary", true));
        assert!(listing_in_key_order("utf8mb4", false));
        assert!(listing_in_key_order("utf8mb3", false));
        assert!(listing_in_key_order("ascii", false));
        assert!(!listing_in_key_order("latin1", false));
        assert!(!listing_in_key_order("utf16", false));
    }

    const ODD_KEYS: &[&str] = &[
        "a//b",
        "dir/",
        "./x",
        "../x",
        "q?x#y",
        "%2F",
        "/leading",
        "é文😀",
        " leading space",
        "tab\tin",
        "a+b c",
    ];

    #[test]
    fn odd_keys_are_verbatim_and_round_trip() {
        for prefix in ["", "t/", "db/tbl/"] {
            for key in ODD_KEYS {
                let object = object_key(prefix, key.as_bytes(), true).unwrap();
                assert_eq!(object, format!("{prefix}{key}"));
                assert_eq!(key_of(prefix, &object), Some(*key));
            }
        }
    }

    #[test]
    fn empty_key() {
        assert_eq!(object_key("t/", b"", false), Err(KeyError::Empty));
        assert_eq!(object_key("", b"", true), Err(KeyError::Empty));
    }

    #[test]
    fn not_utf8() {
        assert_eq!(object_key("t/", b"a\xffb", false), Err(KeyError::NotUtf8));
        // A truncated 4-byte sequence.
        assert_eq!(
            object_key("t/", b"\xf0\x9f\x98", false),
            Err(KeyError::NotUtf8)
        );
    }

    #[test]
    fn length_limit_counts_prefix_bytes() {
        let prefix = "pfx/";
        let fits = "k".repeat(MAX_OBJECT_KEY_BYTES - prefix.len());
        let object = object_key(prefix, fits.as_bytes(), false).unwrap();
        assert_eq!(object.len(), MAX_OBJECT_KEY_BYTES);

        let over = "k".repeat(MAX_OBJECT_KEY_BYTES - prefix.len() + 1);
        assert_eq!(
            object_key(prefix, over.as_bytes(), false),
            Err(KeyError::TooLong {
                len: MAX_OBJECT_KEY_BYTES + 1
            })
        );
        // Bytes, not characters: 342 three-byte characters are 1026 bytes.
        let wide = "文".repeat(342);
        assert_eq!(
            object_key("", wide.as_bytes(), false),
            Err(KeyError::TooLong { len: 1026 })
        );
    }

    #[test]
    fn trailing_space_only_matters_with_pad_space() {
        assert_eq!(object_key("t/", b"a ", true), Err(KeyError::TrailingSpace));
        assert_eq!(object_key("t/", b" ", true), Err(KeyError::TrailingSpace));
        assert_eq!(object_key("t/", b"a ", false).unwrap(), "t/a ");
        assert_eq!(object_key("t/", b"a\t", true).unwrap(), "t/a\t");
    }

    #[test]
    fn key_of_rejects_foreign_and_marker_objects() {
        assert_eq!(key_of("t/", "t/"), None);
        assert_eq!(key_of("t/", "u/x"), None);
        assert_eq!(key_of("t/", "t"), None);
        assert_eq!(key_of("t/", "T/x"), None);
        assert_eq!(key_of("t/", "t//"), Some("/"));
        assert_eq!(key_of("", "x"), Some("x"));
        assert_eq!(key_of("", ""), None);
    }

    #[test]
    fn messages() {
        assert_eq!(
            KeyError::Empty.to_string(),
            "the key is empty: S3 cannot store an object with an empty key"
        );
        assert_eq!(
            KeyError::NotUtf8.to_string(),
            "the key is not valid UTF-8: S3 object keys are UTF-8"
        );
        assert_eq!(
            KeyError::TooLong { len: 1030 }.to_string(),
            "the object key would be 1030 bytes with the table prefix; S3 allows at most 1024"
        );
        assert_eq!(
            KeyError::TrailingSpace.to_string(),
            "the key ends with a space, which the key column's PAD SPACE collation ignores; \
             use VARBINARY or utf8mb4_nopad_bin for such keys"
        );
    }

    /// The collation's definition: both padded with spaces to one length.
    fn padded(s: &str, n: usize) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.resize(n, b' ');
        v
    }

    #[test]
    fn pad_cmp_is_the_padded_comparison() {
        let keys = [
            "", "a", "a ", "a\t", "a \t", "a  \u{1}", "a b", "a!", "ab", "a\u{1}x", "b", "é", " ",
            "\t",
        ];
        for a in keys {
            for b in keys {
                let n = a.len().max(b.len());
                assert_eq!(
                    pad_cmp(a.as_bytes(), b.as_bytes()),
                    padded(a, n).cmp(&padded(b, n)),
                    "{a:?} vs {b:?}"
                );
            }
        }
        assert_eq!(pad_cmp(b"a", b"a   "), Ordering::Equal);
        assert_eq!(pad_cmp(b"a\t", b"a"), Ordering::Less);
        assert_eq!(pad_cmp(b"a \t", b"a"), Ordering::Less);
        assert_eq!(pad_cmp(b"a b", b"a"), Ordering::Greater);
    }

    #[test]
    fn pad_floor_reaches_back_to_prefixes_that_sort_above() {
        assert_eq!(pad_floor(b"abc"), b"abc");
        assert_eq!(pad_floor(b"a\t"), b"a");
        assert_eq!(pad_floor(b"a \t"), b"a");
        assert_eq!(pad_floor(b"a \tb\x01"), b"a");
        assert_eq!(pad_floor(b"ab\x01"), b"ab");
        assert_eq!(pad_floor(b"\x01"), b"");
        assert_eq!(pad_trim(b"a  "), b"a");
        assert_eq!(pad_trim(b"  "), b"");
    }

    #[test]
    fn pad_settled_only_after_every_lower_extension() {
        assert!(!pad_settled(b"a", b"a"));
        assert!(!pad_settled(b"a", b"a\t"));
        assert!(!pad_settled(b"a", b"a  "));
        assert!(!pad_settled(b"a", b"a \x01"));
        assert!(pad_settled(b"a", b"a b"));
        assert!(pad_settled(b"a", b"a!"));
        assert!(pad_settled(b"a", b"b"));
        assert!(pad_settled(b"ab", b"ac"));
    }
}
