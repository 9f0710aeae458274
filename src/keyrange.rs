//! How a range of key values is listed: the narrowest LIST prefix (the
//! table prefix plus what both ends share), where the first page starts, and
//! the exact bounds applied to what comes back (PAD SPACE collations
//! included).

use crate::keycodec;
use crate::scan;

/// A range of key values (without the table prefix): `None` is unbounded;
/// `(key, inclusive)` otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyRange {
    pub lower: Option<(Vec<u8>, bool)>,
    pub upper: Option<(Vec<u8>, bool)>,
}

/// How a key range is listed: the narrowest LIST prefix (the table prefix plus
/// what both ends share), where the first page starts, and the exact bounds
/// the lister applies to what it gets back.
#[derive(Debug, PartialEq)]
pub struct ListPlan {
    pub prefix: String,
    pub start_after: Option<String>,
    pub bounds: scan::Bounds,
}

/// `s` up to its first control character. Some stores (moto) echo Prefix
/// and StartAfter into the LIST answer without encoding them, even when
/// asked for encoding-type=url, and a control character there makes the
/// answer unreadable XML. Listing from a shorter key lists a superset, which
/// the bounds filter, so plans never send one.
fn xml_safe(s: &str) -> &str {
    let unsafe_in_xml = |c: char| c < ' ' || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}';
    &s[..s.find(unsafe_in_xml).unwrap_or(s.len())]
}

/// The longest prefix of `b` that is valid UTF-8.
fn utf8_prefix(b: &[u8]) -> &str {
    match std::str::from_utf8(b) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default(),
    }
}

