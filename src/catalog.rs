//! The shared catalogue (`awss3_discovery=ON`): how several MariaDB servers
//! in front of one bucket know each other's tables.
//!
//! One object per table, in the default bucket (`awss3_bucket`), under a
//! prefix no table location can take:
//!
//! ```text
//! ~awss3-catalog/<db>/<table>      body: JSON {"awss3_catalog": 1, "db", "table",
//!                                  "version", "frm" (base64), "location"?, "dropped_fields"?}
//!                                  metadata: awss3-version = the definition's version
//! ```
//!
//! `<db>` and `<table>` are escaped as table prefixes are (`%`, `/`, `~` as
//! `%25`, `%2F`, `%7E`), so no engine-chosen prefix (`<db>/<table>/`) can
//! start with `~`, and a CONNECTION location in the default bucket that would
//! include the catalogue is refused (`overlaps`). The version is the server's
//! own table definition id (a UUID stored in the .frm, new at every CREATE and
//! ALTER, kept by RENAME), as hex; `frm` is the server's definition image,
//! which the engine never reads; `location` / `dropped_fields` are what the
//! table's location file says (an engine-chosen location; JSON fields of
//! dropped columns), so a server that discovers the table writes the same file.
//!
//! What a server keeps of the catalogue: per table, the version it last saw
//! and when (`SEEN`), so the check at the start of a statement costs one HEAD
//! at most every `awss3_definition_check_interval` seconds per table.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::location::{self, Location, Ownership, Sidecar};

/// The catalogue's prefix in the default bucket.
pub const PREFIX: &str = "~awss3-catalog/";
/// The metadata header that carries the definition version (HEAD reads it).
pub const VERSION_META: &str = "awss3-version";
const FORMAT: u64 = 1;
/// A definition image is at most a few hundred kB (the server caps .frm files
/// at 1 MB); an entry larger than this is not one.
pub const MAX_ENTRY_BYTES: u64 = 4 << 20;

/// The object key of a table's entry.
pub fn entry_key(db: &str, table: &str) -> String {
    format!(
        "{PREFIX}{}/{}",
        location::escape(db),
        location::escape(table)
    )
}

/// The prefix of a database's entries.
pub fn db_prefix(db: &str) -> String {
    format!("{PREFIX}{}/", location::escape(db))
}

/// The table name of an entry listed under `db_prefix(db)`, if it is one.
pub fn table_of(db_prefix: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(db_prefix)?;
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    unescape(rest)
}

