//! Server-wide settings (the `awss3_*` system variables). The shim pushes each
//! value here at plugin start and whenever a variable is SET, so credentials
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
    /// Object requests (GET/HEAD) in flight during a scan.
    pub prefetch_window: usize,
    /// Retries of a transient failure before the statement fails.
    pub max_retries: u32,
    /// Time limit of one request attempt.
    pub request_timeout: Duration,
    pub skip_malformed: bool,
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
            .field("max_retries", &self.max_retries)
            .field("request_timeout", &self.request_timeout)
            .field("skip_malformed", &self.skip_malformed)
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
            prefetch_window: 32,
            max_retries: 3,
            request_timeout: Duration::from_secs(30),
            skip_malformed: false,
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

fn parse_num<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("awss3_{name}: '{value}' is not a valid number"))
}

/// Sets one variable by its name without the `awss3_` prefix.
pub fn set(name: &str, value: &str) -> Result<(), String> {
    let mut guard = match SETTINGS.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let mut s: Settings = guard.as_deref().cloned().unwrap_or_default();
    match name {
        "endpoint" => s.endpoint = value.trim().trim_end_matches('/').to_string(),
        "region" => {
            s.region = if value.is_empty() {
                "us-east-1".into()
            } else {
                value.into()
            }
        }
        "bucket" => s.bucket = value.into(),
        "access_key_id" => s.access_key_id = value.into(),
        "secret_access_key" => s.secret_access_key = value.into(),
        "session_token" => s.session_token = value.into(),
        "prefetch_window" => s.prefetch_window = parse_num::<usize>(name, value)?.max(1),
        "max_retries" => s.max_retries = parse_num(name, value)?,
        "request_timeout" => {
            s.request_timeout = Duration::from_secs(parse_num::<u64>(name, value)?.max(1))
        }
        "skip_malformed" => s.skip_malformed = matches!(value, "1" | "ON" | "on" | "true"),
        _ => return Err(format!("unknown setting awss3_{name}")),
    }
    *guard = Some(Arc::new(s));
    GENERATION.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_changes_value_and_generation() {
        let (_, g0) = current();
        set("prefetch_window", "7").unwrap();
        set("endpoint", "http://127.0.0.1:9/").unwrap();
        let (s, g1) = current();
        assert!(g1 >= g0 + 2);
        assert_eq!(s.prefetch_window, 7);
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        assert!(set("prefetch_window", "x").is_err());
        assert!(set("nonsense", "1").is_err());
        set("prefetch_window", "0").unwrap();
        assert_eq!(current().0.prefetch_window, 1);
    }
}
