#!/usr/bin/env python3
"""s3tool.py — a tiny S3 client for the AWSS3 tests and demo (boto3, path-style).

Endpoint: --endpoint URL or $AWSS3_ENDPOINT. Credentials are the fixed test dummies
(testing/testing, region us-east-1): this tool is meant for the local moto server.

  mb BUCKET                      create a bucket
  rb BUCKET                      delete a bucket and every object (and version) in it
  ls BUCKET [PREFIX]             one line per object: KEY<TAB>SIZE, keys in byte order
  put BUCKET KEY [--body TEXT | --file F] [--content-type T] [--meta k=v ...]
                                 write an object (no --body/--file: empty; --file -: stdin)
  cat BUCKET KEY                 object body to stdout, byte for byte
  head BUCKET KEY                content-type: T, then x-amz-meta-K: V lines sorted by K
                                 (the engine's awss3-write-id shown as "(set)")
  rm BUCKET KEY                  delete an object (absent keys are not an error, as in S3)

Output is deterministic so MTR result files can record it. On error: one line on stderr
("s3tool: ..."), exit status 1 (2 for usage errors).
"""
import argparse
import os
import re
import sys

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"s3tool: cannot import boto3 ({e}); run scripts/install-deps.sh\n")
    sys.exit(1)


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def out(text):
    sys.stdout.buffer.write(text.encode("utf-8"))


def cmd_mb(s3, a):
    s3.create_bucket(Bucket=a.bucket)


def cmd_rb(s3, a):
    # Delete every object version and delete marker (covers unversioned buckets too),
    # 1000 keys per DeleteObjects, then the bucket itself.
    batch = []

    def flush():
        if batch:
            r = s3.delete_objects(Bucket=a.bucket, Delete={"Objects": batch, "Quiet": True})
            if r.get("Errors"):
                e = r["Errors"][0]
                raise RuntimeError(f"delete {e.get('Key')!r}: {e.get('Code')}: {e.get('Message')}")
            batch.clear()

    # List everything first: deleting while paging through versions skips some
    # (moto pages by key markers).
    found = []
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=a.bucket):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                found.append({"Key": v["Key"], "VersionId": v["VersionId"]})
    except ClientError:
        # moto cannot list versions of keys with control characters (500): an
        # unversioned bucket's objects are what ListObjectsV2 shows.
        found = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket):
            found.extend({"Key": o["Key"]} for o in page.get("Contents", []))
    for v in found:
        # DeleteObjects' XML cannot carry control characters: those one by one.
        if any(ord(c) < 32 or ord(c) == 127 for c in v["Key"]):
            s3.delete_object(Bucket=a.bucket, **v)
            continue
        batch.append(v)
        if len(batch) == 1000:
            flush()
    flush()
    s3.delete_bucket(Bucket=a.bucket)


def cmd_ls(s3, a):
    objs = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix=a.prefix):
        objs.extend((o["Key"], o["Size"]) for o in page.get("Contents", []))
    # S3 lists in UTF-8 byte order; sort anyway so the output never depends on the server.
    objs.sort(key=lambda o: o[0].encode("utf-8"))
    for key, size in objs:
        out(f"{key}\t{size}\n")


def cmd_put(s3, a):
    if a.body is not None:
        body = a.body.encode("utf-8")
    elif a.file == "-":
        body = sys.stdin.buffer.read()
    elif a.file is not None:
        with open(a.file, "rb") as f:
            body = f.read()
    else:
        body = b""
    kw = {"Bucket": a.bucket, "Key": a.key, "Body": body}
    if a.content_type is not None:
        kw["ContentType"] = a.content_type
    if a.meta:
        meta = {}
        for kv in a.meta:
            k, sep, v = kv.partition("=")
            if not sep or not k:
                raise ValueError(f"--meta wants k=v, got {kv!r}")
            meta[k] = v
        kw["Metadata"] = meta
    s3.put_object(**kw)


def cmd_cat(s3, a):
    body = s3.get_object(Bucket=a.bucket, Key=a.key)["Body"]
    for chunk in iter(lambda: body.read(65536), b""):
        sys.stdout.buffer.write(chunk)


def cmd_head(s3, a):
    r = s3.head_object(Bucket=a.bucket, Key=a.key)
    out(f"content-type: {r.get('ContentType', '')}\n")
    for k, v in sorted(r.get("Metadata", {}).items()):
        # Every PUT of the engine names itself (a fresh value each time): shown
        # only as present, so that results stay the same from run to run.
        if k == "awss3-write-id":
            v = "(set)"
        out(f"x-amz-meta-{k}: {v}\n")


def cmd_rm(s3, a):
    s3.delete_object(Bucket=a.bucket, Key=a.key)


def parser():
    p = argparse.ArgumentParser(prog="s3tool.py", description="Tiny S3 client for AWSS3 tests.")
    p.add_argument("--endpoint", default=os.environ.get("AWSS3_ENDPOINT"),
                   help="S3 endpoint URL (default: $AWSS3_ENDPOINT)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, key=False):
        sp = sub.add_parser(name)
        sp.add_argument("bucket")
        if key:
            sp.add_argument("key")
        sp.set_defaults(fn=fn)
        return sp

    add("mb", cmd_mb)
    add("rb", cmd_rb)
    add("ls", cmd_ls).add_argument("prefix", nargs="?", default="")
    sp = add("put", cmd_put, key=True)
    src = sp.add_mutually_exclusive_group()
    src.add_argument("--body", help="object body (UTF-8 text)")
    src.add_argument("--file", help="read the body from this file ('-': stdin)")
    sp.add_argument("--content-type")
    sp.add_argument("--meta", nargs="+", action="extend", default=[], metavar="K=V",
                    help="user metadata, repeatable")
    add("cat", cmd_cat, key=True)
    add("head", cmd_head, key=True)
    add("rm", cmd_rm, key=True)
    return p


def main():
    a = parser().parse_args()
    if not a.endpoint:
        sys.stderr.write("s3tool: no endpoint: pass --endpoint URL or set AWSS3_ENDPOINT\n")
        return 2
    where = f"s3://{a.bucket}" + (f"/{a.key}" if getattr(a, "key", None) is not None else "")
    # Keep the error message on one line even for keys with control characters.
    where = re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], where)
    try:
        a.fn(client(a.endpoint), a)
        sys.stdout.flush()
    except ClientError as e:
        err = e.response.get("Error", {})
        code = err.get("Code") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        msg = err.get("Message") or ""
        sys.stderr.write(f"s3tool: {a.cmd} {where}: {code}" + (f": {msg}" if msg else "") + "\n")
        return 1
    except (BotoCoreError, OSError, ValueError, RuntimeError) as e:
        sys.stderr.write(f"s3tool: {a.cmd} {where}: {' '.join(str(e).split())}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
