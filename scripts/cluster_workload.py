#!/usr/bin/env python3
"""A mixed workload from every server of scripts/cluster.sh at once, a node crash in the
middle, and a check of what the bucket holds at the end. Run by `make test-cluster`
(scripts/test-cluster.sh); needs a running `scripts/cluster.sh start`.

Tables (database awssw, created on server 1 with no CONNECTION, then the same CREATE on
the other servers: "already exists" is accepted there, that is discovery working; else
the location files must name the same prefix):
  kv  (k VARCHAR(64) COLLATE utf8mb4_bin PRIMARY KEY, writer, n, payload, crc)  JSON rows
  ctr (same columns)                                                            counters

Per server, --threads workers for --seconds: INSERT of fresh keys (each acknowledged
key and value recorded), UPDATE ctr SET n = n + 1 retried on 1020 ER_CHECKREAD
(acknowledged increments counted per row), point reads of acknowledged keys from any
server (must be found, equal, crc = crc32(payload): not torn), COUNT(*) and, every
--scan-every s, a full scan checking every row's crc. Plus one contest thread per server:
all servers INSERT the same key dup-N at the same moment (a barrier): exactly one should
succeed, the others get 1062 ER_DUP_ENTRY. At --kill-at s, `cluster.sh kill-node
--kill-node` (SIGKILL); at --restart-at s (default never) `cluster.sh start-node`.

At the end, from every server whose endpoints are not all down: every acknowledged insert
is there with its value and a valid crc; each counter's n against its acknowledged
increments (n < acked: lost increments; n > acked: "ambiguous", an increment whose answer
was lost); each dup-N once, and how many servers were told they inserted it; and the
objects under kv's prefix, listed with boto3, are as many as the rows.

Garage ignores conditional writes, so the engine checks with a HEAD before its PUT: two
writers within that round trip can both "win" a dup-N, or lose an increment. Those are
measured and printed as race figures; they fail the run only with --strict. The exit
status is 1 for: an acknowledged insert missing or different, a torn row, a read that
missed an acknowledged key, objects != rows, an unexpected error outside the kill window,
a server or a surviving node that died; 2 for a setup failure.

Output: a summary on stdout and JSON in <run-dir>/result.json (--json).
"""
import argparse
import json
import os
import random
import string
import subprocess
import sys
import threading
import time
import traceback
import zlib

try:
    import pymysql
except ImportError:
    sys.exit("cluster_workload: PyMySQL is missing: pip install -r scripts/requirements-cluster.txt")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DB = "awssw"
COLS = "(k VARCHAR(64) COLLATE utf8mb4_bin PRIMARY KEY, writer VARCHAR(16), n INT, " \
       "payload VARCHAR(200), crc BIGINT)"
ER_DUP_ENTRY, ER_CHECKREAD, ER_TABLE_EXISTS = 1062, 1020, 1050
# A write refused because the store ignores conditional writes and
# awss3_last_writer_wins is OFF (--expect-refusals): recorded under this code.
REFUSED = -1296


def refusal(code, msg):
    return code == 1296 and "ignores conditional writes" in msg
CONN_LOST = {2003, 2006, 2013, 2055}  # the client lost (or could not get) its connection


def crc(payload):
    return zlib.crc32(payload.encode())


def rand_payload(rng):
    return "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(8, 200)))


class Server:
    def __init__(self, j, d):
        self.j, self.dir = j, d
        rd = lambda f: open(os.path.join(d, f)).read().strip()
        self.sock = rd("mariadbd.sockpath")
        self.endpoints = rd("endpoint").split(",")
        self.pid = int(rd("mariadbd.pid"))

    def connect(self, database=None):
        return pymysql.connect(unix_socket=self.sock, user="root", database=database,
                               autocommit=True, charset="utf8mb4", connect_timeout=10,
                               read_timeout=600, write_timeout=600)

    def alive(self):
        try:
            os.kill(self.pid, 0)
            return True
        except OSError:
            return False


class Stats:
    """Per-thread log of statements: (t_start, t_end, op, code); code 0 = success."""

    def __init__(self):
        self.log = []
        self.errors = []  # dicts: code, message, op, t

    def add(self, t0, t1, op, code, msg=None):
        self.log.append((t0, t1, op, code))
        if code:
            self.errors.append({"t": round(t1, 3), "op": op, "code": code, "message": (msg or "")[:300]})


