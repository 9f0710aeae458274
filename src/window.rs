//! How many object requests a scan keeps in flight: sized by what the store
//! answers, not a constant. At 20 ms a fixed window of 32 caps a scan at
//! 1,600 rows/s; at 0.3 ms the same 32 only queue at the server. So the
//! window starts small and doubles each time a window's worth of answers
//! came in faster than the one before (throughput still grows with
//! concurrency), holds when it no longer does and tries again later, halves
//! when the store throttles (503 SlowDown, 429), and never lets the bodies in
//! flight exceed the statement's memory bound. `awss3_prefetch_window` is the
//! upper limit; `awss3_scan_memory` the bound.
//!
//! The controller is plain arithmetic over (time, bytes, throttled) events,
//! so it is tested against a simulated store (latency, capacity, throttling,
//! body sizes) without a network. A `Gate` puts it in front of a statement's
//! requests (scans, batched reads, multi-row writes): a semaphore whose
//! permits the controller adds and takes back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics;

/// Where a window starts: enough to see whether more helps.
pub const START: usize = 8;

/// Throughput must grow by this factor over the previous epoch for the
/// window to double again (noise on a loaded machine is below it).
const GAIN: f64 = 1.15;
/// A doubling that multiplied throughput by this much scaled (nearly)
/// linearly: the store waits on the network, not on itself.
const LINEAR: f64 = 1.6;
/// Epochs to hold after growth stopped paying before probing again.
const HOLD_EPOCHS: u32 = 8;
/// The shortest epoch taken as a measurement (at loopback speed a window's
/// worth of answers can arrive within microseconds).
const MIN_EPOCH: Duration = Duration::from_millis(2);
/// A body size assumed until some are seen.
const FIRST_BODY_GUESS: u64 = 4 << 10;

#[derive(Debug)]
pub struct Controller {
    max: usize,
    memory: u64,
    target: usize,
    /// Mean body size seen (exponentially weighted), and the last one: the
    /// memory cap takes the larger, so a run of big bodies counts at once.
    body: f64,
    last_body: u64,
    epoch_start: Duration,
    epoch_done: usize,
    /// Rows per second of the last finished epoch, and its window.
    last_rate: f64,
    /// Growing (doubling while it pays) or holding for some epochs.
    hold: u32,
    throttled_in_epoch: bool,
    /// The window before the last doubling: returned to when it did not pay.
    before_growth: Option<usize>,
    /// Until the first throttle or the first doubling that did not pay: a
    /// doubling that (nearly) doubled throughput is followed by a x4 step.
    /// A latency-bound window reaches 256 from 8 in three epochs, not five
    /// (at 80 ms, about 300 ms sooner).
    starting: bool,
    /// The last doubling multiplied throughput by at least `LINEAR`.
    linear: bool,
}

impl Controller {
    /// `max`: awss3_prefetch_window; `memory`: bytes the bodies in flight
    /// may take; `now`: a monotonic clock reading.
    pub fn new(max: usize, memory: u64, now: Duration) -> Controller {
        Controller::starting_at(START, FIRST_BODY_GUESS, max, memory, now)
    }

    /// The same, starting at `start` requests in flight with bodies of about
    /// `body` bytes (within `max` and the memory bound). A start above
    /// `START` was already measured: no x4 steps from there.
    pub fn starting_at(
        start: usize,
        body: u64,
        max: usize,
        memory: u64,
        now: Duration,
    ) -> Controller {
        let max = max.max(1);
        let mut c = Controller {
            max,
            memory: memory.max(1),
            target: start.clamp(1, max),
            body: body.max(FIRST_BODY_GUESS) as f64,
            last_body: 0,
            epoch_start: now,
            epoch_done: 0,
            last_rate: 0.0,
            hold: 0,
            throttled_in_epoch: false,
            before_growth: None,
            starting: start <= START,
            linear: false,
        };
        c.target = c.target.min(c.memory_cap());
        c
    }

    /// The requests that may be in flight now.
    pub fn target(&self) -> usize {
        self.target
    }

