//! Whether a bucket's server honours conditional writes (If-None-Match: * on
//! PUT). AWS S3, MinIO and moto do; Garage 2.x accepts the header and ignores
//! it, which would turn every INSERT of an existing key into a silent
//! overwrite. The first write to a bucket probes it once (PUT a probe object
//! twice with If-None-Match: *, then DELETE it: 3 requests per bucket per
//! server start); a server that lets the second PUT through gets HEAD-then-PUT
//! instead (see docs/DESIGN.md, "Conditional writes").

use std::collections::HashMap;
use std::sync::Mutex;

use crate::s3client::{Cond, PutOutcome, PutRequest, S3Error, S3};

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

/// `Ok((honoured, newly_probed))`.
pub async fn honoured(s3: &S3, bucket: &str) -> Result<(bool, bool), S3Error> {
    if let Some(h) = lookup(s3.endpoint(), bucket) {
        return Ok((h, false));
    }
    let key = probe_key();
    // Two different bodies: when the second PUT's answer is lost and its
    // retry is refused, the lost-answer check (`S3::put`) compares the stored
    // object with this body, and must not take the first PUT's object for
    // the second's (one transient error would otherwise turn atomic writes
    // off until restart).
    let put = |body: &[u8]| PutRequest {
        key: &key,
        body: body.to_vec(),
        content_type: None,
        meta: Vec::new(),
        cond: Cond::IfNoneMatch,
    };
    s3.put(bucket, put(b"1")).await?;
    let second = s3.put(bucket, put(b"2")).await;
    let cleanup = s3.delete(bucket, &key).await;
    let honoured = matches!(second?, PutOutcome::PreconditionFailed);
    cleanup?;
    remember(s3.endpoint(), bucket, honoured);
    Ok((honoured, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_endpoint_and_bucket() {
        assert_eq!(lookup("e1", "b"), None);
        remember("e1", "b", false);
        remember("e2", "b", true);
        assert_eq!(lookup("e1", "b"), Some(false));
        assert_eq!(lookup("e2", "b"), Some(true));
        assert_eq!(lookup("e1", "c"), None);
        assert!(probe_key().starts_with(".awss3-probe-"));
    }
}
