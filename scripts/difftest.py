#!/usr/bin/env python3
"""difftest.py — AWSS3 tables against InnoDB twins: seeded random statements, compared.

    difftest.py --port P [--host H] [--user U] [--socket S] --endpoint URL
                [--seed N | --random] [--minutes M] [--rows N] [--statements N]
                [--bucket B] [--kinds pad,nopad,bin,raw] [--no-shrink]

For each round (one seed), for each table kind, the same rows are loaded into an
AWSS3 table, an InnoDB twin and a MyISAM twin, and the same random statements an
application runs (point reads, IN lists, ranges, LIKE prefixes, ORDER BY/LIMIT,
aggregates, joins with and without batched key access, INSERT/IGNORE/REPLACE/
ON DUPLICATE KEY UPDATE, UPDATE by key and by range, key-changing UPDATE, DELETE)
run on all three. Compared after each statement: the error code (or none), the
affected rows, the result (in order where the statement orders it, as a multiset
otherwise) and, after a write, the whole table.

AWSS3 must answer as InnoDB does, except where the README names a difference:
  * non-transactional: a multi-row statement that fails part way keeps the rows it
    wrote, and STRICT_TRANS_TABLES warns instead of failing after the first row.
    Accepted when AWSS3 answers exactly as the MyISAM twin (the server's own
    non-transactional behaviour); for a plain multi-row INSERT, when it also kept
    some of the rows after the failing one (the write window): MyISAM's rows plus
    some of the statement's. The twins then take AWSS3's rows and go on.
  * keys S3 cannot store (ending in a space under PAD SPACE, empty, not UTF-8):
    such statements run on AWSS3 alone and must fail with the engine's error,
    changing nothing.
On a difference it prints the seed, the statement number, the statement and every
result, shrinks the case to the fewest rows and statements that still differ, prints
that, and exits 1. The last line is "difftest: N passed, N failed" (statements).
Needs: PyMySQL, boto3; a server with the AWSS3 plugin and InnoDB, on an S3 endpoint.
"""
import argparse
import datetime
import decimal
import os
import random
import sys
import time

try:
    import boto3
    import pymysql
    from botocore.config import Config
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"difftest: cannot import ({e}); run scripts/install-deps.sh\n")
    sys.exit(1)

ER_DUP_ENTRY = 1062
ER_GET_ERRMSG = 1296

# ---------------------------------------------------------------- table kinds

# name: (key column type, value columns {name: type}, is the key PAD SPACE)
KINDS = {
    "pad": (
        "VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        {
            "i": "INT", "u": "BIGINT UNSIGNED", "d": "DECIMAL(12,3)", "f": "DOUBLE",
            "r": "FLOAT", "s": "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            "vb": "VARBINARY(16)", "dt": "DATETIME(3)", "dd": "DATE", "tm": "TIME",
            "y": "YEAR", "e": "ENUM('x','y','z')", "st": "SET('p','q','r')",
            "bt": "BIT(8)", "tx": "TEXT CHARACTER SET utf8mb4", "bl": "BLOB",
            "ti": "TINYINT", "ch": "CHAR(5) CHARACTER SET utf8mb4", "js": "JSON",
            "sm": "SMALLINT UNSIGNED", "mi": "MEDIUMINT", "bn": "BINARY(4)", "b4": "BIT(4)",
        },
        True,
    ),
    "nopad": (
        "VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
        {"i": "INT", "s": "VARCHAR(40) CHARACTER SET utf8mb4", "d": "DECIMAL(12,3)",
         "dt": "DATETIME", "e": "ENUM('x','y','z')", "ti": "TINYINT"},
        False,
    ),
    "bin": ("VARBINARY(200)", {"i": "INT", "s": "VARCHAR(40) CHARACTER SET utf8mb4",
                               "ti": "TINYINT"}, False),
    # One BLOB value column: the object body is the value itself (RAW).
    "raw": ("VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", {"v": "BLOB"}, True),
    # The key alone: rows are object names (reads need no body; sorted rows
    # come back from their positions).
    "keyonly": ("VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", {}, True),
}

FIRST = ["a", "b", "ab", "é", "日本", "/", "x", "%", "+", "0", "~", ".", "A", "😀", "a/", "k"]
MORE = ["", " ", "\t", "\x01", "\x1f", "/", "//", "b", "c", "%", "+", " b", "  ", "é",
        "😀", ".", "_", "\\", "'", "a", " \t", "/x", "\x7f"]


