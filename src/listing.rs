//! The one paginated LIST stream. Every consumer of a listing — scans, key
//! ranges, counts, TRUNCATE, DROP, the location checks — pages through it,
//! so the rules about what a store may return live here and nowhere else:
//!
//! - a key outside the prefix asked for, or not after the previous key (or
//!   the StartAfter), is dropped: a buggy or hostile endpoint must never make
//!   the engine show, delete or copy an object that is not the table's;
//! - a page with more keys than max-keys asked for is an error;
//! - a continuation that does not advance (the same token again, or too many
//!   pages in a row without a new key) is an error, not an endless loop.

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use crate::store::PAGE;
use crate::store::{ListRequest, ObjectEntry, Page, S3Error, Store};

/// Pages in a row that may bring no new key before the listing is declared
/// stuck. S3 itself never sends an empty truncated page without a delimiter;
/// a few are tolerated for stores that do.
const MAX_PAGES_WITHOUT_PROGRESS: u32 = 16;

/// Where pages come from: a bucket of an S3 store, or a fake in tests.
pub trait ListSource: Send + Sync + 'static {
    fn list(&self, req: ListRequest) -> BoxFuture<'_, Result<Page, S3Error>>;
    /// Bucket and endpoint, for the errors this module raises.
    fn place(&self) -> (String, String);
}

/// A bucket of a store (and, for the scans that GET from it, the most bytes
/// one object's body may have).
pub struct Bucket {
    pub store: Arc<dyn Store>,
    pub bucket: String,
    pub max_body: u64,
    /// A scan of this bucket may take rows from the row cache
    /// (`rowcache`: only scans that read no metadata column).
    pub row_cache: bool,
}

impl ListSource for Bucket {
    fn list(&self, req: ListRequest) -> BoxFuture<'_, Result<Page, S3Error>> {
        self.store.list_page(&self.bucket, req)
    }

    fn place(&self) -> (String, String) {
        (self.bucket.clone(), self.store.endpoint().to_string())
    }
}

/// The state of one listing: where it is, what it has seen.
#[derive(Debug)]
pub struct Listing {
    prefix: String,
    start_after: Option<String>,
    max_keys: i32,
    token: Option<String>,
    /// The greatest key handed out so far.
    last_key: Option<String>,
    started: bool,
    done: bool,
    pages_without_progress: u32,
    /// Keys the store listed that were not the listing's (outside the prefix,
    /// or out of order).
    pub ignored: u64,
}

impl Listing {
    pub fn new(prefix: &str, start_after: Option<String>, max_keys: i32) -> Listing {
        Listing {
            prefix: prefix.to_string(),
            start_after,
            max_keys: max_keys.max(1),
            token: None,
            last_key: None,
            started: false,
            done: false,
            pages_without_progress: 0,
            ignored: 0,
        }
    }

    /// Whether the last page was the last one.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Every key under `prefix`, in pages of up to 1000.
    pub fn all(prefix: &str) -> Listing {
        Listing::new(prefix, None, PAGE)
    }

    fn invalid(&self, src: &dyn ListSource, message: String) -> S3Error {
        let (bucket, endpoint) = src.place();
        S3Error {
            request: "ListObjectsV2",
            bucket,
            key: Some(self.prefix.clone()),
            status: None,
            code: "InvalidListing".into(),
            message,
            endpoint,
        }
    }

    /// The next page of keys (possibly empty), or `None` after the last one.
    pub async fn next_page(
        &mut self,
        src: &dyn ListSource,
    ) -> Result<Option<Vec<ObjectEntry>>, S3Error> {
        if self.done {
            return Ok(None);
        }
        let req = ListRequest {
            prefix: self.prefix.clone(),
            token: self.token.clone(),
            start_after: if self.started {
                None
            } else {
                self.start_after.clone()
            },
            max_keys: self.max_keys,
        };
        let (entries, next) = src.list(req).await?;
        self.started = true;
        if entries.len() > self.max_keys as usize {
            self.done = true;
            return Err(self.invalid(
                src,
                format!(
                    "the store returned {} keys in one page where at most {} were asked for",
                    entries.len(),
                    self.max_keys
                ),
            ));
        }
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries {
            let floor = self.last_key.as_deref().or(self.start_after.as_deref());
            if !e.key.starts_with(&self.prefix) || floor.is_some_and(|f| e.key.as_str() <= f) {
                self.ignored += 1;
                continue;
            }
            self.last_key = Some(e.key.clone());
            kept.push(e);
        }
        match next {
            None => self.done = true,
            Some(t) => {
                if self.token.as_deref() == Some(t.as_str()) {
                    self.done = true;
                    return Err(self.invalid(
                        src,
                        "the store answered the same continuation token again: \
                         the listing does not advance"
                            .into(),
                    ));
                }
                self.pages_without_progress = if kept.is_empty() {
                    self.pages_without_progress + 1
                } else {
                    0
                };
                if self.pages_without_progress > MAX_PAGES_WITHOUT_PROGRESS {
                    self.done = true;
                    return Err(self.invalid(
                        src,
                        format!(
                            "{} pages in a row brought no new key: the listing does not advance",
                            self.pages_without_progress
                        ),
                    ));
                }
                self.token = Some(t);
            }
        }
        Ok(Some(kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::test_runtime as rt;
    use std::sync::Mutex;

    fn entry(key: &str) -> ObjectEntry {
        ObjectEntry {
            key: key.into(),
            size: 1,
            last_modified: None,
            etag: "\"e\"".into(),
        }
    }

    /// Answers a scripted page for each request and records the requests.
    struct Scripted {
        pages: Mutex<Vec<Page>>,
        seen: Mutex<Vec<ListRequest>>,
        /// Once the script is used up: this page forever.
        forever: Option<Page>,
    }

    impl Scripted {
        fn new(pages: Vec<(Vec<&str>, Option<&str>)>) -> Scripted {
            let mut pages: Vec<Page> = pages
                .into_iter()
                .map(|(keys, next)| {
                    (
                        keys.into_iter().map(entry).collect(),
                        next.map(str::to_string),
                    )
                })
                .collect();
            pages.reverse();
            Scripted {
                pages: Mutex::new(pages),
                seen: Mutex::new(Vec::new()),
                forever: None,
            }
        }
    }

    impl ListSource for Scripted {
        fn list(&self, req: ListRequest) -> BoxFuture<'_, Result<Page, S3Error>> {
            self.seen.lock().unwrap().push(req);
            let page = self.pages.lock().unwrap().pop();
            let page = page
                .or_else(|| self.forever.clone())
                .expect("no more pages");
            Box::pin(async move { Ok(page) })
        }

        fn place(&self) -> (String, String) {
            ("bk".into(), "fake".into())
        }
    }

    fn collect(src: &dyn ListSource, mut l: Listing) -> Result<Vec<String>, Box<S3Error>> {
        rt().block_on(async {
            let mut keys = Vec::new();
            while let Some(page) = l.next_page(src).await? {
                keys.extend(page.into_iter().map(|e| e.key));
            }
            Ok(keys)
        })
    }

    #[test]
    fn pages_follow_tokens_and_start_after_goes_only_on_the_first_request() {
        let src = Scripted::new(vec![
            (vec!["t/a", "t/b"], Some("tok1")),
            (vec!["t/c"], None),
        ]);
        let keys = collect(&src, Listing::new("t/", Some("t/".into()), 2)).unwrap();
        assert_eq!(keys, ["t/a", "t/b", "t/c"]);
        let seen = src.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].start_after.as_deref(), Some("t/"));
        assert_eq!(seen[0].token, None);
        assert_eq!(seen[1].start_after, None);
        assert_eq!(seen[1].token.as_deref(), Some("tok1"));
        assert!(seen.iter().all(|r| r.prefix == "t/" && r.max_keys == 2));
    }

