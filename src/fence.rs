//! Fences on shared tables (`awss3_discovery`): while one server drops a
//! table, or copies it out with ALTER TABLE ... ENGINE=<other>, the other
//! servers must not write it — a row written after the copy read that part
//! of the table, or after DROP listed it, would be acknowledged and then
//! lost (or left as an object no table lists).
//!
//! The rule has two sides:
//!
//! - **The fencing server** rewrites the table's entry with user metadata
//!   `awss3-fence: <what>;<until>` (conditional on the entry it read), then
//!   waits `GATE + SLACK` before it acts: by then every write that had not
//!   seen the fence has been answered. Then it reads the entry again: still
//!   its fence, or it stops. The fence is a lease (`LEASE`, renewed by a task
//!   of the runtime while the fencing handler lives): a server that dies
//!   holding one blocks writes for at most that long. It goes with the entry
//!   (DROP, and the drop of the old table that ends an ALTER ... ENGINE=
//!   <other>, withdraw it) or is lifted when the statement fails.
//! - **Other changes of the entry** (RENAME, an in-place ALTER, another
//!   fence) are refused while a fence holds: each would drop the fence.
//! - **Every writing server** passes `write_gate` before each row it writes
//!   to a shared table: the entry's state as seen less than `GATE` ago (the
//!   statement's own definition check counts), else one HEAD. A fenced or
//!   withdrawn entry refuses the write with an error that says why.
//!
//! What remains: a single row write that passed the gate just before the
//! fence and takes longer than `SLACK` to be answered (a store retrying
//! it) can still land after the fencing server acted. Clocks of the servers
//! are assumed within a few seconds of each other (the lease's end is the
//! fencing server's clock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::catalog::{
    self, catalogue, fence_holds, fence_value, fenced_error, now_unix, CatalogExpect, Catalogue,
    Entry, Name, Read,
};
use crate::error::{Error, Result};
use crate::location;
use crate::runtime::{self, Interrupt};
use crate::settings;

/// How old a writer's view of the entry may be.
pub const GATE: Duration = Duration::from_secs(1);
/// How long a write that passed the gate may take to be answered.
pub const SLACK: Duration = Duration::from_secs(2);
/// How long a fence holds unless renewed.
pub const LEASE: Duration = Duration::from_secs(60);

type Key = (String, String);

/// The fences this server holds, by table, with their value as last
/// written: an ALTER ... ENGINE=<other> fences the table when its copy
/// starts, and the DROP of the old table that ends it finds its own fence
/// here (no second fence, no second wait).
static HELD: Mutex<Option<HashMap<Key, Arc<Mutex<String>>>>> = Mutex::new(None);

