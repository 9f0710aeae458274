//! DDL on AWSS3 tables: CREATE (checking and choosing the location), DROP,
//! RENAME, and ALTER's check and commit. Which objects a table owns, and
//! what each statement does with them, is decided here; the catalogue of
//! shared tables follows each change (`catalog`).

use crate::alter;
use crate::call::{ctx, ctx_for, delete_all, delete_marked, first_key, first_page};
use crate::catalog::{self, catalogue, CatalogExpect, Entry, Name, Owner};
use crate::error::{Error, Result};
use crate::estimate;
use crate::fence;
use crate::listing;
use crate::location::{self, Location, Ownership, Sidecar};
use crate::runtime::Interrupt;
use crate::schema::{Role, TableDef};
use crate::settings;
use crate::table::{codec_for, key_index};
use crate::write;

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
        let mut sc = location::sidecar_or_default(&def.path)?;
        let entry = Entry::new(catalog::version_hex(&def.version), def.frm.clone(), &sc);
        let published =
            catalogue(stop).and_then(|cat| cat.put(&Name::of(def), &entry, CatalogExpect::Absent));
        if let Err(e) = published {
            // The server removes its .frm when create() fails: nothing of
            // the table may stay behind (an engine-chosen prefix is empty).
            if let Some((loc, Ownership::Owned)) = &sc.owned {
                let _ = catalogue(stop).and_then(|cat| cat.release(loc));
            }
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
                let mut sc = Sidecar::owned(loc, Ownership::UntilRenamed);
                // Other writers may put objects there meanwhile: the copy's
                // own carry this mark, and only those go if the ALTER fails.
                sc.copy_id = Some(write::new_write_id());
                location::write_sidecar(&def.path, &sc).map_err(Error::Engine)?;
            }
        }
        return Ok(None);
    }
    // An engine-chosen location is the table's alone: DROP deletes it. It
    // never takes over objects already there (of a table renamed away from
    // this name, another server's, another tool's), nor a prefix another
    // table here owns even with no rows: it moves on to the next free choice.
    // With discovery, other servers choose prefixes in the same bucket: the
    // choice is taken in the catalogue (an owner record) before it is used.
    let shared = settings::current().0.discovery && def.server.is_none();
    let cat = shared.then(|| catalogue(stop)).transpose()?;
    let claimed = location::owned_locations(&def.path);
    for n in 1..=MAX_PREFIX_CHOICES {
        let loc = Location::default_for(&c.settings.bucket, &def.db, &def.name, n)
            .map_err(Error::Engine)?;
        if claimed.contains(&loc) || c.wait(first_key(&c.s3, &loc))?.is_some() {
            continue;
        }
        if let Some(cat) = &cat {
            if !cat.reserve(&loc, &Name::of(def))? {
                continue;
            }
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
        let sc = Sidecar::owned(loc.clone(), Ownership::Owned);
        if let Err(e) = location::write_sidecar(&def.path, &sc) {
            // The server drops nothing of a table whose create failed: the
            // prefix taken for it is given back here.
            if let Some(cat) = &cat {
                let _ = cat.release(&loc);
            }
            return Err(Error::Engine(e));
        }
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
        if let Some((loc, ownership)) = &sc.owned {
            let c = ctx(stop)?;
            match (ownership, &sc.copy_id) {
                (Ownership::UntilRenamed, Some(id)) => {
                    c.wait(delete_marked(&c.s3, loc, location::COPY_META, id))?;
                }
                _ => {
                    c.wait(delete_all(&c.s3, loc))?;
                }
            }
            // ALTER's copy, or a table that is not shared: its engine-chosen
            // prefix is free again.
            if settings.discovery && *ownership == Ownership::Owned && loc.bucket == settings.bucket
            {
                catalogue(stop)?.release(loc)?;
            }
        }
        return location::remove_sidecar(path).map_err(Error::Engine);
    }
    // A shared table is what the catalogue says now, not what this server's
    // .frm and location file said when it last looked: another server may
    // have renamed it (its objects are the new name's), dropped it, or
    // dropped and created it again elsewhere.
    let cat = catalogue(stop)?;
    match cat.fetch_read(name)? {
        None if frm_present => {
            // Gone already: only this server's copy of its definition is left.
            location::remove_sidecar(path).map_err(Error::Engine)
        }
        None => Err(Error::NotFound),
        Some(read) => {
            let owner = match &read.entry.owned {
                Some(loc) => Some((loc, cat.owner(loc)?)),
                None => None,
            };
            // Another name owns the location (an interrupted RENAME left this
            // entry): only the entry goes, and nothing is fenced.
            let stale = matches!(&owner, Some((_, o)) if !o.is(name));
            // Other servers stop writing before the objects go (a row they
            // wrote after the listing would be left behind). A table over a
            // CONNECTION keeps its objects: only a fence this server holds
            // already (the end of an ALTER ... ENGINE=<other>) is taken over.
            let held = match &owner {
                _ if stale => None,
                Some(_) => Some(fence::fence(&cat, name, &read, "DROP TABLE")?),
                None => fence::own(name, &read),
            };
            let finishing = held.as_ref().is_some_and(|h| h.finishing);
            if let (Some((loc, _)), false) = (&owner, stale) {
                // The end of an ALTER that already committed runs to its end.
                let deleted = if finishing {
                    cat.c.wait_through_kill(delete_all(&cat.c.s3, loc))
                } else {
                    cat.c.wait(delete_all(&cat.c.s3, loc))
                };
                if let Err(err) = deleted {
                    if let (Some(h), false) = (&held, finishing) {
                        let _ = h.lift(&cat);
                    }
                    return Err(err);
                }
            }
            // Withdrawn after the objects (a DROP that fails half-way leaves
            // the table listed, and DROP can be repeated, never objects nobody
            // lists), and then whatever KILL says: a fenced table whose
            // objects are gone must not stay listed. The owner record goes
            // last.
            cat.withdraw_through_kill(name)?;
            if let Some(h) = held {
                h.done();
            }
            if let Some((loc, o @ Owner::Id(_))) = &owner {
                if o.is(name) {
                    cat.release(loc)?;
                }
            }
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
        sc.copy_id = None;
    }
    let shared = sc.published || (in_place && local.is_none());
    if settings.discovery && (shared || in_place) {
        let cat = catalogue(stop)?;
        let (from_name, to_name) = names;
        let current = if shared {
            match cat.fetch_read(from_name)? {
                Some(read) => {
                    fence::refuse_if_fenced(from_name, &read)?;
                    Some(read.entry)
                }
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
        // Who owns the location now: a shared table's entry must (else it
        // is one an interrupted RENAME left behind, and the table has
        // another name already).
        let owner = match entry.as_ref().and_then(|e| e.owned.as_ref()) {
            Some(loc) => Some((loc.clone(), cat.owner(loc)?)),
            None => None,
        };
        if let (Some(_), Some((loc, o))) = (&current, &owner) {
            if !o.is(from_name) {
                return Err(Error::Engine(format!(
                    "`{}`.`{}` no longer owns {}: another name took it over (a RENAME \
                     interrupted on some server); nothing was renamed. DROP TABLE `{}` \
                     removes this leftover name and no object",
                    from_name.db,
                    from_name.table,
                    loc.url(),
                    from_name.table
                )));
            }
        }
        sc.published = false;
        if let Some(e) = &entry {
            cat.put(to_name, e, CatalogExpect::Absent)?;
            // The step that moves the table: from here on it runs to the
            // end (or is undone) whatever KILL says.
            if let Some((loc, o)) = &owner {
                let passed = match cat.pass(loc, o, to_name) {
                    Ok(passed) => Ok(passed),
                    // No answer: the record says whether it was passed.
                    Err(e) => match cat.owner_through_kill(loc) {
                        Ok(now @ Owner::Id(_)) => Ok(now.is(to_name)),
                        Ok(Owner::Unrecorded) => Ok(false),
                        Err(_) => {
                            return Err(Error::Engine(format!(
                                "RENAME of `{}`.`{}` to `{}`: whether {} passed to the new \
                                 name is unknown ({e}); both names are in the catalogue \
                                 and its owner record decides which is the table (the \
                                 other owns nothing: DROP TABLE of it removes only the name)",
                                from_name.db,
                                from_name.table,
                                to_name.table,
                                loc.url()
                            )))
                        }
                    },
                };
                if !matches!(passed, Ok(true)) {
                    let _ = cat.withdraw_through_kill(to_name);
                    return Err(passed.err().unwrap_or_else(|| {
                        Error::Engine(format!(
                            "{} changed owner meanwhile (another server renamed or \
                             dropped `{}`.`{}`); nothing was renamed",
                            loc.url(),
                            from_name.db,
                            from_name.table
                        ))
                    }));
                }
            }
            if e.owned.is_some() {
                sc.owned = e.owned.clone().map(|l| (l, Ownership::Owned));
            }
            sc.dropped = e.dropped.clone();
            sc.published = true;
        }
        if current.is_some() {
            let withdrawn = if entry.is_some() {
                cat.withdraw_through_kill(from_name)
            } else {
                cat.withdraw(from_name)
            };
            match withdrawn {
                // The location is the new name's already: the old entry
                // left behind is stale (not discovered; DROP only removes it).
                Err(_) if owner.is_some() && sc.published => {}
                Err(e) => {
                    if sc.published {
                        let _ = cat.withdraw_through_kill(to_name);
                    }
                    return Err(e);
                }
                Ok(()) => {}
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

/// ALTER TABLE: whether the change is made in place (see `alter`).
pub fn alter_check(old: &TableDef, new: &TableDef, origins: &[alter::ColumnOrigin]) -> Result<()> {
    alter::check(
        old,
        new,
        origins,
        &location::sidecar_or_default(&old.path)?.dropped,
    )
    .map(|_| ())
}

/// ALTER TABLE made in place, at commit: remembers the JSON fields of the
/// columns it dropped (objects written so far keep them).
pub fn alter_commit(old: &TableDef, new: &TableDef, origins: &[alter::ColumnOrigin]) -> Result<()> {
    let mut sc = location::sidecar_or_default(&old.path)?;
    let dropped = alter::check(old, new, origins, &sc.dropped)?;
    if dropped != sc.dropped {
        sc.dropped = dropped;
        location::write_sidecar(&old.path, &sc).map_err(Error::Engine)?;
    }
    Ok(())
}
