//! The row cache: bodies read by scans, kept for the next scan of an
//! unchanged table (`awss3_row_cache_size` bytes, least recently used out
//! first). A LIST page already names each object's version (ETag, size,
//! LastModified); a scan takes a row from here only when the listed version
//! is the one cached, so a repeated scan of an unchanged table costs its
//! LISTs alone and is exactly as current as one that GETs every row (LIST
//! is read-after-write consistent). Keyed by (scope, bucket, key), the scope
//! being the store's endpoints and the credentials' access key id: two stores
//! may hold the same bucket name, and a table must not read a body that only
//! another table's credentials could GET. Empty objects are never cached
//! (a RAW table's NULL and '' are both empty, told apart by metadata).
//!
//! What a version does not pin: user metadata and Content-Type can be
//! rewritten in place (a copy onto itself) keeping the ETag, and within the
//! same second the LastModified too. So only scans that read no such column
//! use the cache (`scan::Source` decides); every other read is a request.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use crate::store::{Object, ObjectEntry};

/// Besides its strings and body (`cost`), an entry costs about this much:
/// the map's and the order's nodes, the slot's fields.
const OVERHEAD: u64 = 160;

/// What an entry holds in memory: its place twice (map and order), the
/// version, and the object (body, metadata, content type, entry).
fn cost(place: &Place, listed: &ObjectEntry, object: &Object) -> u64 {
    let place_len = (place.0.len() + place.1.len() + place.2.len()) as u64;
    let version = listed.etag.len() + listed.last_modified.as_ref().map_or(0, String::len);
    let entry = object.entry.key.len()
        + object.entry.etag.len()
        + object.entry.last_modified.as_ref().map_or(0, String::len);
    let head = object.head.content_type.as_ref().map_or(0, String::len)
        + object
            .head
            .meta
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum::<usize>();
    object.body.len() as u64 + 2 * place_len + (version + entry + head) as u64 + OVERHEAD
}

type Place = (String, String, String);

struct Slot {
    etag: String,
    size: u64,
    last_modified: Option<String>,
    object: Object,
    cost: u64,
    tick: u64,
}

#[derive(Default)]
struct Inner {
    capacity: u64,
    used: u64,
    tick: u64,
    slots: HashMap<Place, Slot>,
    /// Least recently used first.
    order: BTreeMap<u64, Place>,
}

impl Inner {
    fn remove(&mut self, place: &Place) {
        if let Some(s) = self.slots.remove(place) {
            self.order.remove(&s.tick);
            self.used -= s.cost;
        }
    }

    fn shrink_to(&mut self, capacity: u64) {
        while self.used > capacity {
            let Some((_, place)) = self.order.pop_first() else {
                break;
            };
            if let Some(s) = self.slots.remove(&place) {
                self.used -= s.cost;
            }
        }
    }
}

pub struct RowCache {
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What SHOW STATUS shows of it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub bytes: u64,
    pub rows: u64,
}

