//! The S3 requests the engine makes, on the official AWS SDK: each one counted
//! (metrics), retried with exponential backoff and jitter when the failure is
//! transient (5xx, 429/SlowDown, timeouts, broken connections), and turned
//! into an `S3Error` that names the request, bucket, key, S3 error code and
//! endpoint — never a credential.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{
    Region, RequestChecksumCalculation, ResponseChecksumValidation, StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, EncodingType, ObjectIdentifier};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::budget::Budget;
use crate::metrics::{self, Op};
use crate::rowcache;
use crate::settings::Settings;
use crate::store::{
    Cond, ListRequest, Object, ObjectEntry, ObjectHead, Page, PutAnswer, PutOutcome, PutRequest,
    S3Error, Store,
};

/// One attempt's failure, before context is added.
#[derive(Debug)]
struct Failure {
    status: Option<u16>,
    code: String,
    message: String,
    transient: bool,
}

fn failure<E, R>(e: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug + HasStatus + 'static,
{
    let status = e.raw_response().map(|r| r.status_u16());
    let cause = root_cause(&e);
    if cause.contains(LIST_TOO_LARGE) {
        return Failure {
            status,
            code: "InvalidListing".into(),
            message: cause,
            transient: false,
        };
    }
    match &e {
        SdkError::TimeoutError(_) => Failure {
            status,
            code: "Timeout".into(),
            message: "no answer within awss3_request_timeout".into(),
            transient: true,
        },
        SdkError::DispatchFailure(d) => Failure {
            status,
            code: if d.is_timeout() {
                "Timeout"
            } else {
                "ConnectionFailed"
            }
            .into(),
            message: root_cause(&e),
            transient: true,
        },
        SdkError::ResponseError(_) => Failure {
            status,
            code: "BadResponse".into(),
            message: root_cause(&e),
            transient: true,
        },
        // An error from a 200 answer: the body could not be understood
        // (invalid XML from a broken store). Say what was wrong.
        _ if status == Some(200) && e.code().is_none() => Failure {
            status,
            code: "InvalidResponse".into(),
            message: format!("the answer could not be read: {}", root_cause(&e)),
            transient: false,
        },
        _ => {
            let code = e
                .code()
                .map(str::to_string)
                .unwrap_or_else(|| status_code_name(status));
            let transient = matches!(status, Some(500..=599) | Some(429))
                || matches!(
                    code.as_str(),
                    "SlowDown" | "RequestTimeout" | "InternalError"
                );
            Failure {
                status,
                message: e.message().unwrap_or("").to_string(),
                code,
                transient,
            }
        }
    }
}

/// A LIST answer may hold 1000 keys of up to 1024 bytes, escaped: a few MB.
/// A longer one (a store that ignores max-keys) is refused from its
/// Content-Length, before its body is read into memory.
const MAX_LIST_RESPONSE_BYTES: u64 = 8 << 20;
const LIST_TOO_LARGE: &str = "the LIST answer is larger than any page of max-keys keys can be";

/// Refuses a LIST answer whose announced length is over the bound.
#[derive(Debug)]
struct ListSizeCap;

impl aws_smithy_runtime_api::client::interceptors::Intercept for ListSizeCap {
    fn name(&self) -> &'static str {
        "ListSizeCap"
    }

    fn read_after_transmit(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let len = ctx
            .response()
            .headers()
            .get("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        match len {
            Some(n) if n > MAX_LIST_RESPONSE_BYTES => Err(format!(
                "{LIST_TOO_LARGE} ({n} bytes, at most {MAX_LIST_RESPONSE_BYTES} expected)"
            )
            .into()),
            _ => Ok(()),
        }
    }
}

/// The innermost cause (e.g. "Connection refused (os error 111)"): what a
/// DBA needs, without the SDK's layers of wrapping.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    if text.is_empty() {
        DisplayErrorContext(e).to_string()
    } else {
        text
    }
}

