#!/usr/bin/env python3
"""A TCP proxy on loopback that adds a network round-trip time, for the benchmark.

usage: rtt_proxy.py UPSTREAM_HOST:PORT PORTFILE [--rtt-ms MS] [--seconds N] [--no-connect-rtt]
       rtt_proxy.py --selftest [N] [WINDOW] [--rtt-ms MS] [--proxy BINARY]

Listens on 127.0.0.1 on a free port, writes the port to PORTFILE and its pid to
PORTFILE.pid, and exits by itself after N seconds (default 1800). Every chunk of
bytes is held RTT/2 (default RTT 20 ms) in each direction before it is passed on,
in order per connection, so an HTTP request and its response cost one extra RTT,
as between a client and a remote S3 region. A new connection also pays one RTT
more on its first bytes (the TCP handshake that a real network would cost);
--no-connect-rtt turns that off. Connections are kept alive as long as both ends
keep them; any number of them are served concurrently (asyncio protocols, no
threads), each reading stops while its peer's send buffer is full.

It also counts the HTTP/1.1 requests it forwards (it reads the request heads and
skips bodies by Content-Length), by S3 operation: list, get, head, put, delete,
post, other. SIGUSR1 writes those counts as JSON to PORTFILE.stats (a write to a
temporary file, then a rename). The upstream must be a loopback address.

--selftest checks that the proxy is not a bottleneck: it starts a stub HTTP server
that answers every request at once with 1 KiB, this proxy in front of it, and sends N
(default 2000) GETs over WINDOW (default 32) keep-alive connections through it with a
light asyncio client; it prints the time next to the ideal N/WINDOW*RTT (+1 RTT for
the connections' handshake). --proxy tests another proxy with the same arguments
(bench/'s rtt-proxy, the one `make bench` uses).
"""
import asyncio
import collections
import ipaddress
import json
import os
import signal
import socket
import sys

HELP = __doc__


STUB = r"""
import asyncio, sys
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n" + b"x" * 1024
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            self.buf = self.buf.partition(b"\r\n\r\n")[2]
            self.t.write(RESP)
async def main():
    s = await asyncio.get_running_loop().create_server(P, "127.0.0.1", 0)
    print(s.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
"""


