//! The plugin's one tokio runtime: started by plugin init, stopped by plugin
//! deinit (UNINSTALL PLUGIN / shutdown) so that no thread or socket outlives it.
//! mysqld threads enter it only through `block_on`.

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

/// A small runtime for unit tests (the plugin's own is started by plugin init).
#[cfg(test)]
pub fn test_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime")
}
