//! The plugin's one tokio runtime: started by plugin init, stopped by plugin
//! deinit (UNINSTALL PLUGIN / shutdown) so that no thread or socket outlives it.
//! mysqld threads enter it only through `block_on`.

use std::ffi::c_void;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::error::{Error, Result};

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// Prefix of every thread the plugin starts (tests look for it after UNINSTALL).
pub const THREAD_NAME: &str = "awss3-io";

pub fn start() -> std::result::Result<(), String> {
    let mut guard = RUNTIME
        .lock()
        .map_err(|_| "runtime lock poisoned".to_string())?;
    if guard.is_none() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(4)
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
        *guard = Some(rt);
    }
    Ok(())
}

pub fn handle() -> Result<Handle> {
    let guard = RUNTIME
        .lock()
        .map_err(|_| Error::Engine("runtime lock poisoned".into()))?;
    guard
        .as_ref()
        .map(|rt| rt.handle().clone())
        .ok_or_else(|| Error::Engine("the AWSS3 plugin is not initialised".into()))
}

pub fn stop() {
    crate::s3client::clear_cache();
    let rt = match RUNTIME.lock() {
        Ok(mut g) => g.take(),
        Err(p) => p.into_inner().take(),
    };
    if let Some(rt) = rt {
        rt.shutdown_timeout(Duration::from_secs(5));
    }
}

/// How often a waiting statement looks whether it was killed.
pub const SLICE: Duration = Duration::from_millis(200);

/// How the core learns that the statement it works for was killed (KILL
/// QUERY, max_statement_time): a probe the shim supplies (`thd_killed`), called
/// only on the statement's own thread, while it waits.
/// The same thread is also where progress is reported (`report`, MariaDB's
/// progress API behind it), from the waits of long operations.
#[derive(Clone, Copy)]
pub struct Interrupt {
    probe: Option<extern "C" fn(*const c_void) -> bool>,
    report: Option<extern "C" fn(*const c_void, u64, u64)>,
    arg: *const c_void,
}

// The probe is only ever called from the thread that waits (`wait` runs its
// loop on the caller's thread), which is the statement's own.
unsafe impl Send for Interrupt {}
unsafe impl Sync for Interrupt {}

impl Interrupt {
    /// Nobody to ask: waits end only when their requests do.
    pub const NONE: Interrupt = Interrupt {
        probe: None,
        report: None,
        arg: std::ptr::null(),
    };

    pub fn new(probe: Option<extern "C" fn(*const c_void) -> bool>, arg: *const c_void) -> Self {
        Interrupt {
            probe,
            report: None,
            arg,
        }
    }

    /// Also reports progress through `report(arg, done, total)`.
    pub fn with_report(self, report: Option<extern "C" fn(*const c_void, u64, u64)>) -> Self {
        Interrupt { report, ..self }
    }

    pub fn is_set(&self) -> bool {
        self.probe.is_some_and(|p| p(self.arg))
    }

    fn report(&self, (done, total): (u64, u64)) {
        if let Some(r) = self.report {
            r(self.arg, done, total.max(done.saturating_add(1)));
        }
    }
}

/// The one place a mysqld thread waits on S3: in slices of `SLICE`, asking
/// `stop` in between, so that KILL ends any wait within a fraction of a
/// second. On KILL the future is dropped, which stops its requests.
pub fn wait<F: Future>(rt: &Handle, fut: F, stop: Interrupt) -> Result<F::Output> {
    wait_reporting(rt, fut, stop, None)
}

/// `wait`, also reporting `progress()` (done, expected total) at each slice.
pub fn wait_reporting<F: Future>(
    rt: &Handle,
    fut: F,
    stop: Interrupt,
    progress: Option<&dyn Fn() -> (u64, u64)>,
) -> Result<F::Output> {
    if stop.is_set() {
        return Err(Error::Killed);
    }
    rt.block_on(async move {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Ok(out),
                _ = tokio::time::sleep(SLICE) => {
                    if stop.is_set() {
                        return Err(Error::Killed);
                    }
                    if let Some(p) = progress {
                        stop.report(p());
                    }
                }
            }
        }
    })
}

/// A small runtime for unit tests (the plugin's own is started by plugin init).
#[cfg(test)]
pub fn test_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Instant;

    static KILLED: AtomicBool = AtomicBool::new(false);
    static ASKED: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn probe(_: *const c_void) -> bool {
        ASKED.fetch_add(1, Ordering::SeqCst);
        KILLED.load(Ordering::SeqCst)
    }

    #[test]
    fn a_wait_ends_soon_after_kill_and_drops_its_future() {
        let rt = test_runtime();
        let stop = Interrupt::new(Some(probe), std::ptr::null());
        // Not killed: the future's own result.
        assert_eq!(wait(rt.handle(), async { 7 }, stop).unwrap(), 7);
        // A future that never ends, killed 300 ms in.
        let dropped = std::sync::Arc::new(AtomicBool::new(false));
        struct Flag(std::sync::Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        let t0 = Instant::now();
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            KILLED.store(true, Ordering::SeqCst);
        });
        let r = wait(
            rt.handle(),
            async move {
                let _f = flag;
                std::future::pending::<()>().await
            },
            stop,
        );
        assert_eq!(r.unwrap_err(), Error::Killed);
        let took = t0.elapsed();
        assert!(took < Duration::from_millis(300) + SLICE * 2, "{took:?}");
        assert!(
            dropped.load(Ordering::SeqCst),
            "the future outlived the kill"
        );
        // Already killed: no wait at all.
        assert_eq!(
            wait(rt.handle(), async { 1 }, stop).unwrap_err(),
            Error::Killed
        );
        KILLED.store(false, Ordering::SeqCst);
        assert!(ASKED.load(Ordering::SeqCst) >= 2);
        // Nobody to ask.
        assert_eq!(wait(rt.handle(), async { 2 }, Interrupt::NONE).unwrap(), 2);
    }
}
