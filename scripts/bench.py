#!/usr/bin/env python3
"""AWSS3 benchmark: the engine, measured as a user would (the `mariadb` client, one
statement per case), against a raw S3 client (boto3) that sends the same requests
with the same window, and against other SQL engines that read S3 (DuckDB, chDB), on
the same objects on the same S3 servers (Garage, moto), all through a loopback proxy
that adds a network round-trip time to every request (scripts/rtt_proxy.py).

Run by `make bench` (scripts/bench.sh starts moto, Garage and a server). Prints
tables; nothing here is an assertion (except that each answer is the right one).

usage: bench.py CLIENT_CNF RUN_DIR [ROWS]

Settings (environment):
  BENCH_ROWS      rows (one S3 object each) in the table        (default 2000; also ROWS)
  BENCH_BODY      bytes per row body                            (default 1024; also BODY)
  BENCH_RTT_MS    round-trip time the proxy adds, ms            (default 20)
  BENCH_WINDOW    awss3_prefetch_window (the engine's limit: its scans size their own
                  window up to it), and the raw client's window (default 256, the
                  engine's default)
  BENCH_KEYS      keys for the IN (...) list and the join        (default 300)
  BENCH_POINTS    one-statement point lookups (0: skip)          (default 200)
  BENCH_REPEAT    runs of each read case; the median is printed (default 3; 1 on moto)
  BENCH_BACKENDS  S3 servers, in order                          (default "garage moto")
  BENCH_PEERS     peers to run ("" for none)                    (default "duckdb chdb")
  BENCH_PEER_BACKENDS  where to run them                       (default: the first backend)
  BENCH_PEER_TIMEOUT  seconds a peer may take                   (default 300)
  BENCH_BIG_ROWS  if > 0: also a large table of this many rows of BENCH_BIG_BODY
                  (default 16) bytes on the first backend: key-only and full-scan
                  time, requests and mysqld RSS growth          (default 0: off)

Columns: engine s / raw s = median wall time of the statement (`mariadb -e`, client
start included) / of the boto3 client doing the same requests with WINDOW threads, both
through the proxy; raw0 s = the same raw client once straight to the server (no RTT):
its CPU floor. Engine requests = the delta of the Awss3_*_requests status counters (a
note says so if the proxy counted otherwise); raw and peer requests = what the proxy
counted; "conns" = new TCP connections, each paying one more RTT at the proxy.
"""
import concurrent.futures as cf
import json
import os
import signal
import statistics
import subprocess
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
# The round-trip proxy: bench/'s rtt-proxy (Rust, built by `make bench`), else
# scripts/rtt_proxy.py (Python: its own floor shows at high windows).
RUST_PROXY = os.path.join(HERE, "..", "target", "bench", "release", "rtt-proxy")
PROXY = os.environ.get("BENCH_PROXY") or (RUST_PROXY if os.access(RUST_PROXY, os.X_OK) else "")
PROXY_CMD = [PROXY] if PROXY else [sys.executable, os.path.join(HERE, "rtt_proxy.py")]
PROXY_NAME = "rtt-proxy (Rust)" if PROXY else "rtt_proxy.py"
# The raw client: bench/'s raw-s3 (the engine's SDK, Rust), else boto3.
RUST_RAW = os.path.join(HERE, "..", "target", "bench", "release", "raw-s3")
RAW = os.environ.get("BENCH_RAW") or (RUST_RAW if os.access(RUST_RAW, os.X_OK) else "")
CNF, RUN = sys.argv[1], sys.argv[2]


def env_int(names, default):
    for n in names:
        if os.environ.get(n):
            return int(os.environ[n])
    return default


ROWS = int(sys.argv[3]) if len(sys.argv) > 3 else env_int(["BENCH_ROWS", "ROWS"], 2000)
BODY = env_int(["BENCH_BODY", "BODY"], 1024)
RTT = float(os.environ.get("BENCH_RTT_MS") or 20) / 1000
WINDOW = env_int(["BENCH_WINDOW"], 256)
NKEYS = min(env_int(["BENCH_KEYS"], 300), ROWS)
POINTS = min(env_int(["BENCH_POINTS"], 200), ROWS)
REPEAT = os.environ.get("BENCH_REPEAT")
BACKENDS = (os.environ.get("BENCH_BACKENDS") or "garage moto").split()
PEERS = (os.environ.get("BENCH_PEERS", "duckdb chdb")).split()
PEER_TIMEOUT = env_int(["BENCH_PEER_TIMEOUT"], 300)
PEER_BACKENDS = (os.environ.get("BENCH_PEER_BACKENDS") or BACKENDS[0]).split()
BIG_ROWS = env_int(["BENCH_BIG_ROWS"], 0)
BIG_BODY = env_int(["BENCH_BIG_BODY"], 16)
PREFIX = "t/"
VTYPE = "BLOB" if BODY < 65536 else "LONGBLOB"
OPS = ("list", "get", "head", "put", "delete", "post", "other")
NOTES = []


