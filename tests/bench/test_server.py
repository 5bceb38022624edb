#!/usr/bin/env python3
"""Loopback HTTP/1.1 servers with known misbehaviour, for glint bench's
black-box tests (standard library only).

    test_server.py MODE [--port P] [--ready-delay S] [--health]

Binds 127.0.0.1 (port 0 = ephemeral), then prints "listening on PORT" and
flushes, so a caller can read the port (and `--ready-pattern` can match).
MODE:
  fast        200 "ok" at once, keep-alive
  slow:MS     200 after MS milliseconds
  stall       reads the request and never answers
  errors      per connection-independent counter: 200, 500, 200, 503, ...
  drop        reads the request and closes the connection without a word
  close       answers 200 (keep-alive by default in HTTP/1.1) and then
              closes the connection without saying so
  flaky:N     the first N requests get 503, later ones 200
  busy:N      the first N requests get 503 with Retry-After: 1, later ones 200
  chunked     200 with a chunked body
  limit:R     serves at most R requests per second (queues the rest)
  multipart   200 if the request is multipart/form-data with a field named
              "image" holding a file, 400 otherwise
/health answers {"status":"ok","cpu_seconds":..,"rss_bytes":..} with --health,
404 otherwise. Runs until killed.
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTER = [0]
LOCK = threading.Lock()
LIMIT_NEXT = [0.0]


def next_count():
    with LOCK:
        COUNTER[0] += 1
        return COUNTER[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "fast"
    arg = 0
    health = False

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle on our
        # side and delayed ACKs on the client's add 40 ms to every answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *a):
        pass

    def send_body(self, code, body, ctype="text/plain", close=False, retry_after=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        body = self.read_body()
        if self.path == "/health":
            if not self.health:
                self.send_body(404, b"no health here")
                return
            t = os.times()
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            body = json.dumps({"status": "ok", "cpu_seconds": t.user + t.system,
                               "rss_bytes": rss}).encode()
            self.send_body(200, body, "application/json")
            return
        n = next_count()
        m = self.mode
        if m == "fast":
            self.send_body(200, b"ok")
        elif m == "slow":
            time.sleep(self.arg / 1000.0)
            self.send_body(200, b"ok")
        elif m == "stall":
            time.sleep(3600)
        elif m == "errors":
            code = [200, 500, 200, 503][n % 4]
            self.send_body(code, b"x")
        elif m == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
        elif m == "close":
            self.send_body(200, b"ok")
            self.close_connection = True
        elif m == "flaky":
            self.send_body(503 if n <= self.arg else 200, b"x")
        elif m == "busy":
            if n <= self.arg:
                self.send_body(503, b"busy", retry_after=1)
            else:
                self.send_body(200, b"x")
        elif m == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        elif m == "limit":
            with LOCK:
                now = time.monotonic()
                at = max(now, LIMIT_NEXT[0])
                LIMIT_NEXT[0] = at + 1.0 / self.arg
            time.sleep(max(0.0, at - now))
            self.send_body(200, b"ok")
        elif m == "multipart":
            ctype = self.headers.get("Content-Type", "")
            ok = (ctype.startswith("multipart/form-data; boundary=")
                  and b'name="image"; filename="' in body
                  and body.endswith(b"--" + ctype.split("boundary=")[1].encode() + b"--\r\n"))
            self.send_body(200 if ok else 400, b"x")
        else:
            self.send_body(500, b"unknown mode")

    do_GET = handle_any
    do_POST = handle_any
    do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    mode = args[0]
    port, delay = 0, 0.0
    i = 1
    while i < len(args):
        if args[i] == "--port":
            port = int(args[i + 1]); i += 2
        elif args[i] == "--ready-delay":
            delay = float(args[i + 1]); i += 2
        elif args[i] == "--health":
            Handler.health = True; i += 1
        else:
            print("unknown argument", args[i], file=sys.stderr)
            return 2
    if ":" in mode:
        mode, a = mode.split(":", 1)
        Handler.arg = float(a)
    Handler.mode = mode
    print("starting", flush=True)
    time.sleep(delay)
    srv = Server(("127.0.0.1", port), Handler)
    print("listening on %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
