//! Where a table's objects live: `s3://BUCKET/PREFIX`, from the table's
//! CONNECTION string or, without one, chosen by the engine at CREATE TABLE as
//! `s3://<awss3_bucket>/<database>/<table>/`.
//!
//! An engine-chosen location is written to a small file next to the table's
//! .frm (`<table path>.awss3`), because the location must not move when
//! `awss3_bucket` changes later or the table is renamed (RENAME moves only
//! this file: S3 has no rename), and because DROP TABLE (which sees only the
//! path) must know that the engine owns, and so deletes, those objects.
//! Tables with a CONNECTION have no such file — DROP leaves their objects —
//! except while ALTER TABLE ... ENGINE=AWSS3 fills one: until that copy is
//! renamed into place, the objects are the copy's own (see `Ownership`).

use std::path::PathBuf;

/// A `CREATE SERVER name FOREIGN DATA WRAPPER awss3 OPTIONS (...)` as the
/// shim read it from the server's table of servers. HOST is the endpoint URL,
/// DATABASE the bucket, USER and PASSWORD the access key id and secret,
/// SOCKET the region; PORT and OWNER are not used.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub wrapper: String,
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub port: i64,
}

impl std::fmt::Debug for Server {
    // The secret never reaches a message or a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Verbatim; may be empty (the whole bucket).
    pub prefix: String,
}

impl Location {
    /// A table's CONNECTION: `s3://BUCKET/PREFIX`, or `SERVER` /
    /// `SERVER/PREFIX` naming a CREATE SERVER (`server`: what the shim found
    /// under that name, if anything).
    pub fn from_connection(connection: &str, server: Option<&Server>) -> Result<Location, String> {
        if connection.starts_with("s3://") {
            return Location::parse(connection);
        }
        let (name, prefix) = match connection.find('/') {
            Some(i) => (&connection[..i], &connection[i + 1..]),
            None => (connection, ""),
        };
        let Some(server) = server.filter(|s| s.name.eq_ignore_ascii_case(name)) else {
            return Err(format!(
                "CONNECTION='{connection}' is neither 's3://BUCKET/PREFIX' nor the name of a \
                 server: there is no server `{name}` (CREATE SERVER {name} FOREIGN DATA \
                 WRAPPER awss3 OPTIONS (HOST 'endpoint URL', DATABASE 'bucket', ...))"
            ));
        };
        if !server.wrapper.eq_ignore_ascii_case("awss3") {
            return Err(format!(
                "server `{}` is a FOREIGN DATA WRAPPER {} server, not awss3",
                server.name, server.wrapper
            ));
        }
        if server.bucket.is_empty() {
            return Err(format!(
                "server `{}` names no bucket: give it OPTIONS (DATABASE 'bucket')",
                server.name
            ));
        }
        if server.port != 0 {
            return Err(format!(
                "server `{}`: PORT is not used by AWSS3; put the port in HOST \
                 ('http://host:port')",
                server.name
            ));
        }
        Ok(Location {
            bucket: server.bucket.clone(),
            prefix: prefix.into(),
        })
    }

