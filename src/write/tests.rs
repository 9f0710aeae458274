//! The write rule against the in-memory store, with injected faults.

use super::*;
use crate::memstore::{Fault, InMemory, Req};

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn row(body: &str) -> NewObject {
    NewObject {
        body: body.as_bytes().to_vec(),
        ..NewObject::default()
    }
}

/// The ETag of a write that must have been written.
fn written(o: Result<Outcome, S3Error>) -> String {
    match o {
        Ok(Outcome::Written(etag)) => etag,
        other => panic!("not written: {other:?}"),
    }
}

/// How many of two concurrent writes won.
fn won(a: &Result<Outcome, S3Error>, b: &Result<Outcome, S3Error>) -> usize {
    [a, b]
        .iter()
        .filter(|o| matches!(o, Ok(Outcome::Written(_))))
        .count()
}

fn store() -> InMemory {
    InMemory::new(&["b"])
}

/// A store whose probe has run (3 requests), counters as they were.
fn probed(s: &InMemory) {
    run(honoured(s, "b")).expect("probe");
}

fn get_body(s: &InMemory, key: &str) -> Option<String> {
    run(s.get("b", key, 1 << 20))
        .expect("get")
        .map(|o| String::from_utf8_lossy(&o.body).into_owned())
}

#[test]
fn insert_writes_once_and_a_second_insert_is_a_conflict() {
    let s = store();
    probed(&s);
    let puts = s.requests(Req::Put);
    let w = run(write(&s, "b", "k", row("v1"), Expect::Absent)).expect("write");
    assert!(matches!(w, Outcome::Written(_)));
    let again = run(write(&s, "b", "k", row("v2"), Expect::Absent)).expect("write");
    assert_eq!(again, Outcome::Conflict);
    assert_eq!(get_body(&s, "k").as_deref(), Some("v1"));
    // Conditional PUTs: no HEAD.
    assert_eq!(s.requests(Req::Put) - puts, 2);
    assert_eq!(s.requests(Req::Head), 0);
}

#[test]
fn a_store_that_ignores_conditions_gets_a_head_before_each_put() {
    let mut s = store();
    s.ignores_conditions = true;
    let (h, newly) = run(honoured(&s, "b")).expect("probe");
    assert!(!h && newly);
    assert_eq!((s.requests(Req::Put), s.requests(Req::Delete)), (2, 1));
    assert!(s.keys("b").is_empty(), "the probe object is removed");
    let w = run(write(&s, "b", "k", row("v1"), Expect::Absent)).expect("write");
    assert!(matches!(w, Outcome::Written(_)));
    assert_eq!(
        run(write(&s, "b", "k", row("v2"), Expect::Absent)).expect("write"),
        Outcome::Conflict
    );
    assert_eq!(get_body(&s, "k").as_deref(), Some("v1"));
    assert_eq!(s.requests(Req::Head), 2);
    assert_eq!(s.requests(Req::Put), 3);
    // UPDATE: the HEAD compares the ETag.
    let Outcome::Written(etag) = w else { panic!() };
    assert_eq!(
        run(write(&s, "b", "k", row("v3"), Expect::ETag("\"other\""))).expect("write"),
        Outcome::Conflict
    );
    assert!(matches!(
        run(write(&s, "b", "k", row("v3"), Expect::ETag(&etag))).expect("write"),
        Outcome::Written(_)
    ));
    assert_eq!(get_body(&s, "k").as_deref(), Some("v3"));
}

#[test]
fn update_is_conditional_on_the_etag_read() {
    let s = store();
    probed(&s);
    let e1 = written(run(write(&s, "b", "k", row("v1"), Expect::Absent)));
    let e2 = written(run(write(&s, "b", "k", row("v2"), Expect::ETag(&e1))));
    // A second UPDATE from the same read: the object changed meanwhile.
    assert_eq!(
        run(write(&s, "b", "k", row("v3"), Expect::ETag(&e1))).unwrap(),
        Outcome::Conflict
    );
    assert_eq!(get_body(&s, "k").as_deref(), Some("v2"));
    // Removed meanwhile (If-Match on a missing object).
    run(s.delete("b", "k")).unwrap();
    assert_eq!(
        run(write(&s, "b", "k", row("v4"), Expect::ETag(&e2))).unwrap(),
        Outcome::Conflict
    );
    assert_eq!(get_body(&s, "k"), None);
}