    #[test]
    fn keys_outside_the_prefix_or_out_of_order_are_dropped() {
        // A store that lists other tables' keys, a key shorter than the
        // prefix, the prefix of a neighbour ("t/" vs "t2/"), and a key that
        // goes backwards.
        let src = Scripted::new(vec![
            (vec!["t", "other/x", "t/a", "t2/x", "t/c"], Some("1")),
            (vec!["t/b", "", "t/d", "../t/e"], None),
        ]);
        let mut l = Listing::all("t/");
        let keys = rt().block_on(async {
            let mut keys = Vec::new();
            while let Some(page) = l.next_page(&src).await.unwrap() {
                keys.extend(page.into_iter().map(|e| e.key));
            }
            keys
        });
        assert_eq!(keys, ["t/a", "t/c", "t/d"]);
        assert_eq!(l.ignored, 6);
    }

    #[test]
    fn keys_not_after_start_after_are_dropped() {
        let src = Scripted::new(vec![(vec!["t/a", "t/m", "t/n"], None)]);
        let keys = collect(&src, Listing::new("t/", Some("t/m".into()), 10)).unwrap();
        assert_eq!(keys, ["t/n"]);
    }

    #[test]
    fn the_same_token_again_is_an_error() {
        let src = Scripted::new(vec![
            (vec!["t/a"], Some("same")),
            (vec!["t/b"], Some("same")),
        ]);
        let e = collect(&src, Listing::all("t/")).unwrap_err();
        assert_eq!(e.code, "InvalidListing");
        assert!(e.message.contains("does not advance"), "{e}");
        assert_eq!(e.bucket, "bk");
        assert_eq!(src.seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn pages_that_repeat_old_keys_with_fresh_tokens_end_in_an_error() {
        let mut src = Scripted::new(vec![]);
        // Every answer is the same page with a new token (the Mutex makes
        // each token distinct).
        src.forever = Some((vec![entry("t/a")], Some("x".into())));
        struct Fresh(Scripted, Mutex<u64>);
        impl ListSource for Fresh {
            fn list(&self, req: ListRequest) -> BoxFuture<'_, Result<Page, S3Error>> {
                let mut n = self.1.lock().unwrap();
                *n += 1;
                let tok = format!("tok{n}");
                let fut = self.0.list(req);
                Box::pin(async move { fut.await.map(|(e, _)| (e, Some(tok))) })
            }
            fn place(&self) -> (String, String) {
                self.0.place()
            }
        }
        let src = Fresh(src, Mutex::new(0));
        let e = collect(&src, Listing::all("t/")).unwrap_err();
        assert!(e.message.contains("brought no new key"), "{e}");
        let requests = src.0.seen.lock().unwrap().len() as u32;
        assert_eq!(requests, MAX_PAGES_WITHOUT_PROGRESS + 2);
    }

    #[test]
    fn a_page_larger_than_asked_for_is_an_error() {
        let src = Scripted::new(vec![(vec!["t/a", "t/b", "t/c"], None)]);
        let e = collect(&src, Listing::new("t/", None, 2)).unwrap_err();
        assert!(e.message.contains("3 keys in one page"), "{e}");
    }

    #[test]
    fn empty_prefix_is_the_whole_bucket() {
        let src = Scripted::new(vec![(vec!["a", "b/c", "z"], None)]);
        assert_eq!(collect(&src, Listing::all("")).unwrap(), ["a", "b/c", "z"]);
    }
}
