//! An in-memory `Store` for tests, with injected faults: the unit tests of
//! `write` and the conformance suite run against it. Like S3 it lists keys in
//! byte order, answers PUT conditions (or ignores them, as Garage does), and
//! retries a transient failure up to `retries` times, noting an attempt that
//! may have been applied without an answer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::store::{
    Cond, ListRequest, Object, ObjectEntry, ObjectHead, Page, PutAnswer, PutOutcome, PutRequest,
    S3Error, Store,
};

/// The requests a fault can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Req {
    List,
    Get,
    Head,
    Put,
    Delete,
}

/// What happens to one attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Nothing: the attempt goes through (to aim a fault at a later one).
    Ok,
    /// 503: not carried out, but an answer that may hide an applied write
    /// for all the client knows.
    Unavailable,
    /// The connection was refused: nothing was sent.
    Refused,
    /// Carried out, then the answer was lost (a timeout or reset).
    LostAnswer,
}

#[derive(Clone, Debug)]
struct Stored {
    body: Bytes,
    etag: String,
    content_type: Option<String>,
    meta: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    buckets: HashMap<String, BTreeMap<String, Stored>>,
    faults: VecDeque<(Req, Fault)>,
    requests: HashMap<Req, u64>,
    seq: u64,
}

pub struct InMemory {
    state: Mutex<State>,
    name: String,
    /// Accept If-None-Match/If-Match and ignore them (Garage 2.x).
    pub ignores_conditions: bool,
    /// ETags from a counter instead of the body (as with SSE-KMS or
    /// multipart uploads, where an ETag is not the body's MD5).
    pub opaque_etags: bool,
    pub retries: u32,
    /// Each answer arrives this long after the request was carried out (so
    /// that concurrent writers can interleave, as over a network).
    pub delay: std::time::Duration,
}