def note(text):
    NOTES.append(text)


# --- the server ---------------------------------------------------------------------

def sql(q, check=True):
    r = subprocess.run(["mariadb", f"--defaults-file={CNF}", "-N", "-B", "-e", q],
                       capture_output=True, text=True)
    if r.returncode and check:
        sys.exit(f"bench: {q[:160]}: {r.stderr.strip()}")
    return r.stdout.strip()


def counters():
    rows = sql("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
               "WHERE VARIABLE_NAME LIKE 'AWSS3\\_%REQUESTS'")
    return {n.split("_")[1].lower(): int(v) for n, v in (l.split("\t") for l in rows.splitlines())}


def mysqld_rss_kib():
    with open(sql("SELECT @@pid_file")) as f:
        p = f.read().strip()
    with open(f"/proc/{p}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
            if after.get(k, 0) != before.get(k, 0)}


def fmt(req, conns=False):
    """Request counts; with conns, also the new TCP connections the proxy saw."""
    out = " ".join(f"{k}={req[k]}" for k in OPS if req.get(k)) or "-"
    return out + (f" (conns {req.get('connections', 0)})" if conns else "")


# --- the proxy ----------------------------------------------------------------------

class Proxy:
    """scripts/rtt_proxy.py in front of one S3 server; counts what goes through it."""

    def __init__(self, name, upstream):
        self.portfile = os.path.join(RUN, f"rtt_proxy.{name}.port")
        for suffix in ("", ".pid", ".stats"):
            if os.path.exists(self.portfile + suffix):
                os.remove(self.portfile + suffix)
        hostport = upstream.split("://", 1)[1].rstrip("/")
        self.proc = subprocess.Popen(
            PROXY_CMD + [hostport, self.portfile, "--rtt-ms", str(RTT * 1000), "--seconds", "3600"],
            stdout=subprocess.DEVNULL, stderr=open(self.portfile + ".log", "w"))
        for _ in range(100):
            if os.path.exists(self.portfile) and open(self.portfile).read().strip():
                break
            if self.proc.poll() is not None:
                sys.exit(f"bench: rtt_proxy.py exited; see {self.portfile}.log")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{open(self.portfile).read().strip()}"

    def stats(self):
        path = self.portfile + ".stats"
        if os.path.exists(path):
            os.remove(path)
        os.kill(self.proc.pid, signal.SIGUSR1)
        for _ in range(200):
            if os.path.exists(path):
                with open(path) as f:
                    return json.load(f)
            time.sleep(0.01)
        sys.exit("bench: rtt_proxy.py did not write its stats")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- the S3 servers -----------------------------------------------------------------

class Backend:
    def __init__(self, name):
        self.name = name
        if name == "moto":
            with open(os.path.join(RUN, "moto.url")) as f:
                self.direct = f.read().strip()
            self.key, self.secret, self.region = "testing", "testing", "us-east-1"
            self.conditional = True
        elif name == "garage":
            g = os.path.join(RUN, "garage")
            read = lambda n: open(os.path.join(g, f"garage.{n}")).read().strip()
            self.direct = read("url")
            self.key, self.secret, self.region = read("key_id"), read("secret"), read("region")
            self.conditional = False
        else:
            sys.exit(f"bench: unknown backend {name}")
        self.bucket = f"awss3-bench-{name}"
        self.proxy = Proxy(name, self.direct)
        self.s3 = self.client(self.proxy.url)            # what is measured
        self.s3direct = self.client(self.direct)         # setup only
        if name == "moto":
            try:
                self.s3direct.create_bucket(Bucket=self.bucket)
            except self.s3direct.exceptions.BucketAlreadyOwnedByYou:
                pass

    def client(self, url):
        return boto3.client("s3", endpoint_url=url, region_name=self.region,
                            aws_access_key_id=self.key, aws_secret_access_key=self.secret,
                            config=Config(max_pool_connections=WINDOW,
                                          retries={"max_attempts": 1},
                                          # no CRC32 of bodies in Python (the CPU cost)
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required",
                                          s3={"addressing_style": "path"}))

    def raw(self, s3, *args):
        """bench/'s raw-s3 through the proxy (s3 is self.s3) or straight to the server
        (self.s3direct): one command, its JSON answer."""
        url = self.proxy.url if s3 is self.s3 else self.direct
        r = subprocess.run([RAW, url, self.region, self.key, self.secret, self.bucket]
                           + [str(a) for a in args], capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"bench: raw-s3 {' '.join(map(str, args))}: {r.stderr.strip()[-400:]}")
        return json.loads(r.stdout)

    def engine_to(self, url):
        sql(f"SET GLOBAL awss3_endpoint = '{url}'; SET GLOBAL awss3_region = '{self.region}'; "
            f"SET GLOBAL awss3_access_key_id = '{self.key}'; "
            f"SET GLOBAL awss3_secret_access_key = '{self.secret}'; "
            f"SET GLOBAL awss3_prefetch_window = {WINDOW}")