def selftest(argv):
    import subprocess
    import tempfile
    import time
    pos = [a for a in argv[2:] if not a.startswith("-")]
    if "--proxy" in argv:
        pos.remove(argv[argv.index("--proxy") + 1])
    rtt_ms = float(argv[argv.index("--rtt-ms") + 1]) if "--rtt-ms" in argv else 20.0
    pos = [a for a in pos if a != str(argv[argv.index("--rtt-ms") + 1])] if "--rtt-ms" in argv \
        else pos
    n, window = (int(pos[0]) if pos else 2000), (int(pos[1]) if len(pos) > 1 else 32)
    stub = subprocess.Popen([sys.executable, "-c", STUB, "120"], stdout=subprocess.PIPE, text=True)
    port = int(stub.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        pf = os.path.join(tmp, "port")
        cmd = ([argv[argv.index("--proxy") + 1]] if "--proxy" in argv
               else [sys.executable, os.path.abspath(__file__)])
        proxy = subprocess.Popen(cmd + [f"127.0.0.1:{port}",
                                        pf, "--rtt-ms", str(rtt_ms), "--seconds", "120"])
        try:
            for _ in range(200):
                if os.path.exists(pf) and open(pf).read().strip():
                    break
                time.sleep(0.02)
            pport = int(open(pf).read())

            async def worker(todo):
                r, w = await asyncio.open_connection("127.0.0.1", pport)
                while todo:
                    todo.pop()
                    w.write(b"GET /bucket/key HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    await r.readuntil(b"\r\n\r\n")
                    await r.readexactly(1024)
                w.close()

            async def run():
                todo = list(range(n))
                t0 = time.perf_counter()
                await asyncio.gather(*(worker(todo) for _ in range(window)))
                return time.perf_counter() - t0

            dt = asyncio.run(run())
        finally:
            proxy.terminate()
            stub.terminate()
    ideal = (n / window + 1) * rtt_ms / 1000
    print(f"rtt_proxy selftest: {n} GETs over {window} connections, +{rtt_ms:g} ms RTT: "
          f"{dt:.2f} s (ideal {ideal:.2f} s" + (f", x{dt / ideal:.2f})" if ideal else ")"))


def parse_args(argv):
    if len(argv) > 1 and argv[1] == "--selftest":
        selftest(argv)
        sys.exit(0)
    if len(argv) < 3 or argv[1].startswith("-"):
        sys.exit(HELP)
    host, _, port = argv[1].rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        addr = ipaddress.ip_address(socket.gethostbyname(host))
    except (OSError, ValueError):
        sys.exit(f"rtt_proxy: cannot resolve {host}")
    if not addr.is_loopback:
        sys.exit(f"rtt_proxy: upstream {host} is not a loopback address; refusing")
    opts = argv[3:]

    def opt(name, default, conv=float):
        return conv(opts[opts.index(name) + 1]) if name in opts else default

    return (str(addr), int(port), argv[2], opt("--rtt-ms", 20.0) / 1000.0,
            opt("--seconds", 1800.0), "--no-connect-rtt" not in opts)


UP_HOST, UP_PORT, PORTFILE, RTT, SECONDS, CONNECT_RTT = parse_args(sys.argv)
HALF = RTT / 2
HIGH_WATER = 1 << 20
# asyncio's timers fire late by ~1 ms on average (epoll rounds timeouts up to whole
# milliseconds, and a wake-up serves every connection): wake and send this much early,
# so that the delay is RTT/2 on average rather than RTT/2 + 1 ms.
EARLY = 0.0008
COUNTS = collections.Counter()


class RequestCounter:
    """Reads HTTP/1.1 request heads from the client's byte stream and counts them by
    S3 operation; gives up on a connection whose framing it cannot follow."""

    def __init__(self):
        self.head = b""
        self.skip = 0          # body bytes still to skip
        self.lost = False

    def feed(self, data):
        if self.lost:
            return
        pos, n = 0, len(data)
        while pos < n:
            if self.skip:
                step = min(self.skip, n - pos)
                self.skip -= step
                pos += step
                continue
            end = data.find(b"\r\n\r\n", pos)
            if end < 0:
                self.head += data[pos:]
                if len(self.head) > 65536:
                    self.give_up()
                return
            head = self.head + data[pos:end]
            self.head = b""
            pos = end + 4
            if not self.count(head):
                return

    def give_up(self):
        self.lost = True
        self.head = b""
        COUNTS["unparsed_connections"] += 1

    def count(self, head):
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            self.give_up()
            return False
        method, target = parts[0].upper(), parts[1]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip() or 0)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                COUNTS[op(method, target)] += 1
                self.give_up()
                return False
        COUNTS[op(method, target)] += 1
        self.skip = length
        return True


def op(method, target):
    path, _, query = target.partition(b"?")
    if path.startswith(b"http://"):             # absolute form
        path = b"/" + path[7:].partition(b"/")[2]
    if method == b"GET":
        # An object GET names bucket and key (path style); a GET of the bucket is a
        # listing (ListObjectsV2 has list-type=2, V1 has none).
        bucket_only = path.rstrip(b"/").count(b"/") <= 1
        return "list" if b"list-type=" in query or (bucket_only and b"uploads" not in query) \
            else "get"
    if method == b"POST" and query.startswith(b"delete"):
        return "delete"
    return {b"HEAD": "head", b"PUT": "put", b"DELETE": "delete", b"POST": "post"}.get(
        method, "other")


class Half:
    """One direction of a connection: bytes received on `src` are written to the
    peer transport RTT/2 later, in order."""

    def __init__(self, loop, extra=0.0):
        self.loop = loop
        self.queue = collections.deque()
        self.peer = None          # transport to write to
        self.eof = False
        self.extra = extra        # added to the first chunk (handshake)
        self.closed = False

    def push(self, data):
        now = self.loop.time()
        due = now + HALF + self.extra
        self.extra = 0.0
        if self.queue and self.queue[-1][0] > due:
            due = self.queue[-1][0]
        self.queue.append((due, data))
        self.loop.call_at(due - EARLY, self.flush)

    def push_eof(self):
        self.push(None)

    def flush(self):
        if self.peer is None or self.closed:
            return
        now = self.loop.time() + EARLY
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if data is None:
                if self.peer.can_write_eof():
                    try:
                        self.peer.write_eof()
                    except OSError:
                        self.peer.close()
                else:
                    self.peer.close()
                self.closed = True
                return
            self.peer.write(data)

    def stop(self):
        self.closed = True
        self.queue.clear()


class Upstream(asyncio.Protocol):
    def __init__(self, client):
        self.client = client

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.client.down.push(data)

    def eof_received(self):
        self.client.down.push_eof()
        return True

    def connection_lost(self, exc):
        self.client.upstream_lost()

    def pause_writing(self):
        self.client.transport.pause_reading()

    def resume_writing(self):
        self.client.transport.resume_reading()


class Client(asyncio.Protocol):
    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.up = Half(self.loop, RTT if CONNECT_RTT else 0.0)
        self.down = Half(self.loop)
        self.counter = RequestCounter()
        self.upstream = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(HIGH_WATER)
        COUNTS["connections"] += 1
        self.down.peer = transport
        self.loop.create_task(self.connect())

    async def connect(self):
        try:
            tr, proto = await self.loop.create_connection(lambda: Upstream(self), UP_HOST, UP_PORT)
        except OSError:
            COUNTS["upstream_refused"] += 1
            self.transport.close()
            return
        tr.set_write_buffer_limits(HIGH_WATER)
        if self.transport.is_closing():
            tr.close()
            return
        self.upstream = tr
        self.up.peer = tr
        self.up.flush()

    def data_received(self, data):
        self.counter.feed(data)
        self.up.push(data)

    def eof_received(self):
        self.up.push_eof()
        return True

    def connection_lost(self, exc):
        # The client went away: pass on what it sent, then close upstream.
        self.up.push_eof()
        self.loop.call_later(HALF + 0.01, self.close_upstream)

    def close_upstream(self):
        self.up.stop()
        if self.upstream is not None:
            self.upstream.close()

    def upstream_lost(self):
        self.down.push_eof()
        self.loop.call_later(HALF + 0.01, self.close_client)

    def close_client(self):
        self.down.stop()
        self.transport.close()

    def pause_writing(self):
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self):
        if self.upstream is not None:
            self.upstream.resume_reading()


def dump_stats():
    tmp = PORTFILE + ".stats.tmp"
    with open(tmp, "w") as f:
        json.dump(dict(COUNTS), f)
    os.replace(tmp, PORTFILE + ".stats")


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Client, "127.0.0.1", 0, backlog=512)
    with open(PORTFILE + ".pid", "w") as f:
        f.write(str(os.getpid()))
    with open(PORTFILE, "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    done = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, dump_stats)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: done.done() or done.set_result(None))
    loop.call_later(SECONDS, lambda: done.done() or done.set_result(None))
    await done
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
