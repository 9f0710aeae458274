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
//!   seen the fence has been answered. The fence is a lease (`LEASE`, renewed
//!   while a copy runs): a server that dies holding one blocks writes for at
//!   most that long. It goes with the entry (DROP, and the ALTER's rename
//!   withdraw it) or is lifted when the statement fails.
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

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::catalog::{self, catalogue, CatalogExpect, Catalogue, Entry, Name};
use crate::error::{Error, Result};
use crate::location;
use crate::runtime::Interrupt;
use crate::settings;

/// How old a writer's view of the entry may be.
pub const GATE: Duration = Duration::from_secs(1);
/// How long a write that passed the gate may take to be answered.
pub const SLACK: Duration = Duration::from_secs(2);
/// How long a fence holds unless renewed.
pub const LEASE: Duration = Duration::from_secs(60);

/// What a fence's metadata value says: `<what>;<until, unix seconds>`.
fn encode(what: &str, until: u64) -> String {
    format!("{what};{until}")
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a fence is for, if it holds at `now` (unix seconds). A value whose
/// end does not parse holds (the safe reading) until a server writes the
/// entry again (a DROP or an ALTER of the table).
fn holds(value: &str, now: u64) -> Option<String> {
    match value.rsplit_once(';') {
        Some((what, until)) => match until.parse::<u64>() {
            Ok(until) if until <= now => None,
            _ => Some(what.to_string()),
        },
        None => Some(value.to_string()),
    }
}

/// Whether `name` may be written now: its entry is there and not fenced.
/// No request when this server saw the entry less than `GATE` ago; else
/// one HEAD. Tables that are not shared always may.
pub fn write_gate(name: &Name, path: &str, stop: Interrupt) -> Result<()> {
    if !settings::current().0.discovery || !location::sidecar_or_default(path)?.published {
        return Ok(());
    }
    let (listed, fence) = match catalog::seen_within(&name.db, &name.table, GATE) {
        Some(seen) => seen,
        None => {
            let (entry, _) = catalogue(stop)?.version_and_owner(name, None)?;
            let (v, f) = match &entry {
                Some(h) => (Some(h.version.as_str()), h.fence.clone()),
                None => (None, None),
            };
            catalog::saw_fenced(&name.db, &name.table, v, f.as_deref());
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
    match fence.and_then(|f| holds(&f, now_unix())) {
        Some(what) => Err(Error::Engine(format!(
            "`{}`.`{}` is fenced by another server ({what} under way): a row written now \
             could be lost, so it was not written; run the statement again when that is done",
            name.db, name.table
        ))),
        None => Ok(()),
    }
}

/// A fence this server holds on a table's entry.
pub struct Held {
    name: Name,
    entry: Entry,
    value: String,
    renew_at: Instant,
}

/// Fences a shared table for `what` (its entry `e`, as just read with
/// `etag`), then waits until every write that did not see the fence was
/// answered. KILL during the wait lifts the fence again.
pub fn fence(
    cat: &Catalogue,
    name: &Name,
    (e, etag): &(Entry, String),
    what: &str,
) -> Result<Held> {
    let value = encode(what, now_unix() + LEASE.as_secs());
    cat.put_fence(name, e, CatalogExpect::ETag(etag), Some(&value), false)?;
    let held = Held {
        name: name.clone(),
        entry: e.clone(),
        value,
        renew_at: Instant::now() + LEASE / 2,
    };
    let waited = cat.c.wait(async {
        tokio::time::sleep(GATE + SLACK).await;
        Ok::<_, Error>(())
    });
    if let Err(e) = waited {
        let _ = held.lift(cat);
        return Err(e);
    }
    Ok(held)
}

impl Held {
    /// Lifts the fence (the statement failed, and the table stays), whatever
    /// KILL says.
    pub fn lift(&self, cat: &Catalogue) -> Result<()> {
        cat.put_fence(
            &self.name,
            &self.entry,
            CatalogExpect::Fence(&self.value),
            None,
            true,
        )
    }

    /// Renews the lease when half of it is gone (one PUT then).
    pub fn renew_if_due(&mut self, cat: &Catalogue) -> Result<()> {
        if Instant::now() < self.renew_at {
            return Ok(());
        }
        let what = holds(&self.value, 0).unwrap_or_default();
        let value = encode(&what, now_unix() + LEASE.as_secs());
        cat.put_fence(
            &self.name,
            &self.entry,
            CatalogExpect::Fence(&self.value),
            Some(&value),
            false,
        )?;
        self.value = value;
        self.renew_at = Instant::now() + LEASE / 2;
        Ok(())
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
        let v = encode("DROP TABLE", 1000);
        assert_eq!(holds(&v, 999).as_deref(), Some("DROP TABLE"));
        assert_eq!(holds(&v, 1000), None);
        assert_eq!(holds(&v, 5000), None);
        // What a server cannot read holds (a fence is never ignored by mistake).
        assert_eq!(holds("garbled", 5000).as_deref(), Some("garbled"));
        assert_eq!(holds("x;notanumber", 5000).as_deref(), Some("x"));
        assert_eq!(holds("a;b;1000", 999).as_deref(), Some("a;b"));
    }
}
