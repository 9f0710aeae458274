//! raw-s3: the benchmark's raw S3 client (`make bench`): the requests the
//! engine sends for a case, sent with the same SDK (aws-sdk-s3, rustls) and
//! the same window, with nothing else around them, so engine / raw is the
//! engine's own overhead and not the baseline's (boto3 is CPU-bound at about
//! 2 ms a request).
//!
//! usage: raw-s3 ENDPOINT REGION KEY_ID SECRET BUCKET PREFIX WINDOW CMD [ARG...]
//!   scan            LIST pages (1000 keys), each page's GETs started as it
//!                   arrives, at most WINDOW in flight
//!   keys            LIST only
//!   get FILE        GET the keys in FILE (one per line, under PREFIX), WINDOW at a time
//!   points FILE     GET them one after another
//!   put N BYTES     PUT N objects PREFIX + k%06d (If-None-Match: *), WINDOW at a time
//!   put-head N BYTES  the same as HEAD then plain PUT (a store that ignores conditions)
//!   delete FILE     DELETE the keys in FILE, WINDOW at a time
//!   delete-head FILE  HEAD each key, then DELETE it if found (a DELETE ... IN)
//!   update FILE BYTES  GET each key, then PUT BYTES If-Match its ETag (an
//!                   UPDATE ... IN); keys not found are skipped
//!   update-head FILE BYTES  the same with a HEAD standing in for If-Match
//! Prints one JSON line: {"seconds": S, "objects": N, "bytes": B} (seconds from
//! the first request to the last answer; the client is built before).

use std::sync::Arc;
use std::time::Instant;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use futures_util::stream::{self, StreamExt, TryStreamExt};

type Res<T> = Result<T, String>;

fn usage() -> ! {
    eprintln!("usage: raw-s3 ENDPOINT REGION KEY_ID SECRET BUCKET PREFIX WINDOW CMD [ARG...]");
    std::process::exit(2)
}

async fn client(endpoint: &str, region: &str, key: &str, secret: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(key, secret, None, None, "bench"))
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&conf)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(s3)
}

async fn get(c: &Client, bucket: &str, key: &str) -> Res<u64> {
    let o = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("GET {key}: {e:?}"))?;
    let body = o
        .body
        .collect()
        .await
        .map_err(|e| format!("GET {key} body: {e}"))?;
    Ok(body.into_bytes().len() as u64)
}

/// Every key under `prefix`, page by page, handed to `each` as pages arrive.
async fn list(c: &Client, bucket: &str, prefix: &str) -> Res<Vec<Vec<String>>> {
    let mut pages = vec![];
    let mut token: Option<String> = None;
    loop {
        let r = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| format!("LIST: {e:?}"))?;
        pages.push(
            r.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect(),
        );
        token = r.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(pages);
        }
    }
}

fn keys_of(file: &str, prefix: &str) -> Res<Vec<String>> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| format!("{prefix}{l}"))
        .collect())
}