/// A code for responses without an error body (HEAD has none).
fn status_code_name(status: Option<u16>) -> String {
    match status {
        Some(404) => "NotFound",
        Some(403) => "AccessDenied",
        Some(412) => "PreconditionFailed",
        Some(409) => "Conflict",
        Some(_) => "HttpError",
        None => "NoResponse",
    }
    .into()
}

trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

fn format_time(t: &aws_smithy_types::DateTime) -> Option<String> {
    let s = t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()?;
    Some(s.trim_end_matches('Z').replacen('T', " ", 1))
}

fn sorted_meta(m: Option<&HashMap<String, String>>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = m
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The endpoints of one location, in the order they were given, and the one
/// in use. Shared by every clone of the client, so one statement's failover
/// is every statement's: the next request goes to the endpoint that answered.
struct Endpoints {
    /// One SDK client per endpoint (the credentials provider is shared).
    clients: Vec<(aws_sdk_s3::Client, String)>,
    active: AtomicUsize,
    /// Per endpoint: until when (ms on `clock_ms`) it counts as down after a
    /// failed connection or a timeout, so that requests do not go back to it
    /// while another answers.
    down_until: Vec<AtomicU64>,
    /// As configured (the list, or "AWS S3 (region)"): what identifies the store.
    configured: String,
    /// `configured` and the access key id (empty: the AWS chain): the row
    /// cache's scope.
    scope: String,
}

/// How long an endpoint that failed a connection or timed out is passed over.
const DOWN_FOR_MS: u64 = 10_000;

/// Milliseconds since the first call (a monotonic clock for `down_until`).
fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
        + 1
}

impl Endpoints {
    fn is_down(&self, i: usize, now: u64) -> bool {
        self.down_until[i].load(Ordering::Relaxed) > now
    }

    /// The endpoint a request starts at: the one in use, unless it is down
    /// and another is not.
    fn pick(&self) -> usize {
        let n = self.clients.len();
        let at = self.active.load(Ordering::Relaxed) % n;
        let now = clock_ms();
        (0..n)
            .map(|k| (at + k) % n)
            .find(|&i| !self.is_down(i, now))
            .unwrap_or(at)
    }

    /// `at` failed: mark it down and move requests to the next endpoint that
    /// is not (or simply the next one, when all are).
    fn move_from(&self, at: usize) -> usize {
        let n = self.clients.len();
        let now = clock_ms();
        self.down_until[at].store(now + DOWN_FOR_MS, Ordering::Relaxed);
        let next = (1..n)
            .map(|k| (at + k) % n)
            .find(|&i| !self.is_down(i, now))
            .unwrap_or((at + 1) % n);
        let _ = self
            .active
            .compare_exchange(at, next, Ordering::Relaxed, Ordering::Relaxed);
        next
    }
}

/// An S3 client bound to one set of settings (endpoints, region, credentials).
pub struct S3 {
    endpoints: Arc<Endpoints>,
    max_retries: u32,
    /// Also the time a body may take to arrive after its headers.
    request_timeout: Duration,
    /// The statement's request budget, charged per attempt (None: no limit).
    budget: Option<Arc<Budget>>,
}

impl S3 {
    pub async fn new(s: &Settings) -> S3 {
        let urls = endpoint_urls(&s.endpoint);
        let sdk = sdk_config(s).await;
        let client = |url: Option<&str>| {
            let mut conf = aws_sdk_s3::config::Builder::from(&sdk)
                // S3-compatible stores rarely do virtual-hosted buckets.
                .force_path_style(url.is_some())
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
            if let Some(u) = url {
                conf = conf.endpoint_url(u);
            }
            aws_sdk_s3::Client::from_conf(conf.build())
        };
        let (clients, configured) = if urls.is_empty() {
            let name = format!("AWS S3 ({})", s.region);
            (vec![(client(None), name.clone())], name)
        } else {
            (
                urls.iter().map(|u| (client(Some(u)), u.clone())).collect(),
                urls.join(","),
            )
        };
        S3 {
            endpoints: Arc::new(Endpoints {
                down_until: clients.iter().map(|_| AtomicU64::new(0)).collect(),
                clients,
                active: AtomicUsize::new(0),
                scope: format!("{configured}\u{0}{}", s.access_key_id),
                configured,
            }),
            max_retries: s.max_retries,
            request_timeout: s.request_timeout,
            budget: None,
        }
    }