class Shared:
    def __init__(self, args, servers):
        self.args = args
        self.servers = servers
        self.lock = threading.Lock()
        self.acked = {}            # key -> (writer, n, payload, crc)
        self.acked_keys = []       # for random choice
        self.uncertain = {}        # key -> value: insert failed with an error, outcome unknown
        self.incr_acked = {f"ctr-{i}": 0 for i in range(args.counters)}
        self.incr_unknown = {f"ctr-{i}": 0 for i in range(args.counters)}
        self.incr_retries = 0
        self.contests = {}         # N -> {server: (code, value)}
        self.contest_note = None
        self.read_failures = []    # missing / different / torn in reads during the run
        self.t0 = None
        self.end = None
        self.round = 0
        self.stop_contests = False
        self.events = []           # (t, text)

    def now(self):
        return time.monotonic() - self.t0


def err_code(e):
    try:
        return int(e.args[0]), str(e.args[1]) if len(e.args) > 1 else str(e)
    except (ValueError, TypeError, IndexError):
        return -1, repr(e)


class Worker(threading.Thread):
    def __init__(self, sh, srv, w, contest=None):
        super().__init__(daemon=True, name=f"s{srv.j}w{w}")
        self.sh, self.srv, self.w, self.contest = sh, srv, w, contest
        self.stats = Stats()
        self.rng = random.Random(hash((srv.j, w, sh.args.seed)))
        self.conn = None
        self.seq = 0
        self.last_scan = 0.0
        self.crash = None

    def run_sql(self, op, q, params=None, fetch=False):
        """(code, rows or rowcount); code 0 = success."""
        t0 = self.sh.now()
        try:
            if self.conn is None:
                self.conn = self.srv.connect(DB)
            with self.conn.cursor() as c:
                n = c.execute(q, params)
                res = c.fetchall() if fetch else n
            self.stats.add(t0, self.sh.now(), op, 0)
            return 0, res
        except pymysql.MySQLError as e:
            code, msg = err_code(e)
            if SH_ARGS.expect_refusals and refusal(code, msg):
                code = REFUSED
            if code in CONN_LOST or code == -1:
                try:
                    self.conn.close()
                except Exception:
                    pass
                self.conn = None
            expected = ((op == "dup" and code == ER_DUP_ENTRY) or (op == "update" and code == ER_CHECKREAD)
                        or code == REFUSED)
            self.stats.add(t0, self.sh.now(), op, code, None if expected else msg)
            return code, msg

    def run(self):
        try:
            if self.contest:
                self.contest_loop()
            else:
                self.loop()
        except Exception:  # noqa: BLE001 - a bug here must fail the run, not vanish
            self.crash = traceback.format_exc()
        finally:
            if self.conn:
                try:
                    self.conn.close()
                except Exception:
                    pass

    def loop(self):
        sh, rng = self.sh, self.rng
        while sh.now() < sh.end:
            if self.w == 0 and sh.now() - self.last_scan >= sh.args.scan_every:
                self.last_scan = sh.now()
                self.full_scan()
                continue
            r = rng.random()
            if r < 0.35:
                self.insert()
            elif r < 0.65:
                self.point_read()
            elif r < 0.92:
                self.increment()
            else:
                self.run_sql("count", "SELECT COUNT(*) FROM kv", fetch=True)

    def insert(self):
        self.seq += 1
        k = f"i-{self.srv.j}-{self.w}-{self.seq}"
        p = rand_payload(self.rng)
        v = (f"s{self.srv.j}", self.seq, p, crc(p))
        code, _ = self.run_sql("insert", "INSERT INTO kv VALUES (%s,%s,%s,%s,%s)", (k,) + v)
        with self.sh.lock:
            if code == 0:
                self.sh.acked[k] = v
                self.sh.acked_keys.append(k)
            else:
                self.sh.uncertain[k] = v

    def point_read(self):
        with self.sh.lock:
            if not self.sh.acked_keys:
                return
            k = self.rng.choice(self.sh.acked_keys)
            want = self.sh.acked[k]
        code, rows = self.run_sql("read", "SELECT writer, n, payload, crc FROM kv WHERE k = %s", (k,), fetch=True)
        if code:
            return
        bad = None
        if not rows:
            bad = "missing"
        elif tuple(rows[0]) != want:
            bad = "different" if crc(rows[0][2] or "") == rows[0][3] else "torn"
        if bad:
            with self.sh.lock:
                self.sh.read_failures.append({"server": self.srv.j, "t": round(self.sh.now(), 3),
                                              "key": k, "what": bad,
                                              "got": list(rows[0]) if rows else None, "want": list(want)})

    def increment(self):
        k = f"ctr-{self.rng.randrange(self.sh.args.counters)}"
        for attempt in range(20):
            if self.sh.now() >= self.sh.end and attempt:
                return
            code, res = self.run_sql("update", "UPDATE ctr SET n = n + 1, writer = %s WHERE k = %s",
                                     (f"s{self.srv.j}", k))
            with self.sh.lock:
                if code == 0:
                    if res == 1:
                        self.sh.incr_acked[k] += 1
                    return
                if code == ER_CHECKREAD:
                    self.sh.incr_retries += 1
                    continue
                self.sh.incr_unknown[k] += 1
                return

    def full_scan(self):
        with self.sh.lock:
            before = set(self.sh.acked)
        code, rows = self.run_sql("scan", "SELECT k, writer, n, payload, crc FROM kv", fetch=True)
        if code:
            return
        got = {r[0]: tuple(r[1:]) for r in rows}
        probs = []
        for k, v in got.items():
            if crc(v[2] or "") != v[3]:
                probs.append({"key": k, "what": "torn", "got": list(v)})
        for k in before - set(got):
            probs.append({"key": k, "what": "missing (scan)"})
        with self.sh.lock:
            for p in probs[:50]:
                p.update(server=self.srv.j, t=round(self.sh.now(), 3))
                self.sh.read_failures.append(p)

    def contest_loop(self):
        sh = self.sh
        while True:
            try:
                self.contest.wait(timeout=60)
            except threading.BrokenBarrierError:
                with sh.lock:
                    sh.contest_note = sh.contest_note or f"barrier broken at {sh.now():.1f} s: contests stopped"
                return
            if sh.stop_contests:
                return
            n = sh.round
            k = f"dup-{n}"
            p = rand_payload(self.rng)
            v = (f"s{self.srv.j}", n, p, crc(p))
            code, _ = self.run_sql("dup", "INSERT INTO kv VALUES (%s,%s,%s,%s,%s)", (k,) + v)
            with sh.lock:
                sh.contests.setdefault(n, {})[self.srv.j] = (code, v)
            time.sleep(self.rng.uniform(0, sh.args.contest_pause))


