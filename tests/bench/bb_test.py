#!/usr/bin/env python3
"""Black-box tests of `glint bench` against real loopback servers
(test_server.py): each case starts its servers on ephemeral ports, runs the
glint executable, and checks the results folder (summary.json, CSVs,
report.html) and the exit code.

    bb_test.py GLINT CASE      (CASE = all runs them all)

Prints "PASS CASE" or the failed expectation and exits 1 (77 when the one
case asked for was skipped, e.g. no chromium). Every run is
bounded by the bench's own options and a subprocess timeout.
"""
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "test_server.py")
DATA = os.path.join(HERE, "..", "data")


class Fail(Exception):
    pass


def check(cond, what, *info):
    if not cond:
        raise Fail(what + ("" if not info else ": " + " ".join(str(i) for i in info)))


class Server:
    """test_server.py MODE on an ephemeral port, killed on exit."""

    def __init__(self, mode, *extra):
        self.p = subprocess.Popen([sys.executable, SERVER, mode] + list(extra),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 10
        self.port = None
        while time.time() < deadline:
            line = self.p.stdout.readline()
            m = re.match(r"listening on (\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
            if not line and self.p.poll() is not None:
                break
        check(self.port, "test server did not start", mode)
        self.url = "http://127.0.0.1:%d/" % self.port

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.p.kill()
        self.p.wait()


class Run:
    def __init__(self, glint, tmp):
        self.glint, self.tmp, self.n = glint, tmp, 0

    def __call__(self, *args, timeout=60):
        """Runs glint bench ARGS into a fresh folder; returns (rc, summary, dir, output)."""
        self.n += 1
        out = os.path.join(self.tmp, "run%d" % self.n)
        cmd = [self.glint, "bench"] + list(args)
        if args and args[0] != "compare":
            cmd += ["--out", out, "--quiet"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if re.search(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:", p.stderr):
            # shown, so that ctest's FAIL_REGULAR_EXPRESSION fails the case
            print("glint bench: sanitizer report:\n" + p.stderr[-6000:], flush=True)
            raise Fail("sanitizer report in glint bench's output")
        summary = None
        path = os.path.join(out, "summary.json")
        if os.path.exists(path):
            with open(path) as f:
                summary = json.load(f)
        return p.returncode, summary, out, p.stdout + p.stderr


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# ---- cases ----

def case_ramp_fast(run):
    """A fast server keeps up with every step: all steady, max steady = the top
    step's offered rate, server CPU/RSS come from its /health."""
    with Server("fast", "--health") as s:
        rc, j, out, text = run("ramp", "--url", s.url, "--max-clients", "3",
                               "--time-between-ramp", "1.5", "--requests-per-second", "20")
    check(rc == 0, "exit code", rc, text)
    steps = j["steps"]
    check(len(steps) == 3, "three steps", len(steps))
    for i, st in enumerate(steps):
        check(st["level"] == i + 1, "clients per step", st)
        check(abs(st["offered_rps"] - 20 * (i + 1)) < 1e-9, "offered = clients x rate", st)
        check(st["achieved_rps"] >= 0.9 * st["offered_rps"], "achieved close to offered", st)
        check(st["steady"], "step steady", st)
    check(j["max_steady_rps"] == 60, "max steady rps", j["max_steady_rps"])
    check(j["server_stats"] == "health", "server stats from /health", j["server_stats"])
    ms = j["max_steady"]
    check(ms["server_cpu_cores"] is not None and ms["server_rss_mb"] > 1, "server cpu/rss", ms)
    check(j["errors"] == {k: 0 for k in j["errors"]}, "no errors", j["errors"])
    check("MAX STEADY RPS: 60.0" in text and "rule: a step is steady" in text, "printed answer", text)
    reqs = rows(os.path.join(out, "requests.csv"))
    check(len(reqs) == j["requests"]["finished"], "requests.csv rows", len(reqs))
    check(all(r["outcome"] == "ok" and r["status"] == "200" for r in reqs), "request rows ok")
    secs = rows(os.path.join(out, "seconds.csv"))
    check(4 <= len(secs) <= 6, "seconds.csv rows", len(secs))
    check(len(rows(os.path.join(out, "steps.csv"))) == 3, "steps.csv rows")
    check(os.path.getsize(os.path.join(out, "report.html")) > 5000, "report.html written")
    # every request's latency is within the whole-run max
    check(max(int(r["latency_us"]) for r in reqs) / 1000 <= j["latency_ms"]["max"] * 1.01 + 0.01,
          "max latency")


def case_ramp_spread(run):
    """--client-start: four clients joining at once send their first
    requests together (sync, the default) or at phases spread over their
    500 ms period (spread), each then keeping its own period."""
    first = {}
    for mode in ("sync", "spread"):
        with Server("fast") as s:
            rc, j, out, text = run("ramp", "--url", s.url, "--start-clients", "4", "--step-size",
                                   "4", "--max-clients", "4", "--time-between-ramp", "1.6",
                                   "--requests-per-second", "2", "--client-start", mode,
                                   "--threads", "2", "--seed", "7")
        check(rc == 0, mode + ": exit code", rc, text)
        check(j["config"]["client_start"] == mode, mode + ": summary says so", j["config"])
        starts = sorted(int(r["start_us"]) for r in rows(os.path.join(out, "requests.csv")))
        check(len(starts) >= 12, mode + ": about 4 x 2/s x 1.6 s requests", len(starts))
        first[mode] = starts[:4]
    sync, spread = first["sync"], first["spread"]
    check(sync[3] - sync[0] < 30000, "sync: the four first requests within 30 ms", sync)
    check(spread[3] - spread[0] > 100000 and spread[3] - spread[0] < 500000,
          "spread: the four first requests spread over more than 100 ms of the 500 ms period",
          spread)


def case_rate_overload(run):
    """Open loop above capacity: the overloaded step is not steady, achieved
    < offered, and latency counted from the intended send time grows far
    beyond the service time (coordinated omission corrected)."""
    with Server("limit:100") as s:
        rc, j, out, text = run("rate", "--url", s.url, "--rate", "50,250", "--duration", "1.5",
                               "--connections", "16", "--timeout", "5")
    check(rc == 0, "exit code", rc, text)
    a, b = j["steps"]
    check(a["steady"] and a["achieved_rps"] >= 45, "50 rps step steady", a)
    check(not b["steady"], "250 rps step not steady", b)
    check(b["achieved_rps"] < 0.7 * b["offered_rps"], "achieved below offered", b)
    check(j["max_steady_rps"] == 50, "max steady is the first rate", j["max_steady_rps"])
    check(b["p99_ms"] > 200, "queueing shows in p99 (coordinated omission)", b["p99_ms"])
    check(j["requests"]["offered"] >= 440, "offered counts arrivals", j["requests"])
    check(j["offered_rps"] > j["achieved_rps"], "offered vs achieved", j["offered_rps"],
          j["achieved_rps"])


def case_rate_poisson(run):
    """Poisson arrivals average to the asked rate."""
    with Server("fast") as s:
        rc, j, out, text = run("rate", "--url", s.url, "--rate", "200", "--duration", "2",
                               "--arrival", "poisson", "--connections", "8")
    check(rc == 0, "exit code", rc, text)
    check(300 <= j["requests"]["offered"] <= 500, "poisson arrivals ~400", j["requests"])
    check(j["steps"][0]["steady"], "steady", j["steps"][0])


def case_stall(run):
    """A server that never answers: every request times out; nothing is
    steady; an SLA fails with exit code 2."""
    with Server("stall") as s:
        rc, j, out, text = run("rate", "--url", s.url, "--rate", "20", "--duration", "1",
                               "--connections", "4", "--timeout", "0.3",
                               "--sla", "p99<100ms,errors<1%")
    check(rc == 2, "SLA missed exit code", rc, text)
    check(j["errors"]["timeout"] >= 4, "timeouts counted", j["errors"])
    check(j["requests"]["responses"] == 0, "no responses", j["requests"])
    check(j["max_steady_rps"] is None and j["max_steady"] is None, "no steady step")
    check(j["achieved_rps"] == 0, "achieved 0", j["achieved_rps"])
    check(j["requests"]["unsent"] > 0, "backlog counted unsent", j["requests"])
    check(j["sla"]["met"] is False, "sla verdict", j["sla"])
    check("MISSED" in text, "printed verdict", text)


def case_errors(run):
    """A server answering 500/503 for half the requests: errors by kind and
    by status, success rate ~50%, not steady."""
    with Server("errors") as s:
        rc, j, out, text = run("concurrency", "--url", s.url, "--concurrency", "2",
                               "--window", "300", "--min-windows", "3", "--max-windows", "3",
                               "--sla", "errors<1%")
    check(rc == 2, "exit code 2", rc, text)
    e, codes = j["errors"], j["status_codes"]
    check(e["http_5xx"] > 0 and e["timeout"] == 0 and e["closed"] == 0, "5xx errors", e)
    check(set(codes) == {"200", "500", "503"}, "status codes", codes)
    check(abs(codes["500"] - codes["503"]) <= 3, "500 and 503 alike", codes)
    st = j["steps"][0]
    check(0.4 < st["success_rate"] < 0.6, "success ~50%", st)
    check(not st["steady"], "not steady", st)
    check(abs(j["metrics"]["error_pct"] - 50) < 10, "error pct", j["metrics"])


def case_drop(run):
    """A server that closes connections without answering: 'closed' errors."""
    with Server("drop") as s:
        rc, j, out, text = run("concurrency", "--url", s.url, "--concurrency", "2",
                               "--window", "200", "--min-windows", "3", "--max-windows", "3")
    check(rc == 0, "exit code", rc, text)
    check(j["errors"]["closed"] > 0 and j["requests"]["ok"] == 0, "closed errors", j["errors"])
    check(j["errors"]["connect"] == 0, "not connect errors", j["errors"])


def case_close(run):
    """A server that closes after each answer without saying so: the client
    reconnects transparently, no error."""
    with Server("close") as s:
        rc, j, out, text = run("concurrency", "--url", s.url, "--concurrency", "2",
                               "--window", "200", "--min-windows", "3", "--max-windows", "3")
    check(rc == 0, "exit code", rc, text)
    check(j["requests"]["failed"] == 0, "no failures", j["requests"], j["errors"])
    check(j["requests"]["reconnects"] > 0, "reconnects counted", j["requests"])
    check(j["requests"]["ok"] > 20, "answers", j["requests"])


def case_retries(run):
    """The first 3 requests get 503; with --retries the first request
    recovers; retries are counted apart from first tries."""
    with Server("flaky:3") as s:
        rc, j, out, text = run("ramp", "--url", s.url, "--max-clients", "1",
                               "--time-between-ramp", "1", "--requests-per-second", "5",
                               "--retries", "3", "--retry-backoff", "10")
    check(rc == 0, "exit code", rc, text)
    r = j["requests"]
    check(r["failed"] == 0 and r["ok"] == r["sent"], "all recovered", r)
    check(r["retries"] == 3 and r["retried_ok"] == 1, "retries counted apart", r)
    check(j["attempt_errors"]["http_5xx"] == 3, "attempt errors", j["attempt_errors"])
    first = rows(os.path.join(out, "requests.csv"))[0]
    check(first["attempts"] == "4" and first["outcome"] == "ok", "first request row", first)
    check(int(first["latency_us"]) >= 10000, "latency includes backoff", first)


def case_retry_after(run):
    """A 503 with Retry-After: 1: the retry waits the second the server
    asked for, not the 10 ms backoff (as urllib3 does)."""
    with Server("busy:1") as s:
        rc, j, out, text = run("ramp", "--url", s.url, "--max-clients", "1",
                               "--time-between-ramp", "2", "--requests-per-second", "5",
                               "--retries", "3", "--retry-backoff", "10")
    check(rc == 0, "exit code", rc, text)
    r = j["requests"]
    check(r["failed"] == 0 and r["retries"] == 1 and r["retried_ok"] == 1, "recovered", r)
    first = rows(os.path.join(out, "requests.csv"))[0]
    check(first["attempts"] == "2" and int(first["latency_us"]) >= 1000000,
          "the retry waited Retry-After's second", first)


def case_spike_server_cmd(run):
    """spike starts the server, releases the burst when it prints its ready
    line, reports the cold start, and kills the server at the end."""
    port = free_port()
    cmd = "%s %s fast --port %d --ready-delay 0.4" % (sys.executable, SERVER, port)
    rc, j, out, text = run("spike", "--url", "http://127.0.0.1:%d/" % port, "--burst", "40",
                           "--server-cmd", cmd, "--ready-pattern", "^listening on",
                           "--timeout", "5")
    check(rc == 0, "exit code", rc, text)
    sp = j["spike"]
    check(sp["server_started"] and sp["server_ready_s"] >= 0.4, "cold start measured", sp)
    check(sp["ok_within_timeout"] == 40 and sp["failed"] == 0, "all ok", sp)
    check(0 < sp["first_answer_ms"] <= sp["clear_ms"], "first answer before clear", sp)
    check(j["server_stats"] == "proc", "server CPU/RSS from /proc of the started server",
          j["server_stats"])
    check(port_closed_within(port, 5), "the server is gone after the run")
    # a server command that never prints the line: tool error, bounded
    t0 = time.time()
    rc, j, out, text = run("spike", "--url", "http://127.0.0.1:%d/" % port, "--burst", "5",
                           "--server-cmd", cmd, "--ready-pattern", "never printed",
                           "--ready-timeout", "1.5")
    check(rc == 1 and "never printed" in text, "ready timeout is a tool error", rc, text)
    check(time.time() - t0 < 10, "bounded")
    check(port_closed_within(port, 5), "the server is gone after a failed start")


def case_spike_plain(run):
    """A burst against a running server: every request answered."""
    with Server("slow:50") as s:
        rc, j, out, text = run("spike", "--url", s.url, "--burst", "30", "--timeout", "5")
    check(rc == 0, "exit code", rc, text)
    sp = j["spike"]
    check(sp["ok_within_timeout"] == 30, "ok", sp)
    check(sp["first_answer_ms"] >= 50 and sp["clear_ms"] >= sp["first_answer_ms"], "timing", sp)
    check("first answer after" in text, "printed", text)
    with open(os.path.join(out, "report.html")) as f:
        check('id="chart-spike"' in f.read(), "the report has the spike timeline")


def case_concurrency_steps(run):
    """Closed loop sweep: one step per level, each measured in windows until
    three agree (or the cap), achieved grows with concurrency on a 20 ms
    server."""
    with Server("slow:20") as s:
        rc, j, out, text = run("concurrency", "--url", s.url, "--concurrency", "1:3:2",
                               "--window", "400", "--max-windows", "6")
    check(rc == 0, "exit code", rc, text)
    a, b = j["steps"]
    check(a["level"] == 1 and b["level"] == 3, "levels", a["level"], b["level"])
    check(3 <= a["windows"] <= 6 and 3 <= b["windows"] <= 6, "windows", a, b)
    check(a["offered_rps"] is None, "closed loop has no offered rate", a)
    check(b["achieved_rps"] > 2 * a["achieved_rps"], "throughput grows", a, b)
    check(30 < a["achieved_rps"] < 55, "one in flight on 20 ms", a)
    steady = [s for s in j["steps"] if s["steady"]]
    if steady:
        check(j["max_steady_rps"] == max(s["achieved_rps"] for s in steady), "max steady")


def case_payload(run):
    """--image FOLDER --multipart image: every request is a well-formed
    multipart upload (the server answers 400 otherwise)."""
    d = os.path.join(run.tmp, "imgs")
    os.makedirs(d)
    for n in ("dog.jpg", "horses.jpg", "dog_192x144.png"):
        shutil.copy(os.path.join(DATA, n), d)
    with Server("multipart") as s:
        rc, j, out, text = run("concurrency", "--url", s.url, "--concurrency", "2",
                               "--window", "200", "--min-windows", "3", "--max-windows", "3",
                               "--image", d, "--multipart", "image")
        check(rc == 0, "exit code", rc, text)
        check(j["requests"]["ok"] > 5 and j["errors"]["http_4xx"] == 0, "multipart ok",
              j["requests"], j["errors"])
        check(j["config"]["payloads"] == 3 and j["method"] == "POST", "payloads", j["config"])
        sizes = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
        check(j["requests"]["bytes_out"] > sizes, "bodies sent", j["requests"])
        # the same folder as raw bodies is refused by this server
        rc, j, out, text = run("concurrency", "--url", s.url, "--concurrency", "1",
                               "--window", "200", "--min-windows", "1", "--max-windows", "1",
                               "--image", d)
        check(j["errors"]["http_4xx"] > 0, "raw bodies are not multipart", j["errors"])


def case_bounded(run):
    """Every run stops by itself: --max-requests and --duration."""
    with Server("fast") as s:
        t0 = time.time()
        rc, j, out, text = run("concurrency", "--url", s.url, "--concurrency", "4",
                               "--window", "1000", "--max-windows", "100", "--max-requests", "50")
        check(rc == 0 and j["stop_reason"] == "--max-requests reached", "max requests",
              rc, j and j["stop_reason"])
        check(j["requests"]["sent"] == 50, "exactly 50 started", j["requests"])
        rc, j, out, text = run("ramp", "--url", s.url, "--max-clients", "100",
                               "--time-between-ramp", "10", "--duration", "1")
        check(rc == 0 and j["stop_reason"] == "duration cap", "duration cap", j["stop_reason"])
        check(0.9 <= j["duration_s"] <= 1.2, "ran ~1 s", j["duration_s"])
        check(time.time() - t0 < 15, "bounded")


def case_cli_errors(run):
    """Bad options and unreadable payloads are tool errors (exit 1); a
    refusing server is measured, not a tool error."""
    port = free_port()
    url = "http://127.0.0.1:%d/" % port
    for args, needle in [
        (("ramp",), "--url is required"),
        (("ramp", "--url", "https://x/"), "https"),
        (("flood", "--url", url), "unknown mode"),
        (("ramp", "--url", url, "--max-clients", "0"), "--max-clients"),
        (("ramp", "--url", url, "--sla", "p99<<1"), "--sla"),
        (("ramp", "--url", url, "--image", "/nonexistent.jpg"), "nonexistent"),
        (("rate", "--url", url), "--rate"),
        (("compare", "/nonexistent/a.json", "/nonexistent/b.json"), "cannot read"),
    ]:
        rc, j, out, text = run(*args)
        check(rc == 1, "exit 1 for", args, rc, text)
        check(needle in text, "message names the problem", needle, text)
    rc, j, out, text = run("ramp", "--url", url, "--max-clients", "1", "--time-between-ramp",
                           "0.5", "--requests-per-second", "10")
    check(rc == 0 and j["errors"]["connect"] > 0, "connection refused measured", rc, j)
    rc, j, out, text = run("ramp", "--url", url, "--max-clients", "1", "--time-between-ramp",
                           "0.5", "--sla", "rps>=1")
    check(rc == 2, "SLA missed on a refusing server", rc)


def case_compare(run):
    """compare: same run twice passes; a doctored slower copy fails (2)."""
    with Server("fast") as s:
        args = ("concurrency", "--url", s.url, "--concurrency", "2", "--window", "300",
                "--min-windows", "3", "--max-windows", "3")
        rc1, a, da, _ = run(*args)
        rc2, b, _, _ = run(*args)
    check(rc1 == 0 and rc2 == 0, "runs")
    pa = os.path.join(da, "summary.json")
    rc, _, _, text = run("compare", pa, pa)
    check(rc == 0 and "PASS" in text, "identical passes", rc, text)
    b["metrics"]["p99_ms"] = a["metrics"]["p99_ms"] * 3 + 1
    b["metrics"]["rps"] = a["metrics"]["rps"] / 2
    slow = os.path.join(run.tmp, "slow.json")
    with open(slow, "w") as f:
        json.dump(b, f)
    rc, _, _, text = run("compare", pa, slow)
    check(rc == 2 and "REGRESSION" in text, "regression fails", rc, text)
    rc, _, _, text = run("compare", pa, pa, "--sla", "p99<0.000001ms")
    check(rc == 2 and "MISSED" in text, "SLA on new", rc, text)


CHART_PROBE = """<script>
(function () {
  var out = [];
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var drawn = 0, series = 0;
    svg.querySelectorAll('path.series, circle.point').forEach(function (el) {
      series++;
      var b = el.getBBox();
      var len = el.getTotalLength ? el.getTotalLength() : 0;
      if ((b.width > 0 || b.height > 0) && (el.tagName !== 'path' || len > 0)) drawn++;
    });
    var r = svg.getBoundingClientRect();
    out.push({id: svg.id, series: series, drawn: drawn, w: r.width, h: r.height,
              nodata: svg.querySelector('.nodata') !== null});
  });
  document.body.setAttribute('data-probe', JSON.stringify(out));
})();
</script>"""


def case_report_chromium(run):
    """report.html renders in headless Chromium and every chart draws its
    data (each data path has a non-empty box and length)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIP report_chromium: chromium is not installed (apt install chromium)")
        return "skip"
    with Server("fast", "--health") as s:
        rc, j, out, text = run("ramp", "--url", s.url, "--max-clients", "3",
                               "--time-between-ramp", "1", "--requests-per-second", "30")
    check(rc == 0, "run", rc, text)
    with open(os.path.join(out, "report.html")) as f:
        html = f.read()
    check("<script" not in html.lower(), "the report itself has no script")
    check("http://" not in html.replace(s.url, "").replace("http://www.w3.org/2000/svg", ""),
          "no network references")
    probe = os.path.join(out, "probe.html")
    with open(probe, "w") as f:
        f.write(html.replace("</body>", CHART_PROBE + "</body>"))
    profile = tempfile.mkdtemp(prefix="glint-chromium-")
    try:
        p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--user-data-dir=" + profile, "--window-size=1000,3000",
                            "--dump-dom", "file://" + probe],
                           capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'data-probe="([^"]*)"', p.stdout)
    check(m, "chromium rendered the page", p.returncode, p.stderr[-500:])
    charts = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    if os.environ.get("BB_VERBOSE"): print(charts)
    check(len(charts) == 6, "six charts", charts)
    for c in charts:
        check(not c["nodata"], "chart has data", c)
        check(c["series"] > 0 and c["drawn"] == c["series"], "every series drew", c)
        check(c["w"] > 300 and c["h"] > 100, "chart has a size", c)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_closed_within(port, seconds):
    """Waits (bounded) for nothing to listen on port any more."""
    deadline = time.time() + seconds
    while port_open(port):
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def port_open(port):
    s = socket.socket()
    try:
        s.settimeout(0.5)
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    glint, name = sys.argv[1], sys.argv[2]
    names = sorted(CASES) if name == "all" else [name]
    failed = skipped = 0
    for n in names:
        if n not in CASES:
            print("unknown case", n, "- cases:", " ".join(sorted(CASES)))
            return 2
        tmp = tempfile.mkdtemp(prefix="glint-bench-bb-")
        t0 = time.time()
        try:
            r = CASES[n](Run(glint, tmp))
            skipped += r == "skip"
            print("%s %s (%.1f s)" % ("SKIP" if r == "skip" else "PASS", n, time.time() - t0))
        except (Fail, subprocess.TimeoutExpired, KeyError, TypeError) as e:
            failed += 1
            print("FAIL %s: %s: %s" % (n, type(e).__name__, e))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        return 1
    return 77 if skipped and len(names) == 1 else 0  # 77: ctest SKIP_RETURN_CODE


if __name__ == "__main__":
    sys.exit(main())
