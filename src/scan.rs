//! Full-table scans: LIST pages pipelined with up to `window` concurrent
//! GETs (or HEADs) of the listed objects. The lister runs one page ahead of
//! the fetchers; rows come out in key order through a small channel, so memory
//! is bounded by the window whatever the table size. Dropping the `Scan`
//! stops everything it started.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::s3client::{Object, ObjectEntry, ObjectHead, S3Error, S3};
use crate::schema::Fetch;

/// LIST page size (S3's maximum).
pub const PAGE: i32 = 1000;

/// One listed object with what was fetched for it.
#[derive(Debug)]
pub enum ScanItem {
    Listed(ObjectEntry),
    Headed(ObjectEntry, ObjectHead),
    Got(Object),
}

pub enum Next {
    Row(ScanItem),
    End,
    /// Nothing arrived within the wait; ask again.
    Pending,
    Failed(S3Error),
}

pub struct Scan {
    rx: mpsc::Receiver<Result<ScanItem, S3Error>>,
    task: JoinHandle<()>,
    rt: Handle,
}

/// Aborts a task when dropped (the lister must not outlive its scan).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Scan {
    pub fn start(
        rt: &Handle,
        s3: Arc<S3>,
        bucket: String,
        prefix: String,
        fetch: Fetch,
        window: usize,
    ) -> Scan {
        let window = window.max(1);
        // Rows waiting for the consumer: small, the window does the prefetching.
        let (tx, rx) = mpsc::channel(window.min(64));
        let task = rt.spawn(async move {
            // One page of entries ahead of the fetchers.
            let (etx, erx) = mpsc::channel::<Result<ObjectEntry, S3Error>>(PAGE as usize);
            let lister = {
                let s3 = s3.clone();
                let bucket = bucket.clone();
                AbortOnDrop(tokio::spawn(async move {
                    let mut token = None;
                    loop {
                        match s3
                            .list_page(&bucket, &prefix, token.take(), Some(PAGE))
                            .await
                        {
                            Ok((entries, next)) => {
                                for e in entries {
                                    if etx.send(Ok(e)).await.is_err() {
                                        return;
                                    }
                                }
                                match next {
                                    Some(t) => token = Some(t),
                                    None => return,
                                }
                            }
                            Err(e) => {
                                let _ = etx.send(Err(e)).await;
                                return;
                            }
                        }
                    }
                }))
            };
            let entries =
                stream::unfold(
                    erx,
                    |mut erx| async move { erx.recv().await.map(|e| (e, erx)) },
                );
            let fetched = entries
                .map(|entry| {
                    let s3 = s3.clone();
                    let bucket = bucket.clone();
                    async move { fetch_one(&s3, &bucket, fetch, entry?).await }
                })
                .buffered(window);
            futures_util::pin_mut!(fetched);
            while let Some(item) = fetched.next().await {
                let item = match item {
                    Ok(Some(i)) => Ok(i),
                    // Deleted between LIST and GET: not a row any more.
                    Ok(None) => continue,
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
            drop(lister);
        });
        Scan {
            rx,
            task,
            rt: rt.clone(),
        }
    }

    /// The next row, waiting at most `wait`.
    pub fn next(&mut self, wait: Duration) -> Next {
        let rx = &mut self.rx;
        match self
            .rt
            .block_on(async { tokio::time::timeout(wait, rx.recv()).await })
        {
            Err(_) => Next::Pending,
            Ok(None) => Next::End,
            Ok(Some(Ok(item))) => Next::Row(item),
            Ok(Some(Err(e))) => Next::Failed(e),
        }
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fetch_one(
    s3: &S3,
    bucket: &str,
    fetch: Fetch,
    entry: ObjectEntry,
) -> Result<Option<ScanItem>, S3Error> {
    Ok(match fetch {
        Fetch::ListOnly => Some(ScanItem::Listed(entry)),
        Fetch::Head => s3
            .head(bucket, &entry.key)
            .await?
            .map(|(e, h)| ScanItem::Headed(e, h)),
        Fetch::Get => s3.get(bucket, &entry.key).await?.map(ScanItem::Got),
    })
}
