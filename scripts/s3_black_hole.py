#!/usr/bin/env python3
"""An endpoint that accepts connections and never answers: tests that a
request times out (awss3_request_timeout) instead of hanging the server.

usage: s3_black_hole.py PORTFILE SECONDS  (exits by itself after SECONDS)
"""
import socket
import sys
import time

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(sys.argv[1], "w") as f:
    f.write(str(s.getsockname()[1]))
held = []
deadline = time.time() + float(sys.argv[2])
s.settimeout(0.5)
while time.time() < deadline:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