def setup(servers, run_dir):
    """Fresh kv and ctr; returns the kv prefix."""
    conns = [s.connect() for s in servers]
    try:
        for c in conns:
            with c.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
        for c in reversed(conns):
            with c.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {DB}.kv, {DB}.ctr")
        notes = {}
        for i, c in enumerate(conns):
            for t in ("kv", "ctr"):
                with c.cursor() as cur:
                    try:
                        cur.execute(f"CREATE TABLE {DB}.{t} {COLS} ENGINE=AWSS3")
                        cur.execute("SHOW WARNINGS")
                        w = [r[2] for r in cur.fetchall() if "lives at" in r[2]]
                        notes[(servers[i].j, t)] = "created" + (f" ({w[0]})" if w else "")
                        if w and i:
                            raise SystemExit(f"setup: server {servers[i].j} put {t} elsewhere: {w[0]}")
                    except pymysql.MySQLError as e:
                        if i and err_code(e)[0] == ER_TABLE_EXISTS:
                            notes[(servers[i].j, t)] = "already exists (discovery)"
                        else:
                            raise
        prefixes = set()
        for s in servers:
            f = os.path.join(s.dir, "data", DB, "kv.awss3")
            if os.path.exists(f):
                prefixes.add(json.load(open(f))["prefix"])
        if len(prefixes) != 1:
            raise SystemExit(f"setup: the servers' kv tables are at different prefixes: {sorted(prefixes)}")
        with conns[0].cursor() as cur:
            # The counters exist either way, so that refused increments are measured too.
            if SH_ARGS.expect_refusals:
                cur.execute("SET GLOBAL awss3_last_writer_wins= ON")
            try:
                for i in range(SH_ARGS.counters):
                    p = f"counter {i}"
                    cur.execute(f"INSERT INTO {DB}.ctr VALUES (%s,'init',0,%s,%s)", (f"ctr-{i}", p, crc(p)))
            finally:
                if SH_ARGS.expect_refusals:
                    cur.execute("SET GLOBAL awss3_last_writer_wins= OFF")
        return prefixes.pop(), {f"server {j} {t}": v for (j, t), v in notes.items()}
    finally:
        for c in conns:
            c.close()