    /// Most bodies of the mean size seen that fit in the memory bound.
    fn memory_cap(&self) -> usize {
        let body = self.body.max(self.last_body as f64).max(1.0);
        ((self.memory as f64 / body) as usize).clamp(1, self.max)
    }

    /// A request of `bytes` is about to enter (a write knows its body before
    /// it is sent): the memory bound applies before it is in flight.
    pub fn entering(&mut self, bytes: u64) -> usize {
        if bytes > self.last_body {
            self.last_body = bytes;
            self.target = self.target.min(self.memory_cap());
        }
        self.target
    }

    /// The mean body size seen.
    pub fn body(&self) -> u64 {
        self.body as u64
    }

    /// The store throttled a request (it was retried): halve at once.
    pub fn throttled(&mut self) {
        if !self.throttled_in_epoch {
            self.target = (self.target / 2).max(1);
            self.throttled_in_epoch = true;
            self.before_growth = None;
            self.starting = false;
            self.hold = HOLD_EPOCHS;
        }
    }

    /// One request answered at `now` with a body of `bytes`; the new target.
    pub fn done(&mut self, now: Duration, bytes: u64) -> usize {
        self.body = 0.9 * self.body + 0.1 * bytes as f64;
        self.last_body = bytes;
        self.epoch_done += 1;
        let elapsed = now.saturating_sub(self.epoch_start);
        if self.epoch_done >= self.target && elapsed >= MIN_EPOCH {
            let rate = self.epoch_done as f64 / elapsed.as_secs_f64();
            self.end_epoch(rate);
            self.epoch_start = now;
            self.epoch_done = 0;
        }
        self.target = self.target.min(self.memory_cap());
        self.target
    }

    fn end_epoch(&mut self, rate: f64) {
        let throttled = std::mem::take(&mut self.throttled_in_epoch);
        if throttled {
            self.last_rate = rate;
            return;
        }
        self.linear = false;
        if let Some(prev) = self.before_growth.take() {
            if rate < self.last_rate * GAIN {
                // The doubling did not pay: back to where it did, and hold.
                self.target = prev;
                self.hold = HOLD_EPOCHS;
                self.last_rate = rate;
                self.starting = false;
                return;
            }
            self.linear = rate >= self.last_rate * LINEAR;
        }
        self.last_rate = rate;
        if self.hold > 0 {
            self.hold -= 1;
            return;
        }
        let factor = if self.starting && self.linear { 4 } else { 2 };
        let next = (self.target * factor).min(self.max).min(self.memory_cap());
        if next > self.target {
            self.before_growth = Some(self.target);
            self.target = next;
        }
    }
}

/// Where the last window on each endpoint ended: the next statement there
/// starts from it, not from `START` (at 20 ms, doubling from 8 to 256 costs
/// a 300-key IN list five round trips instead of two). A store that got
/// slower throttles or drops, and the window halves from there.
/// With the window, the mean body size it saw: a start is held within the
/// memory bound for bodies of that size until the new statement sees its own.
static ENDED_AT: Mutex<Vec<(String, usize, u64)>> = Mutex::new(Vec::new());
/// Endpoints remembered (the oldest is forgotten past it).
const REMEMBERED: usize = 64;

fn ended_at() -> std::sync::MutexGuard<'static, Vec<(String, usize, u64)>> {
    ENDED_AT.lock().unwrap_or_else(|p| p.into_inner())
}

/// The window the last statement on `endpoint` ended with and the mean body
/// size it saw, if any.
pub fn start_for(endpoint: &str) -> Option<(usize, u64)> {
    ended_at()
        .iter()
        .find(|(e, _, _)| e == endpoint)
        .map(|&(_, n, body)| (n, body))
}

fn remember(endpoint: &str, n: usize, body: u64) {
    let mut all = ended_at();
    all.retain(|(e, _, _)| e != endpoint);
    if all.len() >= REMEMBERED {
        all.remove(0);
    }
    all.push((endpoint.to_string(), n, body));
}