    /// The same client (connections shared), charging `budget` per attempt.
    pub fn with_budget(&self, budget: Arc<Budget>) -> S3 {
        S3 {
            endpoints: self.endpoints.clone(),
            max_retries: self.max_retries,
            request_timeout: self.request_timeout,
            budget: Some(budget),
        }
    }

    /// The endpoint requests go to now (errors name it).
    pub fn active_endpoint(&self) -> &str {
        let e = &self.endpoints;
        &e.clients[e.active.load(Ordering::Relaxed) % e.clients.len()].1
    }

    /// The error of a request whose last attempt went to endpoint `at`.
    fn error_at(
        &self,
        at: usize,
        request: &'static str,
        bucket: &str,
        key: Option<&str>,
        f: Failure,
    ) -> S3Error {
        let mut e = self.error(request, bucket, key, f);
        if let Some((_, url)) = self.endpoints.clients.get(at) {
            e.endpoint = url.clone();
        }
        e
    }

    fn error(&self, request: &'static str, bucket: &str, key: Option<&str>, f: Failure) -> S3Error {
        metrics::error();
        S3Error {
            request,
            bucket: bucket.into(),
            key: key.map(str::to_string),
            status: f.status,
            code: f.code,
            message: f.message,
            endpoint: self.active_endpoint().to_string(),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or retries run out;
    /// a failure comes with the endpoint its last attempt went to.
    /// `attempt` is given the client of the endpoint to use. With several
    /// endpoints, a connection failure or a timeout marks that endpoint down
    /// for a while and moves to the next one at once: each endpoint gets one
    /// attempt before `awss3_max_retries` is spent (each move counts in
    /// `Awss3_retries` and `Awss3_endpoint_failovers`), and later requests
    /// stay on the endpoint that answered.
    async fn retrying<T, F, Fut>(&self, op: Op, mut attempt: F) -> Result<T, (Failure, usize)>
    where
        F: FnMut(aws_sdk_s3::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let eps = &self.endpoints;
        let n = eps.clients.len();
        let mut at = eps.pick();
        let mut moves = 0usize;
        let mut tries = 0u32;
        loop {
            if let Some(b) = &self.budget {
                if !b.charge() {
                    let f = Failure {
                        status: None,
                        code: "MaxRequestsPerStatement".into(),
                        message: b.exceeded(),
                        transient: false,
                    };
                    return Err((f, at));
                }
            }
            metrics::request(op);
            match attempt(eps.clients[at].0.clone()).await {
                Ok(v) => return Ok(v),
                Err(f) if f.transient && n > 1 && fails_over(&f) && moves + 1 < n => {
                    at = eps.move_from(at);
                    moves += 1;
                    metrics::retry();
                    metrics::failover();
                }
                Err(f) if f.transient && tries < self.max_retries => {
                    metrics::retry();
                    if matches!(f.status, None | Some(503) | Some(429)) || f.code == "SlowDown" {
                        metrics::throttled();
                    }
                    tries += 1;
                    if n > 1 && fails_over(&f) {
                        at = eps.move_from(at);
                        metrics::failover();
                    }
                    tokio::time::sleep(backoff(tries - 1)).await;
                }
                Err(f) => return Err((f, at)),
            }
        }
    }

    /// One LIST page of up to `max_keys` keys under `prefix`: the first page
    /// after `start_after`, the next ones from `token`. Returns the entries and
    /// the next page's token.
    async fn list(&self, bucket: &str, req: ListRequest) -> Result<Page, S3Error> {
        let ListRequest {
            prefix,
            token,
            start_after,
            max_keys,
        } = req;
        let (prefix, max_keys) = (prefix.as_str(), Some(max_keys));
        // The token carries the position after the first page.
        let start_after = if token.is_some() { None } else { start_after };
        let (token, start_after) = (&token, &start_after);
        let out = self
            .retrying(Op::List, |c| async move {
                c.list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.clone())
                    .set_start_after(start_after.clone())
                    .set_max_keys(max_keys)
                    // Keys with characters XML 1.0 cannot carry (control
                    // characters) still list: they come URL-encoded.
                    .encoding_type(EncodingType::Url)
                    .customize()
                    .interceptor(ListSizeCap)
                    .send()
                    .await
                    .map_err(failure)
            })
            .await
            .map_err(|(f, at)| self.error_at(at, "ListObjectsV2", bucket, Some(prefix), f))?;
        let invalid = |message: String| {
            self.error(
                "ListObjectsV2",
                bucket,
                Some(prefix),
                Failure {
                    status: Some(200),
                    code: "InvalidListing".into(),
                    message,
                    transient: false,
                },
            )
        };
        let encoded = out.encoding_type() == Some(&EncodingType::Url);
        let mut entries = Vec::with_capacity(out.contents().len());
        for o in out.contents() {
            let Some(raw) = o.key() else { continue };
            let key = if encoded {
                url_decode(raw).ok_or_else(|| {
                    invalid(format!(
                        "the store listed a key that is not valid URL-encoded UTF-8: {}",
                        raw.chars().take(200).collect::<String>()
                    ))
                })?
            } else {
                raw.to_string()
            };
            entries.push(ObjectEntry {
                key,
                size: o.size().unwrap_or(0).max(0) as u64,
                last_modified: o.last_modified().and_then(format_time),
                etag: o.e_tag().unwrap_or("").to_string(),
            });
        }
        let next = if out.is_truncated() == Some(true) {
            // Truncated without a way on: ending here would pass for the end.
            Some(
                out.next_continuation_token()
                    .map(str::to_string)
                    .ok_or_else(|| {
                        invalid(
                            "the store said the listing goes on but gave no continuation token"
                                .into(),
                        )
                    })?,
            )
        } else {
            None
        };
        Ok((entries, next))
    }

    /// GET; `None` when there is no such object. A body longer than
    /// `max_body` bytes is not read further as soon as that is known (its
    /// announced length, or what has arrived): the object comes back with
    /// `oversize` set, so that memory never holds more than a row can.
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        max_body: u64,
    ) -> Result<Option<Object>, S3Error> {
        let r = self
            .retrying(Op::Get, |c| async move {
                let out = match c.get_object().bucket(bucket).key(key).send().await {
                    Ok(o) => o,
                    Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => {
                        let f = failure(e);
                        if f.code == "NoSuchBucket" {
                            return Err(f);
                        }
                        return Ok(None);
                    }
                    Err(e) => return Err(failure(e)),
                };
                let entry = ObjectEntry {
                    key: key.to_string(),
                    size: out.content_length().unwrap_or(0).max(0) as u64,
                    last_modified: out.last_modified().and_then(format_time),
                    etag: out.e_tag().unwrap_or("").to_string(),
                };
                let head = ObjectHead {
                    content_type: out.content_type().map(str::to_string),
                    meta: sorted_meta(out.metadata()),
                };
                if entry.size > max_body {
                    return Ok(Some(Object {
                        oversize: Some(entry.size),
                        entry,
                        head,
                        body: Bytes::new(),
                    }));
                }
                // The attempt timeout ends with the headers: a body that
                // stalls after them must not hold the statement forever. And a
                // store may send more than it announced: count as it comes.
                let mut stream = out.body;
                let read = async {
                    let mut buf = Vec::with_capacity(entry.size as usize);
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk.map_err(|e| Failure {
                            status: None,
                            code: "BodyReadFailed".into(),
                            message: e.to_string(),
                            transient: true,
                        })?;
                        let n = (buf.len() + chunk.len()) as u64;
                        if n > max_body {
                            return Ok(Err(n));
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    Ok(Ok(buf))
                };
                let body = tokio::time::timeout(self.request_timeout, read)
                    .await
                    .map_err(|_| Failure {
                        status: None,
                        code: "Timeout".into(),
                        message: "the object's body did not arrive within awss3_request_timeout"
                            .into(),
                        transient: true,
                    })??;
                Ok(Some(match body {
                    Ok(body) => Object {
                        entry,
                        head,
                        body: Bytes::from(body),
                        oversize: None,
                    },
                    Err(n) => Object {
                        entry,
                        head,
                        body: Bytes::new(),
                        oversize: Some(n),
                    },
                }))
            })
            .await
            .map_err(|(f, at)| self.error_at(at, "GetObject", bucket, Some(key), f))?;
        if let Some(o) = &r {
            metrics::received(o.body.len());
        }
        Ok(r)
    }

    /// HEAD; `None` when there is no such object.
    async fn head_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectEntry, ObjectHead)>, S3Error> {
        self.retrying(Op::Head, |c| async move {
            match c.head_object().bucket(bucket).key(key).send().await {
                Ok(out) => Ok(Some((
                    ObjectEntry {
                        key: key.to_string(),
                        size: out.content_length().unwrap_or(0).max(0) as u64,
                        last_modified: out.last_modified().and_then(format_time),
                        etag: out.e_tag().unwrap_or("").to_string(),
                    },
                    ObjectHead {
                        content_type: out.content_type().map(str::to_string),
                        meta: sorted_meta(out.metadata()),
                    },
                ))),
                Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => Ok(None),
                Err(e) => Err(failure(e)),
            }
        })
        .await
        .map_err(|(f, at)| self.error_at(at, "HeadObject", bucket, Some(key), f))
    }

