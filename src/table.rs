//! One open table: its location, columns and codec, the scan in progress, and
//! the row last read (its key and ETag, which UPDATE's If-Match uses). Every
//! statement-level operation of the handler lands on a method here.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::alter;
use crate::batch::Batch;
use crate::budget::Budget;
use crate::catalog::{self, Check, Entry};
use crate::error::{Error, Result};
use crate::estimate;
use crate::keycodec::{self, KeyError};
use crate::listing::{self, Listing};
use crate::location::{self, Location, Ownership, Server, Sidecar};
use crate::rowcodec::Codec;
use crate::runtime::{self, Interrupt};
use crate::s3client::S3;
use crate::scan::{self, Next, Scan, ScanItem};
use crate::schema::{fetch_for, Attr, CellKind, Column, Fetch, Format, Role, TableDef, Value};
use crate::settings::{self, Settings};
use crate::store::{ObjectEntry, ObjectHead, Store};
use crate::write::{self, Expect, NewObject, Outcome};

/// The S3 side of one call: runtime, client and settings in force now, and
/// how to learn that the statement was killed.
struct Ctx {
    rt: Handle,
    s3: Arc<S3>,
    settings: Arc<Settings>,
    stop: Interrupt,
}

impl Ctx {
    /// `wait`, reporting `progress()` as it goes.
    fn wait_reporting<
        T,
        E: Into<Error>,
        F: std::future::Future<Output = std::result::Result<T, E>>,
    >(
        &self,
        fut: F,
        progress: &dyn Fn() -> (u64, u64),
    ) -> Result<T> {
        runtime::wait_reporting(&self.rt, fut, self.stop, Some(progress))?.map_err(Into::into)
    }

    /// Waits for `fut` (see `runtime::wait`: KILL ends the wait).
    fn wait<T, E: Into<Error>, F: std::future::Future<Output = std::result::Result<T, E>>>(
        &self,
        fut: F,
    ) -> Result<T> {
        runtime::wait(&self.rt, fut, self.stop)?.map_err(Into::into)
    }
}

fn ctx(stop: Interrupt) -> Result<Ctx> {
    ctx_for(None, stop)
}

/// The runtime, client and settings for a table: a CREATE SERVER's endpoint,
/// region and credentials replace the server-wide ones (and only for that
/// server's tables).
fn ctx_for(server: Option<&Server>, stop: Interrupt) -> Result<Ctx> {
    let rt = runtime::handle()?;
    let (settings, generation) = settings::current();
    let settings = match server {
        None => settings,
        Some(srv) => Arc::new(Settings {
            endpoint: srv.endpoint.trim().trim_end_matches('/').to_string(),
            region: if srv.region.is_empty() {
                settings.region.clone()
            } else {
                srv.region.clone()
            },
            access_key_id: srv.access_key_id.clone(),
            secret_access_key: srv.secret_access_key.clone(),
            session_token: String::new(),
            ..(*settings).clone()
        }),
    };
    let s3 = crate::s3client::client_for(&settings, generation, &rt);
    Ok(Ctx {
        rt,
        s3,
        settings,
        stop,
    })
}

fn key_index(columns: &[Column]) -> Result<usize> {
    columns
        .iter()
        .position(|c| c.role == Role::Key)
        .ok_or_else(|| Error::Engine("the table has no key column".into()))
}

fn codec_for(def: &TableDef) -> Result<Codec> {
    let format = def
        .format
        .unwrap_or_else(|| Format::default_for(&def.columns));
    Codec::new(&def.columns, format).map_err(|e| Error::Engine(e.to_string()))
}

/// Lists every object under `loc` page by page (through the one guarded
/// listing), handing each non-empty page to `each`.
async fn for_each_page<F, Fut>(s3: &Arc<S3>, loc: &Location, mut each: F) -> Result<u64>
where
    F: FnMut(Vec<ObjectEntry>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let src = bucket(s3, loc);
    let mut listing = Listing::all(&loc.prefix);
    let mut n = 0u64;
    while let Some(entries) = listing.next_page(&src).await? {
        n += entries.len() as u64;
        if !entries.is_empty() {
            each(entries).await?;
        }
    }
    Ok(n)
}

fn bucket(s3: &Arc<S3>, loc: &Location) -> listing::Bucket {
    listing::Bucket {
        store: s3.clone(),
        bucket: loc.bucket.clone(),
        max_body: u64::MAX,
    }
}

/// Deletes every object under `loc`: LISTs + one DeleteObjects per page.
async fn delete_all(s3: &Arc<S3>, loc: &Location) -> Result<u64> {
    delete_all_counted(s3, loc, &AtomicU64::new(0)).await
}

/// `delete_all`, adding the objects deleted so far to `done` (progress).
async fn delete_all_counted(s3: &Arc<S3>, loc: &Location, done: &AtomicU64) -> Result<u64> {
    for_each_page(s3, loc, |entries| async move {
        let keys: Vec<String> = entries.into_iter().map(|e| e.key).collect();
        s3.delete_batch(&loc.bucket, &keys)
            .await
            .map_err(Error::from)?;
        done.fetch_add(keys.len() as u64, Ordering::Relaxed);
        Ok(())
    })
    .await
}

/// The first key under `loc`, if any (one LIST of one key): whether the
/// location is reachable, and whether it is empty.
async fn first_key(s3: &Arc<S3>, loc: &Location) -> Result<Option<String>> {
    first_page(s3, loc, 1).await.map(|(first, _)| first)
}

/// The first key under `loc` and the row estimate one LIST page of up to
/// `max_keys` gives (exact when it is the only page, else at least its size).
async fn first_page(s3: &Arc<S3>, loc: &Location, max_keys: i32) -> Result<(Option<String>, u64)> {
    let mut listing = Listing::new(&loc.prefix, None, max_keys);
    let page = listing.next_page(&bucket(s3, loc)).await.map_err(|e| {
        Error::Engine(format!(
            "the table's location {} is not usable: {e}",
            loc.url()
        ))
    })?;
    let page = page.unwrap_or_default();
    let rows = page
        .iter()
        .filter(|e| keycodec::key_of(&loc.prefix, &e.key).is_some())
        .count() as u64;
    let rows = if listing.is_done() {
        rows
    } else {
        rows.max(page.len() as u64)
    };
    Ok((page.into_iter().next().map(|e| e.key), rows))
}

/// What a CREATE is for, as the server's own flags say (the shim reads them;
/// the core never guesses from a table's name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    /// CREATE TABLE, CREATE TABLE ... SELECT / LIKE.
    Table,
    /// ALTER TABLE's copy of a table of another engine (ALTER ... ENGINE=AWSS3).
    AlterCopy,
    /// ALTER TABLE's copy of an AWSS3 table into AWSS3 (ALGORITHM=COPY,
    /// ORDER BY, or a change the engine does not make in place).
    AlterSelfCopy,
    /// CREATE TEMPORARY TABLE.
    Temporary,
}

/// How many engine-chosen prefixes CREATE tries (`<db>/<t>/`, `<db>/<t>~2/`, ...)
/// before it gives up.
const MAX_PREFIX_CHOICES: u32 = 20;

