//! Full-table scans: LIST pages pipelined with up to `window` concurrent
//! GETs (or HEADs) of the listed objects. The lister runs one page ahead of
//! the fetchers; rows come out in key order through a small channel, so memory
//! is bounded by the window whatever the table size. Dropping the `Scan`
//! stops everything it started.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::keycodec;
use crate::listing::{self, ListSource, Listing};
use crate::rowcache;
use crate::schema::Fetch;
use crate::store::{Object, ObjectEntry, ObjectHead, S3Error};
use crate::window::Gate;

/// One listed object with what was fetched for it.
#[derive(Debug)]
pub enum ScanItem {
    Listed(ObjectEntry),
    Headed(ObjectEntry, ObjectHead),
    Got(Object),
}

pub enum Next {
    Row(ScanItem),
    End,
    /// Nothing arrived within the wait; ask again.
    Pending,
    Failed(S3Error),
}

/// Where a scan's pages and objects come from: S3, or a fake in tests.
/// Pages are read through `listing::Listing`, which guards what they hold.
pub trait Source: ListSource {
    /// What `fetch` asks for one listed object; `None` when it is gone.
    fn fetch(
        &self,
        entry: ObjectEntry,
        fetch: Fetch,
    ) -> BoxFuture<'_, Result<Option<ScanItem>, S3Error>>;
}

impl Source for listing::Bucket {
    fn fetch(
        &self,
        entry: ObjectEntry,
        fetch: Fetch,
    ) -> BoxFuture<'_, Result<Option<ScanItem>, S3Error>> {
        Box::pin(async move {
            Ok(match fetch {
                Fetch::ListOnly => Some(ScanItem::Listed(entry)),
                Fetch::Head => self
                    .store
                    .head(&self.bucket, &entry.key)
                    .await?
                    .map(|(e, h)| ScanItem::Headed(e, h)),
                // Empty objects are never cached: NULL and '' of a RAW table
                // are both empty, told apart by metadata a version does not pin.
                Fetch::Get if self.row_cache && entry.size > 0 => {
                    let cache = &rowcache::CACHE;
                    let endpoint = self.store.cache_scope();
                    if let Some(o) = cache.get(endpoint, &self.bucket, &entry, self.max_body) {
                        return Ok(Some(ScanItem::Got(o)));
                    }
                    let got = self
                        .store
                        .get(&self.bucket, &entry.key, self.max_body)
                        .await?;
                    if let Some(o) = &got {
                        cache.put(endpoint, &self.bucket, &entry, o);
                    }
                    got.map(ScanItem::Got)
                }
                Fetch::Get => self
                    .store
                    .get(&self.bucket, &entry.key, self.max_body)
                    .await?
                    .map(ScanItem::Got),
            })
        })
    }
}

/// One end of a key range, as object-key bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    pub key: Vec<u8>,
    pub inclusive: bool,
}

/// The object keys a scan returns (listed keys are in byte order). `pad`:
/// the key column compares with PAD SPACE, so the bounds compare as its
/// collation does (`keycodec::pad_cmp`), not byte by byte.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bounds {
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
    pub pad: bool,
}

impl Bounds {
    fn cmp(&self, key: &[u8], bound: &[u8]) -> Ordering {
        if self.pad {
            keycodec::pad_cmp(key, bound)
        } else {
            key.cmp(bound)
        }
    }

    /// `key` is below the range.
    pub fn below(&self, key: &[u8]) -> bool {
        self.lower
            .as_ref()
            .is_some_and(|b| match self.cmp(key, &b.key) {
                Ordering::Less => true,
                Ordering::Equal => !b.inclusive,
                Ordering::Greater => false,
            })
    }

    /// `key` is above the range.
    pub fn above(&self, key: &[u8]) -> bool {
        self.upper
            .as_ref()
            .is_some_and(|b| match self.cmp(key, &b.key) {
                Ordering::Greater => true,
                Ordering::Equal => !b.inclusive,
                Ordering::Less => false,
            })
    }

