//! The S3 side of one call into the core: the runtime, the client and the
//! settings in force now (a CREATE SERVER's own endpoint and keys for its
//! tables), how to learn that the statement was killed, and the requests
//! that work on every object of a location (through the one guarded
//! listing): count, first key, delete all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::keycodec;
use crate::listing::{self, Listing};
use crate::location::{Location, Server};
use crate::runtime::{self, Interrupt};
use crate::s3client::S3;
use crate::settings::{self, Settings};
use crate::store::{ObjectEntry, Store};

/// The S3 side of one call: runtime, client and settings in force now, and
/// how to learn that the statement was killed.
pub struct Ctx {
    pub rt: Handle,
    pub s3: Arc<S3>,
    pub settings: Arc<Settings>,
    pub stop: Interrupt,
}

impl Ctx {
    /// `wait`, reporting `progress()` as it goes.
    pub fn wait_reporting<
        T,
        E: Into<Error>,
        F: std::future::Future<Output = std::result::Result<T, E>>,
    >(
        &self,
        fut: F,
        progress: &dyn Fn() -> (u64, u64),
    ) -> Result<T> {
        runtime::wait_reporting(&self.rt, fut, self.stop, Some(progress))?.map_err(Into::into)
    }

    /// Waits for `fut` (see `runtime::wait`: KILL ends the wait).
    pub fn wait<T, E: Into<Error>, F: std::future::Future<Output = std::result::Result<T, E>>>(
        &self,
        fut: F,
    ) -> Result<T> {
        runtime::wait(&self.rt, fut, self.stop)?.map_err(Into::into)
    }

    /// Waits for `fut` whatever KILL says: for the steps that finish a
    /// change already made (or undo it), which must not stop half-way. The
    /// client's request timeout and retries still bound the wait.
    pub fn wait_through_kill<
        T,
        E: Into<Error>,
        F: std::future::Future<Output = std::result::Result<T, E>>,
    >(
        &self,
        fut: F,
    ) -> Result<T> {
        runtime::wait(&self.rt, fut, Interrupt::NONE)?.map_err(Into::into)
    }
}

pub fn ctx(stop: Interrupt) -> Result<Ctx> {
    ctx_for(None, stop)
}

/// The runtime, client and settings for a table: a CREATE SERVER's endpoint,
/// region and credentials replace the server-wide ones (and only for that
/// server's tables).
pub fn ctx_for(server: Option<&Server>, stop: Interrupt) -> Result<Ctx> {
    let rt = runtime::handle()?;
    let (settings, generation) = settings::current();
    let settings = match server {
        None => settings,
        Some(srv) => Arc::new(Settings {
            endpoint: srv.endpoint.trim().trim_end_matches('/').to_string(),
            region: if srv.region.is_empty() {
                settings.region.clone()
            } else {
                srv.region.clone()
            },
            access_key_id: srv.access_key_id.clone(),
            secret_access_key: srv.secret_access_key.clone(),
            session_token: String::new(),
            ..(*settings).clone()
        }),
    };
    let s3 = crate::s3client::client_for(&settings, generation, &rt);
    Ok(Ctx {
        rt,
        s3,
        settings,
        stop,
    })
}

/// Lists every object under `loc` page by page (through the one guarded
/// listing), handing each non-empty page to `each`.
pub async fn for_each_page<F, Fut>(s3: &Arc<S3>, loc: &Location, mut each: F) -> Result<u64>
where
    F: FnMut(Vec<ObjectEntry>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let src = bucket(s3, loc);
    let mut listing = Listing::all(&loc.prefix);
    let mut n = 0u64;
    while let Some(entries) = listing.next_page(&src).await? {
        n += entries.len() as u64;
        if !entries.is_empty() {
            each(entries).await?;
        }
    }
    Ok(n)
}

pub fn bucket(s3: &Arc<S3>, loc: &Location) -> listing::Bucket {
    listing::Bucket {
        store: s3.clone(),
        bucket: loc.bucket.clone(),
        max_body: u64::MAX,
        row_cache: false,
    }
}

/// Deletes every object under `loc`: LISTs + one DeleteObjects per page.
pub async fn delete_all(s3: &Arc<S3>, loc: &Location) -> Result<u64> {
    delete_all_counted(s3, loc, &AtomicU64::new(0)).await
}

/// `delete_all`, adding the objects deleted so far to `done` (progress).
pub async fn delete_all_counted(s3: &Arc<S3>, loc: &Location, done: &AtomicU64) -> Result<u64> {
    for_each_page(s3, loc, |entries| async move {
        let keys: Vec<String> = entries.into_iter().map(|e| e.key).collect();
        s3.delete_batch(&loc.bucket, &keys)
            .await
            .map_err(Error::from)?;
        done.fetch_add(keys.len() as u64, Ordering::Relaxed);
        Ok(())
    })
    .await
}

/// Deletes the objects under `loc` whose user metadata `name` is `value`
/// (the objects one writer marked, and no other's): LISTs, one HEAD per
/// object (8 at a time), one DeleteObjects per page of marked ones.
pub async fn delete_marked(s3: &Arc<S3>, loc: &Location, name: &str, value: &str) -> Result<u64> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let deleted = AtomicU64::new(0);
    let deleted_ref = &deleted;
    for_each_page(s3, loc, |entries| async move {
        let marked: Vec<String> = stream::iter(entries)
            .map(|e| async move {
                let head = s3.head(&loc.bucket, &e.key).await?;
                let ours =
                    head.is_some_and(|(_, h)| h.meta.iter().any(|(k, v)| k == name && v == value));
                Ok::<_, Error>(ours.then_some(e.key))
            })
            .buffer_unordered(8)
            .try_filter_map(|k| async move { Ok(k) })
            .try_collect()
            .await?;
        if !marked.is_empty() {
            s3.delete_batch(&loc.bucket, &marked)
                .await
                .map_err(Error::from)?;
            deleted_ref.fetch_add(marked.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    })
    .await?;
    Ok(deleted.into_inner())
}

/// The first key under `loc`, if any (one LIST of one key): whether the
/// location is reachable, and whether it is empty.
pub async fn first_key(s3: &Arc<S3>, loc: &Location) -> Result<Option<String>> {
    first_page(s3, loc, 1).await.map(|(first, _)| first)
}

/// The first key under `loc` and the row estimate one LIST page of up to
/// `max_keys` gives (exact when it is the only page, else at least its size).
pub async fn first_page(
    s3: &Arc<S3>,
    loc: &Location,
    max_keys: i32,
) -> Result<(Option<String>, u64)> {
    let mut listing = Listing::new(&loc.prefix, None, max_keys);
    let page = listing.next_page(&bucket(s3, loc)).await.map_err(|e| {
        Error::Engine(format!(
            "the table's location {} is not usable: {e}",
            loc.url()
        ))
    })?;
    let page = page.unwrap_or_default();
    let rows = page
        .iter()
        .filter(|e| keycodec::key_of(&loc.prefix, &e.key).is_some())
        .count() as u64;
    let rows = if listing.is_done() {
        rows
    } else {
        rows.max(page.len() as u64)
    };
    Ok((page.into_iter().next().map(|e| e.key), rows))
}
