//! Batched point reads (multi-range read): the keys of an IN list or of a
//! join buffer are fetched with GETs (or HEADs) in flight under the
//! statement's `window::Gate` and handed back in the order they were pushed.
//! The caller queues up to `limit` keys (awss3_prefetch_window) and takes the
//! oldest answer; the gate decides how many of the queued keys are being
//! fetched, so memory is bounded by it. Dropping the `Batch` stops every
//! request it started.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::scan::{item_bytes, ScanItem, Source};
use crate::schema::Fetch;
use crate::store::{ObjectEntry, S3Error};
use crate::window::Gate;

type Fetched = Result<Option<ScanItem>, S3Error>;

/// One pushed key: no request (a key S3 cannot store is in no table), a key
/// waiting for room in the window, or the request fetching it.
enum Slot {
    Absent,
    Waiting(String),
    Fetching(JoinHandle<Fetched>, OwnedSemaphorePermit),
}

pub struct Batch {
    rt: Handle,
    source: Arc<dyn Source>,
    fetch: Fetch,
    limit: usize,
    gate: Gate,
    slots: VecDeque<Slot>,
    /// Slots at the front of `slots` that are not `Waiting`: keys start in
    /// push order, so the oldest answer never waits behind younger ones.
    started: usize,
}

impl Batch {
    /// `fetch`: what the statement reads of each row. A point read must
    /// prove that the object exists, so "list only" becomes a HEAD.
    /// `limit`: the most keys queued (and fetched at once); `memory`: the
    /// bound on bodies in flight (awss3_scan_memory).
    pub fn new(
        rt: &Handle,
        source: Arc<dyn Source>,
        fetch: Fetch,
        limit: usize,
        memory: u64,
    ) -> Batch {
        let fetch = match fetch {
            Fetch::ListOnly => Fetch::Head,
            f => f,
        };
        let limit = limit.max(1);
        let gate = Gate::new(limit, memory, &source.place().1);
        Batch {
            rt: rt.clone(),
            source,
            fetch,
            limit,
            gate,
            slots: VecDeque::new(),
            started: 0,
        }
    }

    /// The most keys the caller may keep queued.
    pub fn window(&self) -> usize {
        self.limit
    }

    /// Keys pushed and not yet taken.
    pub fn queued(&self) -> usize {
        self.slots.len()
    }

    /// Queues `object_key` (`None`: a key that cannot exist), fetched as soon
    /// as the window has room. More than `window()` queued are refused.
    pub fn push(&mut self, object_key: Option<String>) -> Result<(), String> {
        if self.slots.len() >= self.limit {
            return Err(format!(
                "batched read: more than {} keys in flight",
                self.limit
            ));
        }
        self.slots.push_back(match object_key {
            None => Slot::Absent,
            Some(key) => Slot::Waiting(key),
        });
        self.start_waiting();
        Ok(())
    }

    fn spawn(&self, key: String) -> JoinHandle<Fetched> {
        let source = self.source.clone();
        let fetch = self.fetch;
        let entry = ObjectEntry {
            key,
            size: 0,
            last_modified: None,
            etag: String::new(),
        };
        self.rt
            .spawn(async move { source.fetch(entry, fetch).await })
    }

    /// Starts the oldest waiting keys while the window has room.
    fn start_waiting(&mut self) {
        while self.started < self.slots.len() {
            if let Slot::Waiting(key) = &mut self.slots[self.started] {
                let Some(permit) = self.gate.try_enter() else {
                    return;
                };
                let key = std::mem::take(key);
                let task = self.spawn(key);
                self.slots[self.started] = Slot::Fetching(task, permit);
            }
            self.started += 1;
        }
    }