    /// PUT, conditional or not. A failed precondition is an answer, not an
    /// error; whether an attempt went unanswered is noted for `write`, which
    /// decides what the answers mean.
    async fn put_object(&self, bucket: &str, req: PutRequest<'_>) -> PutAnswer {
        let body = Bytes::from(req.body);
        let meta: HashMap<String, String> = req.meta.iter().cloned().collect();
        let unanswered = std::sync::atomic::AtomicBool::new(false);
        let (key, content_type, cond) = (req.key, &req.content_type, &req.cond);
        let (body_ref, meta, unanswered_ref) = (&body, &meta, &unanswered);
        let r = self
            .retrying(Op::Put, |c| async move {
                let (body, unanswered) = (body_ref, unanswered_ref);
                let mut b = c
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(body.clone()))
                    .set_content_type(content_type.clone());
                if !meta.is_empty() {
                    b = b.set_metadata(Some(meta.clone()));
                }
                b = match cond {
                    Cond::None => b,
                    Cond::IfNoneMatch => b.if_none_match("*"),
                    Cond::IfMatch(etag) => b.if_match(etag.clone()),
                };
                match b.send().await {
                    Ok(out) => Ok(PutOutcome::Written(out.e_tag().unwrap_or("").to_string())),
                    Err(e) => {
                        let f = failure(e);
                        if may_have_been_applied(&f) {
                            unanswered.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        let conditional = !matches!(cond, Cond::None);
                        match (f.status, f.code.as_str()) {
                            (Some(412), _) if conditional => Ok(PutOutcome::PreconditionFailed),
                            (Some(409), "ConditionalRequestConflict") if conditional => {
                                Ok(PutOutcome::PreconditionFailed)
                            }
                            (Some(404), "NoSuchKey") if conditional => Ok(PutOutcome::Missing),
                            _ => Err(f),
                        }
                    }
                }
            })
            .await;
        let result = r.map_err(|(f, at)| self.error_at(at, "PutObject", bucket, Some(key), f));
        if matches!(result, Ok(PutOutcome::Written(_))) {
            metrics::sent(body.len());
        }
        PutAnswer {
            result,
            unanswered: unanswered.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// DELETE of one object (S3 answers 204 also when it did not exist).
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        self.retrying(Op::Delete, |c| async move {
            c.delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(failure)
        })
        .await
        .map_err(|(f, at)| self.error_at(at, "DeleteObject", bucket, Some(key), f))?;
        Ok(())
    }

    /// DeleteObjects of up to 1000 keys. Keys with control characters, which
    /// the request's XML cannot carry, are deleted one by one (their key
    /// travels in the URL).
    async fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<(), S3Error> {
        let (keys, odd): (Vec<&String>, Vec<&String>) =
            keys.iter().partition(|k| !k.bytes().any(|b| b < 0x20));
        for k in odd {
            self.delete_object(bucket, k).await?;
        }
        if keys.is_empty() {
            return Ok(());
        }
        let ids: Vec<ObjectIdentifier> = keys
            .iter()
            .filter_map(|k| ObjectIdentifier::builder().key(k.as_str()).build().ok())
            .collect();
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .map_err(|e| {
                self.error(
                    "DeleteObjects",
                    bucket,
                    None,
                    Failure {
                        status: None,
                        code: "InvalidRequest".into(),
                        message: e.to_string(),
                        transient: false,
                    },
                )
            })?;
        let delete = &delete;
        let out = self
            .retrying(Op::Delete, |c| async move {
                c.delete_objects()
                    .bucket(bucket)
                    .delete(delete.clone())
                    .send()
                    .await
                    .map_err(failure)
            })
            .await
            .map_err(|(f, at)| {
                self.error_at(
                    at,
                    "DeleteObjects",
                    bucket,
                    keys.first().map(|k| k.as_str()),
                    f,
                )
            })?;
        if let Some(e) = out.errors().first() {
            return Err(self.error(
                "DeleteObjects",
                bucket,
                e.key(),
                Failure {
                    status: None,
                    code: e.code().unwrap_or("Error").into(),
                    message: e.message().unwrap_or("").into(),
                    transient: false,
                },
            ));
        }
        Ok(())
    }
}

impl Store for S3 {
    fn endpoint(&self) -> &str {
        &self.endpoints.configured
    }

