//! Server-wide settings (the `awss3_*` system variables). The shim pushes them
//! all, as one struct, at plugin start and whenever a variable is SET, so credentials
//! rotate without a restart: every change bumps a generation, and the S3
//! client is rebuilt lazily when its generation is stale.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Clone, PartialEq)]
pub struct Settings {
    /// Empty: AWS's own endpoint for the region.
    pub endpoint: String,
    pub region: String,
    /// Default bucket for tables created without CONNECTION.
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// The most object requests (GET/HEAD) in flight during a scan
    /// (`window::Controller` sizes the window up to it).
    pub prefetch_window: usize,
    /// The most bytes one scan's fetched bodies may hold in memory.
    pub scan_memory: u64,
    /// Retries of a transient failure before the statement fails.
    pub max_retries: u32,
    /// Time limit of one request attempt.
    pub request_timeout: Duration,
    pub skip_malformed: bool,
    /// Tables are shared through the catalogue in the default bucket
    /// (`awss3_discovery`, fixed at start).
    pub discovery: bool,
    /// How long a table's definition, once checked against the catalogue,
    /// is taken as current (`awss3_definition_check_interval`).
    pub definition_check_interval: Duration,
    /// The secret every server sharing the catalogue authenticates its
    /// entries with (`awss3_catalog_key`, fixed at start).
    pub catalog_key: String,
    /// On a store that ignores conditional writes, shared tables are written
    /// anyway (`awss3_last_writer_wins`): the later of two writers wins.
    pub last_writer_wins: bool,
}

impl std::fmt::Debug for Settings {
    // The secrets never reach a message or a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("prefetch_window", &self.prefetch_window)
            .field("scan_memory", &self.scan_memory)
            .field("max_retries", &self.max_retries)
            .field("request_timeout", &self.request_timeout)
            .field("skip_malformed", &self.skip_malformed)
            .field("discovery", &self.discovery)
            .field("definition_check_interval", &self.definition_check_interval)
            .field("last_writer_wins", &self.last_writer_wins)
            .finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: String::new(),
            prefetch_window: 256,
            scan_memory: 16 << 20,
            max_retries: 3,
            request_timeout: Duration::from_secs(30),
            skip_malformed: false,
            discovery: false,
            definition_check_interval: Duration::from_secs(1),
            catalog_key: String::new(),
            last_writer_wins: false,
        }
    }
}

static SETTINGS: RwLock<Option<Arc<Settings>>> = RwLock::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The settings in force now, and their generation.
pub fn current() -> (Arc<Settings>, u64) {
    let g = GENERATION.load(Ordering::Acquire);
    let s = match SETTINGS.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    (s.unwrap_or_default(), g)
}

/// Replaces the settings with what `change` makes of the current ones (the
/// shim hands every variable at once: `awss3_settings_set`), normalised:
/// endpoint without a trailing slash, empty region = us-east-1, window and
/// timeout at least 1.
pub fn update(change: impl FnOnce(&mut Settings)) {
    let mut guard = match SETTINGS.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let mut s: Settings = guard.as_deref().cloned().unwrap_or_default();
    change(&mut s);
    s.endpoint = s.endpoint.trim().trim_end_matches('/').to_string();
    if s.region.is_empty() {
        s.region = "us-east-1".into();
    }
    s.prefetch_window = s.prefetch_window.max(1);
    s.request_timeout = s.request_timeout.max(Duration::from_secs(1));
    *guard = Some(Arc::new(s));
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_changes_value_and_generation_and_normalises() {
        let (_, g0) = current();
        update(|s| {
            s.prefetch_window = 7;
            s.endpoint = "http://127.0.0.1:9/".into();
            s.region = String::new();
        });
        let (s, g1) = current();
        assert!(g1 > g0);
        assert_eq!(s.prefetch_window, 7);
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        assert_eq!(s.region, "us-east-1");
        update(|s| {
            s.prefetch_window = 0;
            s.request_timeout = Duration::ZERO;
        });
        assert_eq!(current().0.prefetch_window, 1);
        assert_eq!(current().0.request_timeout, Duration::from_secs(1));
    }
}