/// The inverse of `location::escape`.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i..i + 3)?;
        out.push(match code {
            "%25" => '%',
            "%2F" => '/',
            "%7E" => '~',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// Whether a table location would include catalogue objects (or be inside
/// the catalogue): the same bucket as the catalogue's, and a prefix that
/// nests with `PREFIX` either way (an empty prefix is the whole bucket).
pub fn overlaps(loc: &Location, catalogue_bucket: &str) -> bool {
    !catalogue_bucket.is_empty()
        && loc.bucket == catalogue_bucket
        && (loc.prefix.starts_with(PREFIX) || PREFIX.starts_with(&loc.prefix))
}

/// A table as the catalogue holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The definition version, as hex.
    pub version: String,
    /// The server's definition image (.frm).
    pub frm: Vec<u8>,
    /// An engine-chosen location (the table's own objects: DROP deletes them).
    pub owned: Option<Location>,
    pub dropped: Vec<String>,
}

impl Entry {
    /// The entry of a table whose location file says `sc`.
    pub fn new(version: String, frm: Vec<u8>, sc: &Sidecar) -> Entry {
        Entry {
            version,
            frm,
            owned: match &sc.owned {
                Some((loc, Ownership::Owned)) => Some(loc.clone()),
                _ => None,
            },
            dropped: sc.dropped.clone(),
        }
    }

    /// What the location file of a server that discovers the table says.
    pub fn sidecar(&self) -> Sidecar {
        Sidecar {
            owned: self.owned.clone().map(|l| (l, Ownership::Owned)),
            dropped: self.dropped.clone(),
            published: true,
        }
    }
}

pub fn version_hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn encode(db: &str, table: &str, e: &Entry) -> Vec<u8> {
    let mut v = serde_json::json!({
        "awss3_catalog": FORMAT,
        "db": db,
        "table": table,
        "version": e.version,
        "frm": aws_smithy_types::base64::encode(&e.frm),
    });
    if let Some(loc) = &e.owned {
        v["location"] = serde_json::json!({"bucket": loc.bucket, "prefix": loc.prefix});
    }
    if !e.dropped.is_empty() {
        v["dropped_fields"] = e.dropped.clone().into();
    }
    v.to_string().into_bytes()
}

pub fn decode(body: &[u8]) -> Result<Entry, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a catalogue entry: {e}"))?;
    match v["awss3_catalog"].as_u64() {
        Some(FORMAT) => {}
        Some(n) => {
            return Err(format!(
                "catalogue entry format {n} is newer than this engine's ({FORMAT})"
            ))
        }
        None => return Err("not a catalogue entry (no awss3_catalog field)".into()),
    }
    let text = |name: &str| {
        v[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("catalogue entry without {name}"))
    };
    let version = text("version")?;
    let frm = aws_smithy_types::base64::decode(text("frm")?)
        .map_err(|e| format!("catalogue entry with an unreadable frm: {e}"))?;
    let owned = match v.get("location") {
        None => None,
        Some(l) => match (l["bucket"].as_str(), l["prefix"].as_str()) {
            (Some(b), Some(p)) => Some(Location {
                bucket: b.into(),
                prefix: p.into(),
            }),
            _ => return Err("catalogue entry with a damaged location".into()),
        },
    };
    let dropped = match v.get("dropped_fields") {
        None => Vec::new(),
        Some(d) => d
            .as_array()
            .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect())
            .ok_or("catalogue entry with damaged dropped_fields")?,
    };
    Ok(Entry {
        version,
        frm,
        owned,
        dropped,
    })
}

/// What this server last saw of a table's entry: its version (`None`: no
/// entry) and when.
struct Seen {
    version: Option<String>,
    at: Instant,
}

static SEEN: Mutex<Option<HashMap<(String, String), Seen>>> = Mutex::new(None);

fn with_seen<T>(f: impl FnOnce(&mut HashMap<(String, String), Seen>) -> T) -> T {
    let mut g = match SEEN.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    f(g.get_or_insert_with(HashMap::new))
}

/// Records what the catalogue holds for a table now (after a check, or this
/// server's own CREATE, ALTER, RENAME, DROP).
pub fn saw(db: &str, table: &str, version: Option<&str>) {
    with_seen(|m| {
        m.insert(
            (db.to_string(), table.to_string()),
            Seen {
                version: version.map(str::to_string),
                at: Instant::now(),
            },
        );
    })
}

/// Whether the catalogue was seen to hold `version` for the table less than
/// `interval` ago (then a statement need not ask again).
pub fn recently_seen(db: &str, table: &str, version: &str, interval: Duration) -> bool {
    with_seen(|m| {
        m.get(&(db.to_string(), table.to_string()))
            .is_some_and(|s| s.version.as_deref() == Some(version) && s.at.elapsed() < interval)
    })
}

/// What a statement's check of its table's definition found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The catalogue holds this server's definition (or could not be asked:
    /// the statement goes on, and meets the store's error itself if any).
    Same,
    /// Another server changed or dropped the table: discover it again.
    Changed,
    /// The table is not in the catalogue and never was as far as this server
    /// knows (created before discovery was on): publish it.
    Unpublished,
    /// The catalogue holds another table of this name that this server never
    /// knew: keep this server's (and say so).
    Conflict,
}

