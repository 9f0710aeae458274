//! Request counters behind the `Awss3_*` status variables. Every HTTP attempt
//! is counted under its request type when it is sent, retries included.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Get,
    Head,
    Put,
    List,
    Delete,
}

#[derive(Default)]
pub struct Counters {
    pub get: AtomicU64,
    pub head: AtomicU64,
    pub put: AtomicU64,
    pub list: AtomicU64,
    pub delete: AtomicU64,
    pub retries: AtomicU64,
    pub errors: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub failovers: AtomicU64,
}

pub static COUNTERS: Counters = Counters {
    get: AtomicU64::new(0),
    head: AtomicU64::new(0),
    put: AtomicU64::new(0),
    list: AtomicU64::new(0),
    delete: AtomicU64::new(0),
    retries: AtomicU64::new(0),
    errors: AtomicU64::new(0),
    bytes_received: AtomicU64::new(0),
    bytes_sent: AtomicU64::new(0),
    failovers: AtomicU64::new(0),
};

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

pub fn request(op: Op) {
    let c = &COUNTERS;
    bump(
        match op {
            Op::Get => &c.get,
            Op::Head => &c.head,
            Op::Put => &c.put,
            Op::List => &c.list,
            Op::Delete => &c.delete,
        },
        1,
    );
}

pub fn retry() {
    bump(&COUNTERS.retries, 1);
}

/// Requests the store throttled (503 SlowDown, 429) or dropped (a broken
/// connection, no answer), retried: windows (`window::Gate`) halve when this
/// moves. A store past its connection backlog drops rather than throttles.
static THROTTLED: AtomicU64 = AtomicU64::new(0);

/// The window of the last request answered under a `window::Gate`: where
/// the controller stands (`Awss3_window`).
static WINDOW: AtomicU64 = AtomicU64::new(0);

pub fn window_now(n: usize) {
    WINDOW.store(n as u64, Ordering::Relaxed);
}

pub fn window() -> u64 {
    WINDOW.load(Ordering::Relaxed)
}

pub fn throttled() {
    bump(&THROTTLED, 1);
}

/// GET, HEAD, PUT and DELETE requests sent so far (not LISTs): whether a
/// window's requests reached the store at all.
pub fn object_requests() -> u64 {
    let c = &COUNTERS;
    [&c.get, &c.head, &c.put, &c.delete]
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .sum()
}

pub fn throttled_so_far() -> u64 {
    THROTTLED.load(Ordering::Relaxed)
}

/// A request moved to the next of a location's endpoints.
pub fn failover() {
    bump(&COUNTERS.failovers, 1);
}

pub fn error() {
    bump(&COUNTERS.errors, 1);
}

pub fn received(n: usize) {
    bump(&COUNTERS.bytes_received, n as u64);
}

pub fn sent(n: usize) {
    bump(&COUNTERS.bytes_sent, n as u64);
}

/// A consistent-enough copy for SHOW STATUS.
pub fn snapshot() -> [u64; 10] {
    let c = &COUNTERS;
    [
        &c.get,
        &c.head,
        &c.put,
        &c.list,
        &c.delete,
        &c.retries,
        &c.errors,
        &c.bytes_received,
        &c.bytes_sent,
        &c.failovers,
    ]
    .map(|a| a.load(Ordering::Relaxed))
}
