#!/usr/bin/python3
"""glint serve's thread defaults follow the CPUs the process may use
(src/util/cpus.h): real servers started under `taskset -c 0`, without it,
with GLINT_CPUS, and with explicit flags; each one's /health "cpus", its
models' instances x threads, its decode workers, its startup log line and
the OMP_NUM_THREADS it restarted itself with. Standard library only.

usage: test_cpus.py GLINT_BINARY SOURCE_DIR
"""
import json
import os
import re
import subprocess
import sys
import time

import edge_harness as H
from edge_harness import check

LOG_LINE = re.compile(r"glint serve: (\d+) CPUs? usable of (\d+) online \((.+)\)\n")
WORKERS = re.compile(r"glint serve: ready on \S+ in \d+ ms \((\d+) worker\(s\)\)")


class Server:
    """glint serve --model shapes on 127.0.0.1:0, under `prefix` (taskset)."""

    def __init__(self, prefix=(), env=None, extra=()):
        self.ready = os.path.join(H.TMP, "ready-%d" % time.monotonic_ns())
        self.logname = os.path.join(H.TMP, "serve-%d.log" % time.monotonic_ns())
        self.log = open(self.logname, "w+")
        e = dict(os.environ)
        for k in ("GLINT_CPUS", "OMP_NUM_THREADS"):
            e.pop(k, None)
        e.update(env or {})
        args = list(prefix) + [H.GLINT, "serve", "--models", H.MODELS, "--model", "shapes",
                               "--precision", "f32", "--listen", "127.0.0.1:0",
                               "--ready-file", self.ready] + list(extra)
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        H.STARTED.append(self.p)
        deadline = time.time() + 120
        while not os.path.exists(self.ready):
            if self.p.poll() is not None or time.time() > deadline:
                raise RuntimeError("server did not start:\n" + self.text())
            time.sleep(0.05)
        self.port = int(open(self.ready).read().strip().rsplit(":", 1)[1])

    def text(self):
        self.log.flush()
        return open(self.logname).read()

    def health(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/health")
        r = c.getresponse()
        j = json.loads(r.read())
        c.close()
        return j

    def omp_num_threads(self):
        """OMP_NUM_THREADS in the server's environment (after its restart)."""
        env = open("/proc/%d/environ" % self.p.pid, "rb").read().split(b"\0")
        for kv in env:
            if kv.startswith(b"OMP_NUM_THREADS="):
                return kv.split(b"=", 1)[1].decode()
        return None

    def stop(self):
        self.p.terminate()
        self.p.wait(60)
        H.no_sanitizer_report(self.text(), "glint serve")


def shapes(j):
    return next(m for m in j["models"] if m["name"] == "shapes")


def check_server(s, what, usable):
    """The /health cpus, the log line, the workers and OpenMP agree on usable."""
    j = s.health()
    c = j["cpus"]
    log = LOG_LINE.search(s.text())
    check(c["usable"] == usable, "%s: /health cpus.usable %d == %d" % (what, c["usable"], usable))
    check(c["online"] == os.cpu_count() and set(c) >= {"affinity", "cpuset", "quota", "limit"},
          "%s: /health cpus %s" % (what, c))
    check(log is not None and int(log.group(1)) == usable and int(log.group(2)) == c["online"]
          and log.group(3) == c["limit"],
          "%s: the startup log says %s" % (what, log.group(0).strip() if log else None))
    w = WORKERS.search(s.text())
    check(w is not None and int(w.group(1)) == usable,
          "%s: %s decode worker(s)" % (what, w.group(1) if w else None))
    return j


def test_taskset():
    s = Server(prefix=["taskset", "-c", "0"])
    try:
        j = check_server(s, "taskset -c 0", 1)
        c, m = j["cpus"], shapes(j)
        check(c["affinity"] == 1 and (c["limit"] == "affinity" or c["limit"].startswith("cgroup")),
              "taskset -c 0: affinity 1, limit %r" % c["limit"])
        check(m["instances"] == 1 and m["threads"] == 1,
              "taskset -c 0: 1 instance x 1 thread (%d x %d)" % (m["instances"], m["threads"]))
        check(s.omp_num_threads() == "1", "taskset -c 0: restarted with OMP_NUM_THREADS=%s"
              % s.omp_num_threads())
    finally:
        s.stop()


def test_machine():
    mask = len(os.sched_getaffinity(0))
    s = Server()
    try:
        j = s.health()
        c, m = j["cpus"], shapes(j)
        usable = c["usable"]
        check_server(s, "no taskset", usable)
        check(c["affinity"] == mask and 1 <= usable <= mask,
              "no taskset: affinity %d == this process's %d, usable %d" % (c["affinity"], mask, usable))
        if c["limit"] in ("online", "affinity"):
            check(usable == mask, "no taskset, no cgroup limit: usable is the mask's %d" % mask)
        check(m["instances"] * m["threads"] <= usable and m["instances"] == min(usable, 16),
              "no taskset: %d instance(s) x %d thread(s) within %d CPUs"
              % (m["instances"], m["threads"], usable))
        check(s.omp_num_threads() == str(usable), "no taskset: OMP_NUM_THREADS=%s"
              % s.omp_num_threads())
    finally:
        s.stop()


def test_env_and_flags():
    s = Server(env={"GLINT_CPUS": "1"})
    try:
        j = check_server(s, "GLINT_CPUS=1", 1)
        check(j["cpus"]["limit"] == "GLINT_CPUS=1", "GLINT_CPUS=1: limit %r" % j["cpus"]["limit"])
    finally:
        s.stop()
    # explicit flags and the user's OMP_NUM_THREADS win over the defaults
    s = Server(prefix=["taskset", "-c", "0"], env={"OMP_NUM_THREADS": "3"},
               extra=["--instances", "2", "--threads", "2", "--workers", "3"])
    try:
        j = s.health()
        m = shapes(j)
        check(j["cpus"]["usable"] == 1 and m["instances"] == 2 and m["threads"] == 2,
              "flags win: %d instance(s) x %d thread(s) with 1 usable CPU"
              % (m["instances"], m["threads"]))
        w = WORKERS.search(s.text())
        check(w is not None and w.group(1) == "3", "flags win: --workers 3")
        check(s.omp_num_threads() == "3", "the user's OMP_NUM_THREADS=3 is kept (%s)"
              % s.omp_num_threads())
    finally:
        s.stop()


def main():
    H.setup(sys.argv, "glint-cpus-test-")
    for t in (test_taskset, test_machine, test_env_and_flags):
        print("-- " + t.__name__, flush=True)
        t()
    return H.finish()


if __name__ == "__main__":
    sys.exit(main())