    fn cache_scope(&self) -> &str {
        &self.endpoints.scope
    }

    fn list_page<'a>(
        &'a self,
        bucket: &'a str,
        req: ListRequest,
    ) -> BoxFuture<'a, Result<Page, S3Error>> {
        Box::pin(self.list(bucket, req))
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        max_body: u64,
    ) -> BoxFuture<'a, Result<Option<Object>, S3Error>> {
        Box::pin(self.get_object(bucket, key, max_body))
    }

    fn head<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<(ObjectEntry, ObjectHead)>, S3Error>> {
        Box::pin(self.head_object(bucket, key))
    }

    // This server's writes drop the row cache's copy: a later LIST shows
    // another version anyway, and the memory is free at once.
    // Before and after: a scan of another session may GET the old version
    // between the two, and must not keep it once the write is done.
    fn put<'a>(&'a self, bucket: &'a str, req: PutRequest<'a>) -> BoxFuture<'a, PutAnswer> {
        let key = req.key.to_string();
        rowcache::CACHE.forget(self.cache_scope(), bucket, &key);
        Box::pin(async move {
            let answer = self.put_object(bucket, req).await;
            rowcache::CACHE.forget(self.cache_scope(), bucket, &key);
            answer
        })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), S3Error>> {
        rowcache::CACHE.forget(self.cache_scope(), bucket, key);
        Box::pin(async move {
            let answer = self.delete_object(bucket, key).await;
            rowcache::CACHE.forget(self.cache_scope(), bucket, key);
            answer
        })
    }

    fn delete_batch<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<(), S3Error>> {
        for k in keys {
            rowcache::CACHE.forget(self.cache_scope(), bucket, k);
        }
        Box::pin(async move {
            let answer = self.delete_objects(bucket, keys).await;
            for k in keys {
                rowcache::CACHE.forget(self.cache_scope(), bucket, k);
            }
            answer
        })
    }
}

