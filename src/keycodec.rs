//! Primary-key value <-> S3 object key. The object key is the table prefix
//! followed by the key value verbatim: no escaping, so objects written by other
//! tools map to rows one to one.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