def cluster_sh(*a):
    r = subprocess.run([os.path.join(HERE, "cluster.sh"), *a], capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def server_report(j, logs, errors, kill_t, end_t, restart_t):
    log = sorted(x for lg in logs for x in lg)
    ok = [x for x in log if x[3] == 0]
    by_code = {}
    for x in log:
        if x[3]:
            by_code[str(x[3])] = by_code.get(str(x[3]), 0) + 1
    by_op = {}
    for x in log:
        o = by_op.setdefault(x[2], {"ok": 0, "err": 0})
        o["ok" if x[3] == 0 else "err"] += 1
    rep = {"statements": len(log), "ok": len(ok), "errors_by_code": by_code, "by_op": by_op}
    if kill_t is not None:
        before = [x for x in ok if x[1] < kill_t]
        after = [x for x in ok if x[0] >= kill_t]
        rep["ok_per_s_before_kill"] = round(len(before) / kill_t, 1) if kill_t > 0 else None
        rep["ok_per_s_after_kill"] = round(len(after) / (end_t - kill_t), 1) if end_t > kill_t else None
        errs_after = [e for e in errors if e["t"] >= kill_t and e["code"] not in (ER_DUP_ENTRY, ER_CHECKREAD, REFUSED)]
        rep["errors_after_kill"] = len(errs_after)
        if errs_after:
            rep["error_window_s"] = [round(errs_after[0]["t"] - kill_t, 3), round(errs_after[-1]["t"] - kill_t, 3)]
        ends = [kill_t] + sorted(x[1] for x in ok if x[1] >= kill_t) + [end_t]
        gap = max((b - a, a) for a, b in zip(ends, ends[1:]))
        rep["longest_gap_after_kill_s"] = round(gap[0], 3)
        rep["longest_gap_starts_at_s"] = round(gap[1] - kill_t, 3)
        if restart_t is not None:
            first_ok = next((x[1] for x in ok if x[0] >= restart_t), None)
            rep["first_ok_after_restart_s"] = None if first_ok is None else round(first_ok - restart_t, 3)
    return rep


def verify(sh, servers, prefix, dead_urls):
    """What every reachable server sees at the end, and what S3 holds."""
    out = {"servers": {}, "failures": [], "races": {}}
    fails = out["failures"]
    ver_counts = {}
    dup_rows = {}
    ctr_rows = {}
    for s in servers:
        if all(u in dead_urls for u in s.endpoints):
            out["servers"][s.j] = "skipped: all its endpoints are down"
            continue
        try:
            c = s.connect()
            with c.cursor() as cur:
                cur.execute(f"SELECT k, writer, n, payload, crc FROM {DB}.kv")
                kv = {r[0]: tuple(r[1:]) for r in cur.fetchall()}
                cur.execute(f"SELECT COUNT(*) FROM {DB}.kv")
                cnt = cur.fetchone()[0]
                cur.execute(f"SELECT k, writer, n, payload, crc FROM {DB}.ctr")
                ctr = {r[0]: tuple(r[1:]) for r in cur.fetchall()}
            c.close()
        except pymysql.MySQLError as e:
            code, msg = err_code(e)
            out["servers"][s.j] = f"FAILED: {code} {msg[:200]}"
            fails.append(f"verify: server {s.j} could not read the tables: {code} {msg[:200]}")
            continue
        ver_counts[s.j] = (len(kv), cnt)
        missing = [k for k in sh.acked if k not in kv]
        different = [k for k, v in sh.acked.items() if k in kv and kv[k] != v]
        torn = [k for k, v in kv.items() if crc(v[2] or "") != v[3]]
        unc_present = [k for k in sh.uncertain if k in kv]
        unc_wrong = [k for k in unc_present if kv[k] != sh.uncertain[k]]
        strays = [k for k in kv if not (k in sh.acked or k in sh.uncertain or k.startswith("dup-"))]
        out["servers"][s.j] = {"rows": len(kv), "count_star": cnt, "acked_inserts": len(sh.acked),
                               "missing": len(missing), "different": len(different), "torn": len(torn),
                               "uncertain_inserts": len(sh.uncertain), "uncertain_present": len(unc_present),
                               "unknown_rows": len(strays)}
        for name, lst in (("acknowledged inserts missing", missing), ("acknowledged inserts different", different),
                          ("torn rows (crc)", torn), ("failed inserts present with another value", unc_wrong),
                          ("rows nobody wrote", strays)):
            if lst:
                fails.append(f"verify server {s.j}: {len(lst)} {name}, e.g. {lst[:5]}")
        if cnt != len(kv):
            fails.append(f"verify server {s.j}: COUNT(*) {cnt} != rows scanned {len(kv)}")
        dup_rows[s.j] = {k: v for k, v in kv.items() if k.startswith("dup-")}
        ctr_rows[s.j] = ctr
    if len({v for v in ver_counts.values()}) > 1:
        fails.append(f"verify: the servers see different row counts: {ver_counts}")

    # Dup contests.
    one = next(iter(dup_rows.values()), None)
    contests = sh.contests
    clean = two = zero_won = err_side = refused = 0
    doubles = []
    for n, res in sorted(contests.items()):
        codes = [c for c, _ in res.values()]
        if codes and all(c == REFUSED for c in codes):
            refused += 1
            continue
        winners = [j for j, (c, _) in res.items() if c == 0]
        if any(c not in (0, ER_DUP_ENTRY) for c in codes):
            err_side += 1
        if len(winners) > 1:
            two += 1
            doubles.append(n)
        elif len(winners) == 1 and codes.count(ER_DUP_ENTRY) == len(codes) - 1:
            clean += 1
        elif not winners:
            zero_won += 1
        if one is not None:
            k = f"dup-{n}"
            stored = one.get(k)
            if winners and stored is None:
                fails.append(f"verify: {k} was inserted (servers {winners}) but is not there")
            if stored is not None and not any(stored == v for c, v in res.values() if c == 0) \
                    and not any(stored == v for c, v in res.values() if c != ER_DUP_ENTRY):
                fails.append(f"verify: {k} holds a value no contender wrote: {stored}")
            if not winners and stored is not None and all(c == ER_DUP_ENTRY for c in codes):
                fails.append(f"verify: {k} exists but every contender got 1062")
    if one is not None:
        extra = [k for k in one if int(k.split("-")[1]) not in contests]
        if extra:
            fails.append(f"verify: dup keys that no contest wrote: {extra[:5]}")
    out["races"]["dup"] = {"contests": len(contests), "one_winner_rest_1062": clean,
                           "two_or_more_winners": two, "no_winner": zero_won,
                           "with_other_error_on_a_side": err_side, "all_refused": refused,
                           "double_winner_rounds": doubles[:20]}
    out["races"]["dup"]["double_winner_rate"] = round(two / len(contests), 4) if contests else None

    # Counters.
    ctr = next(iter(ctr_rows.values()), None)
    if ctr is not None:
        per = {}
        lost = ambiguous = 0
        for k in sorted(sh.incr_acked, key=lambda x: int(x.split("-")[1])):
            if k not in ctr:
                fails.append(f"verify: counter row {k} is missing")
                continue
            n = ctr[k][1]
            a, u = sh.incr_acked[k], sh.incr_unknown[k]
            per[k] = {"n": n, "acked": a, "unknown_outcome": u}
            if crc(ctr[k][2] or "") != ctr[k][3]:
                fails.append(f"verify: counter row {k} is torn")
            if n < a:
                lost += a - n
            elif n > a:
                ambiguous += n - a
                if n - a > u:
                    per[k]["more_than_unknown"] = n - a - u
        tot_a = sum(sh.incr_acked.values())
        out["races"]["increments"] = {"acked": tot_a, "lost": lost, "ambiguous": ambiguous,
                                      "unknown_outcome": sum(sh.incr_unknown.values()),
                                      "retries_1020": sh.incr_retries,
                                      "lost_rate": round(lost / tot_a, 4) if tot_a else None, "rows": per}
        for j, c2 in ctr_rows.items():
            if {k: v[1] for k, v in c2.items()} != {k: v[1] for k, v in ctr.items()}:
                fails.append(f"verify: server {j} sees other counter values than the first verifying server")

    # Raw S3.
    try:
        import boto3
        from botocore.config import Config
        d = sh.args.run_dir
        rd = lambda f: open(os.path.join(d, f)).read().strip()
        live = [u for u in rd("endpoints").split(",") if u not in dead_urls]
        s3 = boto3.client("s3", endpoint_url=live[0], aws_access_key_id=rd("key_id"),
                          aws_secret_access_key=rd("secret"), region_name=rd("region"),
                          config=Config(retries={"max_attempts": 3}))
        n_obj = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=rd("bucket"), Prefix=prefix):
            n_obj += len(page.get("Contents", []))
        out["s3_objects"] = n_obj
        out["s3_endpoint"] = live[0]
        for j, (rows, _) in ver_counts.items():
            if rows != n_obj:
                fails.append(f"verify: S3 holds {n_obj} objects under {prefix}, server {j} sees {rows} rows")
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        fails.append(f"verify: raw S3 listing failed: {e!r}"[:300])
    return out