#[test]
fn a_lost_answer_to_our_own_conditional_put_is_our_write() {
    for opaque in [false, true] {
        let mut s = store();
        // Non-MD5 ETags (SSE-KMS, multipart) must not matter.
        s.opaque_etags = opaque;
        probed(&s);
        s.inject(Req::Put, Fault::LostAnswer);
        let w = run(write(&s, "b", "k", row("v"), Expect::Absent)).expect("write");
        let stored = run(s.head("b", "k")).unwrap().unwrap().0.etag;
        assert_eq!(w, Outcome::Written(stored), "opaque ETags: {opaque}");
        // The same for an UPDATE whose first attempt landed.
        let Outcome::Written(e) = w else { panic!() };
        s.inject(Req::Put, Fault::LostAnswer);
        let u = run(write(&s, "b", "k", row("v2"), Expect::ETag(&e))).expect("write");
        assert!(matches!(u, Outcome::Written(_)), "opaque ETags: {opaque}");
        assert_eq!(get_body(&s, "k").as_deref(), Some("v2"));
    }
}

#[test]
fn another_writers_identical_body_is_a_conflict_after_a_lost_answer() {
    // Key-only tables and `{}` bodies: two writers store the same bytes.
    let s = store();
    probed(&s);
    s.plant("b", "k", b"{}", &[(WRITE_ID_META, "someone-else")]);
    // Our attempt fails with a 503 (it may have been applied, for all we
    // know); the retry is refused because the key exists.
    s.inject(Req::Put, Fault::Unavailable);
    let w = run(write(&s, "b", "k", row("{}"), Expect::Absent)).expect("write");
    assert_eq!(w, Outcome::Conflict);
    // The same with an object written by a tool that sets no identity.
    s.plant("b", "j", b"{}", &[]);
    s.inject(Req::Put, Fault::Unavailable);
    assert_eq!(
        run(write(&s, "b", "j", row("{}"), Expect::Absent)).expect("write"),
        Outcome::Conflict
    );
}

#[test]
fn retries_that_run_out_after_a_lost_answer_say_the_outcome_is_unknown() {
    let s = store();
    probed(&s);
    for _ in 0..4 {
        s.inject(Req::Put, Fault::Unavailable);
    }
    let e = run(write(&s, "b", "k", row("v"), Expect::Absent)).unwrap_err();
    assert!(e.message.contains("unknown"), "{e}");
    // Refused connections sent nothing: a plain error.
    for _ in 0..4 {
        s.inject(Req::Put, Fault::Refused);
    }
    let e = run(write(&s, "b", "k", row("v"), Expect::Absent)).unwrap_err();
    assert_eq!(e.code, "ConnectionFailed");
    assert!(!e.message.contains("unknown"), "{e}");
    // A lost answer, then a refused retry, then a HEAD that fails: unknown.
    s.inject(Req::Put, Fault::LostAnswer);
    for _ in 0..4 {
        s.inject(Req::Head, Fault::Unavailable);
    }
    let e = run(write(&s, "b", "k2", row("v"), Expect::Absent)).unwrap_err();
    assert!(e.message.contains("unknown"), "{e}");
}

#[test]
fn a_transient_error_in_any_probe_request_leaves_atomic_writes_on() {
    // Each probe request in turn (PUT 1, PUT 2, DELETE), each fault.
    for fault in [Fault::Unavailable, Fault::Refused, Fault::LostAnswer] {
        for (req, nth) in [(Req::Put, 0), (Req::Put, 1), (Req::Delete, 0)] {
            let s = store();
            if nth == 1 {
                // The first PUT goes through; the second gets `fault`.
                s.inject(Req::Put, Fault::Ok);
            }
            s.inject(req, fault);
            let (h, newly) = run(honoured(&s, "b")).expect("probe");
            assert!(
                h && newly,
                "{fault:?} on {req:?} #{nth}: atomic writes turned off"
            );
            assert!(s.keys("b").is_empty(), "{fault:?} on {req:?} #{nth}");
            // And writes are conditional afterwards.
            let heads = s.requests(Req::Head);
            run(write(&s, "b", "k", row("v"), Expect::Absent)).unwrap();
            assert_eq!(s.requests(Req::Head), heads);
        }
    }
}

#[test]
fn a_transient_error_in_the_probe_of_a_store_that_ignores_conditions_is_still_seen() {
    for fault in [Fault::Unavailable, Fault::LostAnswer] {
        let mut s = store();
        s.ignores_conditions = true;
        s.inject(Req::Put, Fault::Ok);
        s.inject(Req::Put, fault);
        let (h, _) = run(honoured(&s, "b")).expect("probe");
        assert!(!h, "{fault:?}");
    }
}