    /// `s3://BUCKET/PREFIX` (PREFIX may be empty).
    pub fn parse(connection: &str) -> Result<Location, String> {
        let rest = connection.strip_prefix("s3://").ok_or_else(|| {
            format!("CONNECTION='{connection}' is not of the form 's3://BUCKET/PREFIX'")
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

    /// The engine's choice for a table without CONNECTION:
    /// `<db>/<table>/`, or `<db>/<table>~N/` for the N-th choice when the
    /// earlier ones hold objects (of a table renamed away from this name, say).
    /// `/`, `%` and `~` in the names are written `%2F`, `%25` and `%7E`, so no
    /// table's prefix is the beginning of another's (`a` and `a/b`).
    pub fn default_for(bucket: &str, db: &str, table: &str, n: u32) -> Result<Location, String> {
        if bucket.is_empty() {
            return Err(
                "the table has no CONNECTION='s3://BUCKET/PREFIX' and awss3_bucket \
                        (the default bucket) is not set"
                    .into(),
            );
        }
        let suffix = if n > 1 {
            format!("~{n}")
        } else {
            String::new()
        };
        Ok(Location {
            bucket: bucket.into(),
            prefix: format!("{}/{}{suffix}/", escape(db), escape(table)),
        })
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// A database or table name as one component of an object key.
pub(crate) fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '~' => out.push_str("%7E"),
            c => out.push(c),
        }
    }
    out
}

/// Why the engine deletes a table's objects at DROP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// An engine-chosen location: the objects are the table's for good.
    Owned,
    /// A CONNECTION location that ALTER TABLE ... ENGINE=AWSS3 is filling
    /// (it was empty when the copy was created). If the ALTER fails, the
    /// server drops the copy and its objects go with it; once the copy is
    /// renamed into place it is an ordinary CONNECTION table, which DROP
    /// leaves alone.
    UntilRenamed,
}

/// The user metadata that marks the objects ALTER ... ENGINE=AWSS3's copy
/// wrote into a CONNECTION location (`Sidecar::copy_id`).
pub const COPY_META: &str = "awss3-copy-id";

/// What the file next to the .frm says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sidecar {
    /// The objects the table owns, which DROP deletes: an engine-chosen
    /// location, or the location ALTER's copy is filling.
    pub owned: Option<(Location, Ownership)>,
    /// JSON fields of columns dropped from the table that objects written
    /// before still hold: no new column may take such a name, or it would
    /// show those old values instead of its default.
    pub dropped: Vec<String>,
    /// The table is in the shared catalogue (`awss3_discovery`): this server
    /// published it or discovered it there. When its entry is gone, another
    /// server dropped or renamed it; a table that never was there (created
    /// before discovery was on) is published instead.
    pub published: bool,
    /// ALTER ... ENGINE=AWSS3's copy into a CONNECTION location: the mark
    /// every object it writes carries (user metadata `awss3-copy-id`), so
    /// that a failed ALTER deletes those objects and no other writer's.
    pub copy_id: Option<String>,
}

impl Sidecar {
    pub fn owned(loc: Location, ownership: Ownership) -> Sidecar {
        Sidecar {
            owned: Some((loc, ownership)),
            ..Sidecar::default()
        }
    }
}

/// The file that records an engine-chosen location.
pub fn sidecar_path(table_path: &str) -> PathBuf {
    PathBuf::from(format!("{table_path}.awss3"))
}

/// Writes the file whole or not at all (a temporary file renamed over it),
/// so a crash never leaves a table with half a location. A sidecar with
/// nothing to say is no file.
pub fn write_sidecar(table_path: &str, sc: &Sidecar) -> Result<(), String> {
    if *sc == Sidecar::default() {
        return remove_sidecar(table_path);
    }
    let mut v = serde_json::json!({});
    if let Some((loc, ownership)) = &sc.owned {
        v["bucket"] = loc.bucket.clone().into();
        v["prefix"] = loc.prefix.clone().into();
        if *ownership == Ownership::UntilRenamed {
            v["until_renamed"] = true.into();
        }
    }
    if !sc.dropped.is_empty() {
        v["dropped_fields"] = sc.dropped.clone().into();
    }
    if sc.published {
        v["published"] = true.into();
    }
    if let Some(id) = &sc.copy_id {
        v["copy_id"] = id.clone().into();
    }
    let path = sidecar_path(table_path);
    let tmp = PathBuf::from(format!("{table_path}.awss3.tmp"));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(v.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The table's sidecar, or the default one (no sidecar yet).
pub fn sidecar_or_default(table_path: &str) -> Result<Sidecar, crate::error::Error> {
    Ok(read_sidecar(table_path)
        .map_err(crate::error::Error::Engine)?
        .unwrap_or_default())
}

/// `Ok(None)` when the table has no sidecar (a CONNECTION table that never
/// dropped a column).
pub fn read_sidecar(table_path: &str) -> Result<Option<Sidecar>, String> {
    let path = sidecar_path(table_path);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let damaged = |why: &str| format!("{} is damaged: {why}", path.display());
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| damaged(&e.to_string()))?;
    let owned = match (v.get("bucket"), v.get("prefix")) {
        (None, None) => None,
        (Some(b), Some(p)) => match (b.as_str(), p.as_str()) {
            (Some(b), Some(p)) => Some((
                Location {
                    bucket: b.into(),
                    prefix: p.into(),
                },
                if v["until_renamed"].as_bool() == Some(true) {
                    Ownership::UntilRenamed
                } else {
                    Ownership::Owned
                },
            )),
            _ => return Err(damaged("bucket/prefix are not text")),
        },
        _ => return Err(damaged("bucket without prefix or prefix without bucket")),
    };
    let dropped = match v.get("dropped_fields") {
        None => Vec::new(),
        Some(d) => d
            .as_array()
            .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect())
            .ok_or_else(|| damaged("dropped_fields is not a list of names"))?,
    };
    let published = v["published"].as_bool() == Some(true);
    let copy_id = match v.get("copy_id") {
        None => None,
        Some(id) => Some(
            id.as_str()
                .ok_or_else(|| damaged("copy_id is not text"))?
                .to_string(),
        ),
    };
    Ok(Some(Sidecar {
        owned,
        dropped,
        published,
        copy_id,
    }))
}