async fn run(args: &[String]) -> Res<(usize, u64, f64)> {
    if args.len() < 8 {
        usage();
    }
    let c = Arc::new(client(&args[0], &args[1], &args[2], &args[3]).await);
    let (bucket, prefix) = (args[4].clone(), args[5].clone());
    let window: usize = args[6].parse().unwrap_or_else(|_| usage());
    let rest = &args[7..];
    let arg = |i: usize| rest.get(i).cloned().unwrap_or_else(|| usage());
    let t0 = Instant::now();
    let (n, bytes) = match rest[0].as_str() {
        "scan" => {
            // Pages one ahead of the GETs, as the engine lists them.
            let (tx, rx) = tokio::sync::mpsc::channel::<Res<String>>(1000);
            let lister = {
                let (c, bucket, prefix) = (c.clone(), bucket.clone(), prefix.clone());
                tokio::spawn(async move {
                    let mut token: Option<String> = None;
                    loop {
                        let r = c
                            .list_objects_v2()
                            .bucket(&bucket)
                            .prefix(&prefix)
                            .set_continuation_token(token.clone())
                            .send()
                            .await;
                        let r = match r {
                            Ok(r) => r,
                            Err(e) => {
                                let _ = tx.send(Err(format!("LIST: {e:?}"))).await;
                                return;
                            }
                        };
                        for k in r.contents().iter().filter_map(|o| o.key()) {
                            if tx.send(Ok(k.to_string())).await.is_err() {
                                return;
                            }
                        }
                        token = r.next_continuation_token().map(str::to_string);
                        if token.is_none() {
                            return;
                        }
                    }
                })
            };
            let keys = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|k| (k, rx)) });
            let sizes: Vec<u64> = keys
                .map(|k| {
                    let (c, bucket) = (c.clone(), bucket.clone());
                    async move { get(&c, &bucket, &k?).await }
                })
                .buffered(window)
                .try_collect()
                .await?;
            lister.abort();
            (sizes.len(), sizes.iter().sum())
        }
        "keys" => {
            let pages = list(&c, &bucket, &prefix).await?;
            (pages.iter().map(Vec::len).sum(), 0)
        }
        "get" | "points" => {
            let keys = keys_of(&arg(1), &prefix)?;
            let w = if rest[0] == "points" { 1 } else { window };
            let sizes: Vec<u64> = stream::iter(keys)
                .map(|k| {
                    let (c, bucket) = (c.clone(), bucket.clone());
                    async move { get(&c, &bucket, &k).await }
                })
                .buffered(w)
                .try_collect()
                .await?;
            (sizes.len(), sizes.iter().sum())
        }
        "put" | "put-head" => {
            let n: usize = arg(1).parse().unwrap_or_else(|_| usage());
            let size: usize = arg(2).parse().unwrap_or_else(|_| usage());
            let body = bytes::Bytes::from(vec![b'x'; size]);
            let head_first = rest[0] == "put-head";
            stream::iter(0..n)
                .map(|i| {
                    let (c, bucket, body) = (c.clone(), bucket.clone(), body.clone());
                    let key = format!("{prefix}k{i:06}");
                    async move {
                        let mut put = c
                            .put_object()
                            .bucket(&bucket)
                            .key(&key)
                            .body(ByteStream::from(body));
                        if head_first {
                            if exists(&c, &bucket, &key).await?.is_some() {
                                return Err(format!("{key} exists"));
                            }
                        } else {
                            put = put.if_none_match("*");
                        }
                        put.send().await.map_err(|e| format!("PUT {key}: {e:?}"))?;
                        Ok::<u64, String>(size as u64)
                    }
                })
                .buffer_unordered(window)
                .try_fold(
                    (0usize, 0u64),
                    |(n, b), s| async move { Ok((n + 1, b + s)) },
                )
                .await?
        }
        "delete" => {
            let keys = keys_of(&arg(1), &prefix)?;
            let n = keys.len();
            stream::iter(keys)
                .map(|k| {
                    let (c, bucket) = (c.clone(), bucket.clone());
                    async move {
                        c.delete_object()
                            .bucket(&bucket)
                            .key(&k)
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("DELETE {k}: {e:?}"))
                    }
                })
                .buffer_unordered(window)
                .try_collect::<Vec<()>>()
                .await?;
            (n, 0)
        }
        "delete-head" => {
            let keys = keys_of(&arg(1), &prefix)?;
            let found: Vec<bool> = stream::iter(keys)
                .map(|k| {
                    let (c, bucket) = (c.clone(), bucket.clone());
                    async move {
                        if exists(&c, &bucket, &k).await?.is_none() {
                            return Ok(false);
                        }
                        c.delete_object()
                            .bucket(&bucket)
                            .key(&k)
                            .send()
                            .await
                            .map_err(|e| format!("DELETE {k}: {e:?}"))?;
                        Ok::<bool, String>(true)
                    }
                })
                .buffer_unordered(window)
                .try_collect()
                .await?;
            (found.iter().filter(|&&f| f).count(), 0)
        }
        "update" | "update-head" => {
            let keys = keys_of(&arg(1), &prefix)?;
            let size: usize = arg(2).parse().unwrap_or_else(|_| usage());
            let body = bytes::Bytes::from(vec![b'u'; size]);
            let head_first = rest[0] == "update-head";
            let written: Vec<bool> = stream::iter(keys)
                .map(|k| {
                    let (c, bucket, body) = (c.clone(), bucket.clone(), body.clone());
                    async move {
                        let got = match c.get_object().bucket(&bucket).key(&k).send().await {
                            Ok(o) => o,
                            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                                return Ok(false)
                            }
                            Err(e) => return Err(format!("GET {k}: {e:?}")),
                        };
                        let etag = got.e_tag().unwrap_or_default().to_string();
                        got.body
                            .collect()
                            .await
                            .map_err(|e| format!("GET {k} body: {e}"))?;
                        let mut put = c
                            .put_object()
                            .bucket(&bucket)
                            .key(&k)
                            .body(ByteStream::from(body));
                        if head_first {
                            if exists(&c, &bucket, &k).await?.as_deref() != Some(etag.as_str()) {
                                return Err(format!("{k} changed"));
                            }
                        } else {
                            put = put.if_match(etag);
                        }
                        put.send().await.map_err(|e| format!("PUT {k}: {e:?}"))?;
                        Ok::<bool, String>(true)
                    }
                })
                .buffer_unordered(window)
                .try_collect()
                .await?;
            let n = written.iter().filter(|&&w| w).count();
            (n, (n * size) as u64)
        }
        _ => usage(),
    };
    Ok((n, bytes, t0.elapsed().as_secs_f64()))
}

/// HEAD: the object's ETag, or None when there is no such object.
async fn exists(c: &Client, bucket: &str, key: &str) -> Res<Option<String>> {
    match c.head_object().bucket(bucket).key(key).send().await {
        Ok(h) => Ok(Some(h.e_tag().unwrap_or_default().to_string())),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
        Err(e) => Err(format!("HEAD {key}: {e:?}")),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok((n, bytes, secs)) => {
            println!("{{\"seconds\": {secs:.6}, \"objects\": {n}, \"bytes\": {bytes}}}")
        }
        Err(e) => {
            eprintln!("raw-s3: {e}");
            std::process::exit(1)
        }
    }
}