    /// No key listed after `key` can be in the range: listing may stop.
    /// Under PAD SPACE a key above the bound may still be followed by keys
    /// that sort below it ('b' <= 'a' is false, but 'a\t' < 'a' is listed
    /// after 'a'), so the listing stops only once those have passed.
    pub fn past(&self, key: &[u8]) -> bool {
        if !self.pad {
            return self.above(key);
        }
        self.upper.as_ref().is_some_and(|b| {
            key > b.key.as_slice() && keycodec::pad_cmp(key, &b.key) == Ordering::Greater
        })
    }
}

/// Reorders listed keys (S3's byte order) into the order of a PAD SPACE
/// collation, where a key sorts after its extensions by spaces and then a
/// character below space ('a\t' < 'a \u{1}' < 'a' < 'a b' < 'ab'). Such
/// extensions are listed right after the key, so each key is held until
/// `keycodec::pad_settled` says none can follow; held keys leave in the
/// collation's order. Memory: the keys held, each extending an earlier one.
#[derive(Default)]
pub struct PadOrder {
    /// In the collation's order.
    held: Vec<ObjectEntry>,
}

impl PadOrder {
    /// Takes the next listed entry; returns those now in their place.
    pub fn push(&mut self, e: ObjectEntry) -> Vec<ObjectEntry> {
        let at = self.held.partition_point(|h| {
            keycodec::pad_cmp(h.key.as_bytes(), e.key.as_bytes()) != Ordering::Greater
        });
        let listed = e.key.clone();
        self.held.insert(at, e);
        let settled = self
            .held
            .iter()
            .take_while(|h| keycodec::pad_settled(h.key.as_bytes(), listed.as_bytes()))
            .count();
        self.held.drain(..settled).collect()
    }

    /// The entries still held, in order (the listing ended).
    pub fn finish(&mut self) -> Vec<ObjectEntry> {
        std::mem::take(&mut self.held)
    }
}

pub struct Scan {
    rx: mpsc::Receiver<Result<ScanItem, S3Error>>,
    task: JoinHandle<()>,
    rt: Handle,
}