/// Every location that a table of this server owns: the location files in
/// the data directory that holds `table_path` (`./db/t`: the directory `.`),
/// one directory per database. A new table never takes one of these, even
/// when it is empty (a renamed table with no rows still owns its prefix).
pub fn owned_locations(table_path: &str) -> Vec<Location> {
    let root = std::path::Path::new(table_path)
        .parent()
        .and_then(|db| db.parent())
        .unwrap_or_else(|| std::path::Path::new("."));
    let mut out = Vec::new();
    let Ok(dbs) = std::fs::read_dir(root) else {
        return out;
    };
    for db in dbs.flatten() {
        let Ok(files) = std::fs::read_dir(db.path()) else {
            continue;
        };
        for f in files.flatten() {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) != Some("awss3") {
                continue;
            }
            let table = p.with_extension("");
            if let Some(Ok(Some(sc))) = table.to_str().map(read_sidecar) {
                out.extend(sc.owned.map(|(loc, _)| loc));
            }
        }
    }
    out
}

/// Moves a table's location file as it is (one rename: never two files).
pub fn move_sidecar(from: &str, to: &str) -> Result<(), String> {
    let (a, b) = (sidecar_path(from), sidecar_path(to));
    std::fs::rename(&a, &b)
        .map_err(|e| format!("cannot rename {} to {}: {e}", a.display(), b.display()))
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
pub fn resolve(
    connection: &str,
    server: Option<&Server>,
    table_path: &str,
) -> Result<Location, String> {
    if !connection.is_empty() {
        return Location::from_connection(connection, server);
    }
    read_sidecar(table_path)?
        .and_then(|sc| sc.owned)
        .map(|(loc, _)| loc)
        .ok_or_else(|| {
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
    fn owned_locations_are_found_in_every_database_directory() {
        let root = std::env::temp_dir().join(format!("awss3-owned-{}", std::process::id()));
        let (d1, d2) = (root.join("db1"), root.join("db2"));
        std::fs::create_dir_all(&d1).unwrap();
        std::fs::create_dir_all(&d2).unwrap();
        let loc = |p: &str| Location {
            bucket: "bk".into(),
            prefix: p.into(),
        };
        let path = |d: &std::path::Path, t: &str| d.join(t).to_string_lossy().to_string();
        // A table renamed from db1.t to db2.u keeps db1/t/.
        write_sidecar(
            &path(&d2, "u"),
            &Sidecar::owned(loc("db1/t/"), Ownership::Owned),
        )
        .unwrap();
        write_sidecar(
            &path(&d1, "x"),
            &Sidecar::owned(loc("db1/x/"), Ownership::Owned),
        )
        .unwrap();
        // Only dropped fields: owns nothing.
        let fields = Sidecar {
            owned: None,
            dropped: vec!["f".into()],
            ..Sidecar::default()
        };
        write_sidecar(&path(&d1, "c"), &fields).unwrap();
        std::fs::write(d1.join("junk.awss3.tmp"), "{").unwrap();
        let mut got = owned_locations(&path(&d1, "new"));
        got.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        assert_eq!(got, vec![loc("db1/t/"), loc("db1/x/")]);
        move_sidecar(&path(&d2, "u"), &path(&d1, "t")).unwrap();
        assert!(read_sidecar(&path(&d2, "u")).unwrap().is_none());
        assert_eq!(
            read_sidecar(&path(&d1, "t"))
                .unwrap()
                .unwrap()
                .owned
                .unwrap()
                .0,
            loc("db1/t/")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn server_connections() {
        let srv = Server {
            name: "Store1".into(),
            wrapper: "awss3".into(),
            endpoint: "http://h:1".into(),
            bucket: "bk".into(),
            secret_access_key: "SECRET".into(),
            ..Default::default()
        };
        let l = Location::from_connection("store1/a//b/", Some(&srv)).unwrap();
        assert_eq!(l.url(), "s3://bk/a//b/");
        assert_eq!(
            Location::from_connection("Store1", Some(&srv))
                .unwrap()
                .url(),
            "s3://bk/"
        );
        assert_eq!(
            Location::from_connection("s3://x/y", Some(&srv))
                .unwrap()
                .url(),
            "s3://x/y"
        );
        let e = Location::from_connection("nosuch/p", None).unwrap_err();
        assert!(e.contains("no server `nosuch`"), "{e}");
        let e = Location::from_connection("other/p", Some(&srv)).unwrap_err();
        assert!(e.contains("no server `other`"), "{e}");
        let fed = Server {
            wrapper: "mysql".into(),
            ..srv.clone()
        };
        assert!(Location::from_connection("store1", Some(&fed))
            .unwrap_err()
            .contains("not awss3"));
        let nobucket = Server {
            bucket: String::new(),
            ..srv.clone()
        };
        assert!(Location::from_connection("store1", Some(&nobucket))
            .unwrap_err()
            .contains("DATABASE"));
        let port = Server {
            port: 9000,
            ..srv.clone()
        };
        assert!(Location::from_connection("store1", Some(&port))
            .unwrap_err()
            .contains("PORT"));
        assert!(!format!("{srv:?}").contains("SECRET"));
    }

    #[test]
    fn default_location_needs_bucket() {
        assert_eq!(
            Location::default_for("bk", "db", "t", 1).unwrap().url(),
            "s3://bk/db/t/"
        );
        assert!(Location::default_for("", "db", "t", 1)
            .unwrap_err()
            .contains("awss3_bucket"));
    }

    #[test]
    fn default_locations_never_nest() {
        let p = |db: &str, t: &str, n| Location::default_for("bk", db, t, n).unwrap().prefix;
        assert_eq!(p("db", "t", 2), "db/t~2/");
        assert_eq!(p("db", "a/b", 1), "db/a%2Fb/");
        assert_eq!(p("d/b", "t", 1), "d%2Fb/t/");
        assert_eq!(p("db", "../x", 1), "db/..%2Fx/");
        // Distinct names give distinct prefixes, none the start of another.
        let names = ["a", "a/b", "a%2Fb", "a~2", "a%7E2", "a~", "b"];
        let mut all: Vec<String> = names.iter().map(|t| p("db", t, 1)).collect();
        all.extend(names.iter().map(|t| p("db", t, 2)));
        for (i, x) in all.iter().enumerate() {
            for (j, y) in all.iter().enumerate() {
                assert!(
                    i == j || !y.starts_with(x.as_str()),
                    "{x} is a prefix of {y}"
                );
            }
        }
    }

    #[test]
    fn sidecar_round_trip() {
        let dir = std::env::temp_dir().join(format!("awss3-loc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t1").to_string_lossy().to_string();
        assert_eq!(read_sidecar(&p).unwrap(), None);
        assert!(resolve("", None, &p).is_err());
        let loc = Location {
            bucket: "b".into(),
            prefix: "d\"b/t\n/".into(),
        };
        let sc = Sidecar::owned(loc.clone(), Ownership::Owned);
        write_sidecar(&p, &sc).unwrap();
        assert_eq!(read_sidecar(&p).unwrap(), Some(sc));
        assert_eq!(resolve("", None, &p).unwrap(), loc);
        let mut copy = Sidecar::owned(loc.clone(), Ownership::UntilRenamed);
        copy.dropped = vec!["a".into(), "b\"".into()];
        copy.copy_id = Some("4d2-1-0".into());
        write_sidecar(&p, &copy).unwrap();
        assert_eq!(read_sidecar(&p).unwrap(), Some(copy));
        assert!(!dir.join("t1.awss3.tmp").exists());
        // Only dropped fields (a CONNECTION table): no location of its own.
        let fields = Sidecar {
            owned: None,
            dropped: vec!["x".into()],
            ..Sidecar::default()
        };
        write_sidecar(&p, &fields).unwrap();
        assert_eq!(read_sidecar(&p).unwrap(), Some(fields));
        // Only "in the catalogue" (a CONNECTION table): a file too.
        let shared = Sidecar {
            published: true,
            ..Sidecar::default()
        };
        write_sidecar(&p, &shared).unwrap();
        assert_eq!(read_sidecar(&p).unwrap(), Some(shared));
        assert!(resolve("", None, &p).is_err());
        // Nothing to say: no file.
        write_sidecar(&p, &Sidecar::default()).unwrap();
        assert_eq!(read_sidecar(&p).unwrap(), None);
        assert_eq!(resolve("s3://x/y", None, &p).unwrap().bucket, "x");
        remove_sidecar(&p).unwrap();
        remove_sidecar(&p).unwrap();
        assert_eq!(read_sidecar(&p).unwrap(), None);
    }
}
