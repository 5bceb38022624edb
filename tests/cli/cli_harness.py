"""What the black-box tests of tests/cli share: the pass/fail tally they end
with ("N passed, M failed", the line ctest matches), `glint run` returning
its JSON lines, and a `glint serve` started on a loopback port of the
kernel's choosing. Standard library only."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time


class Tally:
    def __init__(self):
        self.passes = self.fails = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passes += 1
            print("ok   " + name)
        else:
            self.fails += 1
            print("FAIL " + name + (": " + str(detail) if detail else ""))

    def finish(self):
        print("%d passed, %d failed" % (self.passes, self.fails))
        sys.exit(1 if self.fails else 0)


def run(glint, model, *args):
    """`glint run --model MODEL ARGS...`: (its JSON answers, stderr), or
    (None, stderr) when it exits non-zero."""
    p = subprocess.run([glint, "run", "--model", model, *args], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        return None, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def free_port():
    """A TCP port free on 127.0.0.1 now (for a server a test starts)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, secs, step=0.1):
    """Polls cond() until it is truthy or secs pass: (value, seconds waited)."""
    t = time.monotonic()
    while True:
        v = cond()
        if v or time.monotonic() - t > secs:
            return v, time.monotonic() - t
        time.sleep(step)


def request(port, method, path, body=None, headers=None):
    """One HTTP request to 127.0.0.1:port: (status, its JSON body, or the raw
    bytes when it is not JSON, or None when empty)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    data = r.read()
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data


class Serve:
    """`glint serve ARGS...` on 127.0.0.1:0; port is 0 if it did not become
    ready in 120 s (log() says why). Use as a context manager."""

    def __init__(self, glint, tmp, *args):
        ready = os.path.join(tmp, "serve.ready")
        self.logf = open(os.path.join(tmp, "serve.log"), "w+")
        self.proc = subprocess.Popen([glint, "serve", "--listen", "127.0.0.1:0", "--ready-file",
                                      ready, *args], stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while not os.path.exists(ready) and self.proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        self.port = (int(open(ready).read().strip().rsplit(":", 1)[1])
                     if os.path.exists(ready) else 0)

    def log(self):
        self.logf.seek(0)
        return self.logf.read()[-2000:]

    def post(self, path, body, ctype="image/png"):
        """(status, parsed JSON body or None)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request("POST", path, body, {"Content-Type": ctype})
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.logf.close()