# --- measuring ----------------------------------------------------------------------

def timed_engine(b, q):
    """(seconds, engine's request counts, proxy-seen counts, output) of one statement;
    the counts include "window": Awss3_window after it (where its window ended)."""
    c0, p0 = counters(), b.proxy.stats()
    t0 = time.perf_counter()
    out = sql(q)
    dt = time.perf_counter() - t0
    c1, p1 = counters(), b.proxy.stats()
    d = delta(c1, c0)
    d["window"] = int(sql("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                          "WHERE VARIABLE_NAME = 'AWSS3_WINDOW'") or 0)
    return dt, d, delta(p1, p0), out


def timed_raw(b, fn):
    p0 = b.proxy.stats()
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    return dt, delta(b.proxy.stats(), p0)


def check_wire(b, case, eng, wire):
    e = {k: v for k, v in eng.items() if k in OPS and v}
    w = {k: v for k, v in wire.items() if k in OPS}
    if e != w:
        note(f"{b.name}, {case}: the proxy saw {fmt(w)} but the engine's counters say {fmt(e)}")
    if wire.get("unparsed_connections"):
        note(f"{b.name}, {case}: the proxy could not follow {wire['unparsed_connections']} "
             f"connection(s); its counts are low")


def measure(b, case, q, raw_fn, expect, repeat, extra=None):
    """Runs engine and raw `repeat` times each, alternating; returns a result row with
    the median times (request counts of the last run; a run whose counts differ is noted).
    raw_fn(s3, run) is also run once straight against the server, without the RTT: how
    much of the raw client's time is its own CPU."""
    runs = []
    for i in range(repeat):
        dt, eng, wire, out = timed_engine(b, q)
        if expect is not None and out.splitlines()[-1] != str(expect):
            sys.exit(f"bench: {b.name} {case}: got {out!r}, expected {expect}")
        check_wire(b, case, eng, wire)
        rdt, rwire = timed_raw(b, lambda: raw_fn(b.s3, i)) if raw_fn else (None, {})
        eng = dict(eng, connections=wire.get("connections", 0))
        runs.append((dt, eng, rdt, rwire))
    if raw_fn:
        t0 = time.perf_counter()
        raw_fn(b.s3direct, repeat)
        extra = dict(extra or {}, raw_direct=time.perf_counter() - t0)
    if len({fmt(r[1]) for r in runs}) > 1:
        note(f"{b.name}, {case}: engine request counts varied between runs: "
             + "; ".join(fmt(r[1]) for r in runs))
    dt = statistics.median(r[0] for r in runs)
    rdt = statistics.median(r[2] for r in runs) if raw_fn else None
    row = {"case": case, "engine": dt, "eng_req": runs[-1][1], "raw": rdt,
           "raw_req": runs[-1][3], "runs": repeat}
    row.update(extra or {})
    return row


def list_keys(s3, bucket, prefix):
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in r.get("Contents", [])]
        token = r.get("NextContinuationToken")
        if not token:
            return keys


def pool_map(fn, items):
    with cf.ThreadPoolExecutor(WINDOW) as ex:
        return list(ex.map(fn, items))


def key(i):
    return f"k{i:06d}"


def explain(q, table="t"):
    """type and Extra of `table` in the plan of q (the prefix of q sets the session)."""
    *setup, select = q.split(";")
    out = sql(";".join(setup + [" EXPLAIN " + select.strip()]))
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) >= 6 and f[2] == table:
            extra = f[9] if len(f) > 9 and f[9] not in ("", "NULL") else ""
            return f"{f[3]}, key {f[5]}" + (f", {extra}" if extra else "")
    return "?"


