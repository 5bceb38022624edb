"""fleet_outbox.py — escalations through a fleet when a replica is killed.

Three replicas of `glint serve --edge-config` (each its own --state-dir: its
outbox on its own volume) behind HAProxy (deploy/haproxy/glint.cfg), a
fourth `glint serve` as their upstream. Clients send Groundlight image
queries through HAProxy for --seconds, every one escalated (confidence
threshold 1.0), each with its own X-Request-Id as the SDK sends. A third of
the way in, one replica is killed with SIGKILL and started again a second
later on the same state. After the load, every replica's outbox must drain,
and then the upstream must hold every acknowledged escalation (an answer 200
with an id) exactly once.

Reports: queries sent, acknowledged, failed; acknowledged escalations
missing upstream (0 expected); the upstream's created count against the
acknowledged (more: escalations committed by the killed replica whose
client never got the id — HAProxy sent the request again to another
replica, so the query reached the upstream under two ids); duplicates the
upstream refused (its image_query_id deduplication). Exit 1 if anything
acknowledged is missing or the outboxes do not drain.

usage: python3 bench/fleet_outbox.py [--seconds 12] [--clients 4] [--glint build/glint]
Needs haproxy (scripts/install-deps.sh)."""
import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "serve"))
import edge_harness as H  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--seconds", type=float, default=12)
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--glint", default=os.path.join(ROOT, "build", "glint"))
args = ap.parse_args()
H.setup([None, args.glint, ROOT], "glint-fleet-outbox-")
DET = "det_2bTqCredDiscBinary000000000"

models = H.repo("models", ("red_disc",))
up_port = H.free_port()
upcfg = H.config(os.path.join(H.TMP, "up.yaml"),
                 [{"detector_id": DET, "model": "red_disc", "confidence_threshold": 0.5}])
cfg = H.config(os.path.join(H.TMP, "edge.yaml"),
               [{"detector_id": DET, "model": "red_disc", "confidence_threshold": 1.0}],
               "http://127.0.0.1:%d" % up_port, extra={"outbox_max_pending": 100000})
up = H.Server(models, upcfg, os.path.join(H.TMP, "st-up"), port=up_port)
ports = [H.free_port() for _ in range(3)]
states = [os.path.join(H.TMP, "st-%d" % i) for i in range(3)]
reps = [H.Server(models, cfg, states[i], port=ports[i]) for i in range(3)]
front = H.free_port()
env = dict(os.environ, GLINT_FRONT="127.0.0.1:%d" % front,
           **{"GLINT_R%d" % (i + 1): "127.0.0.1:%d" % p for i, p in enumerate(ports)})
hap = subprocess.Popen(["haproxy", "-db", "-f", os.path.join(ROOT, "deploy", "haproxy",
                                                            "glint.cfg")],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
IMG = open(os.path.join(ROOT, "tests", "data", "horses.jpg"), "rb").read()
results = []  # (status, id)
lock = threading.Lock()
stop = threading.Event()


def client(k):
    n = 0
    while not stop.is_set():
        n += 1
        try:
            c = http.client.HTTPConnection("127.0.0.1", front, timeout=15)
            c.request("POST", "/device-api/v1/image-queries?detector_id=" + DET, IMG,
                      {"Content-Type": "image/jpeg", "x-api-token": "tok_test",
                       "X-Request-Id": "req_fleet%d_%d_%d" % (os.getpid(), k, n)})
            r = c.getresponse()
            body = r.read()
            c.close()
            q = json.loads(body) if r.status == 200 else {}
            res = (r.status, q.get("id"))
        except (OSError, http.client.HTTPException, ValueError):
            res = (0, None)
        with lock:
            results.append(res)


rc = 1
try:
    ok = H.wait_until(lambda: subprocess.run(
        ["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/v2/health/ready" % front]
    ).returncode == 0, 10)
    if not ok:
        sys.exit("fleet_outbox: HAProxy did not come up")
    time.sleep(1.0)  # every replica in rotation (rise 2 x 200 ms)
    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(args.seconds / 3)
    with lock:
        before = len(results)
    reps[1].kill9()
    time.sleep(1.0)
    reps[1] = H.Server(models, cfg, states[1], port=ports[1])
    time.sleep(args.seconds * 2 / 3 - 1.0)
    stop.set()
    for t in threads:
        t.join()
    t0 = time.time()
    drained = H.wait_until(lambda: all(
        r.metric("glint_edge_outbox_depth") == 0 for r in reps), 60)
    drain_s = time.time() - t0
    acked = [i for st, i in results if st == 200 and i]
    failed = [st for st, i in results if st != 200]
    missing = [i for i in acked
               if up.request("GET", "/device-api/v1/image-queries/" + i)[0] != 200]
    created = up.metric("glint_edge_image_queries_total")
    dups = up.metric("glint_edge_duplicates_total")
    print("fleet_outbox: %d queries in %.0f s through HAProxy, replica 2 killed after %d"
          % (len(results), args.seconds, before))
    print("  acknowledged %d, failed %d %s" % (len(acked), len(failed),
                                                sorted(set(failed)) if failed else ""))
    print("  outboxes drained: %s (%.1f s after the load)" % (bool(drained), drain_s))
    print("  acknowledged escalations missing upstream: %d" % len(missing))
    print("  upstream created %d for %d acknowledged (+%d committed by the killed replica "
          "without an answer reaching its client); duplicates refused by the upstream: %d"
          % (created, len(acked), created - len(acked), dups))
    out = os.path.join(ROOT, "bench", "out")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "fleet-outbox-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    json.dump({"queries": len(results), "acknowledged": len(acked), "failed": len(failed),
               "missing": len(missing), "created_upstream": created,
               "duplicates_refused": dups, "drained": bool(drained),
               "drain_s": round(drain_s, 2)}, open(path, "w"))
    print("wrote " + os.path.relpath(path, ROOT))
    rc = 0 if drained and not missing and len(acked) > 0 else 1
finally:
    stop.set()
    hap.kill()
    hap.wait()
    for r in reps + [up]:
        if r.p.poll() is None:
            r.p.terminate()
            r.p.wait(60)
sys.exit(rc)
