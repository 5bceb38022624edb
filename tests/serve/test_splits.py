"""Splits on glint serve (--splits FILE, /v1/splits): a model name routed to
versions by weight, sticky per client, on the /v1 and KServe routes; the
answer names the version; a canary slower than the stable version is rolled
back automatically (weight 0, logged, counted in /metrics, shown in /health);
promotion and rollback through the API; a file change swaps versions (no
answer from the old one after the reload) and a broken file keeps the splits
that work. Standard library only.

usage: test_splits.py GLINT SRC"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_harness import Serve, Tally, request  # noqa: E402

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
T = Tally()
IMG = open(os.path.join(SRC, "tests", "data", "horses.jpg"), "rb").read()
DOG = open(os.path.join(SRC, "tests", "data", "dog.jpg"), "rb").read()

tmp = tempfile.mkdtemp(prefix="glint-splits-")
models = os.path.join(tmp, "models")
os.mkdir(models)
for name, src in (("red_v1", "red_disc"), ("red_v2", "red_disc"), ("slow", "mobilenetv2")):
    os.symlink(os.path.join(SRC, "models", src), os.path.join(models, name))
splits = os.path.join(tmp, "splits.yaml")
FILE1 = """disc:
  versions: {red_v1: 50, red_v2: 50}
canary:
  versions: {red_v1: 70, slow: 30}
  sticky: false
  canary: {version: slow, window_s: 2, min_requests: 5, latency_margin: 0.5}