    /// The oldest pushed key's answer: `None` when nothing is queued;
    /// `Some(future)` resolving to the fetched item (`None`: no such object).
    /// The slot is taken out first, so a caller that stops waiting (KILL)
    /// drops that request with the future.
    pub fn take(
        &mut self,
    ) -> Option<impl std::future::Future<Output = Result<Option<ScanItem>, Error>> + '_> {
        let slot = self.slots.pop_front()?;
        self.started = self.started.saturating_sub(1);
        Some(async move {
            let (task, permit) = match slot {
                Slot::Absent => return Ok(None),
                Slot::Fetching(task, permit) => (task, permit),
                // Every key ahead of it was taken, so their permits are back.
                Slot::Waiting(key) => match self.gate.enter().await {
                    Some(permit) => (self.spawn(key), permit),
                    None => return Err(Error::Engine("the read window was closed".into())),
                },
            };
            let abort = AbortOnDrop(Some(task.abort_handle()));
            let done = task.await;
            std::mem::forget(abort);
            let done = match done {
                Ok(r) => r,
                Err(e) => return Err(Error::Engine(format!("a batched read stopped: {e}"))),
            };
            self.gate.answered(item_bytes(&done));
            self.gate.leave(permit);
            self.start_waiting();
            done.map_err(Error::from)
        })
    }
}