/// HTTP client, region, timeouts and credentials: the keys from the settings,
/// or (none set) the AWS default chain — environment, web identity,
/// container and instance roles.
async fn sdk_config(s: &Settings) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(s.request_timeout.min(Duration::from_secs(10)))
        .operation_attempt_timeout(s.request_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(s.region.clone()))
        // Retries are ours: counted, bounded by awss3_max_retries.
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    if !s.access_key_id.is_empty() {
        let token = (!s.session_token.is_empty()).then(|| s.session_token.clone());
        loader = loader.credentials_provider(Credentials::new(
            s.access_key_id.clone(),
            s.secret_access_key.clone(),
            token,
            None,
            "awss3_access_key_id",
        ));
    }
    loader.load().await
}

/// The endpoints as URLs: a comma-separated list (spaces around the commas
/// allowed; empty: AWS S3), plain http only when written as http://.
fn endpoint_urls(endpoints: &str) -> Vec<String> {
    endpoints
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e.contains("://") {
                e.to_string()
            } else {
                format!("https://{e}")
            }
        })
        .collect()
}

/// Failures that say nothing about the store, only about the way to one
/// endpoint of it: another endpoint may answer.
fn fails_over(f: &Failure) -> bool {
    matches!(
        f.code.as_str(),
        "ConnectionFailed" | "Timeout" | "BodyReadFailed" | "BadResponse"
    )
}