# --- the cases ----------------------------------------------------------------------

def run_backend(b, repeat):
    bucket = b.bucket
    b.engine_to(b.proxy.url)
    sql("CREATE DATABASE IF NOT EXISTS bench")
    sql("DROP TABLE IF EXISTS bench.t, bench.j")
    sql(f"CREATE TABLE bench.t (k VARCHAR(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, "
        f"v {VTYPE}) ENGINE=AWSS3 CONNECTION='s3://{bucket}/{PREFIX}'")
    sql("INSERT INTO bench.t VALUES ('warmup', 'x')")   # the bucket's one-time probe
    sql("DELETE FROM bench.t WHERE k = 'warmup'")
    rows = []

    # INSERT ... SELECT
    body = b"x" * BODY

    def raw_insert(s3, run):
        if RAW:
            a = b.raw(s3, f"raw{run}/", WINDOW, "put" if b.conditional else "put-head", ROWS, BODY)
            assert a["objects"] == ROWS, a
            return

        def one(i):
            k = f"raw{run}/{key(i)}"
            if b.conditional:
                s3.put_object(Bucket=bucket, Key=k, Body=body, IfNoneMatch="*")
                return
            try:                      # the bucket ignores If-None-Match: look first
                s3.head_object(Bucket=bucket, Key=k)
                raise SystemExit(f"bench: {k} exists")
            except ClientError as e:
                if e.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                    raise
            s3.put_object(Bucket=bucket, Key=k, Body=body)
        pool_map(one, range(ROWS))

    rows.append(measure(
        b, f"INSERT ... SELECT {ROWS} rows",
        f"INSERT INTO bench.t SELECT CONCAT('k', LPAD(seq - 1, 6, '0')), REPEAT('x', {BODY}) "
        f"FROM bench.seq_1_to_{ROWS}", raw_insert, None, 1,
        {"raw_how": "PUT If-None-Match:*" if b.conditional else "HEAD then PUT"}))

    # full scan with bodies
    def raw_full(s3, _):
        if RAW:
            a = b.raw(s3, PREFIX, WINDOW, "scan")
            assert a["bytes"] == ROWS * BODY, a
            return
        keys = list_keys(s3, bucket, PREFIX)
        total = sum(pool_map(lambda k: len(s3.get_object(Bucket=bucket, Key=k)["Body"].read()),
                             keys))
        assert total == ROWS * BODY, total

    rss0 = mysqld_rss_kib()
    # Cold: the row cache off, every row a GET (as every scan but a repeated one).
    row = measure(b, "full scan SUM(LENGTH(v)) (cold)",
                  "SET GLOBAL awss3_row_cache_size = 0; SELECT SUM(LENGTH(v)) FROM bench.t",
                  raw_full, ROWS * BODY, repeat, {"ideal": ROWS / WINDOW * RTT})
    sql("SET GLOBAL awss3_row_cache_size = DEFAULT")
    rss1 = mysqld_rss_kib()
    rows.append(row)
    # Warm: the same scan of the unchanged table again; the raw client's
    # equivalent is its LISTs.
    sql("SELECT SUM(LENGTH(v)) FROM bench.t")

    def raw_lists(s3, _):
        if RAW:
            assert b.raw(s3, PREFIX, WINDOW, "keys")["objects"] == ROWS
            return
        assert len(list_keys(s3, bucket, PREFIX)) == ROWS

    rows.append(measure(b, "the same full scan again, unchanged (row cache)",
                        "SELECT SUM(LENGTH(v)) FROM bench.t", raw_lists, ROWS * BODY, repeat,
                        {"raw_how": "its LISTs"}))
    if row["raw_direct"] > 0.7 * row["raw"]:
        note(f"{b.name}: the raw client's times are not the RTT's: its full scan takes "
             f"{row['raw_direct']:.2f} s straight to the server (raw0), {row['raw']:.2f} s "
             f"through the proxy; CPU (boto3's, and the server's) sets them on this machine")
    conns = row["raw_req"].get("connections", 0)
    if conns >= 0.9 * ROWS:
        note(f"{b.name}: the server closes the connection after each response ({conns} new "
             f"connections for {ROWS + row['raw_req'].get('list', 0)} requests of the raw full "
             f"scan): every request pays one more RTT for the proxy's TCP handshake")
    note(f"{b.name}: mysqld peak RSS (VmHWM) before/after the full scans: {rss0} / {rss1} KiB "
         f"(+{rss1 - rss0} KiB; {ROWS * BODY // 1024} KiB scanned per run)")

    # key-only
    def raw_keys(s3, _):
        if RAW:
            assert b.raw(s3, PREFIX, WINDOW, "keys")["objects"] == ROWS
            return
        assert len(list_keys(s3, bucket, PREFIX)) == ROWS

    rows.append(measure(b, "key-only SELECT COUNT(*)", "SELECT COUNT(*) FROM bench.t",
                        raw_keys, ROWS, repeat))

    # IN (NKEYS keys)
    keys = [key(i * ROWS // NKEYS) for i in range(NKEYS)]

    keyfile = os.path.join(RUN, "bench.keys")
    with open(keyfile, "w") as f:
        f.write("\n".join(keys) + "\n")

    def raw_gets(s3, _):
        if RAW:
            assert b.raw(s3, PREFIX, WINDOW, "get", keyfile)["bytes"] == NKEYS * BODY
            return
        total = sum(pool_map(lambda k: len(s3.get_object(Bucket=bucket, Key=PREFIX + k)["Body"]
                                           .read()), keys))
        assert total == NKEYS * BODY, total

    in_list = ",".join(f"'{k}'" for k in keys)
    q = f"SELECT SUM(LENGTH(v)) FROM bench.t WHERE k IN ({in_list})"
    rows.append(measure(b, f"WHERE k IN ({NKEYS} keys)", q, raw_gets, NKEYS * BODY, repeat,
                        {"plan": explain(q), "ideal": -(-NKEYS // WINDOW) * RTT}))

    # join InnoDB -> AWSS3
    sql("CREATE TABLE bench.j (k VARCHAR(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY) "
        "ENGINE=InnoDB")
    sql("INSERT INTO bench.j VALUES " + ",".join(f"('{k}')" for k in keys))
    sql("ANALYZE TABLE bench.j")
    jq = "SELECT SUM(LENGTH(t.v)) FROM bench.j JOIN bench.t ON t.k = j.k"
    default_jcl = sql("SELECT @@GLOBAL.join_cache_level")
    for setup, label in (("", f"join_cache_level={default_jcl} (default)"),
                         ("SET SESSION join_cache_level=6; ", "join_cache_level=6 (BKA)")):
        rows.append(measure(b, f"join InnoDB({NKEYS}) -> AWSS3, {label}", setup + jq,
                            raw_gets, NKEYS * BODY, repeat, {"plan": explain(setup + jq)}))

    # point lookups, one statement each (one client session)
    if POINTS:
        pkeys = [key(i * ROWS // POINTS) for i in range(POINTS)]

        pointfile = os.path.join(RUN, "bench.points")
        with open(pointfile, "w") as f:
            f.write("\n".join(pkeys) + "\n")

        def raw_points(s3, _):
            if RAW:
                b.raw(s3, PREFIX, WINDOW, "points", pointfile)
                return
            for k in pkeys:
                s3.get_object(Bucket=bucket, Key=PREFIX + k)["Body"].read()

        q = ";".join(f"SELECT LENGTH(v) FROM bench.t WHERE k = '{k}'" for k in pkeys)
        rows.append(measure(b, f"{POINTS} point lookups, a statement each", q, raw_points,
                            BODY, 1, {"raw_how": "serial GETs"}))

    # UPDATE and DELETE with a key list (once each: a second run would change nothing).
    # The raw client updates the same keys and deletes as many others (same requests).
    phases = 3 if not b.conditional else 2          # GET (HEAD) PUT; HEAD DELETE
    waves = -(-NKEYS // WINDOW)
    rows.append(measure(
        b, f"UPDATE ... WHERE k IN ({NKEYS} keys)",
        f"UPDATE bench.t SET v = REPEAT('u', {BODY}) WHERE k IN ({in_list})",
        (lambda s3, _: b.raw(s3, PREFIX, WINDOW, "update" if b.conditional else "update-head",
                             keyfile, BODY)) if RAW else None,
        None, 1, {"ideal": (waves + phases - 1) * RTT,
                  "raw_how": "GET, PUT If-Match" if b.conditional else "GET, HEAD, PUT"}))
    others = [key(i * ROWS // NKEYS + 1) for i in range(NKEYS)]
    otherfile = os.path.join(RUN, "bench.others")
    with open(otherfile, "w") as f:
        f.write("\n".join(others) + "\n")
    rows.append(measure(
        b, f"DELETE ... WHERE k IN ({NKEYS} keys)",
        f"DELETE FROM bench.t WHERE k IN ({in_list})",
        (lambda s3, _: b.raw(s3, PREFIX, WINDOW, "delete-head", otherfile)) if RAW else None,
        None, 1, {"ideal": (waves + 1) * RTT, "raw_how": "HEAD, DELETE"}))
    # Put both sets back (straight to the server) for the peers' full scans.
    b.engine_to(b.direct)
    sql("INSERT INTO bench.t VALUES " + ",".join(f"('{k}', REPEAT('x', {BODY}))"
                                                   for k in keys + (others if RAW else [])))
    b.engine_to(b.proxy.url)
    return rows


# --- the peers ----------------------------------------------------------------------

DUCKDB = r"""
import glob, json, os, sys, time
import duckdb, duckdb_extension_httpfs
a = json.loads(sys.argv[1])
ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__),
                             "extensions", "*", "httpfs.duckdb_extension"))
if not ext:
    sys.exit("duckdb_extension_httpfs ships no httpfs.duckdb_extension")
con = duckdb.connect()
con.execute(f"LOAD '{ext[0]}'")
con.execute(f"CREATE SECRET s3b (TYPE s3, KEY_ID '{a['key']}', SECRET '{a['secret']}', "
            f"REGION '{a['region']}', ENDPOINT '{a['hostport']}', URL_STYLE 'path', USE_SSL false)")
con.execute(f"SET threads = {a['threads']}")
# Without it, httpfs opens a new connection per object (2 RTTs each); read_blob reads
# the objects one after the other whatever `threads` says.
con.execute("SET httpfs_connection_caching = true")
q = f"SELECT sum(octet_length(content)) FROM read_blob('s3://{a['bucket']}/{a['prefix']}*')"
# Twice in one process: cold, then warm (its caches, as they are by default, kept).
times = []
for _ in range(2):
    t = time.perf_counter()
    r = con.execute(q).fetchone()[0]
    times.append(time.perf_counter() - t)
print(json.dumps({"seconds": times[0], "warm": times[1], "result": int(r),
                  "how": f"duckdb {duckdb.__version__} + httpfs, threads={a['threads']}, "
                         f"httpfs_connection_caching=true, caches default: {q}"}))
"""

CHDB = r"""
import json, sys, time
import chdb
a = json.loads(sys.argv[1])
q = (f"SELECT sum(length(raw_blob)) FROM s3('{a['url']}/{a['bucket']}/{a['prefix']}*', "
     f"'{a['key']}', '{a['secret']}', 'RawBLOB')")
if a.get("threads"):
    q += f" SETTINGS max_threads = {a['threads']}, max_download_threads = {a['threads']}"
# Twice in one process: cold, then warm (whatever it keeps between queries).
times = []
for _ in range(2):
    t = time.perf_counter()
    r = chdb.query(q, "CSV")
    times.append(time.perf_counter() - t)
print(json.dumps({"seconds": times[0], "warm": times[1], "result": int(str(r).strip()),
                  "how": f"chdb {chdb.__version__}: {q.replace(a['secret'], '***')}"}))
"""


def run_peer(b, name, script, args, full_scan):
    args = dict(args, key=b.key, secret=b.secret, region=b.region, bucket=b.bucket,
                prefix=PREFIX, url=b.proxy.url, hostport=b.proxy.url.split("://")[1])
    p0 = b.proxy.stats()
    try:
        r = subprocess.run([sys.executable, "-c", script, json.dumps(args)], capture_output=True,
                           text=True, timeout=PEER_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"peer": name, "error": f"did not finish in {PEER_TIMEOUT} s (BENCH_PEER_TIMEOUT)"}
    wire = delta(b.proxy.stats(), p0)
    if r.returncode:
        err = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
        return {"peer": name, "error": err[:300]}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if out["result"] != ROWS * BODY:
        return {"peer": name, "error": f"wrong answer {out['result']} (expected {ROWS * BODY})"}
    return {"peer": name, "seconds": out["seconds"], "warm": out.get("warm"),
            "ratio": full_scan[0] / out["seconds"],
            "warm_ratio": full_scan[1] / out["warm"] if out.get("warm") else None,
            "wire": wire, "how": out["how"]}


def peer_deps():
    """None if the peers' packages import, else why not."""
    missing = []
    for mod in ("duckdb", "duckdb_extension_httpfs", "chdb"):
        r = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True)
        if r.returncode:
            missing.append(mod)
    return missing


def run_peers(b, full_scan):
    results = []
    missing = peer_deps()
    for name in PEERS:
        if name == "duckdb":
            if {"duckdb", "duckdb_extension_httpfs"} & set(missing):
                results.append({"peer": name, "error": "not installed: pip install -r scripts/"
                                "requirements-bench.txt (duckdb + duckdb-extension-httpfs)"})
                continue
            results.append(run_peer(b, f"DuckDB read_blob, threads={WINDOW}, conn. caching",
                                    DUCKDB, {"threads": WINDOW}, full_scan))
        elif name == "chdb":
            if "chdb" in missing:
                results.append({"peer": name, "error": "not installed: pip install -r "
                                "scripts/requirements-bench.txt (chdb)"})
                continue
            results.append(run_peer(b, "chDB s3() RawBLOB, default settings", CHDB, {},
                                    full_scan))
            results.append(run_peer(b, f"chDB s3() RawBLOB, max_threads={WINDOW}", CHDB,
                                    {"threads": WINDOW}, full_scan))
        else:
            results.append({"peer": name, "error": "unknown peer"})
    return results


# --- the large case -----------------------------------------------------------------

def run_big(b):
    n, body = BIG_ROWS, BIG_BODY
    lines = []
    b.engine_to(b.direct)          # load and drop without the RTT: only the scans matter
    sql("DROP TABLE IF EXISTS bench.big")
    sql(f"CREATE TABLE bench.big (k VARCHAR(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, "
        f"v BLOB) ENGINE=AWSS3 CONNECTION='s3://{b.bucket}/big/'")
    t0 = time.perf_counter()
    step = 50000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        sql(f"INSERT INTO bench.big SELECT CONCAT('k', LPAD(seq - 1, 9, '0')), "
            f"REPEAT('y', {body}) FROM bench.seq_{lo + 1}_to_{hi}")
    lines.append(f"  loaded {n} rows of {body} B straight to {b.name} (no RTT) in "
                 f"{time.perf_counter() - t0:.1f} s")
    b.engine_to(b.proxy.url)
    for label, q, expect in (("key-only SELECT COUNT(*)", "SELECT COUNT(*) FROM bench.big", n),
                             ("full scan SUM(LENGTH(v))", "SELECT SUM(LENGTH(v)) FROM bench.big",
                              n * body)):
        rss0 = mysqld_rss_kib()
        dt, eng, wire, out = timed_engine(b, q)
        rss1 = mysqld_rss_kib()
        if out != str(expect):
            lines.append(f"  {label}: WRONG ANSWER {out!r} (expected {expect})")
        check_wire(b, f"big {label}", eng, wire)
        ideal = f", ideal N/W*RTT {n / WINDOW * RTT:.2f} s" if "full" in label else ""
        lines.append(f"  {label:26} {dt:8.2f} s  {fmt(eng):28} VmHWM {rss0} -> {rss1} KiB "
                     f"(+{rss1 - rss0}){ideal}")
    b.engine_to(b.direct)
    sql("DROP TABLE bench.big")
    b.engine_to(b.proxy.url)
    return lines


# --- output -------------------------------------------------------------------------

def full_scans(rows):
    """The engine's cold and warm (row cache) full-scan times."""
    cold = next(r["engine"] for r in rows if r["case"].startswith("full scan"))
    warm = next(r["engine"] for r in rows if r["case"].startswith("the same full scan"))
    return cold, warm


def print_backend(b, rows, peers, overhead):
    print(f"\n== {b.name} at {b.direct}, through {PROXY_NAME}: +{RTT * 1000:g} ms per request "
          f"(and per new connection); "
          f"{ROWS} rows x {BODY} B, window {WINDOW} ==")
    print(f"{'case':58} {'engine s':>8} {'raw s':>7} {'eng/raw':>7} {'raw0 s':>7} {'win':>4}  "
          f"{'engine requests':36} raw requests")
    for r in rows:
        raw = (f"{r['raw']:7.2f} {r['engine'] / r['raw']:7.2f} {r['raw_direct']:7.2f}"
               if r["raw"] else f"{'-':>7} {'-':>7} {'-':>7}")
        how = f" ({r['raw_how']})" if r.get("raw_how") else ""
        print(f"{r['case']:58} {r['engine']:8.2f} {raw} {r['eng_req'].get('window', 0):4}  "
              f"{fmt(r['eng_req'], True):36} "
              f"{fmt(r['raw_req'], True)}{how}")
        if r.get("ideal"):
            rawx = f", raw/ideal {r['raw'] / r['ideal']:.2f}" if r["raw"] else ""
            print(f"{'':58} ideal (round trips at window W) = {r['ideal']:.2f} s: engine/ideal "
                  f"{r['engine'] / r['ideal']:.2f}{rawx}")
    reps = sorted({r["runs"] for r in rows})
    print(f"(median of {'/'.join(map(str, reps))} runs; engine times include starting the "
          f"`mariadb` client, ~{overhead * 1000:.0f} ms for SELECT 1; raw = "
          + (f"bench/'s raw-s3 (aws-sdk-s3, the engine's SDK), window {WINDOW}, process start "
             f"included" if RAW else f"boto3 {boto3.__version__}, {WINDOW} threads")
          + f"; raw0 = the same raw client straight to the "
          f"server, no RTT, once: its own CPU floor; raw requests as counted by the proxy)")
    for r in rows:
        if r.get("plan"):
            print(f"  plan of {r['case']}: t: {r['plan']}")
    if peers:
        cold, warm = full_scans(rows)
        print(f"\n  peers, full scan of the same {ROWS} objects through the same proxy, twice in "
              f"one process (engine: cold {cold:.2f} s, warm {warm:.2f} s)")
        print(f"  {'peer':44} {'cold s':>8} {'eng/peer':>8} {'warm s':>8} {'eng/peer':>8}  "
              f"requests (both runs)")
        for p in peers:
            if "error" in p:
                print(f"  {p['peer']:44} {'-':>8} {'-':>8} {'-':>8} {'-':>8}  "
                      f"skipped: {p['error']}")
            else:
                w = (f"{p['warm']:8.2f} {p['warm_ratio']:8.2f}" if p.get("warm")
                     else f"{'-':>8} {'-':>8}")
                print(f"  {p['peer']:44} {p['seconds']:8.2f} {p['ratio']:8.2f} {w}  "
                      f"{fmt(p['wire'], True)}")
        for p in peers:
            if "how" in p:
                print(f"    {p['how']}")


def main():
    sql("CREATE DATABASE IF NOT EXISTS bench")
    t0 = time.perf_counter()
    for _ in range(3):
        sql("SELECT 1")
    overhead = (time.perf_counter() - t0) / 3
    started = time.perf_counter()
    r = subprocess.run([sys.executable, os.path.join(HERE, "rtt_proxy.py"), "--selftest",
                        str(ROWS), str(WINDOW), "--rtt-ms", str(RTT * 1000)]
                       + (["--proxy", PROXY] if PROXY else []),
                       capture_output=True, text=True)
    print((r.stdout.strip() or r.stderr.strip()[-300:]) + "  (a light asyncio client and a "
          "stub server: the proxy's own share)")
    big = []
    for i, name in enumerate(BACKENDS):
        b = Backend(name)
        try:
            repeat = int(REPEAT) if REPEAT else (1 if name == "moto" else 3)
            rows = run_backend(b, repeat)
            peers = run_peers(b, full_scans(rows)) if PEERS and name in PEER_BACKENDS else []
            print_backend(b, rows, peers, overhead)
            sys.stdout.flush()
            if BIG_ROWS and i == 0:
                big = [f"\n== large table on {name}: {BIG_ROWS} rows x {BIG_BODY} B, "
                       f"+{RTT * 1000:g} ms RTT, window {WINDOW} =="] + run_big(b)
                print("\n".join(big))
            b.engine_to(b.direct)              # drop without the RTT
            sql("DROP TABLE IF EXISTS bench.t, bench.j")
        finally:
            b.proxy.stop()
    if NOTES:
        print("\nnotes:")
        for n in NOTES:
            print(f"  {n}")
    print(f"\nbench: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
