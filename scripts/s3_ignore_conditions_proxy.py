#!/usr/bin/env python3
"""An S3 endpoint that ignores conditional writes, the way Garage 2.x does.

Forwards every request to a real S3 server (moto) after dropping If-None-Match
and If-Match, so the engine's detection of such servers, and its HEAD-then-PUT
fallback, are tested against a real S3 protocol server.

usage: s3_ignore_conditions_proxy.py UPSTREAM_URL PORTFILE [--deny]
Listens on 127.0.0.1 on a free port and writes the port to PORTFILE.
With --deny it forwards nothing and answers every request 403 AccessDenied,
like a bucket whose policy refuses these credentials.
"""
import http.client
import http.server
import socketserver
import sys
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
DROPPED = {"if-none-match", "if-match"}
DENY = "--deny" in sys.argv[3:]
DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
          b"<Message>Access Denied</Message></Error>")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if DENY:
            self.send_response(403, "Forbidden")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(DENIED)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(DENIED)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in DROPPED}
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    srv = Server(("127.0.0.1", 0), Proxy)
    with open(sys.argv[2], "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()