/// Exponential backoff with full jitter: 50ms·2^n, capped at 2s.
fn backoff(attempt: u32) -> Duration {
    let cap = 50u64.saturating_mul(1 << attempt.min(6)).min(2000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(cap / 2 + nanos % (cap / 2 + 1))
}

/// Clients by the settings they were built from (the server-wide ones, and
/// one per CREATE SERVER in use), all dropped when a setting changes.
type Clients = Vec<(Settings, Arc<S3>)>;
/// Whether a failed attempt may still have been carried out by the store: it
/// got no answer (a timeout, a connection lost after the request went out, a
/// 5xx). A connection that was never made (refused, no such host) sent nothing.
fn may_have_been_applied(f: &Failure) -> bool {
    let never_connected = f.code == "ConnectionFailed"
        && ["refused", "dns error", "lookup address"]
            .iter()
            .any(|w| f.message.to_ascii_lowercase().contains(w));
    f.transient && !never_connected
}

/// A key from a LIST with `encoding-type=url`: `%XX` escapes (and `+` for a
/// space, as AWS writes it), decoded to UTF-8. `None` if it is not that.
fn url_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

static CLIENT_CACHE: Mutex<(u64, Clients)> = Mutex::new((0, Vec::new()));

/// At most this many clients are kept (one per endpoint and credentials).
const MAX_CLIENTS: usize = 16;

/// The process-wide client for these settings, rebuilt when they change.
pub fn client_for(settings: &Settings, generation: u64, rt: &tokio::runtime::Handle) -> Arc<S3> {
    let mut guard = match CLIENT_CACHE.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let (g, clients) = &mut *guard;
    if *g != generation {
        *g = generation;
        clients.clear();
    }
    if let Some((_, c)) = clients.iter().find(|(s, _)| s == settings) {
        return c.clone();
    }
    let c = Arc::new(rt.block_on(S3::new(settings)));
    if clients.len() >= MAX_CLIENTS {
        clients.remove(0);
    }
    clients.push((settings.clone(), c.clone()));
    c
}

pub fn clear_cache() {
    let mut guard = match CLIENT_CACHE.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    guard.1.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;

    use crate::runtime::test_runtime as rt;

    async fn key_id(s: &Settings) -> String {
        let sdk = sdk_config(s).await;
        let provider = sdk.credentials_provider().expect("a provider");
        provider
            .provide_credentials()
            .await
            .expect("credentials")
            .access_key_id()
            .to_string()
    }

    #[test]
    fn credentials_come_from_settings_else_from_the_aws_chain() {
        // The only test that touches these variables.
        std::env::set_var("AWS_ACCESS_KEY_ID", "from-environment");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret-from-environment");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        let rt = rt();
        let mut s = Settings {
            endpoint: "http://127.0.0.1:1".into(),
            ..Settings::default()
        };
        assert_eq!(rt.block_on(key_id(&s)), "from-environment");
        s.access_key_id = "from-settings".into();
        s.secret_access_key = "x".into();
        assert_eq!(rt.block_on(key_id(&s)), "from-settings");
    }

    #[test]
    fn error_text_names_request_bucket_key_code_endpoint() {
        let e = S3Error {
            request: "GetObject",
            bucket: "bk".into(),
            key: Some("a//b".into()),
            status: Some(404),
            code: "NoSuchKey".into(),
            message: "gone".into(),
            endpoint: "http://127.0.0.1:1".into(),
        };
        assert_eq!(
            e.to_string(),
            "S3 GetObject s3://bk/a//b failed: NoSuchKey (HTTP 404) at http://127.0.0.1:1: gone"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for n in 0..20 {
            let b = backoff(n).as_millis() as u64;
            let cap = (50u64 << n.min(6)).min(2000);
            assert!(b >= cap / 2 && b <= cap, "attempt {n}: {b}ms");
        }
    }

    #[test]
    fn only_attempts_that_may_have_reached_the_store_are_ambiguous() {
        let f = |code: &str, message: &str, transient| Failure {
            status: None,
            code: code.into(),
            message: message.into(),
            transient,
        };
        assert!(may_have_been_applied(&f("Timeout", "", true)));
        assert!(may_have_been_applied(&f(
            "ConnectionFailed",
            "connection closed before message completed",
            true
        )));
        assert!(may_have_been_applied(&f("InternalError", "", true)));
        assert!(!may_have_been_applied(&f(
            "ConnectionFailed",
            "Connection refused (os error 111)",
            true
        )));
        assert!(!may_have_been_applied(&f("AccessDenied", "", false)));
    }

    #[test]
    fn listed_keys_are_url_decoded() {
        assert_eq!(url_decode("a%20b%2Bc%25d").as_deref(), Some("a b+c%d"));
        assert_eq!(url_decode("a+b").as_deref(), Some("a b"));
        assert_eq!(url_decode("ctl%01x%1F").as_deref(), Some("ctl\u{1}x\u{1f}"));
        assert_eq!(url_decode("%C3%A9/%C3%BC%3F%23").as_deref(), Some("é/ü?#"));
        assert_eq!(url_decode("plain/é").as_deref(), Some("plain/é"));
        assert_eq!(url_decode("%00").as_deref(), Some("\0"));
        assert_eq!(url_decode("bad%2"), None);
        assert_eq!(url_decode("bad%zz"), None);
        assert_eq!(url_decode("%FF"), None, "not UTF-8");
    }

    #[test]
    fn only_failures_of_the_way_to_a_node_move_to_the_next_endpoint() {
        let f = |code: &str, status: Option<u16>| Failure {
            status,
            code: code.into(),
            message: String::new(),
            transient: true,
        };
        for code in [
            "ConnectionFailed",
            "Timeout",
            "BodyReadFailed",
            "BadResponse",
        ] {
            assert!(fails_over(&f(code, None)), "{code}");
        }
        // The store answered: another node of it would answer the same.
        for (code, status) in [
            ("SlowDown", Some(503)),
            ("InternalError", Some(500)),
            ("AccessDenied", Some(403)),
            ("NoSuchBucket", Some(404)),
        ] {
            assert!(!fails_over(&f(code, status)), "{code}");
        }
    }

    #[test]
    fn endpoint_scheme() {
        assert!(endpoint_urls("").is_empty());
        assert_eq!(endpoint_urls("http://h:1"), ["http://h:1"]);
        assert_eq!(endpoint_urls("h:1"), ["https://h:1"]);
        assert_eq!(
            endpoint_urls(" http://a:1 , b:2,,http://c:3 "),
            ["http://a:1", "https://b:2", "http://c:3"]
        );
    }
}