/// Decides a check from what the catalogue holds (`None`: no entry) and what
/// this server knows of its table.
pub fn decide(catalogue: Option<&str>, ours: &str, published: bool) -> Check {
    match (catalogue, published) {
        (Some(v), _) if v == ours => Check::Same,
        (Some(_), true) => Check::Changed,
        (Some(_), false) => Check::Conflict,
        (None, true) => Check::Changed,
        (None, false) => Check::Unpublished,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_and_list_back() {
        assert_eq!(entry_key("db", "t"), "~awss3-catalog/db/t");
        assert_eq!(entry_key("a/b", "c~1%"), "~awss3-catalog/a%2Fb/c%7E1%25");
        let p = db_prefix("a/b");
        assert_eq!(
            table_of(&p, &entry_key("a/b", "c~1%")).as_deref(),
            Some("c~1%")
        );
        assert_eq!(table_of(&p, "~awss3-catalog/a%2Fb/x/y"), None);
        assert_eq!(table_of(&p, "~awss3-catalog/a%2Fb/%zz"), None);
        assert_eq!(table_of(&p, "~awss3-catalog/other/t"), None);
    }

    #[test]
    fn no_engine_chosen_location_is_in_the_catalogue() {
        for (db, t) in [("~awss3-catalog", "x"), ("~", "~"), ("a", "b")] {
            let loc = Location::default_for("bk", db, t, 1).unwrap();
            assert!(!overlaps(&loc, "bk"), "{loc:?}");
        }
        let at = |b: &str, p: &str| Location {
            bucket: b.into(),
            prefix: p.into(),
        };
        assert!(overlaps(&at("bk", ""), "bk"));
        assert!(overlaps(&at("bk", "~aw"), "bk"));
        assert!(overlaps(&at("bk", "~awss3-catalog/db/"), "bk"));
        assert!(!overlaps(&at("bk", "data/"), "bk"));
        assert!(!overlaps(&at("other", ""), "bk"));
        assert!(!overlaps(&at("bk", ""), ""));
    }

    #[test]
    fn entries_round_trip_and_refuse_what_they_are_not() {
        let e = Entry {
            version: version_hex(&[0xab, 0x01]),
            frm: vec![0xfe, 0x01, 0, 255],
            owned: Some(Location {
                bucket: "b".into(),
                prefix: "db/t~2/".into(),
            }),
            dropped: vec!["old".into()],
        };
        assert_eq!(e.version, "ab01");
        let body = encode("db", "t", &e);
        assert_eq!(decode(&body).unwrap(), e);
        let bare = Entry {
            owned: None,
            dropped: vec![],
            ..e.clone()
        };
        assert_eq!(decode(&encode("db", "t", &bare)).unwrap(), bare);
        assert!(decode(b"{}").is_err());
        assert!(decode(b"not json").is_err());
        assert!(
            decode(br#"{"awss3_catalog": 2, "version": "x", "frm": ""}"#)
                .unwrap_err()
                .contains("newer")
        );
        assert!(decode(br#"{"awss3_catalog": 1, "version": "x", "frm": "!!"}"#).is_err());
    }

    #[test]
    fn a_check_tells_changed_from_never_published() {
        assert_eq!(decide(Some("v1"), "v1", true), Check::Same);
        assert_eq!(decide(Some("v1"), "v1", false), Check::Same);
        assert_eq!(decide(Some("v2"), "v1", true), Check::Changed);
        assert_eq!(decide(None, "v1", true), Check::Changed);
        assert_eq!(decide(None, "v1", false), Check::Unpublished);
        assert_eq!(decide(Some("v2"), "v1", false), Check::Conflict);
    }

    #[test]
    fn seen_versions_expire() {
        saw("sdb", "t", Some("v1"));
        assert!(recently_seen("sdb", "t", "v1", Duration::from_secs(60)));
        assert!(!recently_seen("sdb", "t", "v2", Duration::from_secs(60)));
        assert!(!recently_seen("sdb", "t", "v1", Duration::ZERO));
        saw("sdb", "t", None);
        assert!(!recently_seen("sdb", "t", "v1", Duration::from_secs(60)));
    }
}
