//! The one place that decides a write: which condition a PUT carries (or the
//! HEAD that stands in for it on a store that ignores conditions), and what
//! the store's answers mean — written, conflict, or an error that says the
//! outcome is unknown. INSERT, the bulk INSERT's tasks, UPDATE, a key change
//! and the catalogue all write through `write`.
//!
//! Conditional writes: AWS S3, MinIO and moto honour If-None-Match/If-Match
//! on PUT; Garage 2.x accepts the headers and ignores them, which would turn
//! every INSERT of an existing key into a silent overwrite. The first write
//! to a bucket probes it once (PUT a probe object twice with If-None-Match: *,
//! then DELETE it: 3 requests per bucket per server start); a store that lets
//! the second PUT through gets HEAD-then-PUT instead (docs/DESIGN.md,
//! "Conditional writes").
//!
//! Lost answers: every PUT carries an identity of its own (user metadata
//! `awss3-write-id`). When an attempt got no answer (timeout, reset
//! connection, 5xx) the store may have written it all the same, and a retry
//! then meets that earlier attempt as a failed precondition. So a failed
//! precondition after such an attempt is settled with a HEAD: if the stored
//! object carries this write's identity the write is ours and done; any other
//! object (another writer's, even with the same body) is the conflict. When
//! retries run out after such an attempt, the error says the outcome is
//! unknown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::{Cond, PutOutcome, PutRequest, S3Error, Store};

/// The user metadata that names the write which stored an object.
pub const WRITE_ID_META: &str = "awss3-write-id";

/// What the object at the key must be for the write to go ahead.
#[derive(Clone, Copy, Debug)]
pub enum Expect<'a> {
    /// No object (INSERT).
    Absent,
    /// The object this statement read, by its ETag (UPDATE).
    ETag(&'a str),
    /// An object whose user metadata `name` is `value` (a catalogue entry of
    /// a known version).
    Meta { name: &'a str, value: &'a str },
}

/// What to store.
#[derive(Clone, Debug, Default)]
pub struct NewObject {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    /// User metadata (the write's identity is added to it).
    pub meta: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Stored; the new ETag.
    Written(String),
    /// The expectation did not hold: nothing was written.
    Conflict,
}

/// Writes `key` if the object there is what `expect` says.
pub async fn write(
    store: &dyn Store,
    bucket: &str,
    key: &str,
    obj: NewObject,
    expect: Expect<'_>,
) -> Result<Outcome, S3Error> {
    let (honoured, _) = honoured(store, bucket).await?;
    // Where the HEAD stands in for the condition, this server's writers of
    // one key take turns from the HEAD to the PUT's answer: two connections
    // of one server never both win a key (other servers still can).
    let _turn = match honoured {
        true => None,
        false => Some(KeyTurn::take(store.endpoint(), bucket, key).await),
    };
    let cond = match expect {
        Expect::Absent if honoured => Cond::IfNoneMatch,
        Expect::ETag(etag) if honoured => Cond::IfMatch(etag.to_string()),
        // Where conditions are ignored, a HEAD stands in: one round trip
        // during which another writer can still come between (the note
        // `ignored_conditions_note` tells the DBA).
        Expect::Absent => match store.head(bucket, key).await? {
            Some(_) => return Ok(Outcome::Conflict),
            None => Cond::None,
        },
        Expect::ETag(etag) => match store.head(bucket, key).await? {
            Some((e, _)) if e.etag == etag => Cond::None,
            _ => return Ok(Outcome::Conflict),
        },
        Expect::Meta { name, value } => match store.head(bucket, key).await? {
            Some((e, h)) if h.meta.iter().any(|(k, v)| k == name && v == value) => {
                if honoured {
                    Cond::IfMatch(e.etag)
                } else {
                    Cond::None
                }
            }
            _ => return Ok(Outcome::Conflict),
        },
    };
    put_identified(store, bucket, key, obj, cond).await
}

type KeyId = (String, String, String);

/// The keys this server is writing through a HEAD stand-in, each with its
/// queue of writers.
static TURNS: Mutex<Option<HashMap<KeyId, Arc<tokio::sync::Mutex<()>>>>> = Mutex::new(None);