impl ListPlan {
    /// `pad`: the key column compares with PAD SPACE. Its bounds are taken
    /// without trailing spaces (the same value), and the listing starts
    /// early enough for keys that sort at or above the lower bound though
    /// their bytes are below it (`keycodec::pad_floor`).
    pub fn new(table_prefix: &str, range: &KeyRange, pad: bool) -> ListPlan {
        let trim = |(k, inclusive): &(Vec<u8>, bool)| {
            let k = if pad {
                keycodec::pad_trim(k)
            } else {
                k.as_slice()
            };
            (k.to_vec(), *inclusive)
        };
        let lower = range.lower.as_ref().map(trim);
        let upper = range.upper.as_ref().map(trim);
        // Where listing starts: the bound, or under PAD SPACE its floor
        // (then inclusive: the bounds filter the rest).
        let from = lower.as_ref().map(|(k, inclusive)| {
            let floor = if pad {
                keycodec::pad_floor(k)
            } else {
                k.as_slice()
            };
            let inclusive = *inclusive || floor.len() < k.len();
            (floor.to_vec(), inclusive)
        });
        let shared = match (&from, &upper) {
            (Some((l, _)), Some((u, _))) => {
                let n = l.iter().zip(u.iter()).take_while(|(a, b)| a == b).count();
                xml_safe(utf8_prefix(&l[..n]))
            }
            _ => "",
        };
        let object = |k: &[u8]| [table_prefix.as_bytes(), k].concat();
        // S3's StartAfter is exclusive: for an inclusive lower bound start
        // after the key less its last character, and let the bound filter.
        let start_after = from.as_ref().and_then(|(k, inclusive)| {
            let whole = std::str::from_utf8(k).ok()?;
            let k = xml_safe(whole);
            let from = if *inclusive || k.len() < whole.len() {
                k.char_indices().last().map(|(i, _)| &k[..i]).unwrap_or("")
            } else {
                k
            };
            (!from.is_empty()).then(|| format!("{table_prefix}{from}"))
        });
        ListPlan {
            prefix: format!("{table_prefix}{shared}"),
            start_after,
            bounds: scan::Bounds {
                lower: lower.map(|(k, inclusive)| scan::Bound {
                    key: object(&k),
                    inclusive,
                }),
                upper: upper.map(|(k, inclusive)| scan::Bound {
                    key: object(&k),
                    inclusive,
                }),
                pad,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(lower: Option<(&str, bool)>, upper: Option<(&str, bool)>) -> KeyRange {
        KeyRange {
            lower: lower.map(|(k, i)| (k.as_bytes().to_vec(), i)),
            upper: upper.map(|(k, i)| (k.as_bytes().to_vec(), i)),
        }
    }

    #[test]
    fn full_scan_lists_the_table_prefix() {
        let p = ListPlan::new("t/", &KeyRange::default(), false);
        assert_eq!(p.prefix, "t/");
        assert_eq!(p.start_after, None);
        assert_eq!(p.bounds, scan::Bounds::default());
    }

    #[test]
    fn like_prefix_lists_only_that_prefix() {
        // LIKE 'k14%' arrives as ['k14', 'k14\u{10FFFF}...'].
        let p = ListPlan::new(
            "t/",
            &range(Some(("k14", true)), Some(("k14\u{10FFFF}", true))),
            false,
        );
        assert_eq!(p.prefix, "t/k14");
        assert_eq!(p.start_after.as_deref(), Some("t/k1"));
        assert_eq!(p.bounds.lower.unwrap().key, b"t/k14");
    }

    #[test]
    fn exclusive_lower_bound_starts_after_it() {
        let p = ListPlan::new("t/", &range(Some(("k1400", false)), None), false);
        assert_eq!(p.prefix, "t/");
        assert_eq!(p.start_after.as_deref(), Some("t/k1400"));
        assert!(p.bounds.upper.is_none());
    }

    #[test]
    fn shared_prefix_stops_at_a_character_boundary() {
        // 'é' is C3 A9, 'è' is C3 A8: they share a byte, not a character.
        let p = ListPlan::new("", &range(Some(("aé", true)), Some(("aè", true))), false);
        assert_eq!(p.prefix, "a");
        let p = ListPlan::new("", &range(Some(("é", true)), None), false);
        assert_eq!(
            p.start_after, None,
            "one-character key: list from the start"
        );
    }

    #[test]
    fn pad_space_bounds_reach_keys_that_sort_within_them() {
        // k >= 'a ' is k >= 'a': 'a' itself is in the range.
        let p = ListPlan::new("t/", &range(Some(("a ", true)), None), true);
        assert_eq!(p.start_after, None);
        assert!(!p.bounds.below(b"t/a"));
        // k > 'a\t': 'a' sorts above 'a\t' (padded: 'a ' > 'a\t').
        let p = ListPlan::new("t/", &range(Some(("ab\t", false)), None), true);
        assert_eq!(p.start_after.as_deref(), Some("t/a"));
        assert!(!p.bounds.below(b"t/ab"));
        assert!(p.bounds.below(b"t/ab\x01"));
        // k <= 'a': 'a\t' and 'a \t' are in, listed after 'a'; 'a b' is not.
        let p = ListPlan::new("t/", &range(None, Some(("a", true))), true);
        for k in ["t/a\t", "t/a \t", "t/a"] {
            assert!(
                !p.bounds.above(k.as_bytes()) && !p.bounds.past(k.as_bytes()),
                "{k}"
            );
        }
        assert!(p.bounds.above(b"t/a b"));
        assert!(p.bounds.past(b"t/a b"));
        // k < 'a' keeps 'a\t' but not 'a'; listing goes on past 'a'.
        let p = ListPlan::new("t/", &range(None, Some(("a", false))), true);
        assert!(p.bounds.above(b"t/a") && !p.bounds.past(b"t/a"));
        assert!(!p.bounds.above(b"t/a\x01"));
        // Without PAD SPACE the bytes decide.
        let p = ListPlan::new("t/", &range(Some(("a ", true)), None), false);
        assert!(p.bounds.below(b"t/a"));
    }

    #[test]
    fn control_characters_never_reach_prefix_or_start_after() {
        let p = ListPlan::new(
            "t/",
            &range(Some(("ab\u{1}c", false)), Some(("ab\u{1}d", true))),
            false,
        );
        assert_eq!(p.prefix, "t/ab");
        // From 'ab' inclusive: after 'a'; the bound drops 'ab\x01c' and below.
        assert_eq!(p.start_after.as_deref(), Some("t/a"));
        assert!(p.bounds.below(b"t/ab\x01c"));
        assert!(!p.bounds.below(b"t/ab\x01ca"));
        let p = ListPlan::new("t/", &range(Some(("x\ty", true)), None), false);
        assert_eq!(p.start_after.as_deref(), None);
    }
}