/// Aborts a task when dropped (the lister must not outlive its scan).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Scan {
    /// Lists `source` (from where `listing` starts) and fetches what `fetch`
    /// says for each object within `bounds`; listing stops at the first key
    /// above them, so nothing past the range is listed further or fetched.
    /// `window`: the most requests in flight; `memory`: the most bytes the
    /// bodies fetched and not yet taken may hold (`window::Controller` sizes
    /// the window between 1 and `window` within it).
    pub fn start(
        rt: &Handle,
        source: Arc<dyn Source>,
        mut listing: Listing,
        fetch: Fetch,
        window: usize,
        memory: u64,
        bounds: Bounds,
    ) -> Scan {
        let window = window.max(1);
        // Rows handed over to the consumer: a few (outside the window's
        // count), the window does the prefetching.
        let (tx, rx) = mpsc::channel(HANDOVER);
        let task = rt.spawn(async move {
            // One page of entries ahead of the fetchers.
            let (etx, erx) = mpsc::channel::<Result<ObjectEntry, S3Error>>(listing::PAGE as usize);
            let lister = {
                let source = source.clone();
                AbortOnDrop(tokio::spawn(async move {
                    let mut order = bounds.pad.then(PadOrder::default);
                    let send_all = |es: Vec<ObjectEntry>| {
                        let etx = etx.clone();
                        async move {
                            for e in es {
                                if etx.send(Ok(e)).await.is_err() {
                                    return false;
                                }
                            }
                            true
                        }
                    };
                    loop {
                        match listing.next_page(source.as_ref()).await {
                            Ok(Some(entries)) => {
                                for e in entries {
                                    if bounds.past(e.key.as_bytes()) {
                                        if let Some(o) = order.as_mut() {
                                            send_all(o.finish()).await;
                                        }
                                        return;
                                    }
                                    if bounds.below(e.key.as_bytes())
                                        || bounds.above(e.key.as_bytes())
                                    {
                                        continue;
                                    }
                                    let ready = match order.as_mut() {
                                        Some(o) => o.push(e),
                                        None => vec![e],
                                    };
                                    if !send_all(ready).await {
                                        return;
                                    }
                                }
                            }
                            Ok(None) => {
                                if let Some(o) = order.as_mut() {
                                    send_all(o.finish()).await;
                                }
                                return;
                            }
                            Err(e) => {
                                let _ = etx.send(Err(e)).await;
                                return;
                            }
                        }
                    }
                }))
            };
            let entries =
                stream::unfold(
                    erx,
                    |mut erx| async move { erx.recv().await.map(|e| (e, erx)) },
                );
            // Up to `window` fetches are queued in key order; each waits for
            // a permit, and the controller decides how many permits exist. A
            // permit is given back when its row leaves in order, so fetched
            // rows waiting behind a slower one count against the window too.
            // Permits are taken in key order, before a fetch is queued: were
            // they taken inside the fetches, a later one could take the last
            // permit while the rows ahead of it wait for one, for ever.
            let gate = Arc::new(Gate::new(window, memory, &source.place().1));
            let fetched = entries
                .then(|entry| {
                    let gate = gate.clone();
                    async move { (entry, gate.enter().await) }
                })
                .map(|(entry, permit)| {
                    let source = source.clone();
                    async move {
                        let fetched = match entry {
                            Ok(e) => source.fetch(e, fetch).await,
                            Err(e) => Err(e),
                        };
                        (fetched, permit)
                    }
                })
                .buffered(window);
            futures_util::pin_mut!(fetched);
            while let Some((item, permit)) = fetched.next().await {
                gate.answered(item_bytes(&item));
                let item = match item {
                    Ok(Some(i)) => Some(Ok(i)),
                    // Deleted between LIST and GET: not a row any more.
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                };
                let failed = matches!(item, Some(Err(_)));
                // The permit is given back once the row is handed over.
                let gone = match item {
                    Some(item) => tx.send(item).await.is_err(),
                    None => false,
                };
                if let Some(p) = permit {
                    gate.leave(p);
                }
                if gone || failed {
                    break;
                }
            }
            drop(lister);
        });
        Scan {
            rx,
            task,
            rt: rt.clone(),
        }
    }

    /// The next row, waiting at most `wait`.
    pub fn next(&mut self, wait: Duration) -> Next {
        let rx = &mut self.rx;
        match self
            .rt
            .block_on(async { tokio::time::timeout(wait, rx.recv()).await })
        {
            Err(_) => Next::Pending,
            Ok(None) => Next::End,
            Ok(Some(Ok(item))) => Next::Row(item),
            Ok(Some(Err(e))) => Next::Failed(e),
        }
    }
}

/// Rows a scan hands over ahead of the handler (the window's permits
/// cover every other fetched row).
const HANDOVER: usize = 4;

