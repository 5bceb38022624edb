"""What the serve black-box tests share: the ok/FAIL tally (test_serve.py,
test_edge.py, test_sdk.py) and, for the edge API's tests, model
repositories of symlinked trained models, edge configs, and a `glint serve
--edge-config` process on 127.0.0.1 with its HTTP helpers. Standard
library only.

setup(argv, prefix) reads GLINT_BINARY SOURCE_DIR [TEST_NAME...] and sets
the module's GLINT, SRC, ONLY, TMP, MODELS, SHAPES, TRUTH and PICS.
"""
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_harness import free_port  # noqa: E402,F401 (the edge tests take it from here)

# a sanitizer report in a program's output (ASan, LSan, UBSan)
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: UndefinedBehaviorSanitizer")
# bf16 needs AVX512-BF16: elsewhere glint refuses it and the bf16 checks skip
HAS_BF16 = any(l.startswith("flags") and " avx512_bf16" in l for l in open("/proc/cpuinfo"))
BF16_SKIP = "this CPU has no AVX512-BF16 (no avx512_bf16 in /proc/cpuinfo)"

GLINT = SRC = TMP = MODELS = SHAPES = None
ONLY, TRUTH, PICS = set(), {}, {}
PASSES, FAILS = 0, 0


def setup(argv, prefix):
    global GLINT, SRC, ONLY, TMP, MODELS, SHAPES, TRUTH, PICS
    GLINT, SRC = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    ONLY = set(argv[3:])
    SHAPES = os.path.join(SRC, "tests", "data", "shapes")
    TRUTH = json.load(open(os.path.join(SHAPES, "truth.json")))["images"]
    PICS = {n: open(os.path.join(SHAPES, n), "rb").read() for n in sorted(TRUTH)}
    MODELS = os.path.join(SRC, "models")
    TMP = tempfile.mkdtemp(prefix=prefix)


def check(cond, what):
    global PASSES, FAILS
    if cond:
        PASSES += 1
        print("ok   " + what, flush=True)
    else:
        FAILS += 1
        print("FAIL " + what, flush=True)
    return cond


def no_sanitizer_report(text, what):
    """Checks that text (a program's output) holds no sanitizer report; on
    one, prints the report (ctest's FAIL_REGULAR_EXPRESSION sees it too)."""
    m = SANITIZER.search(text)
    if m:
        print(text[max(0, m.start() - 200):m.start() + 6000], flush=True)
    return check(not m, "%s: no sanitizer report" % what)


def finish():
    """Prints the tally, removes TMP if all passed; the exit status."""
    print("%d passed, %d failed" % (PASSES, FAILS))
    if not FAILS:
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        print("logs kept in " + TMP)
    return 1 if FAILS else 0


def wait_until(fn, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def repo(name, models=("red_disc", "shapes")):
    """A model repository of symlinked model folders (files replaceable), f32."""
    root = os.path.join(TMP, name)
    for m in models:
        d = os.path.join(root, m)
        os.makedirs(d)
        for f in ("model.onnx", "model.yaml"):
            os.symlink(os.path.join(MODELS, m, f), os.path.join(d, f))
    return root


def config(path, detectors, upstream=None, presets=None, extra=None, token="tok_test"):
    """Writes an edge config (JSON, atomically) to path."""
    g = {"refresh_rate": 1}
    if upstream:
        g["upstream_endpoint"] = upstream
        g["upstream_api_token"] = token
    g.update(extra or {})
    doc = {"global_config": g, "edge_inference_configs": presets or {}, "detectors": detectors}
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(path + ".tmp", path)
    return path


STARTED = []  # every server process started, ended at exit if still running


@atexit.register
def _kill_leftovers():
    """A test that raised leaves its servers running: end them."""
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()


class Server:
    """glint serve --edge-config on 127.0.0.1 (port 0: any free one)."""

    def __init__(self, models, cfg, state, port=0, extra=()):
        self.models = models
        self.ready = os.path.join(TMP, "ready-%d" % time.monotonic_ns())
        self.logname = os.path.join(TMP, "serve-%d.log" % time.monotonic_ns())
        self.log = open(self.logname, "w+")
        args = [GLINT, "serve", "--models", models, "--listen", "127.0.0.1:%d" % port,
                "--ready-file", self.ready, "--edge-config", cfg, "--state-dir", state,
                "--cache-mb", "0"] + list(extra)
        # the latency budget refuses by measured speed (a slow or sanitized
        # build, a loaded machine); its own test sets it (test_serve.py)
        if "--max-queue-ms" not in extra:
            args += ["--max-queue-ms", "0"]
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        STARTED.append(self.p)
        deadline = time.time() + 60
        while not os.path.exists(self.ready):
            if self.p.poll() is not None or time.time() > deadline:
                self.log.seek(0)
                raise RuntimeError("server did not start:\n" + self.log.read())
            time.sleep(0.05)
        self.port = int(open(self.ready).read().strip().rsplit(":", 1)[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, {"_raw": data}

    def iq(self, det, img, params="", headers=None, timeout=30):
        h = {"Content-Type": "image/jpeg", "x-api-token": "tok_test"}
        h.update(headers or {})
        return self.request("POST", "/device-api/v1/image-queries?detector_id=%s%s" % (det, params),
                            img, h, timeout)

    def metric(self, name):
        st, body = self.request("GET", "/metrics")
        m = re.search(r"^%s (\S+)$" % re.escape(name), body["_raw"].decode(), re.M)
        return float(m.group(1)) if m else None

    def logtext(self):
        self.log.flush()
        return open(self.logname).read()

    def kill9(self):
        self.p.kill()
        self.p.wait()

    def stop(self):
        """SIGTERM; checks a clean exit with no sanitizer report."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
            log = self.logtext()
            check(self.p.returncode == 0, "server on port %d exits 0 (%s)" % (self.port, self.p.returncode))
            no_sanitizer_report(log, "server on port %d" % self.port)
        return self.p.returncode