/// CREATE TABLE: checks the definition and that the location answers; picks
/// and records an engine-chosen location. Returns a note for the user, if any.
pub fn create(def: &TableDef, kind: CreateKind, stop: Interrupt) -> Result<Option<String>> {
    let note = create_location(def, kind, stop)?;
    let (settings, _) = settings::current();
    // ALTER's copies are published when the server renames them into place.
    if settings.discovery && kind == CreateKind::Table {
        let mut sc = sidecar_of(&def.path)?;
        let entry = Entry::new(catalog::version_hex(&def.version), def.frm.clone(), &sc);
        let published =
            catalogue(stop).and_then(|cat| cat.put(&Name::of(def), &entry, CatalogExpect::Absent));
        if let Err(e) = published {
            // The server removes its .frm when create() fails: nothing of
            // the table may stay behind (an engine-chosen prefix is empty).
            let _ = location::remove_sidecar(&def.path);
            return Err(e);
        }
        sc.published = true;
        location::write_sidecar(&def.path, &sc).map_err(Error::Engine)?;
    }
    Ok(note)
}

fn create_location(def: &TableDef, kind: CreateKind, stop: Interrupt) -> Result<Option<String>> {
    match kind {
        CreateKind::Temporary => {
            return Err(Error::Engine(
                "AWSS3 does not support temporary tables: their objects would outlive \
                 the session; use a MEMORY or Aria temporary table"
                    .into(),
            ))
        }
        CreateKind::AlterSelfCopy => {
            return Err(Error::Engine(format!(
                "ALTER TABLE `{}`.`{}` would copy every row into a new AWSS3 table; AWSS3 \
                 changes tables in place or not at all (ALGORITHM=COPY, ORDER BY and \
                 changes that need a copy are refused). Nothing was changed. Use the default \
                 ALGORITHM, or create a table with the new definition over a new location \
                 and INSERT ... SELECT into it",
                def.db, def.name
            )))
        }
        CreateKind::Table | CreateKind::AlterCopy => {}
    }
    key_index(&def.columns)?;
    codec_for(def)?;
    for c in &def.columns {
        if let Role::Meta(name) = &c.role {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(Error::Engine(format!(
                    "column `{}`: S3_META='{name}' is not a valid metadata name \
                     (letters, digits, '-', '_', '.')",
                    c.name
                )));
            }
        }
    }
    let c = ctx_for(def.server.as_ref(), stop)?;
    if !def.connection.is_empty() {
        let loc = Location::from_connection(&def.connection, def.server.as_ref())
            .map_err(Error::Engine)?;
        let (server_wide, _) = settings::current();
        if catalog::overlaps(&loc, &server_wide.bucket) {
            return Err(Error::Engine(format!(
                "{} would include {}, the catalogue of shared tables in the default bucket \
                 (awss3_bucket), which is no table's; give the table a prefix outside it",
                loc.url(),
                catalog::PREFIX
            )));
        }
        // One page, not one key: the same request also gives the first row
        // estimate of a table over objects already there.
        let (first, rows) = c.wait(first_page(&c.s3, &loc, listing::PAGE))?;
        estimate::set(&loc, rows);
        if kind == CreateKind::AlterCopy {
            // The copy's rows go there: it must not mix with objects that
            // are not the table's, and if the ALTER fails they are removed.
            if let Some(k) = first {
                return Err(Error::Engine(format!(
                    "ALTER TABLE ... ENGINE=AWSS3 copies the rows into {}, which must be \
                     empty, but it holds objects (s3://{}/{k}); nothing was changed. Create \
                     the table over it instead (its objects are rows), or use another location",
                    loc.url(),
                    loc.bucket
                )));
            }
            // Owned until renamed into place, so that a failed ALTER's objects
            // go with it. Not over a CREATE SERVER: DROP sees only the path,
            // and the location file never holds credentials.
            if def.server.is_none() {
                let sc = Sidecar::owned(loc, Ownership::UntilRenamed);
                location::write_sidecar(&def.path, &sc).map_err(Error::Engine)?;
            }
        }
        return Ok(None);
    }
    // An engine-chosen location is the table's alone: DROP deletes it. It
    // never takes over objects already there (of a table renamed away from
    // this name, another server's, another tool's), nor a prefix another
    // table here owns even with no rows: it moves on to the next free choice.
    let claimed = location::owned_locations(&def.path);
    for n in 1..=MAX_PREFIX_CHOICES {
        let loc = Location::default_for(&c.settings.bucket, &def.db, &def.name, n)
            .map_err(Error::Engine)?;
        if claimed.contains(&loc) || c.wait(first_key(&c.s3, &loc))?.is_some() {
            continue;
        }
        let note = (n > 1).then(|| {
            format!(
                "AWSS3: `{}`.`{}` lives at {}: {} already holds objects or belongs to \
                 another table",
                def.db,
                def.name,
                loc.url(),
                Location::default_for(&c.settings.bucket, &def.db, &def.name, 1)
                    .map(|l| l.url())
                    .unwrap_or_default()
            )
        });
        estimate::set(&loc, 0);
        let sc = Sidecar::owned(loc, Ownership::Owned);
        location::write_sidecar(&def.path, &sc).map_err(Error::Engine)?;
        return Ok(note);
    }
    Err(Error::Engine(format!(
        "no free location for `{}`.`{}`: {} and the next {} choices all hold objects; \
         give the table a CONNECTION",
        def.db,
        def.name,
        Location::default_for(&c.settings.bucket, &def.db, &def.name, 1)
            .map(|l| l.url())
            .unwrap_or_default(),
        MAX_PREFIX_CHOICES - 1
    )))
}

/// DROP TABLE: deletes the objects the table owns (an engine-chosen location,
/// or the objects an unfinished ALTER ... ENGINE=AWSS3 copied); a table over
/// an explicit CONNECTION leaves them in place.
pub fn drop_table(path: &str, name: &Name, frm_present: bool, stop: Interrupt) -> Result<()> {
    let (settings, _) = settings::current();
    let sc = location::read_sidecar(path)
        .map_err(Error::Engine)?
        .unwrap_or_default();
    let shared = settings.discovery && (sc.published || !frm_present);
    if !shared {
        if !frm_present {
            return Err(Error::NotFound);
        }
        if let Some((loc, _)) = &sc.owned {
            let c = ctx(stop)?;
            c.wait(delete_all(&c.s3, loc))?;
        }
        return location::remove_sidecar(path).map_err(Error::Engine);
    }
    // A shared table is what the catalogue says now, not what this server's
    // .frm and location file said when it last looked: another server may
    // have renamed it (its objects are the new name's), dropped it, or
    // dropped and created it again elsewhere.
    let cat = catalogue(stop)?;
    match cat.fetch(name)? {
        None if frm_present => {
            // Gone already: only this server's copy of its definition is left.
            location::remove_sidecar(path).map_err(Error::Engine)
        }
        None => Err(Error::NotFound),
        Some(e) => {
            if let Some(loc) = &e.owned {
                cat.c.wait(delete_all(&cat.c.s3, loc))?;
            }
            // Withdrawn after the objects: a DROP that fails half-way leaves
            // the table listed (and DROP can be repeated), never objects
            // nobody lists.
            cat.withdraw(name)?;
            location::remove_sidecar(path).map_err(Error::Engine)
        }
    }
}