def main():
    global SH_ARGS
    run_default = os.path.join(os.environ.get("AWSS3_RUN_DIR") or os.path.join(REPO, "build", "run"), "cluster")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run-dir", default=run_default, help="cluster.sh's state dir (default %(default)s)")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--threads", type=int, default=4, help="workers per server (plus one contest thread)")
    ap.add_argument("--kill-at", type=float, default=None, help="s into the run (default 1/3; <0: no kill)")
    ap.add_argument("--kill-node", type=int, default=1)
    ap.add_argument("--restart-at", type=float, default=None, help="s into the run (default: not restarted)")
    ap.add_argument("--counters", type=int, default=8)
    ap.add_argument("--scan-every", type=float, default=10)
    ap.add_argument("--contest-pause", type=float, default=0.05, help="max random pause between contests, s")
    ap.add_argument("--kill-grace", type=float, default=30,
                    help="after a restart, errors this long after it still count as in the kill window")
    ap.add_argument("--strict", action="store_true", help="also fail on race figures (double winners, lost increments)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--expect-refusals", action="store_true",
                    help="awss3_last_writer_wins=OFF on a store that ignores conditional writes: writes "
                         "refused for that are expected, and counted (code -1296)")
    ap.add_argument("--json", default=None, help="default <run-dir>/result.json")
    args = ap.parse_args()
    SH_ARGS = args
    if args.kill_at is None:
        args.kill_at = args.seconds / 3
    kill_at = args.kill_at if args.kill_at >= 0 else None
    json_path = args.json or os.path.join(args.run_dir, "result.json")
    try:
        m = int(open(os.path.join(args.run_dir, "servers")).read())
        servers = [Server(j, os.path.join(args.run_dir, f"mysqld{j}")) for j in range(1, m + 1)]
        node_urls = {i: open(os.path.join(args.run_dir, f"node{i}.url")).read().strip() for i in (1, 2, 3)}
    except (OSError, ValueError) as e:
        print(f"cluster_workload: no running cluster in {args.run_dir} ({e}): run scripts/cluster.sh start", file=sys.stderr)
        return 2
    try:
        prefix, notes = setup(servers, args.run_dir)
    except (pymysql.MySQLError, SystemExit) as e:
        print(f"cluster_workload: setup failed: {e}", file=sys.stderr)
        return 2

    sh = Shared(args, servers)
    contest = threading.Barrier(len(servers), action=lambda: next_round(sh))
    workers = [Worker(sh, s, w) for s in servers for w in range(args.threads)]
    workers += [Worker(sh, s, args.threads, contest=contest) for s in servers]
    sh.t0 = time.monotonic()
    sh.end = args.seconds
    print(f"cluster_workload: {len(servers)} servers x ({args.threads} workers + 1 contest thread), "
          f"{args.seconds:g} s; kill node {args.kill_node} at {kill_at if kill_at is not None else '-'} s, "
          f"restart at {args.restart_at if args.restart_at is not None else '-'} s; kv at {prefix}", flush=True)
    for w in workers:
        w.start()
    killed_t = restart_t = None
    dead = set()
    plan = []
    if kill_at is not None:
        plan.append((kill_at, "kill"))
        if args.restart_at is not None:
            plan.append((args.restart_at, "restart"))
    for at, what in plan:
        while sh.now() < at:
            time.sleep(0.02)
        # The time of the call: the SIGKILL is the first thing cluster.sh does.
        if what == "kill":
            killed_t = sh.now()
            rc, out = cluster_sh("kill-node", str(args.kill_node))
            dead.add(node_urls[args.kill_node])
        else:
            rc, out = cluster_sh("start-node", str(args.kill_node))
            restart_t = sh.now()  # when the node answers again
            dead.discard(node_urls[args.kill_node])
        sh.events.append((round(sh.now(), 3), out))
        print(f"cluster_workload: {sh.now():6.2f} s  {out}", flush=True)
        if rc:
            print(f"cluster_workload: cluster.sh {what} failed (rc {rc})", file=sys.stderr)
    last = 0
    while any(w.is_alive() for w in workers):
        if sh.now() - last >= 10:
            last = sh.now()
            with sh.lock:
                print(f"cluster_workload: {sh.now():6.1f} s  acked inserts {len(sh.acked)}, "
                      f"increments {sum(sh.incr_acked.values())}, contests {len(sh.contests)}", flush=True)
        time.sleep(0.2)
        if sh.now() > args.seconds + 900:
            print("cluster_workload: workers still running 15 min after the end", file=sys.stderr)
            break
    end_t = sh.now()
    hung = [w.name for w in workers if w.is_alive()]

    failures = []
    for w in workers:
        if w.crash:
            failures.append(f"workload thread {w.name} died: {w.crash.strip().splitlines()[-1]}")
            print(w.crash, file=sys.stderr)
    if hung:
        failures.append(f"threads still running at the end (a hung statement?): {hung}")
    # Error classification.
    window_end = None if restart_t is None else restart_t + args.kill_grace
    unexpected_in, unexpected_out = [], []
    reports = {}
    for s in servers:
        ws = [w for w in workers if w.srv.j == s.j]
        errs = sorted((e for w in ws for e in w.stats.errors), key=lambda e: e["t"])
        for e in errs:
            if ((e["op"] == "dup" and e["code"] == ER_DUP_ENTRY) or (e["op"] == "update" and e["code"] == ER_CHECKREAD)
                    or e["code"] == REFUSED):
                continue
            e2 = dict(e, server=s.j)
            in_window = killed_t is not None and e["t"] >= killed_t and (window_end is None or e["t"] <= window_end)
            (unexpected_in if in_window else unexpected_out).append(e2)
        reports[s.j] = server_report(s.j, [w.stats.log for w in ws], errs, killed_t, end_t, restart_t)
        reports[s.j]["endpoints"] = s.endpoints
    if unexpected_out:
        failures.append(f"{len(unexpected_out)} unexpected errors outside the kill window, first: {unexpected_out[0]}")
    for f in sh.read_failures[:20]:
        failures.append(f"read during the run: {f}")
    if len(sh.read_failures) > 20:
        failures.append(f"... {len(sh.read_failures) - 20} more read failures")
    # Crashes.
    for s in servers:
        if not s.alive():
            failures.append(f"server {s.j} (pid {s.pid}) is not running any more")
        else:
            err = open(os.path.join(s.dir, "mariadbd.err"), errors="replace").read()
            if "got signal" in err or "Assertion" in err:
                failures.append(f"server {s.j}: its error log reports a crash/assertion")
    rc, st = cluster_sh("status")
    for line in st.splitlines():
        if line.startswith("node ") and "not running" in line:
            i = int(line.split()[1].rstrip(":"))
            if node_urls[i] not in dead:
                failures.append(f"garage {line} (it was not killed)")

    ver = verify(sh, servers, prefix, dead)
    failures += ver["failures"]
    races = ver["races"]
    race_fail = (races.get("dup", {}).get("two_or_more_winners", 0) or
                 races.get("increments", {}).get("lost", 0))
    if args.strict and race_fail:
        failures.append("--strict: races seen (dup keys with two winners or lost increments)")

    result = {"config": {k: v for k, v in vars(args).items()}, "setup": notes, "kv_prefix": prefix,
              "killed_at_s": killed_t, "restarted_at_s": restart_t, "run_s": round(end_t, 3),
              "events": sh.events, "servers": reports, "verify": ver["servers"],
              "s3_objects": ver.get("s3_objects"), "races": races,
              "unexpected_errors_in_kill_window": len(unexpected_in),
              "unexpected_errors_outside_kill_window": unexpected_out[:100],
              "kill_window_error_samples": unexpected_in[:20],
              "read_failures": sh.read_failures[:100], "contest_note": sh.contest_note,
              "failures": failures, "ok": not failures}
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1, default=str)
    print_summary(result, json_path)
    return 1 if failures else 0


