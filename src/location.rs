//! Where a table's objects live: `s3://BUCKET/PREFIX`, from the table's
//! CONNECTION string or, without one, chosen by the engine at CREATE TABLE as
//! `s3://<awss3_bucket>/<database>/<table>/`.
//!
//! An engine-chosen location is written to a small file next to the table's
//! .frm (`<table path>.awss3`), because the location must not move when
//! `awss3_bucket` changes later, and because DROP TABLE (which sees only the
//! path) must know that the engine owns, and so deletes, those objects.
//! Tables with a CONNECTION have no such file: DROP leaves their objects.

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Verbatim; may be empty (the whole bucket).
    pub prefix: String,
}

impl Location {
    /// `s3://BUCKET/PREFIX` (PREFIX may be empty).
    pub fn parse(connection: &str) -> Result<Location, String> {
        let rest = connection.strip_prefix("s3://").ok_or_else(|| {
            format!(
                "CONNECTION='{connection}' is not of the form 's3://BUCKET/PREFIX' \
                 (CREATE SERVER connections are not supported yet)"
            )
        })?;
        let (bucket, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if bucket.is_empty() {
            return Err(format!("CONNECTION='{connection}' names no bucket"));
        }
        Ok(Location {
            bucket: bucket.into(),
            prefix: prefix.into(),
        })
    }

    /// The engine's choice for a table without CONNECTION.
    pub fn default_for(bucket: &str, db: &str, table: &str) -> Result<Location, String> {
        if bucket.is_empty() {
            return Err(
                "the table has no CONNECTION='s3://BUCKET/PREFIX' and awss3_bucket \
                        (the default bucket) is not set"
                    .into(),
            );
        }
        Ok(Location {
            bucket: bucket.into(),
            prefix: format!("{db}/{table}/"),
        })
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The file that records an engine-chosen location.
pub fn sidecar_path(table_path: &str) -> PathBuf {
    PathBuf::from(format!("{table_path}.awss3"))
}

pub fn write_sidecar(table_path: &str, loc: &Location) -> Result<(), String> {
    let body = serde_json::json!({ "bucket": loc.bucket, "prefix": loc.prefix }).to_string();
    let path = sidecar_path(table_path);
    std::fs::write(&path, body).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `Ok(None)` when the table has no sidecar (its location is its CONNECTION).
pub fn read_sidecar(table_path: &str) -> Result<Option<Location>, String> {
    let path = sidecar_path(table_path);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is damaged: {e}", path.display()))?;
    match (v["bucket"].as_str(), v["prefix"].as_str()) {
        (Some(b), Some(p)) => Ok(Some(Location {
            bucket: b.into(),
            prefix: p.into(),
        })),
        _ => Err(format!("{} is damaged: no bucket/prefix", path.display())),
    }
}

pub fn remove_sidecar(table_path: &str) -> Result<(), String> {
    let path = sidecar_path(table_path);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// The location of an existing table: its CONNECTION, else its sidecar.
pub fn resolve(connection: &str, table_path: &str) -> Result<Location, String> {
    if !connection.is_empty() {
        return Location::parse(connection);
    }
    read_sidecar(table_path)?.ok_or_else(|| {
        format!(
            "the table has no CONNECTION and no location file {}",
            sidecar_path(table_path).display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connection() {
        let l = Location::parse("s3://b/some//prefix/").unwrap();
        assert_eq!(
            l,
            Location {
                bucket: "b".into(),
                prefix: "some//prefix/".into()
            }
        );
        assert_eq!(Location::parse("s3://b").unwrap().prefix, "");
        assert_eq!(Location::parse("s3://b/").unwrap().prefix, "");
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("http://b/x")
            .unwrap_err()
            .contains("s3://BUCKET/PREFIX"));
        assert_eq!(Location::parse("s3://b/p").unwrap().url(), "s3://b/p");
    }

    #[test]
    fn default_location_needs_bucket() {
        assert_eq!(
            Location::default_for("bk", "db", "t").unwrap().url(),
            "s3://bk/db/t/"
        );
        assert!(Location::default_for("", "db", "t")
            .unwrap_err()
            .contains("awss3_bucket"));
    }

    #[test]
    fn sidecar_round_trip() {
        let dir = std::env::temp_dir().join(format!("awss3-loc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t1").to_string_lossy().to_string();
        assert_eq!(read_sidecar(&p).unwrap(), None);
        assert!(resolve("", &p).is_err());
        let loc = Location {
            bucket: "b".into(),
            prefix: "d\"b/t\n/".into(),
        };
        write_sidecar(&p, &loc).unwrap();
        assert_eq!(resolve("", &p).unwrap(), loc);
        assert_eq!(resolve("s3://x/y", &p).unwrap().bucket, "x");
        remove_sidecar(&p).unwrap();
        remove_sidecar(&p).unwrap();
        assert_eq!(read_sidecar(&p).unwrap(), None);
    }
}
