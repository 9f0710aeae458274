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
//! Engine-chosen prefixes are reserved in the catalogue too, so that two
//! servers never choose the same one (a name is unique in the catalogue, but
//! a prefix outlives its name: RENAME keeps it):
//!
//! ```text
//! ~awss3-catalog/~owners/<db>/<table>[~n]   one per engine-chosen prefix <db>/<table>[~n]/;
//!                                  metadata: awss3-owner = which table name owns it
//! ```
//!
//! CREATE takes the prefix with a conditional PUT (If-None-Match) before the
//! table exists anywhere; RENAME passes it to the new name between writing
//! the new entry and withdrawing the old one; DROP deletes it last. The
//! owner record is what says which of two entries naming one location owns
//! it (a RENAME interrupted between its writes leaves both): the other one is
//! stale — not discovered, and DROP of it only withdraws it. `~` is escaped
//! in database names (`%7E`), so no database's entries are under `~owners/`.
//!
//! What a server keeps of the catalogue: per table, the version it last saw
//! and when (`SEEN`), so the check at the start of a statement costs one HEAD
//! at most every `awss3_definition_check_interval` seconds per table.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::call::for_each_page;
use crate::call::{ctx, Ctx};
use crate::error::{Error, Result};
use crate::location::{self, Location, Ownership, Sidecar};
use crate::runtime::Interrupt;
use crate::s3client::S3;
use crate::schema::TableDef;
use crate::settings;
use crate::store::{ObjectHead, Store};
use crate::write::{self, Expect, NewObject, Outcome};

/// The catalogue's prefix in the default bucket.
pub const PREFIX: &str = "~awss3-catalog/";
/// The metadata header that carries the definition version (HEAD reads it).
pub const VERSION_META: &str = "awss3-version";
/// The metadata header of a fenced entry (`fence.rs`: a DROP or a copying
/// ALTER is under way; its value says which, and until when).
pub const FENCE_META: &str = "awss3-fence";
/// Where the owner records of engine-chosen prefixes are.
pub const OWNERS: &str = "~awss3-catalog/~owners/";
/// The metadata header of an owner record that names its table.
pub const OWNER_META: &str = "awss3-owner";
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

/// The object key of the owner record of an engine-chosen location.
pub fn owner_key(loc: &Location) -> String {
    format!("{OWNERS}{}", loc.prefix.trim_end_matches('/'))
}

/// How an owner record names its table in metadata (ASCII whatever the
/// name's characters): SHA-256 of the name, as hex.
pub fn owner_id(name: &Name) -> String {
    let mut text = name.db.as_bytes().to_vec();
    text.push(0);
    text.extend_from_slice(name.table.as_bytes());
    version_hex(ring::digest::digest(&ring::digest::SHA256, &text).as_ref())
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
            copy_id: None,
        }
    }
}