#[test]
fn a_probe_that_fails_is_not_remembered() {
    let s = store();
    for _ in 0..4 {
        s.inject(Req::Put, Fault::Refused);
    }
    assert!(run(honoured(&s, "b")).is_err());
    assert_eq!(run(honoured(&s, "b")).unwrap(), (true, true));
    assert_eq!(run(honoured(&s, "b")).unwrap(), (true, false));
}

#[test]
fn catalogue_writes_expect_a_version() {
    let s = store();
    probed(&s);
    let entry = |v: &str| NewObject {
        body: b"{}".to_vec(),
        content_type: Some("application/json".into()),
        meta: vec![("awss3-version".into(), v.into())],
    };
    assert!(matches!(
        run(write(&s, "b", "c", entry("1"), Expect::Absent)).unwrap(),
        Outcome::Written(_)
    ));
    let v1 = Expect::Meta {
        name: "awss3-version",
        value: "1",
    };
    assert!(matches!(
        run(write(&s, "b", "c", entry("2"), v1)).unwrap(),
        Outcome::Written(_)
    ));
    // Another server's change came first: version 1 is gone.
    assert_eq!(
        run(write(&s, "b", "c", entry("3"), v1)).unwrap(),
        Outcome::Conflict
    );
    let h = run(s.head("b", "c")).unwrap().unwrap().1;
    assert!(h.meta.contains(&("awss3-version".into(), "2".into())));
    assert!(h.meta.iter().any(|(k, _)| k == WRITE_ID_META));
}

#[test]
fn shared_tables_on_stores_without_conditions_are_refused_unless_accepted() {
    assert!(unconditional_refused(false, true, false));
    assert!(!unconditional_refused(false, true, true));
    assert!(!unconditional_refused(true, true, false));
    assert!(!unconditional_refused(false, false, false));
    let m = unconditional_refusal("http://g:3900", "b");
    assert!(
        m.contains("If-None-Match") && m.contains("awss3_last_writer_wins") && m.contains("'b'")
    );
}

#[test]
fn unchanged_compares_the_etag() {
    let s = store();
    probed(&s);
    let e = written(run(write(&s, "b", "k", row("v"), Expect::Absent)));
    assert!(run(unchanged(&s, "b", "k", &e)).unwrap());
    assert!(!run(unchanged(&s, "b", "k", "\"x\"")).unwrap());
    assert!(!run(unchanged(&s, "b", "gone", &e)).unwrap());
}

#[test]
fn write_ids_differ_and_the_probe_key_is_at_the_root() {
    assert_ne!(new_write_id(), new_write_id());
    assert!(probe_key().starts_with(".awss3-probe-"));
    remember("e1", "bk", false);
    remember("e2", "bk", true);
    assert_eq!(lookup("e1", "bk"), Some(false));
    assert_eq!(lookup("e2", "bk"), Some(true));
    assert_eq!(lookup("e1", "other"), None);
}

#[test]
fn two_writers_of_one_server_never_both_win_a_key_where_conditions_are_ignored() {
    let mut s = store();
    s.ignores_conditions = true;
    probed(&s);
    // Answers take a while, so that both HEADs could go out before either PUT.
    s.delay = std::time::Duration::from_millis(20);
    let (a, b) = run(async {
        tokio::join!(
            write(&s, "b", "k", row("a"), Expect::Absent),
            write(&s, "b", "k", row("b"), Expect::Absent)
        )
    });
    assert!(a.is_ok() && b.is_ok(), "INSERT: {a:?} {b:?}");
    assert_eq!(won(&a, &b), 1, "INSERT: {a:?} {b:?}");
    // Two UPDATEs from the same read.
    let etag = run(s.head("b", "k")).unwrap().unwrap().0.etag;
    let (a, b) = run(async {
        tokio::join!(
            write(&s, "b", "k", row("c"), Expect::ETag(&etag)),
            write(&s, "b", "k", row("d"), Expect::ETag(&etag))
        )
    });
    assert!(a.is_ok() && b.is_ok(), "UPDATE: {a:?} {b:?}");
    assert_eq!(won(&a, &b), 1, "UPDATE: {a:?} {b:?}");
    // Other keys do not wait for each other, and no lock is left behind.
    let (a, b) = run(async {
        tokio::join!(
            write(&s, "b", "x", row("x"), Expect::Absent),
            write(&s, "b", "y", row("y"), Expect::Absent)
        )
    });
    assert_eq!(won(&a, &b), 2, "{a:?} {b:?}");
    assert_eq!(held_keys(s.endpoint()), 0);
}