fn turns<T>(f: impl FnOnce(&mut HashMap<KeyId, Arc<tokio::sync::Mutex<()>>>) -> T) -> T {
    let mut guard = TURNS.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// One writer's turn at a key; the key's entry goes when nobody waits.
struct KeyTurn {
    id: KeyId,
    queue: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyTurn {
    async fn take(endpoint: &str, bucket: &str, key: &str) -> KeyTurn {
        let id = (endpoint.to_string(), bucket.to_string(), key.to_string());
        let queue = turns(|t| t.entry(id.clone()).or_default().clone());
        let guard = Some(queue.clone().lock_owned().await);
        KeyTurn { id, queue, guard }
    }
}

impl Drop for KeyTurn {
    fn drop(&mut self) {
        self.guard.take();
        // Clones are made under the map's lock: 2 = the map's and ours.
        turns(|t| {
            if Arc::strong_count(&self.queue) == 2 {
                t.remove(&self.id);
            }
        });
    }
}

/// Keys of `endpoint` with a writer's turn open (tests).
#[cfg(test)]
fn held_keys(endpoint: &str) -> usize {
    turns(|t| t.keys().filter(|k| k.0 == endpoint).count())
}

/// Whether the object at `key` is still the one with `etag` (a key-changing
/// UPDATE removes the old object only then: another writer's change to it
/// must not vanish).
pub async fn unchanged(
    store: &dyn Store,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<bool, S3Error> {
    Ok(matches!(store.head(bucket, key).await?, Some((e, _)) if e.etag == etag))
}

/// One PUT under `cond`, carrying a new identity, and what it came to.
async fn put_identified(
    store: &dyn Store,
    bucket: &str,
    key: &str,
    obj: NewObject,
    cond: Cond,
) -> Result<Outcome, S3Error> {
    let id = new_write_id();
    let mut meta = obj.meta;
    meta.retain(|(k, _)| k != WRITE_ID_META);
    meta.push((WRITE_ID_META.to_string(), id.clone()));
    let answer = store
        .put(
            bucket,
            PutRequest {
                key,
                body: obj.body,
                content_type: obj.content_type,
                meta,
                cond,
            },
        )
        .await;
    match answer.result {
        Ok(PutOutcome::Written(etag)) => Ok(Outcome::Written(etag)),
        Ok(PutOutcome::PreconditionFailed | PutOutcome::Missing) if !answer.unanswered => {
            Ok(Outcome::Conflict)
        }
        // Refused after an attempt that got no answer: ours, if the object
        // there carries this write's identity.
        Ok(_) => match store.head(bucket, key).await {
            Ok(stored) => Ok(settle(stored.map(|(e, h)| (e.etag, h.meta)), &id)),
            Err(e) => Err(unknown(e)),
        },
        Err(e) if answer.unanswered => Err(unknown(e)),
        Err(e) => Err(e),
    }
}

/// A refused PUT after a lost answer: written by us when the stored object
/// (ETag, user metadata) carries our identity, a conflict otherwise.
fn settle(stored: Option<(String, Vec<(String, String)>)>, id: &str) -> Outcome {
    match stored {
        Some((etag, meta)) if meta.iter().any(|(k, v)| k == WRITE_ID_META && v == id) => {
            Outcome::Written(etag)
        }
        _ => Outcome::Conflict,
    }
}

fn unknown(mut e: S3Error) -> S3Error {
    e.message = format!(
        "{} (an earlier attempt got no answer: whether the object now holds this \
         statement's value is unknown)",
        e.message
    );
    e
}

/// An identity for one PUT: this process, this moment, a sequence number
/// (unique among the servers sharing a bucket unless two share a pid and a
/// nanosecond and a sequence number).
pub fn new_write_id() -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{nanos:x}-{seq:x}", std::process::id())
}

// ---------------------------------------------------------------- the probe

static KNOWN: Mutex<Option<HashMap<(String, String), bool>>> = Mutex::new(None);

fn lookup(endpoint: &str, bucket: &str) -> Option<bool> {
    let guard = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .as_ref()?
        .get(&(endpoint.to_string(), bucket.to_string()))
        .copied()
}

fn remember(endpoint: &str, bucket: &str, honoured: bool) {
    let mut guard = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .get_or_insert_with(HashMap::new)
        .insert((endpoint.to_string(), bucket.to_string()), honoured);
}

/// The probe object's key: at the bucket root, unique per server and moment.
fn probe_key() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(".awss3-probe-{}-{nanos}", std::process::id())
}

/// Whether the store honours conditional writes on `bucket`:
/// `Ok((honoured, newly_probed))`. A failed probe is not remembered.
pub async fn honoured(store: &dyn Store, bucket: &str) -> Result<(bool, bool), S3Error> {
    if let Some(h) = lookup(store.endpoint(), bucket) {
        return Ok((h, false));
    }
    let key = probe_key();
    // Two different bodies and, like every write, two identities: a lost
    // answer to the second PUT followed by a refused retry is settled by
    // identity, so the first PUT's object cannot pass for the second's (one
    // transient error would otherwise turn atomic writes off until restart).
    let probe = |body: &[u8]| NewObject {
        body: body.to_vec(),
        ..NewObject::default()
    };
    put_identified(store, bucket, &key, probe(b"1"), Cond::IfNoneMatch).await?;
    let second = put_identified(store, bucket, &key, probe(b"2"), Cond::IfNoneMatch).await;
    let cleanup = store.delete(bucket, &key).await;
    let honoured = matches!(second?, Outcome::Conflict);
    cleanup?;
    remember(store.endpoint(), bucket, honoured);
    Ok((honoured, true))
}

/// Whether a row write is refused: the store ignores conditional writes,
/// the table is shared with other servers, and last-writer-wins was not
/// accepted. (Within one server the writers of a key take turns.)
pub fn unconditional_refused(honoured: bool, shared: bool, last_writer_wins: bool) -> bool {
    !honoured && shared && !last_writer_wins
}

pub fn unconditional_refusal(endpoint: &str, bucket: &str) -> String {
    format!(
        "{endpoint} ignores conditional writes (If-None-Match, If-Match) on bucket '{bucket}': \
         a write to a table shared with other servers is refused, because two servers could \
         both insert one key or overwrite each other's update; SET GLOBAL \
         awss3_last_writer_wins=ON accepts that (the later write wins)"
    )
}

/// The note a statement gets when its write found the store ignoring
/// conditional writes.
pub fn ignored_conditions_note(endpoint: &str, bucket: &str) -> String {
    format!(
        "AWSS3: {endpoint} ignores conditional writes on bucket '{bucket}'; INSERT checks for \
         duplicate keys with HEAD before PUT, which is not atomic against other writers"
    )
}

#[cfg(test)]
mod tests;
