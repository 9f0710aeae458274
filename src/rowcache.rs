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
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;

use crate::store::{Object, ObjectEntry};

/// What an entry costs besides its heap blocks (`block`): its slot in the
/// hash map (key and `Slot`, with the table's spare capacity), its place in
/// the order. Measured: `measure::real_memory_per_entry` keeps the
/// accounted size at or above what the process really grows by.
const OVERHEAD: u64 = 600;

/// The memory one heap block of `len` bytes takes (glibc: 8 bytes of header,
/// 16-byte steps, 32 at least; none for an empty string).
fn block(len: usize) -> u64 {
    if len == 0 {
        0
    } else {
        (len as u64 + 8).next_multiple_of(16).max(32)
    }
}

fn opt_block(s: &Option<String>) -> u64 {
    s.as_ref().map_or(0, |s| block(s.len()))
}

/// What an entry holds in memory: the key (shared by map and order), the
/// listed LastModified, the object's strings, metadata and body (a `Bytes`
/// of its own, plus the shared header its first clone makes).
fn cost(key: &str, listed: &ObjectEntry, object: &Object) -> u64 {
    let head = opt_block(&object.head.content_type)
        + block(object.head.meta.len() * 48)
        + object
            .head
            .meta
            .iter()
            .map(|(k, v)| block(k.len()) + block(v.len()))
            .sum::<u64>();
    block(key.len() + 16)
        + opt_block(&listed.last_modified)
        + block(object.entry.etag.len())
        + opt_block(&object.entry.last_modified)
        + head
        + block(object.body.len())
        + block(32)
        + OVERHEAD
}

/// The (scope, bucket) an entry belongs to, by number (`Inner::spaces`):
/// the long scope string is held once, not by every entry.
type Space = u32;
/// (scope, bucket) pairs held at most; past it the cache starts afresh.
const MAX_SPACES: usize = 64;
type Place = (Space, Arc<str>);

struct Slot {
    /// The LastModified LIST showed for this version (the ETag and size are
    /// the object's own: `put` checked they are the listed ones).
    last_modified: Option<String>,
    /// Its `entry.key` is empty: the key is the map's.
    object: Object,
    cost: u64,
    tick: u64,
}

#[derive(Default)]
struct Inner {
    capacity: u64,
    used: u64,
    tick: u64,
    spaces: Vec<(String, String)>,
    slots: HashMap<Place, Slot>,
    /// Least recently used first.
    order: BTreeMap<u64, Place>,
}

impl Inner {
    fn space(&self, scope: &str, bucket: &str) -> Option<Space> {
        self.spaces
            .iter()
            .position(|(s, b)| s == scope && b == bucket)
            .map(|i| i as Space)
    }