/// What a fetched row holds in memory.
pub fn item_bytes(item: &Result<Option<ScanItem>, S3Error>) -> u64 {
    match item {
        Ok(Some(ScanItem::Got(o))) => o.body.len() as u64,
        _ => 0,
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ListRequest, Page};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn keys(es: Vec<ObjectEntry>) -> Vec<String> {
        es.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn pad_order_puts_low_extensions_before_their_prefix() {
        // Byte order, as S3 lists them.
        let mut listed = vec![
            "X",
            "X\t",
            "X\t\u{1}",
            "X\tY",
            "Xa",
            "Y",
            "Y\u{1f}",
            "Z",
            "X \t",
            "X  \u{1}",
            "X  ",
            "X b",
            "X !",
            "X  \u{1}\u{1}",
            "X\u{1} ",
            "W\u{7f}",
            "é",
            "é\t",
            "X \t b",
        ];
        listed.sort();
        let mut o = PadOrder::default();
        let mut out = Vec::new();
        for k in &listed {
            out.extend(keys(o.push(ObjectEntry {
                key: k.to_string(),
                size: 0,
                last_modified: None,
                etag: String::new(),
            })));
        }
        out.extend(keys(o.finish()));
        // What a PAD SPACE collation says: 'X\t\x01' < 'X\t' < 'X\tY' < 'X' < 'Xa'.
        let mut sql: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
        sql.sort_by(|a, b| {
            let pad = |s: &str, n: usize| {
                let mut v = s.as_bytes().to_vec();
                v.resize(n, b' ');
                v
            };
            let n = a.len().max(b.len());
            pad(a, n).cmp(&pad(b, n))
        });
        assert_eq!(out, sql);
        assert_eq!(out[..4], ["W\u{7f}", "X\u{1} ", "X\t\u{1}", "X\t"]);
    }

    fn all() -> Listing {
        Listing::all("")
    }

    /// `n` objects in pages of `page`; each fetch takes a little time and
    /// records how many fetches run at once.
    struct Fake {
        n: usize,
        page: usize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        lists: AtomicUsize,
        fetches: AtomicUsize,
        fail_at: Option<usize>,
        gone: Option<usize>,
    }

    impl Fake {
        fn new(n: usize, page: usize) -> Fake {
            Fake {
                n,
                page,
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                lists: AtomicUsize::new(0),
                fetches: AtomicUsize::new(0),
                fail_at: None,
                gone: None,
            }
        }
    }

    fn entry(i: usize) -> ObjectEntry {
        ObjectEntry {
            key: format!("k{i:05}"),
            size: i as u64,
            last_modified: None,
            etag: String::new(),
        }
    }

    fn err(i: usize) -> S3Error {
        S3Error {
            request: "GetObject",
            bucket: "b".into(),
            key: Some(format!("k{i:05}")),
            status: Some(500),
            code: "InternalError".into(),
            message: String::new(),
            endpoint: "fake".into(),
        }
    }

    impl ListSource for Fake {
        fn list(&self, req: ListRequest) -> BoxFuture<'_, Result<Page, S3Error>> {
            Box::pin(async move {
                self.lists.fetch_add(1, Ordering::SeqCst);
                let from: usize = req.token.map(|t| t.parse().unwrap()).unwrap_or(0);
                let to = (from + self.page).min(self.n);
                let next = (to < self.n).then(|| to.to_string());
                Ok(((from..to).map(entry).collect(), next))
            })
        }

        fn place(&self) -> (String, String) {
            ("b".into(), "fake".into())
        }
    }

    impl Source for Fake {
        fn fetch(
            &self,
            e: ObjectEntry,
            fetch: Fetch,
        ) -> BoxFuture<'_, Result<Option<ScanItem>, S3Error>> {
            Box::pin(async move {
                if fetch == Fetch::ListOnly {
                    return Ok(Some(ScanItem::Listed(e)));
                }
                self.fetches.fetch_add(1, Ordering::SeqCst);
                let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                let i = e.size as usize;
                if Some(i) == self.fail_at {
                    return Err(err(i));
                }
                if Some(i) == self.gone {
                    return Ok(None);
                }
                Ok(Some(ScanItem::Headed(e, Default::default())))
            })
        }
    }

    use crate::runtime::test_runtime as rt;

    fn drain(scan: &mut Scan) -> (Vec<String>, Option<S3Error>) {
        let mut keys = Vec::new();
        loop {
            match scan.next(Duration::from_secs(5)) {
                Next::Row(ScanItem::Listed(e)) | Next::Row(ScanItem::Headed(e, _)) => {
                    keys.push(e.key)
                }
                Next::Row(ScanItem::Got(o)) => keys.push(o.entry.key),
                Next::End => return (keys, None),
                Next::Failed(e) => return (keys, Some(e)),
                Next::Pending => panic!("scan stalled"),
            }
        }
    }

    #[test]
    fn full_scan_is_ordered_complete_and_bounded_by_the_window() {
        let rt = rt();
        let fake = Arc::new(Fake::new(2500, 1000));
        let mut scan = Scan::start(
            rt.handle(),
            fake.clone(),
            all(),
            Fetch::Head,
            8,
            1 << 20,
            Bounds::default(),
        );
        let (keys, e) = drain(&mut scan);
        assert!(e.is_none());
        assert_eq!(keys, (0..2500).map(|i| entry(i).key).collect::<Vec<_>>());
        assert_eq!(fake.lists.load(Ordering::SeqCst), 3);
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 2500);
        let max = fake.max_in_flight.load(Ordering::SeqCst);
        assert!(max <= 8, "{max} fetches at once with a window of 8");
        assert!(max >= 2, "fetches never overlapped ({max})");
    }

    #[test]
    fn the_window_grows_past_its_start_and_stays_within_the_limit() {
        // 2 ms a fetch: more in flight pays, so the window grows from 8
        // toward the limit of 64, never past it.
        let rt = rt();
        let fake = Arc::new(Fake::new(3000, 1000));
        let mut scan = Scan::start(
            rt.handle(),
            fake.clone(),
            all(),
            Fetch::Head,
            64,
            1 << 30,
            Bounds::default(),
        );
        let (keys, e) = drain(&mut scan);
        assert!(e.is_none());
        assert_eq!(keys.len(), 3000);
        let max = fake.max_in_flight.load(Ordering::SeqCst);
        assert!(max <= 64, "{max} fetches at once with a limit of 64");
        assert!(max > crate::window::START, "the window never grew ({max})");
    }

    #[test]
    fn bounds_skip_below_and_stop_above_without_fetching_past_the_range() {
        let rt = rt();
        let fake = Arc::new(Fake::new(3000, 1000));
        let bound = |i: usize, inclusive| {
            Some(Bound {
                key: entry(i).key.into_bytes(),
                inclusive,
            })
        };
        let bounds = Bounds {
            lower: bound(10, false),
            upper: bound(20, true),
            pad: false,
        };
        let mut scan = Scan::start(
            rt.handle(),
            fake.clone(),
            all(),
            Fetch::Get,
            8,
            1 << 20,
            bounds,
        );
        let (keys, e) = drain(&mut scan);
        assert!(e.is_none());
        assert_eq!(keys, (11..=20).map(|i| entry(i).key).collect::<Vec<_>>());
        assert_eq!(
            fake.fetches.load(Ordering::SeqCst),
            10,
            "fetched outside the range"
        );
        assert_eq!(
            fake.lists.load(Ordering::SeqCst),
            1,
            "listed past the range"
        );
        let bounds = Bounds {
            lower: bound(10, true),
            upper: bound(20, false),
            pad: false,
        };
        let mut scan = Scan::start(
            rt.handle(),
            fake,
            all(),
            Fetch::ListOnly,
            8,
            1 << 20,
            bounds,
        );
        assert_eq!(
            drain(&mut scan).0,
            (10..20).map(|i| entry(i).key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn list_only_scan_fetches_nothing() {
        let rt = rt();
        let fake = Arc::new(Fake::new(1500, 1000));
        let mut scan = Scan::start(
            rt.handle(),
            fake.clone(),
            all(),
            Fetch::ListOnly,
            8,
            1 << 20,
            Bounds::default(),
        );
        assert_eq!(drain(&mut scan).0.len(), 1500);
        assert_eq!(fake.lists.load(Ordering::SeqCst), 2);
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn vanished_objects_are_skipped_and_failures_end_the_scan() {
        let rt = rt();
        let mut fake = Fake::new(50, 10);
        fake.gone = Some(3);
        fake.fail_at = Some(20);
        let fake = Arc::new(fake);
        let mut scan = Scan::start(
            rt.handle(),
            fake,
            all(),
            Fetch::Get,
            4,
            1 << 20,
            Bounds::default(),
        );
        let (keys, e) = drain(&mut scan);
        assert_eq!(keys.len(), 19, "rows 0..20 less the vanished one");
        assert!(!keys.contains(&entry(3).key));
        assert_eq!(e.unwrap().key.as_deref(), Some("k00020"));
    }

    #[test]
    fn dropping_a_scan_stops_its_requests() {
        let rt = rt();
        let fake = Arc::new(Fake::new(100_000, 1000));
        let mut scan = Scan::start(
            rt.handle(),
            fake.clone(),
            all(),
            Fetch::Head,
            4,
            1 << 20,
            Bounds::default(),
        );
        for _ in 0..10 {
            assert!(matches!(scan.next(Duration::from_secs(5)), Next::Row(_)));
        }
        drop(scan);
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
        let after = fake.fetches.load(Ordering::SeqCst);
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
        assert_eq!(
            fake.fetches.load(Ordering::SeqCst),
            after,
            "fetches went on after drop"
        );
        assert!(after < 1000);
    }
}