/// Forgets every endpoint's window (plugin shutdown, and tests).
pub fn forget_all() {
    ended_at().clear();
}

/// One statement's window: requests enter with a permit and leave with it;
/// the controller, fed each answer, sets how many permits exist. Permits
/// taken back while in use are owed and forgotten as they come back.
pub struct Gate {
    permits: Arc<Semaphore>,
    state: Mutex<GateState>,
    clock: tokio::time::Instant,
    endpoint: String,
}

struct GateState {
    ctl: Controller,
    granted: usize,
    debt: usize,
    /// `metrics::throttled_so_far` when last looked at.
    overloads: u64,
    /// `metrics::object_requests` when the gate opened: a gate during which
    /// no object request was sent (rows from the row cache, keys only)
    /// says nothing about the store and is not remembered.
    requests_at_start: u64,
}

impl Gate {
    /// `max`: awss3_prefetch_window; `memory`: awss3_scan_memory;
    /// `endpoint`: the store's, whose last window this one starts from.
    pub fn new(max: usize, memory: u64, endpoint: &str) -> Gate {
        // Never below START: a statement that ended small (few rows, big
        // bodies, throttled) does not make the next one start slow.
        let (start, body) = start_for(endpoint).unwrap_or((START, FIRST_BODY_GUESS));
        let ctl = Controller::starting_at(start.max(START), body, max, memory, Duration::ZERO);
        let granted = ctl.target();
        Gate {
            permits: Arc::new(Semaphore::new(granted)),
            state: Mutex::new(GateState {
                ctl,
                granted,
                debt: 0,
                overloads: metrics::throttled_so_far(),
                requests_at_start: metrics::object_requests(),
            }),
            clock: tokio::time::Instant::now(),
            endpoint: endpoint.to_string(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        // Plain numbers: a panic elsewhere cannot leave them torn.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The requests that may be in flight now.
    pub fn target(&self) -> usize {
        self.state().ctl.target()
    }

    /// Waits for room in the window (`None`: the gate was closed).
    pub async fn enter(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Room in the window now, without waiting.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// A request was answered with a body of `bytes`: the controller sizes
    /// the window again.
    pub fn answered(&self, bytes: u64) {
        let now = self.clock.elapsed();
        let mut st = self.state();
        let overloads = metrics::throttled_so_far();
        if overloads != st.overloads {
            st.overloads = overloads;
            st.ctl.throttled();
        }
        let target = st.ctl.done(now, bytes);
        self.grant(&mut st, target);
    }

    /// A write of `bytes` is about to take a place: the memory bound counts
    /// it before it is sent.
    pub fn entering(&self, bytes: u64) {
        let mut st = self.state();
        let target = st.ctl.entering(bytes);
        self.grant(&mut st, target);
    }

    /// Makes `target` permits exist: adds them, or owes the difference.
    fn grant(&self, st: &mut GateState, target: usize) {
        if target > st.granted {
            let more = target - st.granted;
            let repaid = more.min(st.debt);
            st.debt -= repaid;
            self.permits.add_permits(more - repaid);
        } else if target < st.granted {
            st.debt += st.granted - target;
            let forgotten = self.permits.forget_permits(st.debt);
            st.debt -= forgotten;
        }
        st.granted = target;
        metrics::window_now(target);
    }

    /// A request's permit comes back (its row handed over, its write done).
    pub fn leave(&self, permit: OwnedSemaphorePermit) {
        let mut st = self.state();
        if st.debt > 0 {
            permit.forget();
            st.debt -= 1;
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // Only a window during which object requests went out says anything
        // about the store.
        let st = self.state();
        if metrics::object_requests() != st.requests_at_start {
            let (n, body) = (st.ctl.target(), st.ctl.body());
            drop(st);
            remember(&self.endpoint, n, body);
        }
    }
}

/// A write's place in a `Gate`'s window, held by the task doing it: when
/// the task ends (done, failed or stopped) it counts as answered and its
/// place is given back.
pub struct Ticket {
    gate: Arc<Gate>,
    permit: Option<OwnedSemaphorePermit>,
    bytes: u64,
}

impl Ticket {
    /// Waits for room in `gate`'s window (`None`: the gate was closed).
    pub async fn take(gate: Arc<Gate>, bytes: u64) -> Option<Ticket> {
        gate.entering(bytes);
        let permit = gate.enter().await?;
        Some(Ticket {
            gate,
            permit: Some(permit),
            bytes,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            self.gate.answered(self.bytes);
            self.gate.leave(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store: each request takes `latency`; at most `capacity` requests
    /// a second are served (a queue forms beyond); more than `throttle_above`
    /// in flight are answered SlowDown (retried, counted as throttled).
    struct Store {
        latency: f64,
        capacity: f64,
        throttle_above: usize,
        body: u64,
    }

    /// A store `latency` away with room to spare: 50,000 requests/s, no
    /// throttling, 1 KiB bodies.
    fn latency_bound(latency: f64) -> Store {
        Store {
            latency,
            capacity: 50_000.0,
            throttle_above: usize::MAX,
            body: 1024,
        }
    }

    /// Runs a scan of `rows` against `store`; the windows the controller
    /// chose, epoch by epoch, and the time taken.
    fn run(store: &Store, max: usize, memory: u64, rows: usize) -> (Vec<usize>, f64) {
        let mut c = Controller::new(max, memory, Duration::ZERO);
        let mut now = 0.0f64;
        let mut done = 0;
        let mut windows = vec![];
        while done < rows {
            let w = c.target();
            windows.push(w);
            if w > store.throttle_above {
                c.throttled();
            }
            // w requests in flight: each batch of w takes a round trip, or
            // what the server's capacity allows.
            let batch = w.min(rows - done);
            let t = store.latency.max(batch as f64 / store.capacity);
            for i in 0..batch {
                let at = now + t * (i + 1) as f64 / batch as f64;
                c.done(Duration::from_secs_f64(at), store.body);
            }
            now += t;
            done += batch;
        }
        (windows, now)
    }

    fn settled(w: &[usize]) -> usize {
        *w.last().unwrap()
    }

    #[test]
    fn at_20ms_the_window_grows_to_the_limit() {
        let s = latency_bound(0.020);
        let (w, secs) = run(&s, 256, 16 << 20, 20_000);
        assert_eq!(settled(&w), 256, "{w:?}");
        // Within 15% of the floor N/W*RTT at the limit.
        let floor = 20_000.0 / 256.0 * 0.020;
        assert!(secs < floor * 1.15, "{secs} s vs floor {floor} s");
    }

    #[test]
    fn latency_bound_growth_quadruples_after_a_doubling_that_paid() {
        let s = latency_bound(0.080);
        let (mut w, _) = run(&s, 256, 16 << 20, 2_000);
        w.dedup();
        assert_eq!(w, vec![8, 16, 64, 256], "three steps from 8 to 256");
    }

    #[test]
    fn where_the_server_is_the_limit_the_window_stays_small() {
        // 0.3 ms round trips, 5,000 requests/s: 2 in flight already saturate it.
        let s = Store {
            capacity: 5_000.0,
            ..latency_bound(0.0003)
        };
        let (w, secs) = run(&s, 256, 16 << 20, 20_000);
        assert!(settled(&w) <= 16, "{w:?}");
        assert!(secs < 20_000.0 / 5_000.0 * 1.05, "{secs}");
    }

    #[test]
    fn throttling_halves_and_stays_below_it() {
        let s = Store {
            throttle_above: 50,
            ..latency_bound(0.020)
        };
        let (w, _) = run(&s, 256, 16 << 20, 20_000);
        let late = &w[w.len() / 2..];
        assert!(late.iter().all(|&x| x <= 64), "{w:?}");
        assert!(
            late.iter().filter(|&&x| x > 50).count() * 4 < late.len(),
            "mostly under the throttling point: {w:?}"
        );
        assert!(late.iter().any(|&x| x >= 16), "{w:?}");
    }

    #[test]
    fn big_bodies_are_bounded_by_memory() {
        let s = Store {
            body: 1 << 20,
            ..latency_bound(0.020)
        };
        let (w, _) = run(&s, 256, 16 << 20, 2_000);
        assert!(w.iter().all(|&x| x <= 16), "16 MiB / 1 MiB bodies: {w:?}");
    }

    #[test]
    fn the_limit_and_a_window_of_one_are_kept() {
        let s = Store {
            body: 100,
            ..latency_bound(0.020)
        };
        let (w, _) = run(&s, 1, 16 << 20, 500);
        assert!(w.iter().all(|&x| x == 1));
        let (w, _) = run(&s, 32, 16 << 20, 5_000);
        assert!(w.iter().all(|&x| x <= 32) && settled(&w) == 32, "{w:?}");
    }

    #[test]
    fn a_gate_starts_where_the_last_one_on_its_endpoint_ended() {
        let rt = crate::runtime::test_runtime();
        let ep = "http://gate-test-endpoint";
        assert_eq!(Gate::new(256, 16 << 20, ep).target(), START);
        // A gate that answered nothing says nothing about the store.
        assert_eq!(start_for(ep), None);
        {
            let g = Gate::new(256, 16 << 20, ep);
            // Object requests went out while it was open.
            metrics::request(metrics::Op::Get);
            rt.block_on(async {
                // 20 ms answers: the window doubles while that pays.
                for _ in 0..40 {
                    let n = g.target();
                    for _ in 0..n {
                        g.answered(1024);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            assert!(g.target() > START, "{}", g.target());
        }
        let (ended, _) = start_for(ep).expect("remembered");
        assert!(ended > START);
        assert_eq!(Gate::new(256, 16 << 20, ep).target(), ended);
        // Within this statement's limit, and never below START.
        assert_eq!(Gate::new(16, 16 << 20, ep).target(), 16.min(ended));
        remember(ep, 2, 1024);
        assert_eq!(Gate::new(256, 16 << 20, ep).target(), START);
        assert_eq!(Gate::new(256, 16 << 20, "http://another").target(), START);
        // Remembered with 1 MiB bodies: 16 MiB holds 16 of them.
        remember(ep, 256, 1 << 20);
        assert_eq!(Gate::new(256, 16 << 20, ep).target(), 16);
    }

    #[test]
    fn a_gate_without_object_requests_is_not_remembered() {
        // Another test may count a request while one is open: of three, at
        // least one is not remembered.
        let forgotten = (0..3).any(|i| {
            let ep = format!("http://gate-test-no-requests-{i}");
            {
                let g = Gate::new(256, 16 << 20, &ep);
                for _ in 0..1000 {
                    g.answered(0);
                }
            }
            start_for(&ep).is_none()
        });
        assert!(forgotten);
    }

    #[test]
    fn a_write_counts_against_memory_before_it_is_sent() {
        let g = Gate::new(256, 16 << 20, "http://gate-test-writes");
        assert_eq!(g.target(), START);
        g.entering(4 << 20);
        assert_eq!(g.target(), 4, "16 MiB holds 4 bodies of 4 MiB");
    }

    #[test]
    fn permits_follow_the_target_and_debt_is_repaid() {
        let rt = crate::runtime::test_runtime();
        let g = Gate::new(64, 16 << 20, "http://permits-test");
        rt.block_on(async {
            let mut held = vec![];
            while let Some(p) = g.try_enter() {
                held.push(p);
            }
            assert_eq!(held.len(), START);
            // Throttled: the window halves while all 8 are in use; the 4
            // taken back are forgotten as they come back.
            metrics::throttled();
            g.answered(0);
            assert_eq!(g.target(), START / 2);
            for p in held.drain(..) {
                g.leave(p);
            }
            while let Some(p) = g.try_enter() {
                held.push(p);
            }
            assert_eq!(held.len(), START / 2);
        });
    }
}