    fn space_or_new(&mut self, scope: &str, bucket: &str) -> Space {
        match self.space(scope, bucket) {
            Some(s) => s,
            None => {
                if self.spaces.len() >= MAX_SPACES {
                    // Credentials that rotate (a new access key id each
                    // time) would grow this list for ever: start afresh.
                    self.empty();
                }
                self.spaces.push((scope.to_string(), bucket.to_string()));
                (self.spaces.len() - 1) as Space
            }
        }
    }

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
        if self.slots.is_empty() {
            self.empty();
        }
    }

    /// Every entry out, and the tables' memory given back too.
    fn empty(&mut self) {
        self.slots = HashMap::new();
        self.order = BTreeMap::new();
        self.spaces = Vec::new();
        self.used = 0;
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
        let found = g.space(scope, bucket).and_then(|space| {
            let wanted: Place = (space, Arc::from(listed.key.as_str()));
            match g.slots.get_key_value(&wanted) {
                Some((place, s))
                    if s.object.entry.etag == listed.etag
                        && s.object.body.len() as u64 == listed.size
                        && s.last_modified == listed.last_modified
                        && listed.size <= max_body =>
                {
                    // The stored key, shared again: not the lookup's copy.
                    Some((place.clone(), s.object.clone(), s.tick))
                }
                _ => None,
            }
        });
        match found {
            Some((place, mut object, old)) => {
                g.tick += 1;
                let tick = g.tick;
                g.order.remove(&old);
                if let Some(s) = g.slots.get_mut(&place) {
                    s.tick = tick;
                }
                g.order.insert(tick, place);
                self.hits.fetch_add(1, Ordering::Relaxed);
                object.entry.key = listed.key.clone();
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
        let cost = cost(&listed.key, listed, object);
        let mut g = self.lock();
        if cost > g.capacity {
            return;
        }
        let space = g.space_or_new(scope, bucket);
        let place: Place = (space, Arc::from(listed.key.as_str()));
        g.remove(&place);
        let capacity = g.capacity;
        g.shrink_to(capacity - cost);
        // shrink_to may have emptied the spaces: number this one again.
        let space = g.space_or_new(scope, bucket);
        let place: Place = (space, place.1);
        g.tick += 1;
        let tick = g.tick;
        g.order.insert(tick, place.clone());
        g.used += cost;
        let object = Object {
            entry: ObjectEntry {
                key: String::new(),
                ..object.entry.clone()
            },
            head: object.head.clone(),
            // A body of its own: a slice of the answer's buffer would keep
            // that whole buffer alive.
            body: Bytes::copy_from_slice(&object.body),
            oversize: None,
        };
        g.slots.insert(
            place,
            Slot {
                last_modified: listed.last_modified.clone(),
                object,
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
        if let Some(space) = g.space(scope, bucket) {
            g.remove(&(space, Arc::from(key)));
        }
    }

    /// `awss3_row_cache_size`: 0 empties and disables it.
    pub fn set_capacity(&self, bytes: u64) {
        let mut g = self.lock();
        g.capacity = bytes;
        g.shrink_to(bytes);
    }

    /// Everything out (UNINSTALL PLUGIN: no memory left behind).
    pub fn clear(&self) {
        self.lock().empty();
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
        let cost = cost("t/a", &e, &object(&e, &body));
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

#[cfg(test)]
mod measure {
    use super::*;
    use crate::store::ObjectHead;
    use bytes::Bytes;

    const SCOPE: &str = "http://127.0.0.1:43849 GKd98535dead565904ca3f8620";

    fn rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap();
        s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4
    }

    /// Calibrates `OVERHEAD`: 200,000 rows through a 32 MiB cache (most
    /// evicted again, as a large scan does), then a scan's worth of hits;
    /// the process must grow by no more than the cache accounts for.
    /// `cargo test --release real_memory_per_entry -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn real_memory_per_entry() {
        for body in [16usize, 1024] {
            fill(body);
        }
    }

    fn fill(body: usize) {
        let c = RowCache::new();
        c.set_capacity(32 << 20);
        let r0 = rss_kib();
        let listed = |i: u32| ObjectEntry {
            key: format!("big/k{i:09}"),
            size: body as u64,
            last_modified: Some("2026-12-03T10:00:00.000Z".into()),
            etag: "\"0123456789abcdef0123456789abcdef\"".into(),
        };
        for i in 0..200_000u32 {
            let e = listed(i);
            let o = Object {
                entry: e.clone(),
                head: ObjectHead {
                    content_type: Some("application/octet-stream".into()),
                    meta: vec![(
                        "awss3-write-id".into(),
                        "0123456789abcdef0123456789abcdef".into(),
                    )],
                },
                body: Bytes::from(vec![b'y'; body]),
                oversize: None,
            };
            c.put(SCOPE, "awss3-bench-garage", &e, &o);
        }
        let mut held = 0;
        for i in 0..200_000u32 {
            // Each hit's copy dropped at once, as a scan hands rows over.
            held += c
                .get(SCOPE, "awss3-bench-garage", &listed(i), u64::MAX)
                .is_some() as u64;
        }
        let s = c.stats();
        let r1 = rss_kib();
        assert_eq!(held, s.rows);
        assert!((r1 - r0) * 1024 <= s.bytes, "{} KiB grown", r1 - r0);
        eprintln!(
            "{body} B bodies: rows {} accounted {} KiB, rss +{} KiB, per entry accounted {} real {}",
            s.rows,
            s.bytes / 1024,
            r1 - r0,
            s.bytes / s.rows,
            (r1 - r0) * 1024 / s.rows
        );
    }
}