impl RowCache {
    pub fn new() -> RowCache {
        RowCache {
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The row of the version `listed` names, if cached whole and no longer
    /// than `max_body` (a hit), else `None` (a miss: the caller GETs it).
    pub fn get(
        &self,
        scope: &str,
        bucket: &str,
        listed: &ObjectEntry,
        max_body: u64,
    ) -> Option<Object> {
        let mut g = self.lock();
        if g.capacity == 0 || listed.etag.is_empty() {
            return None;
        }
        let place = (scope.to_string(), bucket.to_string(), listed.key.clone());
        let found = match g.slots.get(&place) {
            Some(s)
                if s.etag == listed.etag
                    && s.size == listed.size
                    && s.last_modified == listed.last_modified
                    && s.object.body.len() as u64 <= max_body =>
            {
                Some((s.object.clone(), s.tick))
            }
            _ => None,
        };
        match found {
            Some((object, old)) => {
                g.tick += 1;
                let tick = g.tick;
                g.order.remove(&old);
                g.order.insert(tick, place.clone());
                if let Some(s) = g.slots.get_mut(&place) {
                    s.tick = tick;
                }
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(object)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps `object`, read by GET after LIST showed `listed`, if the GET
    /// returned that same version whole.
    pub fn put(&self, scope: &str, bucket: &str, listed: &ObjectEntry, object: &Object) {
        if listed.etag.is_empty()
            || object.entry.etag != listed.etag
            || object.oversize.is_some()
            || object.body.len() as u64 != listed.size
        {
            return;
        }
        let place = (scope.to_string(), bucket.to_string(), listed.key.clone());
        let cost = cost(&place, listed, object);
        let mut g = self.lock();
        if cost > g.capacity {
            return;
        }
        g.remove(&place);
        let capacity = g.capacity;
        g.shrink_to(capacity - cost);
        g.tick += 1;
        let tick = g.tick;
        g.order.insert(tick, place.clone());
        g.used += cost;
        g.slots.insert(
            place,
            Slot {
                etag: listed.etag.clone(),
                size: listed.size,
                last_modified: listed.last_modified.clone(),
                object: object.clone(),
                cost,
                tick,
            },
        );
    }

    /// This server wrote or deleted the object: its cached row goes (a
    /// later LIST would show another version anyway; this frees the memory).
    pub fn forget(&self, scope: &str, bucket: &str, key: &str) {
        let mut g = self.lock();
        if g.slots.is_empty() {
            return;
        }
        g.remove(&(scope.to_string(), bucket.to_string(), key.to_string()));
    }

    /// `awss3_row_cache_size`: 0 empties and disables it.
    pub fn set_capacity(&self, bytes: u64) {
        let mut g = self.lock();
        g.capacity = bytes;
        g.shrink_to(bytes);
    }

    /// Everything out (UNINSTALL PLUGIN: no memory left behind).
    pub fn clear(&self) {
        let mut g = self.lock();
        g.slots = HashMap::new();
        g.order = BTreeMap::new();
        g.used = 0;
    }

    pub fn stats(&self) -> Stats {
        let g = self.lock();
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: g.used,
            rows: g.slots.len() as u64,
        }
    }
}

impl Default for RowCache {
    fn default() -> Self {
        RowCache::new()
    }
}

/// The server's one row cache.
pub static CACHE: LazyLock<RowCache> = LazyLock::new(RowCache::new);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectHead;
    use bytes::Bytes;

    fn entry(key: &str, etag: &str, body: &[u8]) -> ObjectEntry {
        ObjectEntry {
            key: key.into(),
            size: body.len() as u64,
            last_modified: Some("2026-12-03 10:00:00".into()),
            etag: etag.into(),
        }
    }

    fn object(e: &ObjectEntry, body: &[u8]) -> Object {
        Object {
            entry: ObjectEntry {
                last_modified: Some("2026-12-03 10:00:00".into()),
                ..e.clone()
            },
            head: ObjectHead::default(),
            body: Bytes::copy_from_slice(body),
            oversize: None,
        }
    }

    #[test]
    fn a_row_is_served_only_for_the_version_listed() {
        let c = RowCache::new();
        c.set_capacity(1 << 20);
        let e = entry("t/a", "\"1\"", b"one");
        c.put("ep", "b", &e, &object(&e, b"one"));
        assert_eq!(
            c.get("ep", "b", &e, 100).map(|o| o.body),
            Some(Bytes::from_static(b"one"))
        );
        // Another ETag, size or LastModified: a miss.
        assert!(c
            .get("ep", "b", &entry("t/a", "\"2\"", b"one"), 100)
            .is_none());
        assert!(c
            .get("ep", "b", &entry("t/a", "\"1\"", b"one!"), 100)
            .is_none());
        let later = ObjectEntry {
            last_modified: Some("2026-12-03 10:00:01".into()),
            ..e.clone()
        };
        assert!(c.get("ep", "b", &later, 100).is_none());
        // Another bucket or endpoint: a miss.
        assert!(c.get("ep", "b2", &e, 100).is_none());
        assert!(c.get("ep2", "b", &e, 100).is_none());
        // Longer than this table's rows may be: a miss (the GET says oversize).
        assert!(c.get("ep", "b", &e, 2).is_none());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.rows), (1, 6, 1));
    }

    #[test]
    fn a_changed_or_partial_read_is_not_kept() {
        let c = RowCache::new();
        c.set_capacity(1 << 20);
        let e = entry("t/a", "\"1\"", b"one");
        // The GET saw a newer version than the LIST.
        let mut o = object(&e, b"two");
        o.entry.etag = "\"2\"".into();
        c.put("ep", "b", &e, &o);
        let mut big = object(&e, b"");
        big.oversize = Some(1 << 30);
        c.put("ep", "b", &e, &big);
        c.put(
            "ep",
            "b",
            &entry("t/x", "", b"x"),
            &object(&entry("t/x", "", b"x"), b"x"),
        );
        assert_eq!(c.stats().rows, 0);
    }

    #[test]
    fn never_holds_more_than_its_size_and_drops_the_least_recent() {
        let c = RowCache::new();
        let body = vec![b'x'; 1000];
        let e = entry("t/a", "\"e\"", &body);
        let place = ("ep".to_string(), "b".to_string(), "t/a".to_string());
        let cost = cost(&place, &e, &object(&e, &body));
        c.set_capacity(3 * cost);
        let es: Vec<_> = ["t/a", "t/b", "t/c", "t/d"]
            .iter()
            .map(|k| entry(k, "\"e\"", &body))
            .collect();
        for e in &es[..3] {
            c.put("ep", "b", e, &object(e, &body));
        }
        assert!(c.get("ep", "b", &es[0], 10_000).is_some()); // a is now the most recent
        c.put("ep", "b", &es[3], &object(&es[3], &body));
        assert!(c.stats().bytes <= 3 * cost);
        assert!(
            c.get("ep", "b", &es[1], 10_000).is_none(),
            "b was the least recent"
        );
        assert!(c.get("ep", "b", &es[0], 10_000).is_some());
        assert!(c.get("ep", "b", &es[3], 10_000).is_some());
        // Shrinking evicts; 0 empties and disables.
        c.set_capacity(cost);
        assert_eq!(c.stats().rows, 1);
        c.set_capacity(0);
        assert_eq!((c.stats().rows, c.stats().bytes), (0, 0));
        c.put("ep", "b", &es[0], &object(&es[0], &body));
        assert_eq!(c.stats().rows, 0);
    }

    #[test]
    fn a_write_of_this_server_forgets_the_row() {
        let c = RowCache::new();
        c.set_capacity(1 << 20);
        let e = entry("t/a", "\"1\"", b"one");
        c.put("ep", "b", &e, &object(&e, b"one"));
        c.forget("ep", "b", "t/a");
        assert!(c.get("ep", "b", &e, 100).is_none());
        assert_eq!(c.stats().bytes, 0);
    }
}