/// Aborts a request whose answer nobody waits for any more.
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(a) = self.0.take() {
            a.abort();
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        for slot in &self.slots {
            if let Slot::Fetching(t, _) = slot {
                t.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::ListSource;
    use crate::runtime::test_runtime;
    use crate::store::{ListRequest, Page};
    use futures_util::future::BoxFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Objects `k0`..`k{n-1}`; a fetch of a lower-numbered key takes longer,
    /// so answers arrive out of order. Records the fetches in flight.
    struct Fake {
        n: usize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        fetches: AtomicUsize,
        fail: Option<&'static str>,
    }

    impl Fake {
        fn new(n: usize) -> Fake {
            Fake {
                n,
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                fetches: AtomicUsize::new(0),
                fail: None,
            }
        }
    }

    impl ListSource for Fake {
        fn list(&self, _req: ListRequest) -> BoxFuture<'_, Result<Page, S3Error>> {
            unreachable!("a batch never lists")
        }
        fn place(&self) -> (String, String) {
            ("b".into(), "fake".into())
        }
    }

    impl Source for Fake {
        fn fetch(&self, entry: ObjectEntry, fetch: Fetch) -> BoxFuture<'_, Fetched> {
            Box::pin(async move {
                assert_ne!(fetch, Fetch::ListOnly, "a point read must make a request");
                self.fetches.fetch_add(1, Ordering::SeqCst);
                let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_in_flight.fetch_max(now, Ordering::SeqCst);
                let i: usize = entry.key[1..].parse().unwrap_or(usize::MAX);
                let delay = 40u64.saturating_sub(i.min(40) as u64);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                if self.fail == Some(entry.key.as_str()) {
                    return Err(S3Error {
                        request: "GetObject",
                        bucket: "b".into(),
                        key: Some(entry.key.clone()),
                        status: Some(500),
                        code: "InternalError".into(),
                        message: "fetch failed".into(),
                        endpoint: "fake".into(),
                    });
                }
                Ok((i < self.n).then_some(ScanItem::Listed(entry)))
            })
        }
    }

    fn key_of(item: &Option<ScanItem>) -> Option<String> {
        match item {
            Some(ScanItem::Listed(e)) => Some(e.key.clone()),
            _ => None,
        }
    }

    /// Pushes `keys` keeping the window full, takes every answer.
    fn run(
        fake: Arc<Fake>,
        keys: &[Option<&str>],
        window: usize,
    ) -> Vec<Result<Option<String>, String>> {
        let rt = test_runtime();
        let mut batch = Batch::new(rt.handle(), fake, Fetch::Get, window, 16 << 20);
        let mut out = Vec::new();
        let mut next = keys.iter();
        loop {
            while batch.queued() < batch.window() {
                match next.next() {
                    Some(k) => batch.push(k.map(str::to_string)).expect("room"),
                    None => break,
                }
            }
            let Some(fut) = batch.take() else { break };
            out.push(
                rt.block_on(fut)
                    .map(|i| key_of(&i))
                    .map_err(|e| e.to_string()),
            );
        }
        out
    }

    #[test]
    fn answers_in_push_order_with_the_window_in_flight() {
        let fake = Arc::new(Fake::new(100));
        let keys: Vec<String> = (0..64).map(|i| format!("k{i}")).collect();
        let pushed: Vec<Option<&str>> = keys.iter().map(|k| Some(k.as_str())).collect();
        let out = run(fake.clone(), &pushed, 8);
        let got: Vec<String> = out.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(got, keys);
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 64);
        assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 8);
    }

    #[test]
    fn keys_queued_past_the_window_wait_their_turn_and_answer_in_order() {
        // 64 queued, more than the gate lets in at first (8, or where the
        // last "fake" gate ended): the rest wait and start in push order as
        // answers come back; all answer in order, never more than 64 fetched
        // at once. (Whether the window grows is window.rs's to test.)
        let fake = Arc::new(Fake::new(1000));
        let keys: Vec<String> = (0..300).map(|i| format!("k{}", i % 40)).collect();
        let pushed: Vec<Option<&str>> = keys.iter().map(|k| Some(k.as_str())).collect();
        let out = run(fake.clone(), &pushed, 64);
        let got: Vec<String> = out.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(got, keys);
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 300);
        let peak = fake.max_in_flight.load(Ordering::SeqCst);
        assert!((8..=64).contains(&peak), "{peak} in flight");
    }

    #[test]
    fn missing_and_impossible_keys_answer_none_without_a_request() {
        let fake = Arc::new(Fake::new(3));
        let out = run(fake.clone(), &[Some("k1"), None, Some("k7"), Some("k2")], 4);
        let got: Vec<Option<String>> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, vec![Some("k1".into()), None, None, Some("k2".into())]);
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_failure_is_the_answer_of_its_own_key() {
        let mut fake = Fake::new(10);
        fake.fail = Some("k2");
        let out = run(Arc::new(fake), &[Some("k1"), Some("k2"), Some("k3")], 4);
        assert!(out[0].is_ok());
        assert!(out[1]
            .as_ref()
            .unwrap_err()
            .contains("s3://b/k2 failed: InternalError"));
        assert!(out[2].is_ok());
    }

    #[test]
    fn no_more_than_the_window_is_queued() {
        let rt = test_runtime();
        let mut batch = Batch::new(
            rt.handle(),
            Arc::new(Fake::new(10)),
            Fetch::Head,
            2,
            16 << 20,
        );
        batch.push(Some("k1".into())).unwrap();
        batch.push(Some("k2".into())).unwrap();
        assert!(batch.push(Some("k3".into())).is_err());
    }

    /// Waits (at most 5 s, on a loaded machine) until `n` fetches are under way.
    fn started(rt: &tokio::runtime::Runtime, fake: &Fake, n: usize) {
        for _ in 0..5000 {
            if fake.in_flight.load(Ordering::SeqCst) == n {
                return;
            }
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(1)).await });
        }
        panic!("the fetches did not start");
    }

    #[test]
    fn dropping_the_batch_stops_its_requests() {
        let rt = test_runtime();
        let fake = Arc::new(Fake::new(10));
        let mut batch = Batch::new(rt.handle(), fake.clone(), Fetch::Get, 4, 16 << 20);
        for i in 0..4 {
            batch.push(Some(format!("k{i}"))).unwrap();
        }
        started(&rt, &fake, 4);
        drop(batch);
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(80)).await });
        // Aborted mid-sleep: none of them finished (in_flight never went down).
        assert_eq!(fake.in_flight.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_dropped_wait_stops_its_request() {
        let rt = test_runtime();
        let fake = Arc::new(Fake::new(10));
        let mut batch = Batch::new(rt.handle(), fake.clone(), Fetch::Get, 4, 16 << 20);
        batch.push(Some("k0".into())).unwrap();
        started(&rt, &fake, 1);
        let fut = batch.take().expect("queued");
        let waited =
            rt.block_on(async { tokio::time::timeout(Duration::from_millis(5), fut).await });
        assert!(waited.is_err(), "k0 takes 40 ms");
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(80)).await });
        assert_eq!(fake.in_flight.load(Ordering::SeqCst), 1);
        assert_eq!(batch.queued(), 0);
    }
}