pub fn version_hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes an entry's MAC covers: every field, each length-prefixed (so no
/// two entries share them), the name included (an entry copied under another
/// name does not verify).
fn signed_bytes(db: &str, table: &str, e: &Entry) -> Vec<u8> {
    let mut out = b"awss3-catalog-entry-v1".to_vec();
    let loc = e.owned.as_ref();
    let fields: [&[u8]; 6] = [
        db.as_bytes(),
        table.as_bytes(),
        e.version.as_bytes(),
        &e.frm,
        loc.map(|l| l.bucket.as_bytes()).unwrap_or(b"\0none"),
        loc.map(|l| l.prefix.as_bytes()).unwrap_or(b"\0none"),
    ];
    for f in fields
        .iter()
        .copied()
        .chain(e.dropped.iter().map(|d| d.as_bytes()))
    {
        out.extend_from_slice(format!(";{}:", f.len()).as_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// HMAC-SHA256 of the entry under `awss3_catalog_key`, as hex.
fn mac(key: &str, db: &str, table: &str, e: &Entry) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    version_hex(ring::hmac::sign(&k, &signed_bytes(db, table, e)).as_ref())
}

fn mac_holds(key: &str, db: &str, table: &str, e: &Entry, hex: &str) -> bool {
    let Some(tag) = unhex(hex) else {
        return false;
    };
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    ring::hmac::verify(&k, &signed_bytes(db, table, e), &tag).is_ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An entry's own location (the objects DROP deletes) is one an engine
/// chooses: in the catalogue's bucket, under `<db>/<one name>/`, outside the
/// catalogue. Checked even for an authenticated entry: the location decides
/// what a DROP deletes.
fn own_location(e: &Entry, db: &str, catalogue_bucket: &str) -> std::result::Result<(), String> {
    let Some(loc) = &e.owned else {
        return Ok(());
    };
    let rest = loc
        .prefix
        .strip_prefix(&format!("{}/", location::escape(db)))
        .and_then(|r| r.strip_suffix('/'));
    let one_name = rest.is_some_and(|r| !r.is_empty() && !r.contains('/'));
    if loc.bucket == catalogue_bucket && one_name && !overlaps(loc, catalogue_bucket) {
        return Ok(());
    }
    Err(format!(
        "the catalogue entry's location {} is not one the engine chooses for a table of \
         `{db}` (s3://{catalogue_bucket}/{}/<table>/): ignored",
        loc.url(),
        location::escape(db)
    ))
}

/// The entry's body, authenticated with `key` (`awss3_catalog_key`).
pub fn encode(db: &str, table: &str, e: &Entry, key: &str) -> Vec<u8> {
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
    v["mac"] = mac(key, db, table, e).into();
    v.to_string().into_bytes()
}

/// The entry of table `db`.`table` in `body`, if the body is one and was
/// written by a server with the same `awss3_catalog_key` for that name: the
/// bucket is shared with other tools, and an entry decides which objects a
/// table reads and DROP deletes.
pub fn decode(body: &[u8], key: &str, db: &str, table: &str) -> std::result::Result<Entry, String> {
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
    let e = Entry {
        version,
        frm,
        owned,
        dropped,
    };
    let named = v["db"].as_str() == Some(db) && v["table"].as_str() == Some(table);
    match v["mac"].as_str() {
        Some(m) if named && mac_holds(key, db, table, &e, m) => Ok(e),
        _ => Err(format!(
            "the catalogue entry of `{db}`.`{table}` is not authenticated (no MAC, or one \
             that does not hold for this name under awss3_catalog_key): written by a tool \
             or by a server with another key; ignored"
        )),
    }
}

/// What this server last saw of a table's entry: its version (`None`: no
/// entry) and when.
struct Seen {
    version: Option<String>,
    /// The entry's fence, as its metadata said (`fence.rs` reads it).
    fence: Option<String>,
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
    saw_fenced(db, table, version, None)
}

/// `saw`, with the entry's fence (FENCE_META) if it had one.
pub fn saw_fenced(db: &str, table: &str, version: Option<&str>, fence: Option<&str>) {
    saw_at(db, table, version, fence, Instant::now())
}

/// `saw_fenced` of an answer to a request sent `at`: what it says counts
/// from then (a slow answer must not make a view look fresher than it is).
pub fn saw_at(db: &str, table: &str, version: Option<&str>, fence: Option<&str>, at: Instant) {
    with_seen(|m| {
        m.insert(
            (db.to_string(), table.to_string()),
            Seen {
                version: version.map(str::to_string),
                fence: fence.map(str::to_string),
                at,
            },
        );
    })
}

/// What this server saw of a table's entry less than `within` ago: whether
/// there was one, and its fence.
pub fn seen_within(db: &str, table: &str, within: Duration) -> Option<(bool, Option<String>)> {
    with_seen(|m| {
        m.get(&(db.to_string(), table.to_string()))
            .filter(|s| s.at.elapsed() < within)
            .map(|s| (s.version.is_some(), s.fence.clone()))
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

// ------------------------------------------------ the shared catalogue

/// A table's name as the server knows it (not its file name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub db: String,
    pub table: String,
}

impl Name {
    pub fn of(def: &TableDef) -> Name {
        Name {
            db: def.db.clone(),
            table: def.name.clone(),
        }
    }

    pub fn key(&self) -> String {
        entry_key(&self.db, &self.table)
    }
}

/// The catalogue's side of a call: the server-wide client, and the default
/// bucket the catalogue lives in.
pub struct Catalogue {
    pub c: Ctx,
    pub bucket: String,
}

pub fn catalogue(stop: Interrupt) -> Result<Catalogue> {
    let c = ctx(stop)?;
    if c.settings.bucket.is_empty() {
        return Err(Error::Engine(
            "awss3_discovery=ON keeps the catalogue of shared tables in the default bucket, \
             and awss3_bucket is not set"
                .into(),
        ));
    }
    let bucket = c.settings.bucket.clone();
    Ok(Catalogue { c, bucket })
}

impl Catalogue {
    pub fn put(&self, name: &Name, e: &Entry, expect: CatalogExpect<'_>) -> Result<()> {
        self.c
            .wait(put_entry(&self.c.s3, &self.bucket, name, e, expect, None))
    }

    /// `put_fence` as a future (the lease's renewal task), not waited here.
    pub fn put_fence_async<'a>(
        &'a self,
        name: &'a Name,
        e: &'a Entry,
        expect: CatalogExpect<'a>,
        fence: Option<&'a str>,
    ) -> impl std::future::Future<Output = Result<()>> + 'a {
        put_entry(&self.c.s3, &self.bucket, name, e, expect, fence)
    }

    /// Writes the entry with `fence` (or without one: `None`), expecting
    /// `expect`; whatever KILL says when `through_kill` (lifting a fence).
    pub fn put_fence(
        &self,
        name: &Name,
        e: &Entry,
        expect: CatalogExpect<'_>,
        fence: Option<&str>,
        through_kill: bool,
    ) -> Result<()> {
        let put = self.put_fence_async(name, e, expect, fence);
        if through_kill {
            self.c.wait_through_kill(put)
        } else {
            self.c.wait(put)
        }
    }

    pub fn withdraw(&self, name: &Name) -> Result<()> {
        self.c.wait(self.delete_entry(name))
    }

    /// A table's entry as the catalogue holds it now.
    pub fn fetch(&self, name: &Name) -> Result<Option<Entry>> {
        Ok(self.fetch_read(name)?.map(|r| r.entry))
    }

    /// `fetch`, with the ETag of the entry as read (to rewrite that one only)
    /// and its fence.
    pub fn fetch_read(&self, name: &Name) -> Result<Option<Read>> {
        let (b, key) = (&self.bucket, name.key());
        let asked = Instant::now();
        let Some(o) = self.c.wait(self.c.s3.get(b, &key, MAX_ENTRY_BYTES))? else {
            saw(&name.db, &name.table, None);
            return Ok(None);
        };
        if o.oversize.is_some() {
            return Err(Error::Engine(format!(
                "s3://{b}/{key} is larger than any catalogue entry can be"
            )));
        }
        let secret = &settings::current().0.catalog_key;
        let e = decode(&o.body, secret, &name.db, &name.table)
            .and_then(|e| own_location(&e, &name.db, b).map(|()| e))
            .map_err(|m| Error::Engine(format!("s3://{b}/{key}: {m}")))?;
        let fence = meta(&o.head, FENCE_META).map(str::to_string);
        saw_at(
            &name.db,
            &name.table,
            Some(&e.version),
            fence.as_deref(),
            asked,
        );
        Ok(Some(Read {
            entry: e,
            etag: o.entry.etag,
            fence,
        }))
    }

    /// The version the catalogue holds for a table (one HEAD): `None` when
    /// it has no entry.
    pub fn version(&self, name: &Name) -> Result<Option<String>> {
        let head = self.c.wait(self.c.s3.head(&self.bucket, &name.key()))?;
        Ok(head.map(|(_, h)| entry_version(&h).unwrap_or("").to_string()))
    }

    /// `version`, and the owner of `loc` if given (two HEADs at once).
    pub fn version_and_owner(
        &self,
        name: &Name,
        loc: Option<&Location>,
    ) -> Result<(Option<EntryHead>, Option<Owner>)> {
        let (b, s3) = (&self.bucket, &self.c.s3);
        let key = name.key();
        let owner_key = loc.map(owner_key);
        let (entry, owner) = self.c.wait(async {
            let owner = async {
                match &owner_key {
                    Some(k) => s3.head(b, k).await.map(Some),
                    None => Ok(None),
                }
            };
            let (entry, owner) = tokio::join!(s3.head(b, &key), owner);
            Ok::<_, Error>((entry?, owner?))
        })?;
        Ok((
            entry.map(|(_, h)| EntryHead {
                version: entry_version(&h).unwrap_or("").to_string(),
                fence: meta(&h, FENCE_META).map(str::to_string),
            }),
            owner.map(|o| owner_of(o.map(|(_, h)| h))),
        ))
    }

    /// The owner record of `loc` (one HEAD).
    pub fn owner(&self, loc: &Location) -> Result<Owner> {
        self.c.wait(self.read_owner(loc))
    }

    /// `owner`, whatever KILL says (settling a RENAME's owner change).
    pub fn owner_through_kill(&self, loc: &Location) -> Result<Owner> {
        self.c.wait_through_kill(self.read_owner(loc))
    }

    async fn read_owner(&self, loc: &Location) -> Result<Owner> {
        let head = self.c.s3.head(&self.bucket, &owner_key(loc)).await?;
        Ok(owner_of(head.map(|(_, h)| h)))
    }
}

/// A fence's metadata value: `<what>;<until, unix seconds>`.
pub fn fence_value(what: &str, until: u64) -> String {
    format!("{what};{until}")
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a fence is for, if it holds at `now` (unix seconds). A value whose
/// end does not parse holds (the safe reading) until a server writes the
/// entry again (a DROP or an ALTER of the table).
pub fn fence_holds(value: &str, now: u64) -> Option<String> {
    match value.rsplit_once(';') {
        Some((what, until)) => match until.parse::<u64>() {
            Ok(until) if until <= now => None,
            _ => Some(what.to_string()),
        },
        None => Some(value.to_string()),
    }
}

/// The error of a change refused because another server fenced the table.
pub fn fenced_error(name: &Name, what: &str) -> Error {
    Error::Engine(format!(
        "`{}`.`{}` is fenced by another server ({what} under way): nothing was changed; \
         run the statement again when that is done",
        name.db, name.table
    ))
}

/// An entry as read: what it says, its ETag, and its fence (FENCE_META) if
/// it has one.
pub struct Read {
    pub entry: Entry,
    pub etag: String,
    pub fence: Option<String>,
}

/// What a HEAD of an entry says: its version, and its fence if any.
pub struct EntryHead {
    pub version: String,
    pub fence: Option<String>,
}

/// Who owns an engine-chosen location, as its owner record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// No record: a table created before owner records (or by a server
    /// without discovery); its entry is taken at its word.
    Unrecorded,
    /// The record names this table (`owner_id`).
    Id(String),
}

impl Owner {
    pub fn is(&self, name: &Name) -> bool {
        match self {
            Owner::Unrecorded => true,
            Owner::Id(id) => *id == owner_id(name),
        }
    }
}

impl Catalogue {
    /// Takes `loc` for `name` if no table has it (one conditional PUT):
    /// false when another has.
    pub fn reserve(&self, loc: &Location, name: &Name) -> Result<bool> {
        let obj = owner_record(loc, name);
        let key = owner_key(loc);
        let put = write::write(&*self.c.s3, &self.bucket, &key, obj, Expect::Absent);
        Ok(matches!(self.c.wait(put)?, Outcome::Written(_)))
    }

    /// Passes `loc` from `from` (as `owner` said) to `to`: a conditional
    /// PUT that fails if the record changed meanwhile. Runs through KILL: it
    /// is the step that decides which name owns the location.
    pub fn pass(&self, loc: &Location, owner: &Owner, to: &Name) -> Result<bool> {
        let obj = owner_record(loc, to);
        let key = owner_key(loc);
        let expect = match owner {
            Owner::Unrecorded => Expect::Absent,
            Owner::Id(id) => Expect::Meta {
                name: OWNER_META,
                value: id,
            },
        };
        let put = write::write(&*self.c.s3, &self.bucket, &key, obj, expect);
        Ok(matches!(
            self.c.wait_through_kill(put)?,
            Outcome::Written(_)
        ))
    }

    /// Gives `loc` up (after its objects are gone).
    pub fn release(&self, loc: &Location) -> Result<()> {
        self.c
            .wait_through_kill(self.c.s3.delete(&self.bucket, &owner_key(loc)))
    }

    /// `withdraw`, whatever KILL says (finishing or undoing a RENAME).
    pub fn withdraw_through_kill(&self, name: &Name) -> Result<()> {
        self.c.wait_through_kill(self.delete_entry(name))
    }

    async fn delete_entry(&self, name: &Name) -> Result<()> {
        self.c.s3.delete(&self.bucket, &name.key()).await?;
        saw(&name.db, &name.table, None);
        Ok(())
    }
}

fn owner_of(record: Option<ObjectHead>) -> Owner {
    match record {
        None => Owner::Unrecorded,
        // A record without its metadata (a copy tool dropped it) names no
        // one: the entry is taken at its word, as with no record.
        Some(h) => match meta(&h, OWNER_META) {
            Some(id) => Owner::Id(id.to_string()),
            None => Owner::Unrecorded,
        },
    }
}

fn owner_record(loc: &Location, name: &Name) -> NewObject {
    let body = serde_json::json!({
        "awss3_owner": FORMAT,
        "db": name.db,
        "table": name.table,
        "prefix": loc.prefix,
    });
    NewObject {
        body: body.to_string().into_bytes(),
        content_type: Some("application/json".into()),
        meta: vec![(OWNER_META.into(), owner_id(name))],
    }
}

/// What a catalogue write expects to replace.
#[derive(Clone, Copy)]
pub enum CatalogExpect<'a> {
    /// No entry: a new table (CREATE, RENAME's new name).
    Absent,
    /// The entry of this definition version (ALTER).
    Version(&'a str),
    /// The entry with this fence (lifting or renewing it).
    Fence(&'a str),
    /// The entry as read, by its ETag (fencing it).
    ETag(&'a str),
}

fn entry_version(head: &ObjectHead) -> Option<&str> {
    meta(head, VERSION_META)
}

pub fn meta<'a>(head: &'a ObjectHead, name: &str) -> Option<&'a str> {
    head.meta
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Writes a table's entry (through `write`, as rows are: on a store that
/// ignores conditional writes a HEAD stands in for the condition).
async fn put_entry(
    s3: &S3,
    bucket: &str,
    name: &Name,
    e: &Entry,
    expect: CatalogExpect<'_>,
    fence: Option<&str>,
) -> Result<()> {
    let key = name.key();
    let exists = || {
        Error::Engine(format!(
            "`{}`.`{}` is already in the catalogue of shared tables (s3://{bucket}/{key}): \
             another server has a table of that name",
            name.db, name.table
        ))
    };
    let changed = || {
        Error::Engine(format!(
            "`{}`.`{}` was changed or dropped by another server meanwhile (s3://{bucket}/{key}); \
             nothing was published: run the statement again",
            name.db, name.table
        ))
    };
    let obj = NewObject {
        body: encode(&name.db, &name.table, e, &settings::current().0.catalog_key),
        content_type: Some("application/json".into()),
        meta: std::iter::once((VERSION_META.into(), e.version.clone()))
            .chain(fence.map(|f| (FENCE_META.into(), f.to_string())))
            .collect(),
    };
    let expected = match expect {
        CatalogExpect::Absent => Expect::Absent,
        CatalogExpect::Version(v) => Expect::Meta {
            name: VERSION_META,
            value: v,
        },
        CatalogExpect::Fence(f) => Expect::Meta {
            name: FENCE_META,
            value: f,
        },
        CatalogExpect::ETag(t) => Expect::ETag(t),
    };
    match write::write(s3, bucket, &key, obj, expected).await? {
        Outcome::Written(_) => {
            saw_fenced(&name.db, &name.table, Some(&e.version), fence);
            Ok(())
        }
        Outcome::Conflict => Err(match expect {
            CatalogExpect::Absent => exists(),
            CatalogExpect::Version(_) | CatalogExpect::Fence(_) | CatalogExpect::ETag(_) => {
                changed()
            }
        }),
    }
}

/// Table discovery: the definition image of a table this server has no
/// .frm for, from the catalogue, and its location file written at `path`
/// (`None`: no such table; a location file left by a table another server
/// dropped is removed).
pub fn catalog_discover(name: &Name, path: &str, stop: Interrupt) -> Result<Option<Vec<u8>>> {
    if !settings::current().0.discovery {
        return Ok(None);
    }
    let cat = catalogue(stop)?;
    let mut found = cat.fetch(name)?;
    // An entry whose location another name owns was left by an interrupted
    // RENAME: that other name is the table.
    if let Some(loc) = found.as_ref().and_then(|e| e.owned.as_ref()) {
        if !cat.owner(loc)?.is(name) {
            found = None;
        }
    }
    match found {
        None => {
            if location::sidecar_or_default(path)?.published {
                location::remove_sidecar(path).map_err(Error::Engine)?;
            }
            Ok(None)
        }
        Some(e) => {
            location::write_sidecar(path, &e.sidecar()).map_err(Error::Engine)?;
            Ok(Some(e.frm))
        }
    }
}

/// Whether the catalogue has the table (one HEAD).
pub fn catalog_exists(name: &Name, stop: Interrupt) -> Result<bool> {
    if !settings::current().0.discovery {
        return Ok(false);
    }
    Ok(catalogue(stop)?.version(name)?.is_some())
}

/// The tables the catalogue has in a database (LIST of its entries), and
/// the tables of this server in `db_dir` that were in the catalogue
/// (published or discovered here: their location file says so), by file
/// name: those of them the catalogue no longer has were dropped or renamed
/// by another server.
pub fn catalog_names(
    db: &str,
    db_dir: &str,
    stop: Interrupt,
) -> Result<(Vec<String>, Vec<String>)> {
    if !settings::current().0.discovery {
        return Ok((Vec::new(), Vec::new()));
    }
    let Catalogue { c, bucket } = catalogue(stop)?;
    let loc = Location {
        bucket,
        prefix: db_prefix(db),
    };
    let mut names = Vec::new();
    let prefix = loc.prefix.clone();
    let names_ref = &mut names;
    c.wait(for_each_page(&c.s3, &loc, |entries| {
        names_ref.extend(entries.iter().filter_map(|e| table_of(&prefix, &e.key)));
        async { Ok(()) }
    }))?;
    let mut shared_here = Vec::new();
    if let Ok(files) = std::fs::read_dir(db_dir) {
        for f in files.flatten() {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) != Some("awss3") {
                continue;
            }
            let (Some(stem), Some(table_path)) = (
                p.file_stem().and_then(|s| s.to_str()),
                p.with_extension("").to_str().map(str::to_string),
            ) else {
                continue;
            };
            if matches!(location::read_sidecar(&table_path), Ok(Some(sc)) if sc.published) {
                shared_here.push(stem.to_string());
            }
        }
    }
    Ok((names, shared_here))
}

/// The check at the start of a statement: whether this server's definition
/// of the table (`version`) is the catalogue's. At most one HEAD per table
/// every `awss3_definition_check_interval`; a catalogue that cannot be asked
/// is no reason to stop the statement (its own requests meet the error).
pub fn catalog_check(name: &Name, path: &str, version: &[u8], stop: Interrupt) -> Result<Check> {
    let (settings, _) = settings::current();
    if !settings.discovery {
        return Ok(Check::Same);
    }
    let ours = version_hex(version);
    if recently_seen(
        &name.db,
        &name.table,
        &ours,
        settings.definition_check_interval,
    ) {
        return Ok(Check::Same);
    }
    let cat = catalogue(stop)?;
    let mut sc = location::sidecar_or_default(path)?;
    // A shared table that owns its location must still be the owner: a
    // RENAME interrupted on another server leaves the old entry (the same
    // version) behind, and the table has another name. Asked alongside the
    // version (two HEADs at once).
    let owned = match &sc.owned {
        Some((loc, Ownership::Owned)) if sc.published => Some(loc.clone()),
        _ => None,
    };
    let asked = Instant::now();
    let (entry, owner) = match cat.version_and_owner(name, owned.as_ref()) {
        Ok(v) => v,
        Err(Error::Killed) => return Err(Error::Killed),
        _ => return Ok(Check::Same),
    };
    let (theirs, fence) = match entry {
        Some(h) => (Some(h.version), h.fence),
        None => (None, None),
    };
    if owner.is_some_and(|o| !o.is(name)) {
        saw(&name.db, &name.table, None);
        return Ok(Check::Changed);
    }
    let mut theirs = theirs;
    // The metadata says another version (or none: a copy tool may drop user
    // metadata): the authenticated body decides. Otherwise a body whose
    // version is ours would be rediscovered by every statement, for ever.
    if sc.published && theirs.as_deref().is_some_and(|v| v != ours) {
        match cat.fetch(name) {
            Ok(Some(e)) if e.version == ours => theirs = Some(ours.clone()),
            Err(Error::Killed) => return Err(Error::Killed),
            _ => {}
        }
    }
    saw_at(
        &name.db,
        &name.table,
        theirs.as_deref(),
        fence.as_deref(),
        asked,
    );
    let check = decide(theirs.as_deref(), &ours, sc.published);
    if check == Check::Same && !sc.published {
        sc.published = true;
        location::write_sidecar(path, &sc).map_err(Error::Engine)?;
    }
    Ok(check)
}

/// Publishes this server's definition of a table: one that was never in
/// the catalogue (`expect` None), or after an in-place ALTER (`expect`: the
/// version the ALTER started from, which the catalogue must still hold).
pub fn catalog_publish(
    name: &Name,
    path: &str,
    version: &[u8],
    frm: &[u8],
    expect: Option<&[u8]>,
    stop: Interrupt,
) -> Result<()> {
    if !settings::current().0.discovery {
        return Ok(());
    }
    let mut sc = location::sidecar_or_default(path)?;
    if expect.is_some() && !sc.published {
        // An ALTER of a table this server does not share (another of its
        // name is in the catalogue, or publishing it failed): nothing there
        // to replace; a table never published is published at its next check.
        return Ok(());
    }
    let cat = catalogue(stop)?;
    if expect.is_some() {
        // An ALTER must not rewrite a fenced entry: the fence would go, and
        // the other servers would write while a DROP or a copy runs.
        let (head, _) = cat.version_and_owner(name, None)?;
        if let Some(what) = head
            .and_then(|h| h.fence)
            .and_then(|f| fence_holds(&f, now_unix()))
        {
            return Err(fenced_error(name, &what));
        }
    }
    let e = Entry::new(version_hex(version), frm.to_vec(), &sc);
    let before = expect.map(version_hex);
    let expect = match &before {
        None => CatalogExpect::Absent,
        Some(v) => CatalogExpect::Version(v),
    };
    cat.put(name, &e, expect)?;
    if !sc.published {
        sc.published = true;
        location::write_sidecar(path, &sc).map_err(Error::Engine)?;
    }
    Ok(())
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
        let k = "shared secret";
        let body = encode("db", "t", &e, k);
        assert_eq!(decode(&body, k, "db", "t").unwrap(), e);
        let bare = Entry {
            owned: None,
            dropped: vec![],
            ..e.clone()
        };
        assert_eq!(
            decode(&encode("db", "t", &bare, k), k, "db", "t").unwrap(),
            bare
        );
        assert!(decode(b"{}", k, "db", "t").is_err());
        assert!(decode(b"not json", k, "db", "t").is_err());
        assert!(decode(
            br#"{"awss3_catalog": 2, "version": "x", "frm": ""}"#,
            k,
            "db",
            "t"
        )
        .unwrap_err()
        .contains("newer"));
        assert!(decode(
            br#"{"awss3_catalog": 1, "version": "x", "frm": "!!"}"#,
            k,
            "db",
            "t"
        )
        .is_err());
    }

    #[test]
    fn only_entries_written_with_the_key_for_their_name_are_accepted() {
        let e = Entry {
            version: "01".into(),
            frm: vec![1, 2, 3],
            owned: Some(Location {
                bucket: "b".into(),
                prefix: "db/t/".into(),
            }),
            dropped: vec![],
        };
        let k = "shared secret";
        let body = encode("db", "t", &e, k);
        // Another key (a tool, or a server not configured alike).
        assert!(decode(&body, "other", "db", "t")
            .unwrap_err()
            .contains("not authenticated"));
        // Copied under another name (the body names `t`, the key another table).
        assert!(decode(&body, k, "db", "stolen").is_err());
        let renamed = String::from_utf8(body.clone())
            .unwrap()
            .replace("\"table\":\"t\"", "\"table\":\"stolen\"");
        assert!(decode(renamed.as_bytes(), k, "db", "stolen").is_err());
        // The location rewritten (to the bucket root, another bucket).
        for (from, to) in [
            ("\"prefix\":\"db/t/\"", "\"prefix\":\"\""),
            ("\"bucket\":\"b\"", "\"bucket\":\"other\""),
        ] {
            let text = String::from_utf8(body.clone()).unwrap();
            assert!(text.contains(from), "{text}");
            let forged = text.replace(from, to);
            assert!(decode(forged.as_bytes(), k, "db", "t").is_err(), "{forged}");
        }
        // No MAC at all.
        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v.as_object_mut().unwrap().remove("mac");
        assert!(decode(v.to_string().as_bytes(), k, "db", "t").is_err());
        // Locations an engine never chooses, even in an authenticated entry.
        let at = |bucket: &str, prefix: &str| Entry {
            owned: Some(Location {
                bucket: bucket.into(),
                prefix: prefix.into(),
            }),
            ..e.clone()
        };
        assert!(own_location(&at("b", "db/t~2/"), "db", "b").is_ok());
        assert!(own_location(&at("b", "db/u/"), "db", "b").is_ok());
        for (bucket, prefix) in [
            ("b", ""),
            ("other", "db/t/"),
            ("b", "db/"),
            ("b", "other/t/"),
            ("b", "db/t/x/"),
            ("b", "db/t"),
        ] {
            assert!(
                own_location(&at(bucket, prefix), "db", "b").is_err(),
                "{bucket} {prefix}"
            );
        }
        // Fields are length-prefixed: moving bytes between two does not verify.
        assert_ne!(signed_bytes("ab", "c", &e), signed_bytes("a", "bc", &e));
    }

    #[test]
    fn owner_records_name_their_table_in_ascii() {
        let loc = Location::default_for("bk", "d/b", "t~é", 2).unwrap();
        assert_eq!(owner_key(&loc), "~awss3-catalog/~owners/d%2Fb/t%7Eé~2");
        // No database's entries are under ~owners/ (`~` is escaped in names).
        assert!(!owner_key(&loc).starts_with(&db_prefix("~owners")));
        let n = |db: &str, t: &str| Name {
            db: db.into(),
            table: t.into(),
        };
        let id = owner_id(&n("db", "日本"));
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        // The name's parts are kept apart: ("ab", "c") is not ("a", "bc").
        assert_ne!(owner_id(&n("ab", "c")), owner_id(&n("a", "bc")));
        assert!(Owner::Id(id.clone()).is(&n("db", "日本")));
        assert!(!Owner::Id(id).is(&n("db", "other")));
        // No record: the entry is taken at its word.
        assert!(Owner::Unrecorded.is(&n("db", "any")));
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
