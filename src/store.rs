//! The object store the engine needs, as one small trait: a LIST page, GET,
//! HEAD, PUT with a condition, DELETE. The S3 client (`s3client`) is one
//! implementation; an in-memory store with injected faults (`memstore`,
//! tests only) is the other, and one conformance suite (`conformance`) runs
//! against both, and against moto and Garage (`make conformance`). What a
//! write's answer means is decided above this trait, in `write`.

use std::fmt;

use bytes::Bytes;
use futures_util::future::BoxFuture;

/// LIST page size (S3's maximum).
pub const PAGE: i32 = 1000;

/// A failed request to the store (after retries), or an answer the engine
/// refuses: names the request, bucket, key, S3 error code and endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Error {
    pub request: &'static str,
    pub bucket: String,
    pub key: Option<String>,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// S3 error code (`NoSuchBucket`, `AccessDenied`, ...) or a transport class.
    pub code: String,
    pub message: String,
    pub endpoint: String,
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3 {} s3://{}/", self.request, self.bucket)?;
        if let Some(k) = &self.key {
            write!(f, "{k}")?;
        }
        write!(f, " failed: {}", self.code)?;
        if let Some(s) = self.status {
            write!(f, " (HTTP {s})")?;
        }
        write!(f, " at {}", self.endpoint)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// One entry of a LIST page: everything a key-only scan shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    /// `YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC.
    pub last_modified: Option<String>,
    /// As S3 sends it, quotes included (what If-Match wants).
    pub etag: String,
}

/// What HEAD (and GET) add to a LIST entry.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ObjectHead {
    pub content_type: Option<String>,
    /// User metadata, lowercase names, sorted.
    pub meta: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct Object {
    pub entry: ObjectEntry,
    pub head: ObjectHead,
    pub body: Bytes,
    /// The body was longer than a row can hold: this many bytes or more
    /// (and `body` is empty: it was not read).
    pub oversize: Option<u64>,
}

/// Precondition of a PUT.
#[derive(Clone, Debug)]
pub enum Cond {
    None,
    /// Only if no object has the key (INSERT).
    IfNoneMatch,
    /// Only if the object still has this ETag (UPDATE).
    IfMatch(String),
}

#[derive(Debug, PartialEq)]
pub enum PutOutcome {
    /// Written; the new ETag.
    Written(String),
    /// The precondition did not hold (412, or 409 for a concurrent conditional write).
    PreconditionFailed,
    /// If-Match on an object that no longer exists.
    Missing,
}

pub struct PutRequest<'a> {
    pub key: &'a str,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub meta: Vec<(String, String)>,
    pub cond: Cond,
}

/// One page's entries and the next page's continuation token.
pub type Page = (Vec<ObjectEntry>, Option<String>);

/// One LIST request.
#[derive(Clone, Debug, PartialEq)]
pub struct ListRequest {
    pub prefix: String,
    pub token: Option<String>,
    /// Only on the first request (the token carries the position after it).
    pub start_after: Option<String>,
    pub max_keys: i32,
}

/// What a PUT got from the store, retries included: the last answer (or the
/// failure), and whether some attempt got no answer at all (a timeout, a
/// connection lost after the request went out, a 5xx): then the store may
/// have written it anyway, and only `write` can tell what the outcome was.
#[derive(Debug)]
pub struct PutAnswer {
    pub result: Result<PutOutcome, S3Error>,
    pub unanswered: bool,
}

/// An S3-protocol object store. Every method is one request as the engine
/// sees it (the implementation may retry it); `None` means no such object.
pub trait Store: Send + Sync {
    /// What identifies the store (its endpoints as configured): the
    /// conditional-write probe is kept per store and bucket.
    fn endpoint(&self) -> &str;

    /// Whose reads these are: the endpoint and the credentials' identity.
    /// The row cache is kept per scope, so a table never reads a body that
    /// only another table's credentials could GET.
    fn cache_scope(&self) -> &str {
        self.endpoint()
    }

    /// One LIST page of up to `req.max_keys` keys under `req.prefix`.
    fn list_page<'a>(
        &'a self,
        bucket: &'a str,
        req: ListRequest,
    ) -> BoxFuture<'a, Result<Page, S3Error>>;

    /// GET; a body over `max_body` bytes is not read (`Object::oversize`).
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        max_body: u64,
    ) -> BoxFuture<'a, Result<Option<Object>, S3Error>>;

    fn head<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<(ObjectEntry, ObjectHead)>, S3Error>>;

    /// PUT under `req.cond`, as the store answered it (see `PutAnswer`).
    fn put<'a>(&'a self, bucket: &'a str, req: PutRequest<'a>) -> BoxFuture<'a, PutAnswer>;

    /// DELETE (no error when there is no such object).
    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), S3Error>>;

    /// DELETE of up to 1000 keys.
    fn delete_batch<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<(), S3Error>>;
}