def pad_trim(k):
    return k.rstrip(b" ") if isinstance(k, bytes) else k.rstrip(" ")


class Gen:
    """Random rows and statements for one table kind; all draws from one Random."""

    def __init__(self, rnd, kind, lit):
        self.r = rnd
        self.kind = kind
        self.key_type, self.cols, self.pad = KINDS[kind]
        self.binary = kind == "bin"
        self.lit = lit
        self.keys = []          # keys believed to exist (a hint, not the truth)

    # --- keys
    def fresh_key(self):
        r = self.r
        if r.random() < 0.04:
            k = "k" * r.randint(100, 199) + r.choice(["", "x", "é"])
        else:
            k = r.choice(FIRST) + "".join(r.choice(MORE) for _ in range(r.choice([0, 0, 1, 1, 2, 3])))
        if self.pad:
            k = k.rstrip(" ") or "sp"
        return self.enc(k)

    def enc(self, k):
        return k.encode() if self.binary and isinstance(k, str) else k

    def key(self):
        r = self.r
        x = r.random()
        if self.keys and x < 0.55:
            return r.choice(self.keys)
        if self.keys and x < 0.75:
            k = r.choice(self.keys)
            k = self.related(k)
            if self.pad:
                k = pad_trim(k) or self.enc("sp")
            return k
        return self.fresh_key()

    def related(self, k):
        """A prefix or an extension of k: the keys where collations bite."""
        r = self.r
        if isinstance(k, bytes):
            k = k.decode(errors="replace")
        if r.random() < 0.5 and len(k) > 1:
            k = k[: r.randint(1, len(k) - 1)]
        else:
            k = k + r.choice(MORE[1:])
        return self.enc(k[:200])

    def bound(self):
        """A range bound: a key, or one with a space, a tab or a control char after it."""
        k = self.key() if self.r.random() < 0.7 else self.fresh_key()
        t = self.r.random()
        if t < 0.15:
            k = k + self.enc(" ")
        elif t < 0.25:
            k = k + self.enc("\t")
        elif t < 0.3:
            k = k + self.enc("  \x01")
        return k

    # --- values
    def value(self, col):
        r = self.r
        t = self.cols[col]
        if r.random() < 0.2:
            return "NULL"
        if t == "INT":
            return str(r.choice([r.randint(-1000, 1000), r.randint(-2**31, 2**31 - 1), 0, 1, 2]))
        if t == "TINYINT":
            return str(r.choice([r.randint(-128, 127), 0, 1, 2]))
        if t == "SMALLINT UNSIGNED":
            return str(r.choice([r.randint(0, 65535), 0, 65535]))
        if t == "MEDIUMINT":
            return str(r.choice([r.randint(-8388608, 8388607), -1]))
        if t == "BINARY(4)":
            return self.lit(bytes(r.choice([0, 1, 32, 65, 0xFF]) for _ in range(r.randint(0, 4))))
        if t == "BIGINT UNSIGNED":
            return str(r.choice([r.randint(0, 1000), r.randint(0, 2**64 - 1), 2**64 - 1]))
        if t.startswith("DECIMAL"):
            return "%d.%03d" % (r.randint(-999999999, 999999999), r.randint(0, 999))
        if t == "DOUBLE":
            return r.choice(["0.1", "-2.5e-300", "1e308", "-0.0e0", repr(r.uniform(-1e6, 1e6)),
                             repr(r.random())])
        if t == "FLOAT":
            return r.choice(["0.5", "1.25", "-3.4e38", "1e-10", repr(r.uniform(-1000, 1000))])
        if t.startswith("VARCHAR") or t.startswith("TEXT") or t.startswith("CHAR"):
            n = 5 if t.startswith("CHAR") else (40 if t.startswith("VARCHAR") else 300)
            s = "".join(r.choice(["a", "b", " ", "é", "😀", "'", "\\", "\"", "\n", "\x01", "日", "{", "}"])
                        for _ in range(r.randint(0, n)))
            if t.startswith("CHAR"):
                s = s.rstrip(" ")
            return self.lit(s)
        if t in ("VARBINARY(16)", "BLOB"):
            n = 16 if t.startswith("VARBINARY") else 300
            b = bytes(r.choice([0, 1, 32, 65, 0xC3, 0xA9, 0xFF, 0x80, 10, 92, 39]) for _ in range(r.randint(0, n)))
            if r.random() < 0.5:
                b = "".join(r.choice("ab é{}\"\\") for _ in range(r.randint(0, n // 2))).encode()
            return self.lit(b)
        if t.startswith("DATETIME"):
            d = datetime.datetime(r.randint(1000, 9999), r.randint(1, 12), r.randint(1, 28),
                                  r.randint(0, 23), r.randint(0, 59), r.randint(0, 59),
                                  r.randint(0, 999) * 1000)
            return "'%s'" % d.isoformat(sep=" ")
        if t == "DATE":
            return "'%04d-%02d-%02d'" % (r.randint(1000, 9999), r.randint(1, 12), r.randint(1, 28))
        if t == "TIME":
            return "'%s%d:%02d:%02d'" % (r.choice(["", "-"]), r.randint(0, 838), r.randint(0, 59),
                                         r.randint(0, 59))
        if t == "YEAR":
            return str(r.randint(1901, 2155))
        if t.startswith("ENUM"):
            return r.choice(["'x'", "'y'", "'z'"])
        if t.startswith("SET"):
            return "'%s'" % ",".join(r.sample(["p", "q", "r"], r.randint(0, 3)))
        if t == "JSON":
            return self.lit(r.choice(['{"a": 1}', '[1, 2.5, "é", null]', '"x"', '{"k": {"n": [true, false]}}', '{}']))
        if t.startswith("BIT"):
            return str(r.randint(0, 15 if t == "BIT(4)" else 255))
        raise ValueError(t)

    def row(self, key=None):
        k = self.key() if key is None else key
        return [self.lit(k)] + [self.value(c) for c in self.cols]

    def initial_rows(self, n):
        seen, rows = set(), []
        while len(rows) < n:
            k = self.fresh_key() if self.r.random() < 0.6 or not seen else self.related(self.r.choice(sorted(seen)))
            if self.pad:
                k = pad_trim(k) or self.enc("sp")
            if not k or k in seen:
                continue
            seen.add(k)
            rows.append(self.row(k))
        self.keys = sorted(seen)
        return rows

    # --- statements: (sql with {t} and {d}, how to compare)
    def num_col(self):
        return "i" if "i" in self.cols else None

    def set_clause(self):
        r = self.r
        if not self.cols:
            return f"k = CONCAT(k, {self.lit(self.enc(r.choice(['x', '/', 'é'])))})"
        c = r.choice(list(self.cols))
        if c == "i" and r.random() < 0.4:
            return r.choice(["i = i + 1", "i = i * 2", "i = NULL", "i = COALESCE(i, 0) - 1"])
        if c == "ti" and r.random() < 0.3:
            return "ti = ti + 100"           # out of range for some rows: strict mode fails
        if c == "v" and r.random() < 0.3:
            return r.choice(["v = CONCAT(COALESCE(v, ''), 'x')", "v = NULL", "v = ''"])
        return f"{c} = {self.value(c)}"

    def where(self):
        r = self.r
        x = r.random()
        L = self.lit
        if x < 0.25:
            return f"k = {L(self.key())}", True
        if x < 0.4:
            ks = [L(self.key()) for _ in range(r.randint(1, 6))]
            return f"k IN ({', '.join(ks)})", False
        if x < 0.6:
            op = r.choice([">", ">=", "<", "<="])
            w = f"k {op} {L(self.bound())}"
            if r.random() < 0.4:
                op2 = r.choice(["<", "<="] if op[0] == ">" else [">", ">="])
                w += f" AND k {op2} {L(self.bound())}"
            return w, False
        if x < 0.7:
            a, b = sorted([self.bound(), self.bound()])
            return f"k BETWEEN {L(a)} AND {L(b)}", False
        if x < 0.85:
            p = self.key()
            if isinstance(p, bytes):
                p = p.decode(errors="replace")
            p = p[: r.randint(1, max(1, min(len(p), 3)))]
            esc = p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"k LIKE {L(self.enc(esc + '%'))}", False
        if x < 0.92 and self.num_col():
            return f"i {r.choice(['>', '<', '='])} {r.randint(-500, 500)}", False
        return "1", False

    def statement(self):
        """(sql, kind): kind 'read-ordered', 'read', 'write', 'insert-multi', 'refused'."""
        r = self.r
        L = self.lit
        x = r.random()
        cols = ", ".join(["k"] + list(self.cols))
        if x < 0.42:
            return self.select()
        if x < 0.50:
            k = self.key() if r.random() < 0.5 else self.fresh_key()
            self.keys.append(k)
            return f"INSERT INTO {{t}} VALUES ({', '.join(self.row(k))})", "write"
        if x < 0.56:
            rows = [self.row() for _ in range(r.randint(2, 6))]
            verb = r.choice(["INSERT", "INSERT", "INSERT IGNORE", "REPLACE"])
            vals = ", ".join("(" + ", ".join(row) + ")" for row in rows)
            return f"{verb} INTO {{t}} VALUES {vals}", ("insert-multi" if verb == "INSERT" else "write")
        if x < 0.62:
            rows = [self.row() for _ in range(r.randint(1, 3))]
            vals = ", ".join("(" + ", ".join(row) + ")" for row in rows)
            c = r.choice(list(self.cols) or ["k"])
            upd = r.choice([f"{c} = {c}", f"{c} = VALUES({c})"] + ([f"{c} = {self.value(c)}"] if self.cols else []))
            if self.num_col() and r.random() < 0.3:
                upd = "i = COALESCE(i, 0) + 1"
            return f"INSERT INTO {{t}} VALUES {vals} ON DUPLICATE KEY UPDATE {upd}", "write"
        if x < 0.72:
            w, _ = self.where()
            return f"UPDATE {{t}} SET {self.set_clause()} WHERE {w}{self.order_limit(0.7, 5, 0.3)}", "write"
        if x < 0.78:
            # Key-changing UPDATE: to a new key, a key that may exist, or k + suffix.
            w, one = self.where()
            if one or r.random() < 0.5:
                w = f"k = {L(self.key())}"
                new = self.key() if r.random() < 0.5 else self.fresh_key()
                if self.pad:
                    new = pad_trim(new) or self.enc("sp")
                s = f"k = {L(new)}"
            else:
                suffix = r.choice(["x", "/", "é", "\t", "+"])
                s = f"k = CONCAT(k, {L(self.enc(suffix))})"
            return f"UPDATE {{t}} SET {s} WHERE {w} ORDER BY k", "write"
        if x < 0.86:
            w, _ = self.where()
            return f"DELETE FROM {{t}} WHERE {w}{self.order_limit(0.5, 4, 0.4)}", "write"
        if x < 0.91:
            verb = r.choice(["INSERT IGNORE", "REPLACE", "INSERT"])
            w = r.choice(["1", "d.n > 5", f"d.k LIKE {L(self.enc(r.choice(FIRST)[0] + '%'))}"])
            sel = ", ".join(["d.k"] + [("d.n" if c in ("i", "ti") else "NULL") if c != "v" else "CONCAT('n', d.n)"
                                       for c in self.cols])
            return (f"{verb} INTO {{t}} SELECT {sel} FROM {{d}} d WHERE {w} ORDER BY d.k",
                    "insert-multi" if verb == "INSERT" else "write")
        if x < 0.925:
            return "DELETE FROM {t}" + (" WHERE 1" if r.random() < 0.5 else ""), "write"
        if x < 0.94:
            # Multi-table statements with the driver table, and the table read
            # while written (the server buffers the rows first).
            v = "i" if "i" in self.cols else (list(self.cols) or ["k"])[0]
            val = {"i": "d.n", "k": f"CONCAT(t.k, {L(self.enc('~'))})"}.get(v, "CONCAT('n', d.n)")
            sel = ", ".join(["CONCAT(k, " + L(self.enc("+")) + ")"]
                            + [("CONCAT('n', k)" if c == "v" else c) for c in self.cols])
            return r.choice([
                f"UPDATE {{t}} t JOIN {{d}} d ON t.k = d.k SET t.{v} = {val}",
                "DELETE t FROM {t} t JOIN {d} d ON t.k = d.k WHERE d.n % 3 = 0",
                f"INSERT IGNORE INTO {{t}} SELECT {sel} FROM {{t}} "
                f"WHERE k LIKE {L(self.enc(r.choice(FIRST)[0] + '%'))}",
            ]), "write"
        if x < 0.97:
            return self.refused()
        return f"SELECT {cols} FROM {{t}} WHERE k = {L(self.key())}", "read"

    def order_limit(self, p_order, most, p_limit):
        """' ORDER BY k' (chance p_order), then maybe ' LIMIT n': never a LIMIT
        without an order, whose rows no two engines need agree on."""
        r = self.r
        if r.random() >= p_order:
            return ""
        return " ORDER BY k" + (f" LIMIT {r.randint(1, most)}" if r.random() < p_limit else "")

    def select(self):
        r = self.r
        L = self.lit
        x = r.random()
        cols = ", ".join(["k"] + list(self.cols))
        if x < 0.45:
            w, _ = self.where()
            what = r.choice([cols, "k", "*"])
            if r.random() < 0.5:
                limit = f" LIMIT {r.randint(1, 8)}" if r.random() < 0.4 else ""
                return f"SELECT {what} FROM {{t}} WHERE {w} ORDER BY k{limit}", "read-ordered"
            return f"SELECT {what} FROM {{t}} WHERE {w}", "read"
        if x < 0.55:
            return f"SELECT {r.choice(['k', cols])} FROM {{t}} ORDER BY k LIMIT {r.randint(1, 10)}", "read-ordered"
        if x < 0.62:
            # Sorted by the server (positions) or read in key order (FORCE INDEX).
            return r.choice(["SELECT k FROM {t} ORDER BY k",
                             f"SELECT {cols} FROM {{t}} FORCE INDEX (PRIMARY) ORDER BY k",
                             f"SELECT {cols} FROM {{t}} FORCE INDEX (PRIMARY) WHERE k > "
                             f"{L(self.bound())} ORDER BY k"]), "read-ordered"
        if x < 0.75:
            w, _ = self.where()
            n = self.num_col()
            agg = ["COUNT(*)", "MIN(k)", "MAX(k)", "GROUP_CONCAT(HEX(k) ORDER BY k SEPARATOR '|')"]
            if n:
                agg += [f"SUM({n})", f"COUNT({n})", f"AVG({n})", f"MAX({n})"]
            if "d" in self.cols:
                agg += ["SUM(d)"]
            if "e" in self.cols and r.random() < 0.3:
                return f"SELECT e, COUNT(*), MIN(k) FROM {{t}} WHERE {w} GROUP BY e", "read"
            return f"SELECT {', '.join(r.sample(agg, r.randint(1, 4)))} FROM {{t}} WHERE {w}", "read"
        if x < 0.8:
            op = r.choice(["<", "<=", ">", ">="])
            return f"SELECT {r.choice(['MAX', 'MIN'])}(k) FROM {{t}} WHERE k {op} {L(self.bound())}", "read"
        # Joins from the driver table (InnoDB) on the key.
        v = "i" if "i" in self.cols else (list(self.cols) or ["k"])[0]
        j = r.choice([
            f"SELECT d.n, t.k, t.{v} FROM {{d}} d JOIN {{t}} t ON t.k = d.k",
            f"SELECT STRAIGHT_JOIN d.n, t.k, t.{v} FROM {{d}} d JOIN {{t}} t ON t.k = d.k WHERE d.n < {r.randint(0, 20)}",
            f"SELECT d.n, t.k FROM {{d}} d LEFT JOIN {{t}} t ON t.k = d.k",
            "SELECT k FROM {t} WHERE k IN (SELECT k FROM {d})",
            f"SELECT COUNT(*), SUM(d.n) FROM {{d}} d JOIN {{t}} t ON t.k = d.k",
        ])
        return f"/*jcl={r.choice([2, 6, 8])}*/ {j}", "read"

    def refused(self):
        """A write of a key S3 cannot store (README: keys): AWSS3 alone, must fail."""
        r = self.r
        L = self.lit
        if self.binary:
            bad = r.choice([b"", b"a\xff", b"\xc3"])
        elif self.pad:
            bad = r.choice(["", "a ", "x  ", str(self.key()) + " \t "])
        else:
            bad = ""
        if r.random() < 0.5 or not self.keys:
            return f"INSERT INTO {{t}} VALUES ({', '.join(self.row(bad))})", "refused"
        return f"UPDATE {{t}} SET k = {L(bad)} WHERE k = {L(r.choice(self.keys))}", "refused"


# ---------------------------------------------------------------- running

class Outcome:
    def __init__(self, err=None, msg="", affected=None, rows=None):
        self.err, self.msg, self.affected, self.rows = err, msg, affected, rows
        self.warnings = []        # (level, code), the engine's own notes left out

    def same(self, o):
        return (self.err == o.err and self.affected == o.affected and self.rows == o.rows
                and self.warnings == o.warnings)

    def __repr__(self):
        w = f" warnings={self.warnings}" if self.warnings else ""
        if self.err:
            return f"error {self.err} ({self.msg[:300]}){w}"
        rows = self.rows if self.rows is None or len(self.rows) <= 20 else self.rows[:20] + ["..."]
        return f"affected={self.affected} rows={rows!r}{w}"


def norm(v):
    """A value in a form that compares and prints the same for every engine."""
    if isinstance(v, float):
        return ("float", repr(v))
    if isinstance(v, (bytes, bytearray)):
        return ("bytes", bytes(v))
    if isinstance(v, decimal.Decimal):
        return ("dec", str(v))
    if isinstance(v, (datetime.datetime, datetime.date, datetime.timedelta)):
        return ("time", str(v))
    return v


def sort_key(row):
    return repr(row)


class Runner:
    def __init__(self, args):
        self.args = args
        self.conn = pymysql.connect(host=args.host, port=args.port, user=args.user,
                                    password=args.password, unix_socket=args.socket,
                                    charset="utf8mb4", autocommit=True, binary_prefix=True)
        self.cur = self.conn.cursor()
        self.db = args.database
        self.counter = 0
        self.run_id = f"{os.getpid()}-{int(time.time())}"
        self.sql(f"CREATE DATABASE IF NOT EXISTS `{self.db}`")
        self.sql(f"USE `{self.db}`")
        self.sql("SET SESSION sql_mode = DEFAULT")
        self.jcl = None

    def lit(self, v):
        return self.conn.literal(v)

    def sql(self, q):
        self.cur.execute(q)
        return self.cur.fetchall()

    def run(self, q):
        """Outcome of q: error code, affected rows, rows."""
        if q.startswith("/*jcl="):
            jcl = int(q[6:q.index("*/")])
            if jcl != self.jcl:
                self.sql(f"SET SESSION join_cache_level = {jcl}")
                self.jcl = jcl
        try:
            n = self.cur.execute(q)
            rows = self.cur.fetchall() if self.cur.description else None
        except pymysql.MySQLError as e:
            code = e.args[0] if e.args and isinstance(e.args[0], int) else -1
            msg = e.args[1] if len(e.args) > 1 else str(e)
            if code in (2006, 2013):
                raise RuntimeError(f"the server went away on: {q}\n{msg}")
            out = Outcome(err=code, msg=msg)
        else:
            if rows is not None:
                rows = [tuple(norm(v) for v in row) for row in rows]
            out = Outcome(affected=n, rows=rows)
        # The conditions, as a client sees them: the engine's own notes
        # (advice, where a table lives) are AWSS3's, not differences.
        out.warnings = sorted((lvl, code) for lvl, code, m in self.sql("SHOW WARNINGS")
                              if not m.startswith("AWSS3:"))
        return out

    def contents(self, table):
        rows = [tuple(norm(v) for v in row) for row in self.sql(f"SELECT * FROM `{table}`")]
        return sorted(rows, key=sort_key)

    # --- one case: rows + statements on one kind
    def setup(self, kind, rows, drv):
        self.counter += 1
        n = self.counter
        key_type, cols, _ = KINDS[kind]
        coldefs = "".join(f", `{c}` {t} NULL" for c, t in cols.items())
        names = {"a": f"a_{kind}", "i": f"i_{kind}", "m": f"m_{kind}", "d": f"d_{kind}"}
        for t in names.values():
            self.sql(f"DROP TABLE IF EXISTS `{t}`")
        base = f"(k {key_type} NOT NULL PRIMARY KEY{coldefs})"
        conn = f"s3://{self.args.bucket}/{self.run_id}/{kind}-{n}/"
        self.sql(f"CREATE TABLE `{names['a']}` {base} ENGINE=AWSS3 CONNECTION='{conn}'")
        self.sql(f"CREATE TABLE `{names['i']}` {base} ENGINE=InnoDB")
        self.sql(f"CREATE TABLE `{names['m']}` {base} ENGINE=MyISAM")
        self.sql(f"CREATE TABLE `{names['d']}` (k {key_type} NOT NULL PRIMARY KEY, n INT) ENGINE=InnoDB")
        if rows:
            vals = ", ".join("(" + ", ".join(r) + ")" for r in rows)
            for t in ("a", "i", "m"):
                self.sql(f"INSERT INTO `{names[t]}` VALUES {vals}")
        if drv:
            self.sql(f"INSERT IGNORE INTO `{names['d']}` VALUES " +
                     ", ".join(f"({self.lit(k)}, {n})" for k, n in drv))
        names["drv_keys"] = {k for k, _ in drv}
        return names

    def of_statement(self, key, q, names):
        """Whether `key` (as read back) is one the statement writes: a literal
        of its VALUES, or a driver table key of its SELECT."""
        k = key[1] if isinstance(key, tuple) else key
        return self.lit(k) in q or k in names["drv_keys"]

    def resync(self, names):
        """The twins take AWSS3's rows (after an accepted, documented difference)."""
        for t in ("i", "m"):
            self.sql(f"DELETE FROM `{names[t]}`")
            self.sql(f"INSERT INTO `{names[t]}` SELECT * FROM `{names['a']}`")

    def check(self, names, q, kind):
        """None, or a description of how AWSS3 differs (after the documented rules)."""
        sub = lambda t: q.replace("{t}", f"`{names[t]}`").replace("{d}", f"`{names['d']}`")
        if kind == "refused":
            before = self.contents(names["i"])
            a = self.run(sub("a"))
            after = self.contents(names["a"])
            nothing = a.err is None and a.affected == 0      # no row to change
            if not nothing and (a.err != ER_GET_ERRMSG or "cannot be stored" not in a.msg):
                return f"a key S3 cannot store: expected the engine's error {ER_GET_ERRMSG}, got {a!r}"
            if after != before:
                return "a refused key changed the table:\n" + diff_rows(before, after)
            return None
        a = self.run(sub("a"))
        i = self.run(sub("i"))
        ordered = kind == "read-ordered"
        if not ordered:
            for o in (a, i):
                if o.rows is not None:
                    o.rows = sorted(o.rows, key=sort_key)
        write = kind not in ("read", "read-ordered")
        ca = self.contents(names["a"]) if write else None
        ci = self.contents(names["i"]) if write else None
        if a.same(i) and ca == ci:
            if write:
                # The MyISAM twin (run only on a difference) takes the rows.
                self.sql(f"DELETE FROM `{names['m']}`")
                self.sql(f"INSERT INTO `{names['m']}` SELECT * FROM `{names['i']}`")
            return None
        if write and i.err is not None:
            # The documented non-transactional behaviour (InnoDB rolled the
            # statement back): as MyISAM does, its rows in key order as AWSS3
            # reads them.
            self.sql(f"ALTER TABLE `{names['m']}` ORDER BY k")
            m = self.run(sub("m"))
            cm = self.contents(names["m"])
            ok = a.same(m) and ca == cm
            if not ok and kind == "insert-multi" and a.err is not None and a.err == m.err:
                # The write window may have stored rows after the failing one:
                # MyISAM's rows, and new rows of this statement's keys.
                sa, sm = set(ca), set(cm)
                before = {row[0] for row in ci}
                ok = sm <= sa and all(r[0] not in before and self.of_statement(r[0], q, names)
                                      for r in sa - sm)
            if ok:
                self.resync(names)
                return None
            return (f"AWSS3: {a!r}\nInnoDB: {i!r}\nMyISAM: {m!r}\n"
                    + ("rows AWSS3 vs InnoDB:\n" + diff_rows(ci, ca) if ca != ci else "")
                    + ("rows AWSS3 vs MyISAM:\n" + diff_rows(cm, ca) if ca != cm else ""))
        return f"AWSS3: {a!r}\nInnoDB: {i!r}"

    def play(self, kind, rows, drv, stmts):
        """Runs a case; (index, statement, difference) of the first difference, or None."""
        names = self.setup(kind, rows, drv)
        for n, (q, k) in enumerate(stmts):
            d = self.check(names, q, k)
            if d:
                return n, q, d
        return None


def diff_rows(expected, got):
    e, g = set(expected), set(got)
    out = [f"  only InnoDB/MyISAM: {r!r}" for r in sorted(e - g, key=sort_key)[:10]]
    out += [f"  only AWSS3:         {r!r}" for r in sorted(g - e, key=sort_key)[:10]]
    return "\n".join(out) + "\n"


def shrink(runner, kind, rows, drv, stmts, deadline):
    """Fewest statements, then rows, that still differ on the same statement
    (greedy, chunked: halves, quarters, ..., single items)."""
    last = stmts[-1][0]

    def fails(rs, ss):
        if time.time() > deadline or not ss or ss[-1][0] != last:
            return False
        try:
            res = runner.play(kind, rs, drv, ss)
        except Exception:
            return False
        return res is not None and res[1] == last

    def reduce(items, test):
        n = 2
        while len(items) >= 1 and time.time() < deadline:
            chunk = max(1, len(items) // n)
            removed = False
            for start in range(0, len(items), chunk):
                cand = items[:start] + items[start + chunk:]
                if test(cand):
                    items = cand
                    removed = True
                    break
            if not removed:
                if chunk == 1:
                    break
                n = min(len(items), n * 2)
        return items

    for _ in range(3):
        before = (len(rows), len(stmts))
        stmts = reduce(stmts, lambda ss: fails(rows, ss))
        rows = reduce(rows, lambda rs: fails(rs, stmts))
        if (len(rows), len(stmts)) == before:
            break
    return rows, stmts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3306)
    ap.add_argument("--socket")
    ap.add_argument("--user", default="root")
    ap.add_argument("--password", default="")
    ap.add_argument("--database", default="difftest")
    ap.add_argument("--endpoint", default=os.environ.get("AWSS3_ENDPOINT"))
    ap.add_argument("--bucket", default="awss3-difftest")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--random", action="store_true", help="a new random seed each round")
    ap.add_argument("--minutes", type=float, default=3.0, help="time budget (rounds start until it is spent)")
    ap.add_argument("--rounds", type=int, default=0, help="at most this many rounds (0: until the budget)")
    ap.add_argument("--rows", type=int, default=30)
    ap.add_argument("--statements", type=int, default=120)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--shrink-minutes", type=float, default=4.0)
    ap.add_argument("--quiet", action="store_true",
                    help="print only the report of a difference, or one fixed line when none")
    ap.add_argument("--log", help="also write everything to this file")
    args = ap.parse_args()
    global print
    logf = open(args.log, "w", encoding="utf-8") if args.log else None

    def print(*a, **_kw):  # noqa: A001 - every line goes through here
        line = " ".join(str(x) for x in a)
        if logf:
            logf.write(line + "\n")
            logf.flush()
        progress = line.startswith("difftest: seed ") or line.startswith("difftest: shrinking")
        if not args.quiet or not (progress or line.endswith(" 0 failed") or " rounds in " in line):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    if not args.endpoint:
        ap.error("--endpoint or AWSS3_ENDPOINT is needed (the bucket is made there)")
    s3 = boto3.client("s3", endpoint_url=args.endpoint, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}))
    try:
        s3.create_bucket(Bucket=args.bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    runner = Runner(args)
    kinds = [k for k in args.kinds.split(",") if k]
    start = time.time()
    deadline = start + args.minutes * 60
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    passed = rounds = 0
    while time.time() < deadline and (not args.rounds or rounds < args.rounds):
        rounds += 1
        for kind in kinds:
            rnd = random.Random(f"{seed}-{kind}")
            g = Gen(rnd, kind, runner.lit)
            rows = g.initial_rows(rnd.randint(max(1, args.rows // 3), args.rows))
            drv = [(g.key() if rnd.random() < 0.7 else g.fresh_key(), n) for n in range(rnd.randint(3, 25))]
            stmts = [g.statement() for _ in range(args.statements)]
            names = runner.setup(kind, rows, drv)
            for n, (q, k) in enumerate(stmts):
                if time.time() > deadline and n:
                    break
                d = runner.check(names, q, k)
                if not d:
                    passed += 1
                    continue
                print(f"difftest: DIFFERENCE seed={seed} kind={kind} statement #{n}: {q}\n{d}")
                if not args.no_shrink:
                    print("difftest: shrinking ...", flush=True)
                    srows, sstmts = shrink(runner, kind, rows, drv, stmts[: n + 1],
                                           time.time() + args.shrink_minutes * 60)
                    res = runner.play(kind, srows, drv, sstmts)
                    print(f"difftest: shrunk to {len(srows)} rows, {len(sstmts)} statements "
                          f"(kind {kind}, seed {seed}; {{t}} is the table, {{d}} the driver table):")
                    print(f"  CREATE TABLE {{t}} (k {KINDS[kind][0]} NOT NULL PRIMARY KEY"
                          + "".join(f", {c} {t} NULL" for c, t in KINDS[kind][1].items()) + ")")
                    for r in srows:
                        print("  INSERT INTO {t} VALUES (" + ", ".join(r) + ");")
                    print(f"  driver rows: {drv!r}")
                    for s, _ in sstmts:
                        print(f"  {s};")
                    if res:
                        print(f"difftest: shrunk case, statement #{res[0]}: {res[1]}\n{res[2]}")
                print(f"difftest: {passed} passed, 1 failed")
                return 1
            print(f"difftest: seed {seed} kind {kind}: {len(stmts)} statements, "
                  f"{time.time() - start:.0f} s", flush=True)
        seed = random.SystemRandom().randrange(1 << 31) if args.random else seed + 1
    print(f"difftest: {rounds} rounds in {time.time() - start:.0f} s")
    print(f"difftest: {passed} passed, 0 failed")
    if args.quiet:
        sys.stdout.write("difftest: no difference\n")
    runner.sql(f"DROP DATABASE IF EXISTS `{args.database}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