fn held<T>(f: impl FnOnce(&mut HashMap<Key, Arc<Mutex<String>>>) -> T) -> T {
    let mut g = HELD.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

fn key(name: &Name) -> Key {
    (name.db.clone(), name.table.clone())
}

fn current(v: &Arc<Mutex<String>>) -> String {
    v.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Whether `name` may be written now: its entry is there and not fenced.
/// No request when this server saw the entry less than `GATE` ago; else
/// one HEAD. Tables that are not shared always may.
pub fn write_gate(name: &Name, path: &str, stop: Interrupt) -> Result<()> {
    if !settings::current().0.discovery {
        return Ok(());
    }
    let seen = catalog::seen_within(&name.db, &name.table, GATE);
    // Anything but a fresh "listed, no fence" needs to know whether this
    // table is shared at all (a local table of a name the catalogue holds
    // for another server is never refused); read only then.
    if !matches!(seen, Some((true, None))) && !location::sidecar_or_default(path)?.published {
        return Ok(());
    }
    let (listed, fence) = match seen {
        Some(seen) => seen,
        None => {
            let asked = std::time::Instant::now();
            let (entry, _) = catalogue(stop)?.version_and_owner(name, None)?;
            let (v, f) = match &entry {
                Some(h) => (Some(h.version.as_str()), h.fence.clone()),
                None => (None, None),
            };
            catalog::saw_at(&name.db, &name.table, v, f.as_deref(), asked);
            (entry.is_some(), f)
        }
    };
    if !listed {
        return Err(Error::Engine(format!(
            "`{}`.`{}` was dropped, renamed or altered to another engine by another \
             server: nothing more is written to it",
            name.db, name.table
        )));
    }
    match fence.and_then(|f| fence_holds(&f, now_unix())) {
        Some(what) => Err(Error::Engine(format!(
            "`{}`.`{}` is fenced by another server ({what} under way): a row written now \
             could be lost, so it was not written; run the statement again when that is done",
            name.db, name.table
        ))),
        None => Ok(()),
    }
}

/// Refuses a change of an entry (RENAME, another fence) that another
/// server fenced.
pub fn refuse_if_fenced(name: &Name, read: &Read) -> Result<()> {
    let Some(f) = &read.fence else {
        return Ok(());
    };
    let ours = held(|m| m.get(&key(name)).map(current)).as_deref() == Some(f.as_str());
    match fence_holds(f, now_unix()) {
        Some(what) if !ours => Err(fenced_error(name, &what)),
        _ => Ok(()),
    }
}

/// A fence this server holds on a table's entry, renewed until this is
/// dropped.
pub struct Held {
    name: Name,
    entry: Entry,
    value: Arc<Mutex<String>>,
    renewer: Option<tokio::task::AbortHandle>,
    /// The fence was this server's already (the DROP that ends an ALTER ...
    /// ENGINE=<other>): finishing is all that is left.
    pub finishing: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
    }
}

/// Fences a shared table for `what` (its entry as just read), waits until
/// every write that did not see the fence was answered, and checks that the
/// entry still holds the fence. KILL during the wait lifts the fence again.
/// A fence this server already holds on the table is taken over as it is.
pub fn fence(cat: &Catalogue, name: &Name, read: &Read, what: &str) -> Result<Held> {
    refuse_if_fenced(name, read)?;
    if let Some(h) = own(name, read) {
        return Ok(h);
    }
    let value = fence_value(what, now_unix() + LEASE.as_secs());
    cat.put_fence(
        name,
        &read.entry,
        CatalogExpect::ETag(&read.etag),
        Some(&value),
        false,
    )?;
    let shared = Arc::new(Mutex::new(value));
    held(|m| m.insert(key(name), shared.clone()));
    let mut h = Held {
        name: name.clone(),
        entry: read.entry.clone(),
        value: shared,
        renewer: None,
        finishing: false,
    };
    h.renewer = renew_in_background(&h);
    let waited = cat.c.wait(async {
        tokio::time::sleep(GATE + SLACK).await;
        Ok::<_, Error>(())
    });
    let still = waited.and_then(|()| {
        let (head, _) = cat.version_and_owner(name, None)?;
        match head.and_then(|h| h.fence) {
            Some(f) if f == current(&h.value) => Ok(()),
            _ => Err(Error::Engine(format!(
                "`{}`.`{}` was changed by another server while it was being fenced; \
                 nothing was changed",
                name.db, name.table
            ))),
        }
    });
    if let Err(e) = still {
        let _ = h.lift(cat);
        return Err(e);
    }
    Ok(h)
}

/// The fence this server holds on the entry as read, if any (the DROP
/// that ends an ALTER ... ENGINE=<other> takes it over).
pub fn own(name: &Name, read: &Read) -> Option<Held> {
    let f = read.fence.as_ref()?;
    let v = held(|m| m.get(&key(name)).cloned())?;
    (current(&v) == *f).then(|| Held {
        name: name.clone(),
        entry: read.entry.clone(),
        value: v,
        renewer: None,
        finishing: true,
    })
}

/// A task that renews the lease at half of it, until the `Held` is
/// dropped or lifted (then the fence lasts at most one more lease).
fn renew_in_background(h: &Held) -> Option<tokio::task::AbortHandle> {
    let rt = runtime::handle().ok()?;
    let (name, entry, value) = (h.name.clone(), h.entry.clone(), h.value.clone());
    let task = rt.spawn(async move {
        loop {
            tokio::time::sleep(LEASE / 2).await;
            let Ok(cat) = catalogue(Interrupt::NONE) else {
                return;
            };
            let before = current(&value);
            let what = fence_holds(&before, 0).unwrap_or_default();
            let next = fence_value(&what, now_unix() + LEASE.as_secs());
            let put =
                cat.put_fence_async(&name, &entry, CatalogExpect::Fence(&before), Some(&next));
            if put.await.is_err() {
                return;
            }
            *value.lock().unwrap_or_else(|p| p.into_inner()) = next;
        }
    });
    Some(task.abort_handle())
}

impl Held {
    /// Lifts the fence (the statement failed, and the table stays), whatever
    /// KILL says.
    pub fn lift(&self, cat: &Catalogue) -> Result<()> {
        if let Some(r) = &self.renewer {
            r.abort();
        }
        held(|m| m.remove(&key(&self.name)));
        cat.put_fence(
            &self.name,
            &self.entry,
            CatalogExpect::Fence(&current(&self.value)),
            None,
            true,
        )
    }

    /// The entry is withdrawn (the table is gone): nothing left to lift.
    pub fn done(self) {
        held(|m| m.remove(&key(&self.name)));
    }
}

/// Fences the shared table `name` (this server's table at `path`) for a
/// copy out of AWSS3 (ALTER TABLE ... ENGINE=<other>): `None` when it is not
/// shared.
pub fn fence_for_copy(name: &Name, path: &str, stop: Interrupt) -> Result<Option<Held>> {
    if !settings::current().0.discovery || !location::sidecar_or_default(path)?.published {
        return Ok(None);
    }
    let cat = catalogue(stop)?;
    let Some(read) = cat.fetch_read(name)? else {
        return Err(Error::Engine(format!(
            "`{}`.`{}` was dropped or renamed by another server; nothing was changed",
            name.db, name.table
        )));
    };
    fence(&cat, name, &read, "ALTER TABLE ... ENGINE").map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_holds_until_its_lease_ends() {
        let v = fence_value("DROP TABLE", 1000);
        assert_eq!(fence_holds(&v, 999).as_deref(), Some("DROP TABLE"));
        assert_eq!(fence_holds(&v, 1000), None);
        assert_eq!(fence_holds(&v, 5000), None);
        // What a server cannot read holds (a fence is never ignored by mistake).
        assert_eq!(fence_holds("garbled", 5000).as_deref(), Some("garbled"));
        assert_eq!(fence_holds("x;notanumber", 5000).as_deref(), Some("x"));
        assert_eq!(fence_holds("a;b;1000", 999).as_deref(), Some("a;b"));
    }

    #[test]
    fn only_another_servers_live_fence_refuses_a_change() {
        let name = Name {
            db: "fdb".into(),
            table: "t".into(),
        };
        let read = |fence: Option<String>| Read {
            entry: Entry {
                version: "01".into(),
                frm: vec![],
                owned: None,
                dropped: vec![],
            },
            etag: "\"e\"".into(),
            fence,
        };
        assert!(refuse_if_fenced(&name, &read(None)).is_ok());
        let live = fence_value("DROP TABLE", now_unix() + 60);
        let err = refuse_if_fenced(&name, &read(Some(live.clone()))).unwrap_err();
        assert!(err.to_string().contains("DROP TABLE under way"), "{err}");
        // Expired: the server that held it is gone.
        let old = fence_value("DROP TABLE", now_unix() - 1);
        assert!(refuse_if_fenced(&name, &read(Some(old))).is_ok());
        // This server's own.
        held(|m| m.insert(key(&name), Arc::new(Mutex::new(live.clone()))));
        assert!(refuse_if_fenced(&name, &read(Some(live))).is_ok());
        held(|m| m.remove(&key(&name)));
    }
}