/// RENAME TABLE moves the location file only: the objects stay where they
/// are (S3 has no rename, and a copy of every object could be interrupted
/// half-way); no object request is sent. ALTER's copy of a table over a
/// CONNECTION, renamed into place, becomes an ordinary CONNECTION table.
/// With discovery the catalogue follows. A shared table (or one this server
/// knows only from the catalogue: `local` is None) moves as the catalogue
/// holds it now — its definition may be newer than this server's — when the
/// rename puts it in its place (`in_place`), and is only withdrawn for
/// ALTER's internal renames. A table not shared yet is published under the
/// new name from `local` (ALTER ... ENGINE=AWSS3's copy).
pub fn rename_table(
    from: &str,
    to: &str,
    names: &(Name, Name),
    in_place: bool,
    local: Option<(&[u8], &[u8])>,
    stop: Interrupt,
) -> Result<()> {
    let (settings, _) = settings::current();
    let old = location::read_sidecar(from).map_err(Error::Engine)?;
    let mut sc = old.clone().unwrap_or_default();
    if matches!(sc.owned, Some((_, Ownership::UntilRenamed))) {
        sc.owned = None;
    }
    let shared = sc.published || (in_place && local.is_none());
    if settings.discovery && (shared || in_place) {
        let cat = catalogue(stop)?;
        let (from_name, to_name) = names;
        let current = if shared {
            match cat.fetch(from_name)? {
                Some(e) => Some(e),
                None if local.is_none() => return Err(Error::NotFound),
                None => {
                    return Err(Error::Engine(format!(
                        "`{}`.`{}` was dropped or renamed by another server; nothing \
                         was renamed (this server forgets the table at its next \
                         statement on it)",
                        from_name.db, from_name.table
                    )))
                }
            }
        } else {
            None
        };
        let entry = match (&current, local) {
            _ if !in_place => None,
            (Some(e), _) => Some(e.clone()),
            (None, Some((version, frm))) => {
                Some(Entry::new(catalog::version_hex(version), frm.to_vec(), &sc))
            }
            (None, None) => None,
        };
        sc.published = false;
        if let Some(e) = &entry {
            cat.put(to_name, e, CatalogExpect::Absent)?;
            if e.owned.is_some() {
                sc.owned = e.owned.clone().map(|l| (l, Ownership::Owned));
            }
            sc.dropped = e.dropped.clone();
            sc.published = true;
        }
        if current.is_some() {
            if let Err(e) = cat.withdraw(from_name) {
                if sc.published {
                    let _ = cat.withdraw(to_name);
                }
                return Err(e);
            }
        }
    }
    match old {
        None if sc == Sidecar::default() => Ok(()),
        Some(o) if o == sc => location::move_sidecar(from, to).map_err(Error::Engine),
        _ => {
            location::write_sidecar(to, &sc).map_err(Error::Engine)?;
            location::remove_sidecar(from).map_err(Error::Engine)
        }
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
    fn of(def: &TableDef) -> Name {
        Name {
            db: def.db.clone(),
            table: def.name.clone(),
        }
    }

    fn key(&self) -> String {
        catalog::entry_key(&self.db, &self.table)
    }
}

/// The catalogue's side of a call: the server-wide client, and the default
/// bucket the catalogue lives in.
struct Catalogue {
    c: Ctx,
    bucket: String,
}

fn catalogue(stop: Interrupt) -> Result<Catalogue> {
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
    fn put(&self, name: &Name, e: &Entry, expect: CatalogExpect<'_>) -> Result<()> {
        self.c
            .wait(put_entry(&self.c.s3, &self.bucket, name, e, expect))
    }

    fn withdraw(&self, name: &Name) -> Result<()> {
        self.c.wait(self.c.s3.delete(&self.bucket, &name.key()))?;
        catalog::saw(&name.db, &name.table, None);
        Ok(())
    }

    /// A table's entry as the catalogue holds it now.
    fn fetch(&self, name: &Name) -> Result<Option<Entry>> {
        let (b, key) = (&self.bucket, name.key());
        let Some(o) = self
            .c
            .wait(self.c.s3.get(b, &key, catalog::MAX_ENTRY_BYTES))?
        else {
            catalog::saw(&name.db, &name.table, None);
            return Ok(None);
        };
        if o.oversize.is_some() {
            return Err(Error::Engine(format!(
                "s3://{b}/{key} is larger than any catalogue entry can be"
            )));
        }
        let e =
            catalog::decode(&o.body).map_err(|m| Error::Engine(format!("s3://{b}/{key}: {m}")))?;
        catalog::saw(&name.db, &name.table, Some(&e.version));
        Ok(Some(e))
    }

    /// The version the catalogue holds for a table (one HEAD): `None` when
    /// it has no entry.
    fn version(&self, name: &Name) -> Result<Option<String>> {
        let head = self.c.wait(self.c.s3.head(&self.bucket, &name.key()))?;
        Ok(head.map(|(_, h)| entry_version(&h).unwrap_or("").to_string()))
    }
}

/// What a catalogue write expects to replace.
#[derive(Clone, Copy)]
enum CatalogExpect<'a> {
    /// No entry: a new table (CREATE, RENAME's new name).
    Absent,
    /// The entry of this definition version (ALTER).
    Version(&'a str),
}

fn entry_version(head: &ObjectHead) -> Option<&str> {
    head.meta
        .iter()
        .find(|(k, _)| k == catalog::VERSION_META)
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
        body: catalog::encode(&name.db, &name.table, e),
        content_type: Some("application/json".into()),
        meta: vec![(catalog::VERSION_META.into(), e.version.clone())],
    };
    let expected = match expect {
        CatalogExpect::Absent => Expect::Absent,
        CatalogExpect::Version(v) => Expect::Meta {
            name: catalog::VERSION_META,
            value: v,
        },
    };
    match write::write(s3, bucket, &key, obj, expected).await? {
        Outcome::Written(_) => {
            catalog::saw(&name.db, &name.table, Some(&e.version));
            Ok(())
        }
        Outcome::Conflict => Err(match expect {
            CatalogExpect::Absent => exists(),
            CatalogExpect::Version(_) => changed(),
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
    match catalogue(stop)?.fetch(name)? {
        None => {
            if sidecar_of(path)?.published {
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
        prefix: catalog::db_prefix(db),
    };
    let mut names = Vec::new();
    let prefix = loc.prefix.clone();
    let names_ref = &mut names;
    c.wait(for_each_page(&c.s3, &loc, |entries| {
        names_ref.extend(
            entries
                .iter()
                .filter_map(|e| catalog::table_of(&prefix, &e.key)),
        );
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
    let ours = catalog::version_hex(version);
    if catalog::recently_seen(
        &name.db,
        &name.table,
        &ours,
        settings.definition_check_interval,
    ) {
        return Ok(Check::Same);
    }
    let theirs = match catalogue(stop)?.version(name) {
        Ok(v) => v,
        Err(Error::Killed) => return Err(Error::Killed),
        _ => return Ok(Check::Same),
    };
    catalog::saw(&name.db, &name.table, theirs.as_deref());
    let mut sc = sidecar_of(path)?;
    let check = catalog::decide(theirs.as_deref(), &ours, sc.published);
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
    let mut sc = sidecar_of(path)?;
    if expect.is_some() && !sc.published {
        // An ALTER of a table this server does not share (another of its
        // name is in the catalogue, or publishing it failed): nothing there
        // to replace; a table never published is published at its next check.
        return Ok(());
    }
    let e = Entry::new(catalog::version_hex(version), frm.to_vec(), &sc);
    let before = expect.map(catalog::version_hex);
    let expect = match &before {
        None => CatalogExpect::Absent,
        Some(v) => CatalogExpect::Version(v),
    };
    catalogue(stop)?.put(name, &e, expect)?;
    if !sc.published {
        sc.published = true;
        location::write_sidecar(path, &sc).map_err(Error::Engine)?;
    }
    Ok(())
}

/// What an object whose body is not a row of the table does to a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The statement fails, naming the object.
    Fail,
    /// A warning naming the object; the row is skipped (awss3_skip_malformed).
    Skip,
    /// CHECK TABLE: a warning naming the object, and on to the next.
    Report,
}

impl Malformed {
    fn setting(s: &Settings) -> Malformed {
        if s.skip_malformed {
            Malformed::Skip
        } else {
            Malformed::Fail
        }
    }
}

fn sidecar_of(path: &str) -> Result<Sidecar> {
    Ok(location::read_sidecar(path)
        .map_err(Error::Engine)?
        .unwrap_or_default())
}

/// ALTER TABLE: whether the change is made in place (see `alter`).
pub fn alter_check(old: &TableDef, new: &TableDef, origins: &[alter::ColumnOrigin]) -> Result<()> {
    alter::check(old, new, origins, &sidecar_of(&old.path)?.dropped).map(|_| ())
}

/// ALTER TABLE made in place, at commit: remembers the JSON fields of the
/// columns it dropped (objects written so far keep them).
pub fn alter_commit(old: &TableDef, new: &TableDef, origins: &[alter::ColumnOrigin]) -> Result<()> {
    let mut sc = sidecar_of(&old.path)?;
    let dropped = alter::check(old, new, origins, &sc.dropped)?;
    if dropped != sc.dropped {
        sc.dropped = dropped;
        location::write_sidecar(&old.path, &sc).map_err(Error::Engine)?;
    }
    Ok(())
}

pub struct Table {
    def: TableDef,
    loc: Location,
    codec: Codec,
    key_col: usize,
    /// Object key and ETag of the row last read or written.
    current: Option<(String, String)>,
    /// The scan in progress and what it does with malformed objects (the
    /// setting as the statement started, or CHECK TABLE's reporting).
    scan: Option<(Scan, Malformed)>,
    /// Whether the scan covers the whole table, and the objects it has
    /// returned: a finished full scan is the latest row count.
    scan_full: bool,
    scan_rows: u64,
    /// This handler wrote or deleted rows while its scan ran: the scan's
    /// count is not the table's any more (the writes moved the estimate).
    scan_wrote: bool,
    /// Object keys this handler wrote while its scan runs: a later LIST page
    /// must not hand them back (an UPDATE that changes keys would otherwise
    /// meet its own new rows again: the Halloween problem).
    written_during_scan: HashSet<String>,
    /// The multi-range read in progress: point reads up to the window in
    /// flight, and what a malformed object does (the setting at its start).
    batch: Option<(Batch, Malformed)>,
    /// The multi-row INSERT in progress, if its rows are written concurrently.
    bulk: Option<Bulk>,
    /// The row last returned to the shim.
    pub row: Vec<Value>,
    /// Conditions for the statement: (is a note rather than a warning, text).
    warnings: VecDeque<(bool, String)>,
    /// Whether the statement working on the table was killed.
    stop: Interrupt,
    /// The statement's request budget (awss3_max_requests_per_statement).
    budget: Option<Arc<Budget>>,
    /// What a malformed row does in the read that produced `self.row`: the
    /// one decision, for the core's own checks and the shim's (a value that
    /// does not fit its column).
    row_mode: Malformed,
}

impl Table {
    pub fn open(def: TableDef) -> Result<Table> {
        let loc = location::resolve(&def.connection, def.server.as_ref(), &def.path)
            .map_err(Error::Engine)?;
        let codec = codec_for(&def)?;
        let key_col = key_index(&def.columns)?;
        let n = def.columns.len();
        Ok(Table {
            def,
            loc,
            codec,
            key_col,
            current: None,
            scan: None,
            scan_full: false,
            scan_rows: 0,
            scan_wrote: false,
            written_during_scan: HashSet::new(),
            batch: None,
            bulk: None,
            row: vec![Value::Null; n],
            warnings: VecDeque::new(),
            stop: Interrupt::NONE,
            budget: None,
            row_mode: Malformed::Fail,
        })
    }

    fn ctx(&self) -> Result<Ctx> {
        let mut c = ctx_for(self.def.server.as_ref(), self.stop)?;
        if let Some(b) = &self.budget {
            c.s3 = Arc::new(c.s3.with_budget(b.clone()));
        }
        Ok(c)
    }

    /// The request budget of the statement now using the table (`None`: no
    /// limit, or between statements).
    pub fn set_budget(&mut self, budget: Option<Arc<Budget>>) {
        self.budget = budget;
    }

    /// The statement now working on this table, to ask whether it was killed
    /// (`Interrupt::NONE` between statements).
    pub fn set_interrupt(&mut self, stop: Interrupt) {
        self.stop = stop;
    }

    pub fn location(&self) -> &Location {
        &self.loc
    }

    /// The next condition to show: `(is_note, text)`.
    pub fn take_warning(&mut self) -> Option<(bool, String)> {
        self.warnings.pop_front()
    }

    fn url(&self, object_key: &str) -> String {
        format!("s3://{}/{}", self.loc.bucket, object_key)
    }

    /// The object a lookup of `key` reads: under a PAD SPACE collation
    /// 'a ' equals 'a', and only 'a' can be stored (a key ending in a space
    /// is refused at write), so trailing spaces are dropped.
    fn lookup_key(&self, key: &[u8]) -> std::result::Result<String, KeyError> {
        let mut key = key;
        if self.def.key_pad_space {
            while let [rest @ .., b' '] = key {
                key = rest;
            }
        }
        self.object_key(key)
    }

    fn object_key(&self, key: &[u8]) -> std::result::Result<String, KeyError> {
        keycodec::object_key(&self.loc.prefix, key, self.def.key_pad_space)
    }

    fn key_error(&self, key: &[u8], e: KeyError) -> Error {
        let shown = String::from_utf8_lossy(key);
        let shown: String = shown.chars().take(80).collect();
        Error::Engine(format!(
            "key '{shown}' cannot be stored in {}: {e}; nothing was written",
            self.loc.url()
        ))
    }

    /// Fills `self.row` from what S3 returned. `Ok(false)`: not a row (the
    /// prefix's own marker object, or a malformed object skipped).
    fn fill_row(
        &mut self,
        entry: &ObjectEntry,
        head: Option<&ObjectHead>,
        body: Option<&[u8]>,
        oversize: Option<u64>,
        malformed: Malformed,
    ) -> Result<bool> {
        let Some(key) = keycodec::key_of(&self.loc.prefix, &entry.key) else {
            return Ok(false);
        };
        self.row_mode = malformed;
        for (i, c) in self.def.columns.iter().enumerate() {
            self.row[i] = match &c.role {
                Role::Key => match c.kind {
                    CellKind::Bytes => Value::Bytes(key.as_bytes().to_vec()),
                    _ => Value::Text(key.to_string()),
                },
                Role::Attr(Attr::Size) => number_value(c.kind, entry.size),
                Role::Attr(Attr::LastModified) => match &entry.last_modified {
                    Some(t) => text_value(c.kind, t),
                    None => Value::Null,
                },
                Role::Attr(Attr::Etag) => text_value(c.kind, entry.etag.trim_matches('"')),
                Role::Attr(Attr::ContentType) => {
                    match head.and_then(|h| h.content_type.as_deref()) {
                        Some(t) => text_value(c.kind, t),
                        None => Value::Null,
                    }
                }
                Role::Meta(name) => match head
                    .and_then(|h| h.meta.iter().find(|(k, _)| k == name))
                    .map(|(_, v)| v)
                {
                    Some(v) => text_value(c.kind, v),
                    None => Value::Null,
                },
                Role::Value | Role::Computed => Value::Null,
            };
        }
        if let Some(body) = body {
            let meta = head.map(|h| h.meta.as_slice()).unwrap_or(&[]);
            let decoded = match oversize {
                Some(n) => Err(format!(
                    "its body is {n} bytes or more, more than a row of the table can hold \
                     ({} bytes, from the value columns' types and max_allowed_packet): it \
                     does not fit, and was not read",
                    self.def.max_body
                )),
                None => self
                    .codec
                    .decode(body, meta, &mut self.row)
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = decoded {
                let msg = format!(
                    "object {} is not a valid row of `{}`.`{}`: {e}",
                    self.url(&entry.key),
                    self.def.db,
                    self.def.name
                );
                match malformed {
                    Malformed::Fail => {}
                    Malformed::Skip => {
                        self.warnings
                            .push_back((false, format!("AWSS3: skipped {msg}")));
                        return Ok(false);
                    }
                    Malformed::Report => {
                        self.warnings.push_back((false, format!("AWSS3: {msg}")));
                        return Ok(false);
                    }
                }
                return Err(Error::Engine(format!(
                    "{msg} (SET GLOBAL awss3_skip_malformed=ON skips such objects with a warning)"
                )));
            }
        }
        self.current = Some((entry.key.clone(), entry.etag.clone()));
        Ok(true)
    }

    /// `fill_row` from whatever a scan or batch fetched for one object.
    fn fill_item(&mut self, item: &ScanItem, malformed: Malformed) -> Result<bool> {
        match item {
            ScanItem::Listed(e) => self.fill_row(e, None, None, None, malformed),
            ScanItem::Headed(e, h) => self.fill_row(e, Some(h), None, None, malformed),
            ScanItem::Got(o) => self.fill_row(
                &o.entry,
                Some(&o.head),
                Some(&o.body),
                o.oversize,
                malformed,
            ),
        }
    }

    /// Starts a scan of the rows whose keys lie within `range` (key values,
    /// without the table prefix), in key order. `malformed`: what an object
    /// that is not a row does (`None`: as `awss3_skip_malformed` says).
    /// `whole`: the statement reads the scan to its end (no LIMIT), so its
    /// cost is known before it starts (for the request budget).
    pub fn scan_start(
        &mut self,
        needed: Vec<bool>,
        range: &KeyRange,
        malformed: Option<Malformed>,
        whole: bool,
    ) -> Result<()> {
        let c = self.ctx()?;
        let fetch = fetch_for(&self.def.columns, &needed);
        let full = range.lower.is_none() && range.upper.is_none();
        if let (true, true, Some(b), Some(n)) =
            (whole, full, &self.budget, estimate::get(&self.loc))
        {
            // Known in advance: its LISTs, and a GET or HEAD per row.
            let lists = n.div_ceil(listing::PAGE as u64).max(1);
            let expected = lists + if fetch == Fetch::ListOnly { 0 } else { n };
            if !b.allows(expected) {
                return Err(Error::Engine(format!(
                    "a full scan of `{}`.`{}` ({n} rows when last listed) needs about {expected} requests, more than awss3_max_requests_per_statement={} allows ({} used so far); nothing was sent",
                    self.def.db,
                    self.def.name,
                    b.limit(),
                    b.used()
                )));
            }
        }
        let plan = ListPlan::new(&self.loc.prefix, range, self.def.key_pad_space);
        let source = Arc::new(listing::Bucket {
            max_body: self.def.max_body,
            ..bucket(&c.s3, &self.loc)
        });
        let listing = Listing::new(&plan.prefix, plan.start_after, listing::PAGE);
        let scan = Scan::start(
            &c.rt,
            source,
            listing,
            fetch,
            c.settings.prefetch_window,
            plan.bounds,
        );
        self.scan = Some((scan, malformed.unwrap_or(Malformed::setting(&c.settings))));
        self.scan_full = range.lower.is_none() && range.upper.is_none();
        self.scan_rows = 0;
        self.scan_wrote = false;
        self.written_during_scan.clear();
        self.current = None;
        Ok(())
    }

    /// The greatest key value within `range` (S3 lists forwards only: LISTs
    /// up to the range's end, no GET). MAX(k) and reads "before" a key use it.
    pub fn last_in_range(&self, range: &KeyRange) -> Result<Option<Vec<u8>>> {
        let c = self.ctx()?;
        let plan = ListPlan::new(&self.loc.prefix, range, self.def.key_pad_space);
        let prefix = &self.loc.prefix;
        let src = bucket(&c.s3, &self.loc);
        let mut listing = Listing::new(&plan.prefix, plan.start_after.clone(), listing::PAGE);
        c.wait(async {
            let mut last: Option<Vec<u8>> = None;
            // The greatest in the key column's order (PAD SPACE puts 'a\t'
            // below 'a', though S3 lists it after).
            let greater = |k: &[u8], than: &Option<Vec<u8>>| {
                than.as_deref().map_or(true, |l| {
                    if plan.bounds.pad {
                        keycodec::pad_cmp(k, l) != std::cmp::Ordering::Less
                    } else {
                        k >= l
                    }
                })
            };
            while let Some(entries) = listing.next_page(&src).await? {
                for e in entries {
                    let key = e.key.as_bytes();
                    if plan.bounds.past(key) {
                        return Ok(last);
                    }
                    if plan.bounds.below(key) || plan.bounds.above(key) {
                        continue;
                    }
                    if let Some(k) = keycodec::key_of(prefix, &e.key) {
                        if greater(k.as_bytes(), &last) {
                            last = Some(k.as_bytes().to_vec());
                        }
                    }
                }
            }
            Ok::<_, crate::store::S3Error>(last)
        })
    }

    pub fn scan_end(&mut self) {
        self.scan = None;
        self.written_during_scan = HashSet::new();
    }

    /// `Ok(Some(true))`: a row is in `self.row`; `Ok(Some(false))`: end of
    /// table; `Ok(None)`: nothing yet within `wait`.
    pub fn scan_next(&mut self, wait: Duration) -> Result<Option<bool>> {
        loop {
            let Some((scan, mode)) = self.scan.as_mut() else {
                return Err(Error::Engine("no scan in progress".into()));
            };
            let skip = *mode;
            let item = match scan.next(wait) {
                Next::Row(item) => item,
                Next::End => {
                    if self.scan_full && !self.scan_wrote {
                        estimate::set(&self.loc, self.scan_rows);
                        self.scan_full = false;
                    }
                    return Ok(Some(false));
                }
                Next::Pending => return Ok(None),
                Next::Failed(e) => return Err(e.into()),
            };
            self.scan_rows += 1;
            let key = match &item {
                ScanItem::Listed(e) | ScanItem::Headed(e, _) => &e.key,
                ScanItem::Got(o) => &o.entry.key,
            };
            if self.written_during_scan.contains(key) {
                continue;
            }
            if self.fill_item(&item, skip)? {
                return Ok(Some(true));
            }
        }
    }

    /// Point lookup: `Ok(false)` when there is no such row.
    pub fn read_key(&mut self, key: &[u8], needed: &[bool]) -> Result<bool> {
        let Ok(object_key) = self.lookup_key(key) else {
            // A key S3 cannot store is in no table.
            return Ok(false);
        };
        let c = self.ctx()?;
        let skip = Malformed::setting(&c.settings);
        match fetch_for(&self.def.columns, needed) {
            Fetch::Get => {
                match c.wait(c.s3.get(&self.loc.bucket, &object_key, self.def.max_body))? {
                    Some(o) => {
                        self.fill_row(&o.entry, Some(&o.head), Some(&o.body), o.oversize, skip)
                    }
                    None => Ok(false),
                }
            }
            // Key and attributes only: a HEAD proves existence and has them all.
            Fetch::Head | Fetch::ListOnly => {
                match c.wait(c.s3.head(&self.loc.bucket, &object_key))? {
                    Some((e, h)) => self.fill_row(&e, Some(&h), None, None, skip),
                    None => Ok(false),
                }
            }
        }
    }

    /// The row at a position this statement's own read returned (filesort
    /// sorts positions, then reads the rows again). When only the key is
    /// needed, the position is the row: no request (InnoDB, too, reads the
    /// row version its scan saw). Otherwise as `read_key`.
    pub fn read_position(&mut self, key: &[u8], needed: &[bool]) -> Result<bool> {
        let key_only = self
            .def
            .columns
            .iter()
            .zip(needed)
            .all(|(c, &n)| !n || matches!(c.role, Role::Key | Role::Computed));
        match std::str::from_utf8(key) {
            Ok(k) if key_only && !k.is_empty() => {
                let entry = ObjectEntry {
                    key: format!("{}{k}", self.loc.prefix),
                    size: 0,
                    last_modified: None,
                    etag: String::new(),
                };
                let skip = Malformed::setting(&self.ctx()?.settings);
                self.fill_row(&entry, None, None, None, skip)
            }
            _ => self.read_key(key, needed),
        }
    }

    /// The row last returned cannot be stored in its columns (the shim found
    /// `why`): `Ok(())` when it is to be skipped (a warning is queued), else
    /// the error naming the object — as the read that produced it decided.
    pub fn row_malformed(&mut self, why: &str) -> Result<()> {
        let url = match &self.current {
            Some((k, _)) => self.url(k),
            None => self.loc.url(),
        };
        let msg = format!(
            "object {url} is not a valid row of `{}`.`{}`: {why}",
            self.def.db, self.def.name
        );
        match self.row_mode {
            Malformed::Skip => {
                self.warnings
                    .push_back((false, format!("AWSS3: skipped {msg}")));
                Ok(())
            }
            Malformed::Report => {
                self.warnings.push_back((false, format!("AWSS3: {msg}")));
                Ok(())
            }
            Malformed::Fail => Err(Error::Engine(format!(
                "{msg} (SET GLOBAL awss3_skip_malformed=ON skips such objects with a warning)"
            ))),
        }
    }

    /// Starts a batch of point reads (multi-range read) of the columns in
    /// `needed`; the window of reads in flight it allows.
    pub fn batch_start(&mut self, needed: &[bool]) -> Result<usize> {
        let c = self.ctx()?;
        let source = Arc::new(listing::Bucket {
            max_body: self.def.max_body,
            ..bucket(&c.s3, &self.loc)
        });
        let fetch = fetch_for(&self.def.columns, needed);
        let batch = Batch::new(&c.rt, source, fetch, c.settings.prefetch_window);
        let window = batch.window();
        self.batch = Some((batch, Malformed::setting(&c.settings)));
        self.current = None;
        Ok(window)
    }

    /// Queues the read of the row with key value `key`.
    pub fn batch_push(&mut self, key: &[u8]) -> Result<()> {
        // A key S3 cannot store is in no table: answered "absent", no request.
        let object_key = self.lookup_key(key).ok();
        let Some((batch, _)) = self.batch.as_mut() else {
            return Err(Error::Engine("no batched read in progress".into()));
        };
        batch.push(object_key).map_err(Error::Engine)
    }

    /// The answer for the oldest queued key: `Ok(None)` when none is queued,
    /// `Ok(Some(found))` otherwise (the row in `self.row` when found).
    pub fn batch_next(&mut self) -> Result<Option<bool>> {
        let Some((batch, malformed)) = self.batch.as_mut() else {
            return Err(Error::Engine("no batched read in progress".into()));
        };
        let malformed = *malformed;
        let Some(answer) = batch.take() else {
            return Ok(None);
        };
        let rt = runtime::handle()?;
        let item = runtime::wait(&rt, answer, self.stop)??;
        Ok(Some(match item {
            None => false,
            Some(item) => self.fill_item(&item, malformed)?,
        }))
    }

    /// Ends the batch; stops the reads still in flight.
    pub fn batch_end(&mut self) {
        self.batch = None;
    }

    fn check_writable(&self) -> Result<()> {
        if self.def.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Body, content type and metadata of a row to write.
    fn new_object(&self, values: &[Value]) -> Result<NewObject> {
        let enc = self
            .codec
            .encode(values)
            .map_err(|e| Error::Engine(e.to_string()))?;
        let mut meta = enc.meta;
        let mut content_type = None;
        for (c, v) in self.def.columns.iter().zip(values) {
            let text = match v {
                Value::Text(t) | Value::Temporal(t) | Value::Number(t) => t.clone(),
                Value::Int(i) => i.to_string(),
                Value::UInt(u) => u.to_string(),
                _ => continue,
            };
            match &c.role {
                Role::Meta(name) => {
                    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                        return Err(Error::Engine(format!(
                            "column `{}`: S3 user metadata must be printable ASCII; \
                             nothing was written",
                            c.name
                        )));
                    }
                    meta.push((name.clone(), text));
                }
                Role::Attr(Attr::ContentType) => content_type = Some(text),
                _ => {}
            }
        }
        Ok(NewObject {
            body: enc.body,
            content_type,
            meta,
        })
    }

    fn key_bytes(&self, values: &[Value]) -> Vec<u8> {
        match values.get(self.key_col) {
            Some(Value::Text(t)) => t.as_bytes().to_vec(),
            Some(Value::Bytes(b)) => b.clone(),
            _ => Vec::new(),
        }
    }

    fn note_ignored_conditions(&mut self, c: &Ctx) {
        self.warnings.push_back((
            true,
            write::ignored_conditions_note(c.s3.endpoint(), &self.loc.bucket),
        ));
    }

    /// Writes a new row's object (INSERT; the new key of an UPDATE).
    async fn put_new(&mut self, c: &Ctx, object_key: &str, values: &[Value]) -> Result<String> {
        let (honoured, probed) = write::honoured(&*c.s3, &self.loc.bucket).await?;
        if probed && !honoured {
            self.note_ignored_conditions(c);
        }
        let obj = self.new_object(values)?;
        match write::write(&*c.s3, &self.loc.bucket, object_key, obj, Expect::Absent).await? {
            Outcome::Written(etag) => Ok(etag),
            Outcome::Conflict => Err(Error::DupKey),
        }
    }

    /// A multi-row INSERT starts: its rows are written concurrently, up to
    /// the window at a time. Where the store ignores conditional writes, each
    /// write task does HEAD then PUT. A key repeated within the window is
    /// refused at once (see `insert_concurrent`).
    pub fn bulk_begin(&mut self) -> Result<()> {
        self.check_writable()?;
        let c = self.ctx()?;
        let (honoured, probed) = c.wait(write::honoured(&*c.s3, &self.loc.bucket))?;
        if probed && !honoured {
            self.note_ignored_conditions(&c);
        }
        self.bulk = Some(Bulk {
            permits: Arc::new(Semaphore::new(c.settings.prefetch_window.max(1))),
            tasks: VecDeque::new(),
            keys: VecDeque::new(),
        });
        Ok(())
    }

    /// Waits for every row of the multi-row INSERT; the first failure.
    pub fn bulk_end(&mut self) -> Result<()> {
        let Some(mut bulk) = self.bulk.take() else {
            return Ok(());
        };
        let rt = runtime::handle()?;
        let aborts: Vec<_> = bulk.tasks.iter().map(|t| t.abort_handle()).collect();
        // In row order, so that the error names the first failing row.
        let drained = runtime::wait(
            &rt,
            async {
                let mut first = Ok(());
                bulk.keys.clear();
                for task in bulk.tasks.drain(..) {
                    let done = task_result(task.await);
                    if first.is_ok() {
                        first = done;
                    }
                }
                first
            },
            self.stop,
        );
        if drained.is_err() {
            // Killed: the rows not yet written are not sent.
            aborts.iter().for_each(|a| a.abort());
        }
        drained?
    }

    /// One row of a multi-row INSERT: handed to a write task once one of
    /// the window's slots is free. A row that failed already fails this one.
    fn insert_concurrent(&mut self, c: &Ctx, object_key: String, values: &[Value]) -> Result<()> {
        let obj = self.new_object(values)?;
        let Some(bulk) = self.bulk.as_mut() else {
            return Err(Error::Engine("no multi-row INSERT in progress".into()));
        };
        while bulk.tasks.front().is_some_and(|t| t.is_finished()) {
            if let Some(task) = bulk.tasks.pop_front() {
                bulk.keys.pop_front();
                task_result(c.rt.block_on(task))?;
            }
        }
        // A key repeated while this statement's earlier write of it is in
        // flight is a duplicate whatever that write's outcome (it stores the
        // key, or fails because the key exists): refused here, so the later
        // row can never win the race and replace the earlier one's value
        // (conditional PUTs), and two HEADs cannot both find nothing (HEAD
        // then PUT). Once the earlier task is done, the store itself says.
        if let Some(at) = bulk.keys.iter().position(|k| *k == object_key) {
            // Its outcome first: a failure other than the duplicate is the
            // statement's error (that row came first), not this duplicate.
            bulk.keys.remove(at);
            let earlier = match bulk.tasks.remove(at) {
                Some(task) => task_result(runtime::wait(&c.rt, task, c.stop)?),
                None => Ok(()),
            };
            return match earlier {
                Ok(()) | Err(Error::DupKey) | Err(Error::DupKeyDeferred(_)) => Err(Error::DupKey),
                Err(e) => Err(e),
            };
        }
        let permit = match runtime::wait(&c.rt, bulk.permits.clone().acquire_owned(), c.stop) {
            Ok(p) => p.map_err(|_| Error::Engine("the write window was closed".into()))?,
            Err(e) => {
                // Killed while the window was full: stop what is in flight.
                bulk.tasks.iter().for_each(|t| t.abort());
                return Err(e);
            }
        };
        let (s3, bucket) = (c.s3.clone(), self.loc.bucket.clone());
        let prefix_len = self.loc.prefix.len();
        let loc = self.loc.clone();
        bulk.keys.push_back(object_key.clone());
        bulk.tasks.push_back(c.rt.spawn(async move {
            let _slot = permit;
            let dup = || Error::DupKeyDeferred(object_key[prefix_len..].to_string());
            match write::write(&*s3, &bucket, &object_key, obj, Expect::Absent).await? {
                Outcome::Written(_) => {
                    estimate::add(&loc, 1);
                    Ok(())
                }
                Outcome::Conflict => Err(dup()),
            }
        }));
        self.current = None;
        Ok(())
    }

    pub fn insert(&mut self, values: &[Value]) -> Result<()> {
        self.check_writable()?;
        let key = self.key_bytes(values);
        let object_key = self.object_key(&key).map_err(|e| self.key_error(&key, e))?;
        let c = self.ctx()?;
        if self.bulk.is_some() {
            return self.insert_concurrent(&c, object_key, values);
        }
        let etag = c.wait(self.put_new(&c, &object_key, values))?;
        estimate::add(&self.loc, 1);
        self.note_written(&object_key);
        self.current = Some((object_key, etag));
        Ok(())
    }

    /// UPDATE of the row whose key was `old_key`: If-Match on the ETag this
    /// statement read; a new key writes the new object, then deletes the old.
    pub fn update(&mut self, old_key: &[u8], values: &[Value]) -> Result<()> {
        self.check_writable()?;
        let old = self
            .object_key(old_key)
            .map_err(|e| self.key_error(old_key, e))?;
        let key = self.key_bytes(values);
        let new = self.object_key(&key).map_err(|e| self.key_error(&key, e))?;
        let c = self.ctx()?;
        let etag = match &self.current {
            Some((k, etag)) if *k == old => etag.clone(),
            // Not the row last read (should not happen): read its ETag now.
            _ => match c.wait(c.s3.head(&self.loc.bucket, &old))? {
                Some((e, _)) => e.etag,
                None => return Err(Error::RecordChanged),
            },
        };
        if new != old {
            let new_etag = c.wait(self.put_new(&c, &new, values))?;
            self.note_written(&new);
            // The old object goes only if it is still what this statement
            // read; if another writer changed it meanwhile, its change must
            // not vanish: undo the new object and report the conflict.
            let unchanged = c.wait(write::unchanged(&*c.s3, &self.loc.bucket, &old, &etag));
            self.current = None;
            return match unchanged {
                Ok(true) => match c.wait(c.s3.delete(&self.loc.bucket, &old)) {
                    Ok(()) => {
                        self.current = Some((new, new_etag));
                        Ok(())
                    }
                    // Killed, over budget or failed: the DELETE may or may
                    // not have been applied.
                    Err(e) => self.undo_key_change(&old, &new, e, true),
                },
                Ok(false) => self.undo_key_change(&old, &new, Error::RecordChanged, false),
                Err(e) => self.undo_key_change(&old, &new, e, false),
            };
        }
        let obj = self.new_object(values)?;
        match c.wait(write::write(
            &*c.s3,
            &self.loc.bucket,
            &new,
            obj,
            Expect::ETag(&etag),
        ))? {
            Outcome::Written(etag) => {
                self.current = Some((new, etag));
                Ok(())
            }
            Outcome::Conflict => Err(Error::RecordChanged),
        }
    }

    /// A key-changing UPDATE stopped after writing the new object `new`
    /// (`why`): the row operation is undone, so that the row is at one key.
    /// The undo is not stopped by the KILL or budget that may have caused it
    /// (no budget, no interrupt: bounded by the request timeout and retries).
    /// `delete_sent`: this statement's DELETE of `old` may have been applied
    /// (its answer lost); if `old` is gone the row moved, and `new` stays.
    fn undo_key_change(&self, old: &str, new: &str, why: Error, delete_sent: bool) -> Result<()> {
        let undo = ctx_for(self.def.server.as_ref(), Interrupt::NONE).and_then(|u| {
            let old_gone = delete_sent && u.wait(u.s3.head(&self.loc.bucket, old))?.is_none();
            if old_gone {
                Ok(())
            } else {
                u.wait(u.s3.delete(&self.loc.bucket, new))
            }
        });
        match undo {
            Ok(()) => Err(match why {
                Error::Engine(m) => Error::Engine(format!(
                    "{m}; the UPDATE of this row was undone (the new object {} was removed again)",
                    self.url(new)
                )),
                other => other,
            }),
            Err(e) => Err(Error::Engine(format!(
                "{}; the new object {} could not be removed again ({e}): the row may be at both keys",
                match why {
                    Error::Engine(m) => m,
                    other => other.to_string(),
                },
                self.url(new)
            ))),
        }
    }

    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.check_writable()?;
        let object_key = self.object_key(key).map_err(|e| self.key_error(key, e))?;
        let c = self.ctx()?;
        c.wait(c.s3.delete(&self.loc.bucket, &object_key))?;
        estimate::add(&self.loc, -1);
        self.scan_wrote |= self.scan.is_some();
        self.current = None;
        Ok(())
    }

    fn note_written(&mut self, object_key: &str) {
        if self.scan.is_some() {
            self.written_during_scan.insert(object_key.to_string());
            self.scan_wrote = true;
        }
    }

    /// The number of rows (objects under the prefix, less the prefix's own
    /// marker): one LIST pass. DELETE without WHERE reports it.
    pub fn count(&self) -> Result<u64> {
        let c = self.ctx()?;
        let prefix = &self.loc.prefix;
        let counted = AtomicU64::new(0);
        let expected = estimate::get(&self.loc).unwrap_or(0);
        c.wait_reporting(
            for_each_page(&c.s3, &self.loc, |entries| {
                let rows = entries
                    .iter()
                    .filter(|e| keycodec::key_of(prefix, &e.key).is_some())
                    .count() as u64;
                counted.fetch_add(rows, Ordering::Relaxed);
                async { Ok(()) }
            }),
            &|| (counted.load(Ordering::Relaxed), expected),
        )?;
        let n = counted.load(Ordering::Relaxed);
        estimate::set(&self.loc, n);
        Ok(n)
    }

    /// The row count the optimizer's estimates use: the last one listed, or
    /// (first use since start-up) one LIST page: exact for a table of up to
    /// 1000 rows, else at least that.
    pub fn known_rows(&self) -> Option<u64> {
        estimate::get(&self.loc)
    }

    pub fn rows_estimate(&self) -> Result<u64> {
        if let Some(n) = estimate::get(&self.loc) {
            return Ok(n);
        }
        let c = self.ctx()?;
        match c.wait(first_page(&c.s3, &self.loc, listing::PAGE)) {
            Ok((_, n)) => {
                estimate::set(&self.loc, n);
                Ok(n)
            }
            // KILL is the statement's own business: try again next time.
            Err(Error::Killed) => Err(Error::Killed),
            // Not listable now (denied, down): the guess stands until a
            // scan or ANALYZE lists the table, rather than a failing LIST
            // (and its retries) in every statement.
            Err(e) => {
                estimate::set(&self.loc, GUESSED_ROWS);
                Err(e)
            }
        }
    }

    /// TRUNCATE / DELETE without WHERE: LISTs + one DeleteObjects per 1000 keys.
    /// No object is left to hold the fields of dropped columns: their names
    /// are free again.
    pub fn truncate(&mut self) -> Result<u64> {
        self.check_writable()?;
        let c = self.ctx()?;
        self.current = None;
        let done = AtomicU64::new(0);
        let expected = estimate::get(&self.loc).unwrap_or(0);
        let n = c.wait_reporting(delete_all_counted(&c.s3, &self.loc, &done), &|| {
            (done.load(Ordering::Relaxed), expected)
        })?;
        estimate::set(&self.loc, 0);
        let mut sc = sidecar_of(&self.def.path)?;
        if !sc.dropped.is_empty() {
            sc.dropped.clear();
            location::write_sidecar(&self.def.path, &sc).map_err(Error::Engine)?;
        }
        Ok(n)
    }
}

/// The row estimate of a table that could not be listed.
pub const GUESSED_ROWS: u64 = 1000;

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
struct ListPlan {
    prefix: String,
    start_after: Option<String>,
    bounds: scan::Bounds,
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
    fn new(table_prefix: &str, range: &KeyRange, pad: bool) -> ListPlan {
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

/// The write tasks of a multi-row INSERT and the window's free slots.
struct Bulk {
    permits: Arc<Semaphore>,
    /// In row order.
    tasks: VecDeque<tokio::task::JoinHandle<Result<()>>>,
    /// The object key of each task, in the same order.
    keys: VecDeque<String>,
}

fn task_result(done: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    done.map_err(|e| Error::Engine(format!("a write task failed: {e}")))?
}

/// An unsigned number (object size) in a column of any kind.
fn number_value(kind: CellKind, n: u64) -> Value {
    match kind {
        CellKind::Int => Value::Int(n.min(i64::MAX as u64) as i64),
        CellKind::UInt => Value::UInt(n),
        CellKind::Double => Value::Double(n as f64),
        CellKind::Float => Value::Float(n as f32),
        CellKind::Bytes => Value::Bytes(n.to_string().into_bytes()),
        CellKind::Number | CellKind::Text | CellKind::Temporal => Value::Number(n.to_string()),
    }
}

/// Text (times, ETags, content types, metadata) in a column of any kind.
fn text_value(kind: CellKind, t: &str) -> Value {
    match kind {
        CellKind::Bytes => Value::Bytes(t.as_bytes().to_vec()),
        CellKind::Temporal => Value::Temporal(t.to_string()),
        _ => Value::Text(t.to_string()),
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