"""
open(splits, "w").write(FILE1)
edge = os.path.join(tmp, "edge.yaml")  # a detector whose model is the split
open(edge, "w").write(open(os.path.join(SRC, "deploy", "edge-config.yaml")).read()
                      .replace("model: red_disc", "model: disc"))
DET = "det_2bTqCredDiscBinary000000000"


def classify(port, name, client=None, img=IMG, query="?cache=0"):
    h = {"Content-Type": "image/jpeg"}
    if client:
        h["x-api-token"] = client
    return request(port, "POST", "/v1/models/%s/classify%s" % (name, query), img, h)


def splits_state(port):
    st, j = request(port, "GET", "/v1/splits")
    return {s["name"]: s for s in j["splits"]} if st == 200 else {}


def metric(port, name):
    st, text = request(port, "GET", "/metrics")
    text = text.decode() if isinstance(text, bytes) else ""
    return [l for l in text.splitlines() if l.startswith(name)]


bad = os.path.join(tmp, "bad.yaml")
open(bad, "w").write("disc:\n  versions: {red_v1: -3}\n")
p = subprocess.run([GLINT, "serve", "--models", models, "--splits", bad, "--listen",
                    "127.0.0.1:0"], capture_output=True, text=True, timeout=120)
T.check("a bad --splits file: glint serve refuses to start and says why",
        p.returncode != 0 and "weight of red_v1" in p.stderr, (p.returncode, p.stderr[-300:]))

with Serve(GLINT, tmp, "--models", models, "--splits", splits, "--edge-config", edge,
           "--state-dir", os.path.join(tmp, "state")) as s:
    T.check("serve starts with --splits", s.port, s.log())
    port = s.port
    sp = splits_state(port)
    T.check("/v1/splits lists both splits, the canary watching",
            set(sp) == {"disc", "canary"} and sp["canary"]["state"] == "watching"
            and sp["disc"]["state"] == "steady", sp)

    # sticky clients: each keeps its version; both versions serve
    seen, ok = {}, True
    for i in range(24):
        for _ in range(3):
            st, j = classify(port, "disc", "camera-%d" % i)
            ok &= st == 200 and j.get("split") == "disc"
            seen.setdefault("camera-%d" % i, set()).add(j.get("version") if st == 200 else None)
    per_client = [len(v) for v in seen.values()]
    versions = set().union(*seen.values())
    T.check("the answer names the split and its version", ok, seen)
    T.check("a client keeps its version (24 clients x 3 requests)", per_client == [1] * 24, seen)
    T.check("both versions serve clients", versions == {"red_v1", "red_v2"}, versions)
    st, j = classify(port, "red_v1", "camera-0")
    T.check("the model itself answers without split fields", st == 200 and "split" not in j, j)

    # KServe: a split's name works on /v2 too, with the client's version
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 128, 128],
                                   "datatype": "FP32", "data": [0.5] * (3 * 128 * 128)}]})
    names = set()
    for i in range(3):
        st, j = request(port, "POST", "/v2/models/disc/infer", body,
                        {"Content-Type": "application/json", "x-api-token": "camera-1"})
        names.add(j.get("model_name") if st == 200 else (st, j))
    v1_version = next(iter(seen["camera-1"]))
    T.check("KServe infer on a split answers from the client's version",
            names == {v1_version}, (names, v1_version))
    st, _ = request(port, "GET", "/v2/models/disc/ready")
    T.check("KServe ready on a split", st == 200, st)

    # the Groundlight edge route: a detector whose model is the split
    got, want = {}, {}
    for i in range(8):
        c = "camera-%d" % i
        st, j = request(port, "POST", "/device-api/v1/image-queries?detector_id=" + DET, IMG,
                        {"Content-Type": "image/jpeg", "x-api-token": c})
        got[c] = ((j.get("metadata") or {}).get("edge_models") or {}).get("primary", {}).get(
            "model") if st == 200 else (st, j)
        want[c] = next(iter(seen[c]))
    T.check("an edge detector on a split: each client gets the version it gets on /v1, "
            "named in metadata.edge_models", got == want, (got, want))

    # the cache keeps split answers apart from the model's own
    classify(port, "disc", "camera-0", DOG, query="")
    st, j = classify(port, "disc", "camera-0", DOG, query="")
    st2, j2 = classify(port, next(iter(seen["camera-0"])), "camera-0", DOG, query="")
    T.check("a cached split answer still names the version; the model's own does not",
            j.get("split") == "disc" and "split" not in j2, (j, j2))

    # the canary: the slow version regresses p99 and is rolled back
    t0 = time.time()
    rolled = None
    while time.time() - t0 < 20 and not rolled:
        for _ in range(10):
            classify(port, "canary")
        c = splits_state(port).get("canary", {})
        if c.get("state") == "rolled_back":
            rolled = c
    T.check("a slower canary is rolled back within a few windows", rolled is not None,
            splits_state(port).get("canary"))
    rolled = rolled or {}
    w = {v["model"]: v["weight"] for v in rolled.get("versions", [])}
    T.check("its weight goes to 0, the stable keeps its own", w == {"red_v1": 70, "slow": 0}, w)
    T.check("the verdict says why (p99 against the others')",
            "p99" in rolled.get("verdict", "") and rolled["canary"]["last_canary"]["requests"] >= 5,
            rolled.get("verdict"))
    after = [classify(port, "canary")[1].get("version") for _ in range(15)]
    T.check("after the rollback only the stable version answers", set(after) == {"red_v1"}, after)
    T.check("/metrics counts the rollback and shows the weight",
            metric(port, 'glint_split_rollbacks_total{split="canary"} 1')
            and metric(port, 'glint_split_weight{split="canary",version="slow"} 0'),
            metric(port, "glint_split_"))
    T.check("the rollback is logged", "split canary: rolled back slow" in s.log(), s.log()[-400:])
    st, h = request(port, "GET", "/health")
    T.check("/health shows the splits", st == 200 and any(
        x["name"] == "canary" and x["state"] == "rolled_back" for x in h["splits"]["splits"]),
        h.get("splits") if st == 200 else st)

    # the API
    st, j = request(port, "PUT", "/v1/splits/api", json.dumps(
        {"versions": {"red_v1": 95, "red_v2": 5}, "canary": {"version": "red_v2"}}))
    T.check("PUT creates a split (201)", st == 201 and j["state"] == "watching", (st, j))
    st, j = request(port, "POST", "/v1/splits/api/promote")
    w = {v["model"]: v["weight"] for v in j.get("versions", [])} if st == 200 else {}
    T.check("POST promote gives the canary all the weight",
            st == 200 and j["state"] == "promoted" and w == {"red_v1": 0, "red_v2": 100}, (st, j))
    answers = {classify(port, "api", "c%d" % i)[1].get("version") for i in range(8)}
    T.check("after promotion every client gets the canary", answers == {"red_v2"}, answers)
    st, j = request(port, "POST", "/v1/splits/disc/rollback")
    T.check("rollback of a split without a canary: 409", st == 409 and "no canary" in j["error"],
            (st, j))
    st, j = request(port, "PUT", "/v1/splits/api", json.dumps({"versions": {"red_v1": "x"}}))
    T.check("PUT of a bad split: 400 saying why", st == 400 and "weight of red_v1" in j["error"],
            (st, j))
    st, j = request(port, "PUT", "/v1/splits/gone", json.dumps({"versions": {"nope": 1}}))
    st2, j2 = classify(port, "gone", "c")
    T.check("a split to a model that is not loaded: 503 naming it",
            st == 201 and st2 == 503 and "nope is not loaded" in j2["error"], (st, st2, j2))
    st, _ = request(port, "DELETE", "/v1/splits/gone")
    st2, j2 = classify(port, "gone", "c")
    T.check("DELETE removes it (then: unknown model)", st == 200 and st2 == 404, (st, st2, j2))

    # a file change swaps versions across all clients
    time.sleep(1.1)  # a distinct mtime
    open(splits, "w").write(FILE1.replace("red_v1: 50, red_v2: 50", "red_v1: 0, red_v2: 100"))
    t0 = time.time()
    while time.time() - t0 < 10 and splits_state(port)["disc"]["versions"][0]["weight"] != 0:
        time.sleep(0.1)
    swapped = [classify(port, "disc", "camera-%d" % i)[1].get("version") for i in range(24)]
    T.check("a file change swaps every client to the new version (reloaded in %.1f s)"
            % (time.time() - t0), set(swapped) == {"red_v2"}, swapped)
    T.check("the canary's rollback survives the reload (its lines did not change)",
            splits_state(port)["canary"]["state"] == "rolled_back", splits_state(port)["canary"])
    time.sleep(1.1)
    open(splits, "w").write("disc: {versions: {red_v1: oops}}\n")
    t0 = time.time()
    err = None
    while time.time() - t0 < 10 and not err:
        err = request(port, "GET", "/v1/splits")[1].get("error")
        time.sleep(0.1)
    T.check("a broken file: the splits read before stay, /v1/splits says why",
            err and "weight of red_v1" in err and classify(port, "disc", "x")[0] == 200, err)
T.check("glint serve exits 0 on SIGTERM (a sanitizer's report would make it 1)",
        s.proc.returncode == 0, open(os.path.join(tmp, "serve.log")).read()[-1500:])
T.finish()
