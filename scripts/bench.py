#!/usr/bin/env python3
"""AWSS3 benchmark: the engine against a raw S3 client (boto3) doing the same
requests on the same S3 server, as time ratios and exact request counts.

Run by `make bench` (scripts/bench.sh starts moto + a server). Prints a table;
nothing here is an assertion. Usage: bench.py CLIENT_CNF ENDPOINT [ROWS]
"""
import concurrent.futures as cf
import os
import subprocess
import sys
import time

import boto3
from botocore.config import Config

CNF, ENDPOINT = sys.argv[1], sys.argv[2]
ROWS = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
BUCKET, PREFIX = "awss3-bench", "t/"
WINDOW = 32
BODY = int(os.environ.get("BODY", 16384))

s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing",
                  config=Config(max_pool_connections=WINDOW, retries={"max_attempts": 1}))


def sql(q):
    r = subprocess.run(["mariadb", f"--defaults-file={CNF}", "-N", "-B", "-e", q],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"bench: {q[:120]}: {r.stderr.strip()}")
    return r.stdout.strip()


def counters():
    rows = sql("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
               "WHERE VARIABLE_NAME LIKE 'AWSS3\\_%REQUESTS'")
    return {n.split("_")[1].lower(): int(v) for n, v in (l.split("\t") for l in rows.splitlines())}


def mysqld_rss_kib():
    pid = sql("SELECT @@pid_file")
    with open(pid) as f:
        p = f.read().strip()
    with open(f"/proc/{p}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))


def engine(q):
    before = counters()
    t0 = time.perf_counter()
    out = sql(q)
    dt = time.perf_counter() - t0
    after = counters()
    return dt, {k: after[k] - before[k] for k in after if after[k] != before[k]}, out


def raw_list():
    keys, token, lists = [], None, 0
    while True:
        kw = {"Bucket": BUCKET, "Prefix": PREFIX}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        lists += 1
        keys += [o["Key"] for o in r.get("Contents", [])]
        token = r.get("NextContinuationToken")
        if not token:
            return keys, lists


def raw(fn):
    t0 = time.perf_counter()
    reqs = fn()
    return time.perf_counter() - t0, reqs


def raw_full_scan():
    keys, lists = raw_list()
    with cf.ThreadPoolExecutor(WINDOW) as ex:
        total = sum(ex.map(lambda k: len(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()), keys))
    assert total == ROWS * BODY
    return {"list": lists, "get": len(keys)}


def raw_key_scan():
    keys, lists = raw_list()
    assert len(keys) == ROWS
    return {"list": lists}


def raw_points(n):
    for i in range(n):
        s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}k{i:06d}")["Body"].read()
    return {"get": n}


def raw_puts(n):
    body = b"x" * BODY
    with cf.ThreadPoolExecutor(WINDOW) as ex:
        list(ex.map(lambda i: s3.put_object(Bucket=BUCKET, Key=f"raw/k{i:06d}", Body=body,
                                            IfNoneMatch="*"), range(n)))
    return {"put": n}


def main():
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    sql("CREATE DATABASE IF NOT EXISTS bench")
    sql("DROP TABLE IF EXISTS bench.t")
    sql(f"CREATE TABLE bench.t (k VARCHAR(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, v BLOB) "
        f"ENGINE=AWSS3 CONNECTION='s3://{BUCKET}/{PREFIX}'")
    sql("INSERT INTO bench.t VALUES ('warmup', 'x')")   # the bucket's one-time probe
    sql("DELETE FROM bench.t WHERE k = 'warmup'")
    sql(f"SET GLOBAL awss3_prefetch_window = {WINDOW}")
    results = []

    dt, req, _ = engine(f"INSERT INTO bench.t SELECT CONCAT('k', LPAD(seq - 1, 6, '0')), "
                        f"REPEAT('x', {BODY}) FROM bench.seq_1_to_{ROWS}")
    
    rdt, rreq = raw(lambda: raw_puts(ROWS))
    results.append((f"INSERT ... SELECT {ROWS} x {BODY} B rows, window {WINDOW}", dt, req, rdt, rreq))

    rss0 = mysqld_rss_kib()
    dt, req, out = engine("SELECT SUM(LENGTH(v)) FROM bench.t")
    assert int(out) == ROWS * BODY, out
    rss1 = mysqld_rss_kib()
    rdt, rreq = raw(raw_full_scan)
    results.append((f"full scan, {ROWS} x {BODY} B bodies, window {WINDOW}", dt, req, rdt, rreq))

    dt, req, out = engine("SELECT COUNT(*) FROM bench.t")
    assert int(out) == ROWS, out
    rdt, rreq = raw(raw_key_scan)
    results.append(("key-only scan (COUNT(*))", dt, req, rdt, rreq))

    n = 200
    q = ";".join(f"SELECT LENGTH(v) FROM bench.t WHERE k = 'k{i:06d}'" for i in range(n))
    dt, req, _ = engine(q)
    rdt, rreq = raw(lambda: raw_points(n))
    results.append((f"{n} point lookups, one statement each", dt, req, rdt, rreq))

    print(f"\nAWSS3 benchmark against moto at {ENDPOINT} ({ROWS} rows)\n")
    print(f"{'case':52} {'engine s':>9} {'raw s':>8} {'ratio':>6}  requests engine / raw")
    for name, dt, req, rdt, rreq in results:
        fmt = lambda d: " ".join(f"{k}={v}" for k, v in sorted(d.items()))
        print(f"{name:52} {dt:9.2f} {rdt:8.2f} {dt / rdt:6.2f}  {fmt(req)} / {fmt(rreq)}")
    print(f"\nmysqld peak RSS before/after the full scan: {rss0} / {rss1} KiB "
          f"(scan memory is bounded by the window, not by the {ROWS * BODY // 1024} KiB scanned)")
    sql("DROP TABLE bench.t")


if __name__ == "__main__":
    main()