def next_round(sh):
    sh.round += 1
    sh.stop_contests = sh.now() >= sh.end


def print_summary(r, path):
    p = print
    p("")
    p("=== cluster workload summary ===")
    p(f"run {r['run_s']} s; node {r['config']['kill_node']} killed at "
      f"{r['killed_at_s'] if r['killed_at_s'] is None else round(r['killed_at_s'], 2)} s, restarted at "
      f"{r['restarted_at_s'] if r['restarted_at_s'] is None else round(r['restarted_at_s'], 2)} s")
    p(f"setup: {r['setup']}")
    for j, s in r["servers"].items():
        p(f"server {j} (endpoints {','.join(s['endpoints'])}):")
        p(f"  statements {s['statements']}, ok {s['ok']}, errors by code {s['errors_by_code'] or '{}'}")
        p("  by op: " + ", ".join(f"{o} {v['ok']}/{v['ok'] + v['err']}" for o, v in sorted(s["by_op"].items())))
        if "ok_per_s_before_kill" in s:
            w = s.get("error_window_s")
            p(f"  ok statements/s before kill {s['ok_per_s_before_kill']}, after {s['ok_per_s_after_kill']}; "
              f"errors after kill {s['errors_after_kill']}"
              + (f" from +{w[0]} s to +{w[1]} s" if w else "")
              + f"; longest gap without success after kill {s['longest_gap_after_kill_s']} s "
                f"(from +{s['longest_gap_starts_at_s']} s)"
              + (f"; first ok after restart +{s['first_ok_after_restart_s']} s" if "first_ok_after_restart_s" in s else ""))
    for j, v in r["verify"].items():
        p(f"verify from server {j}: {v}")
    p(f"S3 objects under {r['kv_prefix']}: {r['s3_objects']}")
    d = r["races"].get("dup", {})
    p(f"RACE dup keys: {d.get('contests')} contests: {d.get('one_winner_rest_1062')} clean (one winner, rest 1062), "
      f"{d.get('two_or_more_winners')} with TWO OR MORE SQL winners (rate {d.get('double_winner_rate')}), "
      f"{d.get('no_winner')} no winner, {d.get('with_other_error_on_a_side')} with another error on a side, "
      f"{d.get('all_refused')} refused on every server (awss3_last_writer_wins=OFF)")
    if r.get("contest_note"):
        p(f"  {r['contest_note']}")
    i = r["races"].get("increments")
    if i:
        p(f"RACE increments: {i['acked']} acknowledged, {i['lost']} LOST (rate {i['lost_rate']}), "
          f"{i['ambiguous']} ambiguous (n above acked; {i['unknown_outcome']} increments ended in an error), "
          f"{i['retries_1020']} retries on 1020")
    p(f"unexpected errors in the kill window: {r['unexpected_errors_in_kill_window']}; outside it: "
      f"{len(r['unexpected_errors_outside_kill_window'])}")
    for e in r["kill_window_error_samples"][:3]:
        p(f"  e.g. server {e['server']} +{e['t']} s {e['op']}: {e['code']} {e['message'][:160]}")
    for e in r["unexpected_errors_outside_kill_window"][:5]:
        p(f"  OUTSIDE: server {e['server']} {e['t']} s {e['op']}: {e['code']} {e['message'][:160]}")
    if r["failures"]:
        p(f"FAILED ({len(r['failures'])}):")
        for f in r["failures"][:30]:
            p(f"  - {f}")
    else:
        p("OK: no lost or torn row, no unexpected error outside the kill window, no crash")
    p(f"details: {path}")


if __name__ == "__main__":
    sys.exit(main())