impl InMemory {
    pub fn new(buckets: &[&str]) -> InMemory {
        let state = State {
            buckets: buckets
                .iter()
                .map(|b| (b.to_string(), BTreeMap::new()))
                .collect(),
            ..State::default()
        };
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        InMemory {
            state: Mutex::new(state),
            // Unique per store: the probe's outcome is remembered per endpoint.
            name: format!(
                "memory:{}",
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            ignores_conditions: false,
            opaque_etags: false,
            retries: 3,
            delay: std::time::Duration::ZERO,
        }
    }

    /// The next attempt of request `req` meets `fault` (faults queue up).
    pub fn inject(&self, req: Req, fault: Fault) {
        self.lock().faults.push_back((req, fault));
    }

    /// Attempts made of `req` so far (retries included).
    pub fn requests(&self, req: Req) -> u64 {
        self.lock().requests.get(&req).copied().unwrap_or(0)
    }

    /// Stores an object as another writer would (no request counted).
    pub fn plant(&self, bucket: &str, key: &str, body: &[u8], meta: &[(&str, &str)]) {
        let mut s = self.lock();
        let etag = self.etag(&mut s, body);
        s.buckets.entry(bucket.into()).or_default().insert(
            key.into(),
            Stored {
                body: Bytes::copy_from_slice(body),
                etag,
                content_type: None,
                meta: meta
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
        );
    }

    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.lock()
            .buckets
            .get(bucket)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// `v`, after `delay`: the answer of a request already carried out.
    fn answer<'a, T: Send + 'a>(&'a self, v: T) -> BoxFuture<'a, T> {
        Box::pin(async move {
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            v
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn etag(&self, s: &mut State, body: &[u8]) -> String {
        s.seq += 1;
        if self.opaque_etags {
            return format!("\"{:x}-1\"", s.seq);
        }
        // FNV-1a: a content hash, as an MD5 ETag is.
        let h = body.iter().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100000001b3)
        });
        format!("\"{h:016x}\"")
    }

    fn error(
        &self,
        request: &'static str,
        bucket: &str,
        key: Option<&str>,
        code: &str,
        status: Option<u16>,
    ) -> S3Error {
        S3Error {
            request,
            bucket: bucket.into(),
            key: key.map(str::to_string),
            status,
            code: code.into(),
            message: String::new(),
            endpoint: self.name.clone(),
        }
    }

    /// Runs `op` as the S3 client would: attempts until one is answered or
    /// retries run out. Returns the answer and whether an attempt was lost.
    fn attempt<T>(
        &self,
        req: Req,
        request: &'static str,
        bucket: &str,
        key: Option<&str>,
        mut op: impl FnMut(&mut State) -> T,
    ) -> (Result<T, S3Error>, bool) {
        let mut unanswered = false;
        let mut tries = 0;
        loop {
            let mut s = self.lock();
            *s.requests.entry(req).or_default() += 1;
            let fault = s
                .faults
                .iter()
                .position(|(r, _)| *r == req)
                .and_then(|i| s.faults.remove(i))
                .map(|(_, f)| f);
            if !s.buckets.contains_key(bucket) {
                return (
                    Err(self.error(request, bucket, key, "NoSuchBucket", Some(404))),
                    unanswered,
                );
            }
            let failure = match fault {
                None | Some(Fault::Ok) => return (Ok(op(&mut s)), unanswered),
                Some(Fault::LostAnswer) => {
                    let _ = op(&mut s);
                    unanswered = true;
                    self.error(request, bucket, key, "Timeout", None)
                }
                Some(Fault::Unavailable) => {
                    unanswered = true;
                    self.error(request, bucket, key, "ServiceUnavailable", Some(503))
                }
                Some(Fault::Refused) => self.error(request, bucket, key, "ConnectionFailed", None),
            };
            if tries >= self.retries {
                return (Err(failure), unanswered);
            }
            tries += 1;
        }
    }
}

fn entry(key: &str, o: &Stored) -> ObjectEntry {
    ObjectEntry {
        key: key.to_string(),
        size: o.body.len() as u64,
        last_modified: Some("2026-01-01 00:00:00".into()),
        etag: o.etag.clone(),
    }
}

fn head(o: &Stored) -> ObjectHead {
    let mut meta = o.meta.clone();
    meta.sort();
    ObjectHead {
        content_type: o.content_type.clone(),
        meta,
    }
}

impl Store for InMemory {
    fn endpoint(&self) -> &str {
        &self.name
    }

    fn list_page<'a>(
        &'a self,
        bucket: &'a str,
        req: ListRequest,
    ) -> BoxFuture<'a, Result<Page, S3Error>> {
        let r = self.attempt(Req::List, "ListObjectsV2", bucket, Some(&req.prefix), |s| {
            // The token is the last key of the previous page.
            let after = req.token.clone().or(req.start_after.clone());
            let objects = &s.buckets[bucket];
            let mut it = objects
                .iter()
                .filter(|(k, _)| k.starts_with(&req.prefix))
                .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a));
            let page: Vec<ObjectEntry> = it
                .by_ref()
                .take(req.max_keys.max(1) as usize)
                .map(|(k, o)| entry(k, o))
                .collect();
            let more = it.next().is_some();
            let token = more.then(|| page.last().map(|e| e.key.clone())).flatten();
            (page, token)
        });
        self.answer(r.0)
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        max_body: u64,
    ) -> BoxFuture<'a, Result<Option<Object>, S3Error>> {
        let r = self.attempt(Req::Get, "GetObject", bucket, Some(key), |s| {
            s.buckets[bucket].get(key).map(|o| {
                let over = o.body.len() as u64 > max_body;
                Object {
                    entry: entry(key, o),
                    head: head(o),
                    body: if over { Bytes::new() } else { o.body.clone() },
                    oversize: over.then_some(o.body.len() as u64),
                }
            })
        });
        self.answer(r.0)
    }

    fn head<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<(ObjectEntry, ObjectHead)>, S3Error>> {
        let r = self.attempt(Req::Head, "HeadObject", bucket, Some(key), |s| {
            s.buckets[bucket].get(key).map(|o| (entry(key, o), head(o)))
        });
        self.answer(r.0)
    }

    fn put<'a>(&'a self, bucket: &'a str, req: PutRequest<'a>) -> BoxFuture<'a, PutAnswer> {
        let (result, unanswered) =
            self.attempt(Req::Put, "PutObject", bucket, Some(req.key), |s| {
                let current = s.buckets[bucket].get(req.key).map(|o| o.etag.clone());
                if !self.ignores_conditions {
                    match (&req.cond, &current) {
                        (Cond::IfNoneMatch, Some(_)) => return PutOutcome::PreconditionFailed,
                        (Cond::IfMatch(_), None) => return PutOutcome::Missing,
                        (Cond::IfMatch(want), Some(have)) if want != have => {
                            return PutOutcome::PreconditionFailed
                        }
                        _ => {}
                    }
                }
                let etag = self.etag(s, &req.body);
                let mut meta: Vec<(String, String)> = req
                    .meta
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect();
                meta.sort();
                let o = Stored {
                    body: Bytes::from(req.body.clone()),
                    etag: etag.clone(),
                    content_type: req.content_type.clone(),
                    meta,
                };
                if let Some(b) = s.buckets.get_mut(bucket) {
                    b.insert(req.key.to_string(), o);
                }
                PutOutcome::Written(etag)
            });
        self.answer(PutAnswer { result, unanswered })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), S3Error>> {
        let r = self.attempt(Req::Delete, "DeleteObject", bucket, Some(key), |s| {
            if let Some(b) = s.buckets.get_mut(bucket) {
                b.remove(key);
            }
        });
        self.answer(r.0)
    }

    fn delete_batch<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<(), S3Error>> {
        let first = keys.first().map(|k| k.as_str());
        let r = self.attempt(Req::Delete, "DeleteObjects", bucket, first, |s| {
            if let Some(b) = s.buckets.get_mut(bucket) {
                for k in keys {
                    b.remove(k);
                }
            }
        });
        self.answer(r.0)
    }
}
