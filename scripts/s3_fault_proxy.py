#!/usr/bin/env python3
"""An S3 endpoint with faults, in front of a real S3 server (moto), for the tests.

usage: s3_fault_proxy.py UPSTREAM_URL PORTFILE MODE [--seconds N]
Listens on 127.0.0.1 on a free port, writes the port to PORTFILE and its pid to
PORTFILE.pid, and exits by itself after N seconds (default 600). MODE is one of:

  --pass                forward everything unchanged (a node to kill: the test kills
                        the proxy by the pid in PORTFILE.pid)
  --ignore-conditions   drop If-None-Match and If-Match before forwarding, the way
                        Garage 2.x ignores conditional writes
  --deny                forward nothing; answer every request 403 AccessDenied, like
                        a bucket whose policy refuses these credentials
  --inject-list K1,K2   add objects with these keys to every ListObjectsV2 page, as
                        many as max-keys leaves room for (keys outside the prefix
                        asked for: a buggy or hostile store)
  --repeat-token        answer every ListObjectsV2 with the first page, truncated, and
                        the same continuation token: a listing that never advances
  --require-key KEYID   forward only requests signed with access key id KEYID; answer
                        others 403 InvalidAccessKeyId (which credentials a client uses)
  --delay S             hold every request S seconds before forwarding it (a slow store)
  --stall-body          answer GETs of objects with their headers and half the body,
                        then nothing more (a body that stalls after its headers)
  --flood-list N        add N objects to every ListObjectsV2 page, whatever max-keys
                        asked for (a store that ignores it)
  --garble-list         answer every ListObjectsV2 with XML that does not parse as one
  --lose-put-response   forward the first If-None-Match PUT and the first If-Match PUT
                        of each key, then drop the connection without answering (the
                        write happened, the client cannot know)
  --drop-first-put      drop the connection, without forwarding, on the first
                        If-None-Match PUT of each key (an attempt that never reached
                        the store, and got no answer)
  --delay-deletes S     hold every DELETE of one object (but a conditional-write probe's)
                        S seconds before forwarding it (a slow store, just where a
                        RENAME withdraws its old entry)
  --delay-puts S        hold every PUT of an object (but a conditional-write probe's) S
                        seconds before forwarding it (a store slow to write)
  --deny-deletes        answer every DELETE of one object (but a probe's) 403
                        AccessDenied (a policy that refuses deletes)
  --deny-put-suffix S   answer every PUT of an object whose key ends with S 403
                        AccessDenied (one row a policy refuses to write)
  --peaks               (with --delay) record in PORTFILE.peaks the most requests of
                        each method that were in flight at once, e.g. "DELETE 32 GET 32
                        PUT 1" (how many a statement overlaps, without timing anything)
  --lose-probe-refusal  drop the connection instead of passing on the first refusal
                        (412) of a PUT to a conditional-write probe object
                        (.awss3-probe-*): the probe's second PUT loses its answer
"""
import time
import http.client
import http.server
import os
import socket
import socketserver
import sys
import threading
import urllib.parse
from xml.sax.saxutils import escape

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
ARGS = sys.argv[3:]
IGNORE_CONDITIONS = "--ignore-conditions" in ARGS
DENY = "--deny" in ARGS
INJECT = ARGS[ARGS.index("--inject-list") + 1].split(",") if "--inject-list" in ARGS else []
REPEAT_TOKEN = "--repeat-token" in ARGS
REQUIRE_KEY = ARGS[ARGS.index("--require-key") + 1] if "--require-key" in ARGS else None
DELAY = float(ARGS[ARGS.index("--delay") + 1]) if "--delay" in ARGS else 0.0
STALL_BODY = "--stall-body" in ARGS
LOSE_PUT = "--lose-put-response" in ARGS
LOSE_PROBE_REFUSAL = "--lose-probe-refusal" in ARGS
DROP_FIRST_PUT = "--drop-first-put" in ARGS
GARBLE_LIST = "--garble-list" in ARGS
PASS = "--pass" in ARGS
DELAY_DELETES = float(ARGS[ARGS.index("--delay-deletes") + 1]) if "--delay-deletes" in ARGS else 0.0
DENY_DELETES = "--deny-deletes" in ARGS
DELAY_PUTS = float(ARGS[ARGS.index("--delay-puts") + 1]) if "--delay-puts" in ARGS else 0.0
DENY_PUT_SUFFIX = ARGS[ARGS.index("--deny-put-suffix") + 1] if "--deny-put-suffix" in ARGS else None
PEAKS = "--peaks" in ARGS
IN_FLIGHT = {}
PEAK = {}
PEAK_LOCK = threading.Lock()
FLOOD = int(ARGS[ARGS.index("--flood-list") + 1]) if "--flood-list" in ARGS else 0
LOST = set()
LOST_LOCK = threading.Lock()
SECONDS = float(ARGS[ARGS.index("--seconds") + 1]) if "--seconds" in ARGS else 600.0
DROPPED = {"if-none-match", "if-match"} if IGNORE_CONDITIONS else set()
DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
          b"<Message>Access Denied</Message></Error>")
