//! What the engine last listed of each table: the row count the optimizer's
//! estimates use (a full scan's cost is its LISTs plus one GET per row, so
//! the count decides between a scan and key access). Kept per location
//! (bucket and prefix), process-wide, so every handler of a table and its
//! next open see the latest count. Full scans, counts (ANALYZE, DELETE
//! without WHERE) and CHECK set it; this server's own writes move it; a
//! restart forgets it (the next statement lists one page).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::location::Location;

fn rows() -> &'static Mutex<HashMap<String, u64>> {
    static ROWS: OnceLock<Mutex<HashMap<String, u64>>> = OnceLock::new();
    ROWS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn key(loc: &Location) -> String {
    format!("{}\u{0}{}", loc.bucket, loc.prefix)
}

/// The last count of `loc`'s rows, if any was taken since start-up.
pub fn get(loc: &Location) -> Option<u64> {
    rows().lock().ok()?.get(&key(loc)).copied()
}

pub fn set(loc: &Location, n: u64) {
    if let Ok(mut m) = rows().lock() {
        m.insert(key(loc), n);
    }
}

/// Rows this server added (`delta` > 0) or removed; nothing if never counted.
pub fn add(loc: &Location, delta: i64) {
    if let Ok(mut m) = rows().lock() {
        if let Some(n) = m.get_mut(&key(loc)) {
            *n = n.saturating_add_signed(delta);
        }
    }
}

pub fn forget(loc: &Location) {
    if let Ok(mut m) = rows().lock() {
        m.remove(&key(loc));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(p: &str) -> Location {
        Location {
            bucket: "b".into(),
            prefix: p.into(),
        }
    }

    #[test]
    fn counts_move_with_writes_and_stay_per_location() {
        let (a, b) = (loc("est-a/"), loc("est-b/"));
        assert_eq!(get(&a), None);
        add(&a, 5);
        assert_eq!(get(&a), None, "an uncounted table stays unknown");
        set(&a, 10);
        add(&a, 3);
        add(&a, -20);
        assert_eq!(get(&a), Some(0));
        set(&b, 7);
        assert_eq!(get(&a), Some(0));
        forget(&a);
        assert_eq!((get(&a), get(&b)), (None, Some(7)));
    }
}