WRONG_KEY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code>'
             b"<Message>The AWS Access Key Id you provided does not exist in our records."
             b"</Message></Error>")


def key_id(authorization):
    # "AWS4-HMAC-SHA256 Credential=KEYID/20260101/us-east-1/s3/aws4_request, ..."
    part = authorization.split("Credential=", 1)[-1]
    return part.split("/", 1)[0] if "Credential=" in authorization else ""


def is_list(command, query):
    return command == "GET" and query.get("list-type") == ["2"]


def rewrite_list(body, max_keys):
    text = body.decode("utf-8")
    end = text.rindex("</ListBucketResult>")
    # As many foreign keys as the page has room for (a page over max-keys is
    # refused outright, which would hide what this is meant to show).
    room = max(max_keys - text.count("<Contents>"), 0)
    extra = "".join(
        f"<Contents><Key>{escape(k)}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
        f'<ETag>"0"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>'
        for k in INJECT[:room])
    if REPEAT_TOKEN:
        for tag in ("IsTruncated", "NextContinuationToken"):
            while f"<{tag}>" in text:
                a = text.index(f"<{tag}>")
                b = text.index(f"</{tag}>") + len(f"</{tag}>")
                text = text[:a] + text[b:]
            end = text.rindex("</ListBucketResult>")
        extra += "<IsTruncated>true</IsTruncated><NextContinuationToken>stuck</NextContinuationToken>"
    return (text[:end] + extra + text[end:]).encode("utf-8")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        if not PEAKS:
            return self.forward_one()
        m = self.command
        with PEAK_LOCK:
            IN_FLIGHT[m] = IN_FLIGHT.get(m, 0) + 1
            if IN_FLIGHT[m] > PEAK.get(m, 0):
                PEAK[m] = IN_FLIGHT[m]
                with open(sys.argv[2] + ".peaks", "w") as f:
                    f.write(" ".join(f"{k} {v}" for k, v in sorted(PEAK.items())))
        try:
            self.forward_one()
        finally:
            with PEAK_LOCK:
                IN_FLIGHT[m] -= 1

    def forward_one(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        deny_delete = (DENY_DELETES and self.command == "DELETE"
                       and "/.awss3-probe-" not in self.path)
        deny_put = (DENY_PUT_SUFFIX is not None and self.command == "PUT"
                    and urllib.parse.urlsplit(self.path).path.endswith(DENY_PUT_SUFFIX))
        refusal = DENIED if DENY or deny_delete or deny_put else None
        if REQUIRE_KEY is not None and key_id(self.headers.get("Authorization", "")) != REQUIRE_KEY:
            refusal = WRONG_KEY
        if refusal:
            self.send_response(403, "Forbidden")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(refusal)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(refusal)
            return
        if DELAY:
            time.sleep(DELAY)
        if DELAY_DELETES and self.command == "DELETE" and "/.awss3-probe-" not in self.path:
            time.sleep(DELAY_DELETES)
        if DELAY_PUTS and self.command == "PUT" and "/.awss3-probe-" not in self.path:
            time.sleep(DELAY_PUTS)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        path = self.path
        listing = is_list(self.command, query)
        if listing and REPEAT_TOKEN and "continuation-token" in query:
            # Always the first page again (signatures are not checked by moto).
            query.pop("continuation-token")
            path = url.path + "?" + urllib.parse.urlencode(query, doseq=True)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in DROPPED}
        if (DROP_FIRST_PUT and self.command == "PUT"
                and any(k.lower() == "if-none-match" for k in self.headers.keys())):
            with LOST_LOCK:
                first = (url.path, "drop") not in LOST
                LOST.add((url.path, "drop"))
            if first:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        conn.request(self.command, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conditional = any(k.lower() in ("if-none-match", "if-match") for k in self.headers.keys())
        if LOSE_PUT and self.command == "PUT" and conditional and resp.status == 200:
            kind = "if-match" in (k.lower() for k in self.headers.keys())
            with LOST_LOCK:
                first = (url.path, kind) not in LOST
                LOST.add((url.path, kind))
            if first:
                conn.close()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        if (LOSE_PROBE_REFUSAL and self.command == "PUT" and resp.status == 412
                and "/.awss3-probe-" in url.path):
            with LOST_LOCK:
                first = (url.path, "probe") not in LOST
                LOST.add((url.path, "probe"))
            if first:
                conn.close()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        if listing and resp.status == 200 and FLOOD:
            end = data.rindex(b"</ListBucketResult>")
            extra = b"".join(
                b"<Contents><Key>flood/%08d</Key><LastModified>2026-01-01T00:00:00.000Z"
                b'</LastModified><ETag>"0"</ETag><Size>1</Size><StorageClass>STANDARD'
                b"</StorageClass></Contents>" % i for i in range(FLOOD))
            data = data[:end] + extra + data[end:]
        if listing and resp.status == 200 and GARBLE_LIST:
            data = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>'
                    b"<IsTruncated>perhaps</IsTruncated><KeyCount>many</KeyCount>"
                    b"</ListBucketResult>")
        if listing and resp.status == 200 and (INJECT or REPEAT_TOKEN):
            data = rewrite_list(data, int(query.get("max-keys", ["1000"])[0]))
        # An object GET: /bucket/key (clients may add ?x-id=GetObject).
        stall = (STALL_BODY and self.command == "GET" and "list-type" not in query
                 and url.path.strip("/").count("/") >= 1 and resp.status == 200)
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if stall:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            time.sleep(SECONDS)
            return
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    # A window of requests opens that many connections at once: the default
    # backlog (5) would refuse some of them.
    request_queue_size = 1024


if __name__ == "__main__":
    if not (PASS or IGNORE_CONDITIONS or DENY or INJECT or REPEAT_TOKEN or REQUIRE_KEY or DELAY
            or STALL_BODY or LOSE_PUT or GARBLE_LIST or FLOOD or LOSE_PROBE_REFUSAL
            or DROP_FIRST_PUT or DELAY_DELETES or DENY_DELETES or PEAKS or DELAY_PUTS
            or DENY_PUT_SUFFIX is not None):
        sys.exit(__doc__)
    srv = Server(("127.0.0.1", 0), Proxy)
    with open(sys.argv[2] + ".pid", "w") as f:
        f.write(str(os.getpid()))
    with open(sys.argv[2], "w") as f:
        f.write(str(srv.server_address[1]))
    threading.Timer(SECONDS, srv.shutdown).start()
    srv.serve_forever()
