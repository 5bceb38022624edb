#!/usr/bin/python3
"""Black-box tests of the edge's model updates (src/serve/edge/edge_pull.h):
an edge glint serve pulls its detector's model from a second glint serve
(the hub, glint as the upstream), serves it, swaps in new versions under
load, and keeps the version serving through every fault. Faults a real hub
cannot produce on command (a truncated body, a wrong checksum, a body that is
not a package, a 500) come from a small fault server that relays the hub's
real package. Standard library only.

usage: test_model_pull.py GLINT_BINARY SOURCE_DIR [TEST_NAME...]
"""
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import sys
import threading
import time

import edge_harness as H
from edge_harness import Server, check, config, wait_until

H.setup(sys.argv, "glint-pull-test-")
TMP, MODELS, TRUTH, PICS = H.TMP, H.MODELS, H.TRUTH, H.PICS
ONLY = H.ONLY

DET = "det_2bTqCredDiscBinary000000000"
NAMES = ["shapes_0%d.png" % i for i in range(10)]


def hub_repo(name):
    """A hub's repository: red_disc with its own model.yaml (f32), so that a
    test can publish a new version by rewriting it."""
    root = os.path.join(TMP, name)
    d = os.path.join(root, "red_disc")
    os.makedirs(d)
    os.symlink(os.path.join(MODELS, "red_disc", "model.onnx"), os.path.join(d, "model.onnx"))
    # its ONNX test set travels as the package's reference pair
    os.symlink(os.path.join(MODELS, "red_disc", "test_data_set_0"), os.path.join(d, "test_data_set_0"))
    yaml = open(os.path.join(MODELS, "red_disc", "model.yaml")).read()
    check("labels: [YES, NO]" in yaml, "red_disc's model.yaml names its labels [YES, NO]")
    write(os.path.join(d, "model.yaml"), yaml.replace("precision: auto", "precision: f32"))
    return root


def write(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def publish_reversed(root):
    """Version 2 at the hub: the labels reversed, so every answer flips."""
    y = os.path.join(root, "red_disc", "model.yaml")
    write(y, open(y).read().replace("labels: [YES, NO]", "labels: [NO, YES]"))


def empty_repo(name):
    root = os.path.join(TMP, name)
    if os.path.isdir(root):
        return root
    os.makedirs(root)
    # glint serve needs one model to start; the detector has none of its own
    d = os.path.join(root, "other")
    os.makedirs(d)
    for f in ("model.onnx", "model.yaml"):
        os.symlink(os.path.join(MODELS, "shapes", f), os.path.join(d, f))
    return root


def start_hub(name):
    root = hub_repo(name)
    cfg = config(os.path.join(TMP, name + "-hub.yaml"), [{"detector_id": DET, "model": "red_disc"}])
    return root, Server(root, cfg, os.path.join(TMP, name + "-hub-state"))


def start_edge(name, upstream, extra=None, state=None):
    cfg = config(os.path.join(TMP, name + "-edge.yaml"),
                 [{"detector_id": DET, "query": "Is there a red disc?", "mode": "BINARY",
                   "confidence_threshold": 0.5}], upstream=upstream, extra=extra)
    state = state or os.path.join(TMP, name + "-edge-state")
    return Server(empty_repo(name + "-edge"), cfg, state), state


def updates(edge):
    st, h = edge.request("GET", "/health")
    return h["edge"]["model_updates"].get(DET, {}) if st == 200 else {}


def label(edge, name):
    st, q = edge.iq(DET, PICS[name])
    return q["result"]["label"] if st == 200 else "HTTP %d" % st


def truth(name, flipped=False):
    yes = TRUTH[name]["red_disc"] == "YES"
    return "YES" if yes != flipped else "NO"


def versions(state):
    d = os.path.join(state, "models", DET, "versions")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


class Load:
    """Closed-loop clients on the edge's detector, cycling the test pictures:
    results holds (time, picture, status, label) per request."""

    def __init__(self, edge, clients=3, timeout=10):
        self.edge, self.timeout, self.results = edge, timeout, []
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]
        for t in self.threads:
            t.start()
        wait_until(lambda: len(self.results) >= 30, 10, 0.02)  # under way

    def run(self):
        i = 0
        while not self.halt.is_set():
            n = NAMES[i % len(NAMES)]
            try:
                st, q = self.edge.iq(DET, PICS[n], timeout=self.timeout)
                self.results.append((time.monotonic(), n, st, q["result"]["label"] if st == 200 else None))
            except (OSError, http.client.HTTPException):
                self.results.append((time.monotonic(), n, 0, None))
            i += 1

    def after(self, t, n):
        """Waits for n answers to requests made after time t."""
        wait_until(lambda: sum(r[0] > t for r in self.results) >= n, 20, 0.02)

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join()
        return self.results


def test_pull_and_swap():
    """The edge has no model of its own: it pulls the hub's, answers with it,
    and under steady load swaps in the version the hub publishes next, with
    no failed request; answers change to the new version's."""
    root, hub = start_hub("swap")
    t0 = time.monotonic()
    edge, state = start_edge("swap", hub.url)
    ready = wait_until(lambda: updates(edge).get("version") == 1, 20)
    t_first = time.monotonic() - t0
    check(ready, "the edge pulls version 1 (%.2f s from its start)" % t_first)
    u = updates(edge)
    st, urls = hub.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET)
    check(u.get("model_binary_id") == urls["model_binary_id"] and u.get("state") == "up to date"
          and not u.get("last_error"), "/health: version 1 is the hub's model_binary_id, up to date")
    check(all(label(edge, n) == truth(n) for n in NAMES), "version 1 answers as the hub's red_disc")
    st, r = edge.request("GET", "/edge-detector-readiness")
    check(st == 200 and r[DET]["ready"], "the detector is ready")
    st, m = edge.request("GET", "/v2/models/%s" % DET)
    check(st == 200, "the pulled version is a model of the repository: /v2/models/%s" % DET)
    check(versions(state) == ["1"] and not os.path.exists(os.path.join(state, "models", DET, "download.part")),
          "the state folder holds version 1 and no download")
    check(os.path.exists(os.path.join(state, "models", DET, "versions", "1", "reference_input.pb")),
          "version 1 came with its reference pair (checked before it served)")

    load = Load(edge)
    t_pub = time.monotonic()
    publish_reversed(root)
    swapped = wait_until(lambda: updates(edge).get("version") == 2, 30, 0.05)
    t_swap = time.monotonic()
    load.after(t_swap + 0.5, 60)
    results = load.stop()
    check(swapped, "version 2 published at the hub serves at the edge %.2f s later (refresh_rate 1 s)"
          % (t_swap - t_pub))
    bad = [r for r in results if r[2] != 200]
    check(len(results) > 90 and not bad,
          "under load across the swap: %d requests, %d failed" % (len(results), len(bad)))
    after = [r for r in results if r[0] > t_swap + 0.5]
    check(after and all(r[3] == truth(r[1], flipped=True) for r in after),
          "after the swap every answer is version 2's (%d answers)" % len(after))
    before = [r for r in results if r[0] < t_pub]
    check(before and all(r[3] == truth(r[1]) for r in before), "before it, version 1's")
    check(edge.metric('glint_model_updates_total{detector="%s"}' % DET) == 2 and
          edge.metric('glint_model_version{detector="%s"}' % DET) == 2,
          "metrics: 2 updates, version 2 serving")
    check(versions(state) == ["1", "2"], "two versions kept: %s" % versions(state))
    edge.stop()

    # offline: the hub is gone; a restarted edge serves the newest stored version
    hub.stop()
    edge2, _ = start_edge("swap", hub.url, state=state)
    ready = wait_until(lambda: edge2.request("GET", "/health/ready")[0] == 200, 20, 0.01)
    st, q = edge2.iq(DET, PICS["shapes_00.png"])  # at once: ready means it answers
    check(ready and st == 200 and q["result"]["label"] == truth("shapes_00.png", flipped=True),
          "restarted: /health/ready waits for the stored version, then it answers (%d)" % st)
    ok = wait_until(lambda: updates(edge2).get("version") == 2, 20)
    check(ok and all(label(edge2, n) == truth(n, flipped=True) for n in NAMES[:4]),
          "restarted with the hub gone: the stored version 2 serves")
    failing = wait_until(lambda: updates(edge2).get("failures", {}).get("upstream", 0) >= 1, 10)
    u = updates(edge2)
    check(failing and "upstream" in (u.get("last_error") or ""),
          "the unreachable hub is counted and shown (%s)" % u.get("last_error"))
    edge2.stop()


def test_chain():
    """Hub and spoke, two levels: a site hub pulls from the origin and is the
    upstream of an edge; the edge gets the origin's package byte for byte
    (the same model_binary_id) through the site hub."""
    root, origin = start_hub("chain")
    site, site_state = start_edge("chain-site", origin.url)
    check(wait_until(lambda: updates(site).get("version") == 1, 20), "the site hub pulls version 1")
    edge, state = start_edge("chain-edge", site.url)
    check(wait_until(lambda: updates(edge).get("version") == 1, 20), "the edge pulls it from the site hub")
    st, a = origin.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET)
    st2, b = site.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET)
    check(st == st2 == 200 and a["model_binary_id"] == b["model_binary_id"] == updates(edge).get("model_binary_id"),
          "one model_binary_id at all three: %s" % a["model_binary_id"][:16])
    publish_reversed(root)
    check(wait_until(lambda: updates(edge).get("version") == 2, 30),
          "version 2 published at the origin reaches the edge through the site hub")
    check(all(label(edge, n) == truth(n, flipped=True) for n in NAMES[:4]), "and answers")
    for s_ in (edge, site, origin):
        s_.stop()


def test_ready_waits():
    """A restarted edge is not ready until its stored version serves: with a
    model that takes a while to load (resnet18), the first 200 of
    /health/ready comes only when the detector answers with that version."""
    root = os.path.join(TMP, "rw-hub")
    d = os.path.join(root, "resnet18")
    os.makedirs(d)
    for f in ("model.onnx", "model.yaml", "labels.txt", "test_data_set_0"):
        os.symlink(os.path.join(MODELS, "resnet18", f), os.path.join(d, f))
    cfg = config(os.path.join(TMP, "rw-hub.yaml"), [{"detector_id": DET, "model": "resnet18"}])
    hub = Server(root, cfg, os.path.join(TMP, "rw-hub-state"))
    ecfg = config(os.path.join(TMP, "rw-edge.yaml"),
                  [{"detector_id": DET, "mode": "MULTI_CLASS"}], upstream=hub.url)
    state = os.path.join(TMP, "rw-edge-state")
    edge = Server(empty_repo("rw-edge"), ecfg, state)
    check(wait_until(lambda: updates(edge).get("version") == 1, 60), "resnet18 pulled as version 1")
    edge.stop()
    hub.stop()
    edge = Server(empty_repo("rw-edge"), ecfg, state)
    seen = []
    ready = wait_until(lambda: seen.append(edge.request("GET", "/health/ready")[0]) or seen[-1] == 200,
                       60, 0.005)
    st, q = edge.iq(DET, PICS["shapes_00.png"])
    em = ((q or {}).get("metadata") or {}).get("edge_models") or {}
    check(ready and 503 in seen and st == 200 and em.get("primary", {}).get("model") == DET,
          "not ready (%d x 503) until the stored version serves; then it answers with it (%d, %s)"
          % (seen.count(503), st, em.get("primary")))
    edge.stop()


def test_rollback():
    """glint rollback (POST /edge-api/v1/detectors/{id}/rollback) under load:
    back to version 1 with no failed request; the version rolled back from is
    not pulled again, also after a restart, until the hub publishes another."""
    import subprocess
    root, hub = start_hub("rb")
    edge, state = start_edge("rb", hub.url)
    check(wait_until(lambda: updates(edge).get("version") == 1, 20), "version 1 pulled")
    st, b = edge.request("POST", "/edge-api/v1/detectors/%s/rollback" % DET)
    check(st == 409 and "no version before 1" in b.get("detail", ""),
          "rollback with nothing stored before: 409 (%s)" % b)
    st, b = edge.request("POST", "/edge-api/v1/detectors/det_2bTqCunknown000000000000000/rollback")
    check(st == 404, "rollback of an unknown detector: 404")
    st, b = edge.request("GET", "/edge-api/v1/detectors/%s/rollback" % DET)
    check(st == 405, "GET on rollback: 405")
    publish_reversed(root)
    check(wait_until(lambda: updates(edge).get("version") == 2, 20), "version 2 pulled")
    wait_until(lambda: label(edge, "shapes_00.png") == truth("shapes_00.png", flipped=True), 5)
    st, urls2 = hub.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET)

    load = Load(edge)
    t0 = time.monotonic()
    cli = subprocess.run([H.GLINT, "rollback", DET, "--url", edge.url], capture_output=True,
                         text=True, timeout=120)
    t_done = time.monotonic()
    load.after(t_done + 0.3, 30)
    results = load.stop()
    check(cli.returncode == 0 and "version 2 -> 1" in cli.stdout,
          "glint rollback: exit 0, '%s' in %.2f s" % (cli.stdout.strip() or cli.stderr.strip(), t_done - t0))
    bad = [r for r in results if r[2] != 200]
    check(len(results) > 60 and not bad, "under load across the rollback: %d requests, %d failed"
          % (len(results), len(bad)))
    after = [r for r in results if r[0] > t_done + 0.3]
    check(after and all(r[3] == truth(r[1]) for r in after), "after it, version 1's answers")
    time.sleep(3)  # three polls at refresh_rate 1 s
    u = updates(edge)
    check(u.get("version") == 1 and u.get("state") == "rolled back" and versions(state) == ["1"],
          "the rolled-back version is not pulled again (%s, store %s)" % (u.get("state"), versions(state)))
    check(open(os.path.join(state, "models", DET, "rejected")).read() == urls2["model_binary_id"],
          "its id is kept in the state folder")
    edge.stop()
    edge, _ = start_edge("rb", hub.url, state=state)
    time.sleep(2.5)
    u = updates(edge)
    check(u.get("version") == 1 and label(edge, "shapes_00.png") == truth("shapes_00.png"),
          "after a restart: still version 1 (%s)" % u.get("state"))
    y = os.path.join(root, "red_disc", "model.yaml")
    write(y, open(y).read() + "# version 3\n")
    ok = wait_until(lambda: updates(edge).get("model_binary_id") not in (None, urls2["model_binary_id"])
                    and updates(edge).get("version") == 2, 20)
    check(ok and label(edge, "shapes_00.png") == truth("shapes_00.png", flipped=True),
          "a newer version published at the hub is pulled and serves")
    edge.stop()
    hub.stop()


def test_auto_rollback():
    """A version that regresses (here: a model 100x slower per image) is
    rolled back on its own within the watch window, under load, with no
    failed request; counted and shown."""
    root, hub = start_hub("arb")
    d = os.path.join(root, "resnet18")
    os.makedirs(d)
    for f in ("model.onnx", "model.yaml", "labels.txt", "test_data_set_0"):
        os.symlink(os.path.join(MODELS, "resnet18", f), os.path.join(d, f))
    hub.stop()  # the hub scans its repository at start: again, with resnet18 there
    cfg = os.path.join(TMP, "arb-hub.yaml")
    hub = Server(root, cfg, os.path.join(TMP, "arb-hub-state"))
    edge, state = start_edge("arb", hub.url, extra={"rollback_window_s": 60, "rollback_min_requests": 10})
    check(wait_until(lambda: updates(edge).get("version") == 1, 20), "version 1 pulled")
    load = Load(edge, clients=2, timeout=30)
    config(cfg, [{"detector_id": DET, "model": "resnet18"}])  # the hub now serves resnet18
    swapped = wait_until(lambda: updates(edge).get("version") == 2, 60, 0.05)
    back = wait_until(lambda: updates(edge).get("auto_rollbacks") == 1 and
                      updates(edge).get("version") == 1, 60, 0.05)
    t_back = time.monotonic()
    load.after(t_back, 20)
    results = load.stop()
    u = updates(edge)
    check(swapped and back, "the slow version 2 swapped in, then rolled back on its own to version 1")
    check("ms per image" in (u.get("watch") or "") and "regressed" in edge.logtext(),
          "the reason is shown: %s" % u.get("watch"))
    check(edge.metric('glint_model_auto_rollbacks_total{detector="%s"}' % DET) == 1,
          "glint_model_auto_rollbacks_total 1")
    bad = [r for r in results if r[2] != 200]
    check(results and not bad, "under load through both swaps: %d requests, %d failed" % (len(results), len(bad)))
    check(all(label(edge, n) == truth(n) for n in NAMES[:4]) and versions(state) == ["1"],
          "version 1's answers again; version 2 is gone from the store")
    time.sleep(2)
    check(updates(edge).get("version") == 1, "and it is not pulled again")
    edge.stop()
    hub.stop()


def test_calibration():
    """calibrate_from_traffic: the edge keeps a bounded sample of its query
    images (never a broken one); a new float version arrives, glint quantize
    calibrates int8 on half the sample and judges it on the rest, and the
    version reloads in int8 where its report passes; answers stay right."""
    root, hub = start_hub("cal")
    cfg = config(os.path.join(TMP, "cal-edge.yaml"),
                 [{"detector_id": DET, "query": "Is there a red disc?", "mode": "BINARY",
                   "confidence_threshold": 0.5, "calibrate_from_traffic": True}], upstream=hub.url,
                 extra={"calibration_sample_interval_s": 0, "calibration_min_samples": 16,
                        "calibration_samples": 40})
    state = os.path.join(TMP, "cal-edge-state")
    edge = Server(empty_repo("cal-edge"), cfg, state)
    check(wait_until(lambda: updates(edge).get("version") == 1, 20), "version 1 pulled")
    check("0 of the 16 sample images" in (updates(edge).get("calibration") or ""),
          "version 1 is not calibrated: no sample yet (%s)" % updates(edge).get("calibration"))
    heldout = os.path.join(H.SRC, "tests", "data", "shapes_heldout")
    pics = [open(os.path.join(heldout, sub, n), "rb").read() for sub in ("calib", "eval")
            for n in sorted(os.listdir(os.path.join(heldout, sub))) if n.endswith(".png")][:50]
    check(len(pics) >= 40, "%d held-out pictures to send" % len(pics))
    sdir = os.path.join(state, "samples", DET)
    for i, img in enumerate(pics):
        st, q = edge.iq(DET, img, headers={"Content-Type": "image/png"})
    st, _ = edge.iq(DET, PICS["shapes_00.png"][:300], headers={"Content-Type": "image/png"})
    check(st == 400, "a broken image: 400")
    time.sleep(1)
    kept = sorted(os.listdir(sdir))
    check(16 <= len(kept) <= 40 and all(k.endswith(".png") for k in kept),
          "the sample is bounded: %d of %d images kept (at most 40)" % (len(kept), len(pics)))
    check(all(open(os.path.join(sdir, k), "rb").read() in pics for k in kept),
          "every kept image is a query's body, byte for byte (the broken one is not among them)")
    publish_reversed(root)
    ok = wait_until(lambda: "int8 calibrated" in (updates(edge).get("calibration") or ""), 120, 0.2)
    cal = updates(edge).get("calibration") or ""
    check(ok and "passes" in cal, "version 2 calibrated from the traffic: %s" % cal)
    vdir = os.path.join(state, "models", DET, "versions", "2")
    rep = json.load(open(os.path.join(vdir, "model.int8.onnx.report.json"))) if ok else {}
    check(rep and os.path.exists(os.path.join(vdir, "model.int8.onnx")),
          "its int8 model and agreement report are in version 2's folder")

    def served():
        st, h = edge.request("GET", "/health")
        m = [m for m in h["models"] if m["name"] == DET]
        return (m[0].get("precision"), m[0].get("precision_note") or "") if m else (None, "")
    check(wait_until(lambda: re.search(r"int8 [0-9.]+ ms", served()[1]), 30, 0.2),
          "version 2 reloads with its int8 model among auto's candidates: %s" % (served(),))
    # auto serves the fastest candidate whose report passes; which one wins
    # depends on the build (ASan slows int8's kernels more than f32's)
    prec, note = served()
    times = dict((k, float(v)) for k, v in re.findall(r"(f32|int8|bf16) ([0-9.]+) ms", note))
    check("int8" in times and "f32" in times and "agreement reports pass" in note
          and prec == min(times, key=times.get),
          "version 2 serves auto's fastest passing candidate (%s): %s" % (prec, note))
    check(all(label(edge, n) == truth(n, flipped=True) for n in NAMES),
          "int8 version 2's answers are right on the test pictures")
    edge.stop()
    hub.stop()


def test_oodd():
    """A detector with an out-of-domain model: both run on each query; a
    photograph (unlike the drawn scenes red_disc knows) gets its confidence
    pulled to chance and is escalated, where the same detector without the
    OODD model answers it confidently; a drawn picture keeps its confidence;
    the metadata names both models."""
    root = os.path.join(TMP, "oodd-edge-repo")
    for m in ("red_disc", "red_disc_oodd"):
        os.makedirs(os.path.join(root, m))
        for f in ("model.onnx", "model.yaml"):
            os.symlink(os.path.join(MODELS, m, f), os.path.join(root, m, f))
    hub_root, hub = start_hub("oodd")
    det2 = "det_2bTqCredDiscNoOodd000000000"
    cfg = config(os.path.join(TMP, "oodd-edge.yaml"),
                 [{"detector_id": DET, "model": "red_disc", "oodd_model": "red_disc_oodd",
                   "confidence_threshold": 0.9},
                  {"detector_id": det2, "model": "red_disc", "confidence_threshold": 0.9}],
                 upstream=hub.url, extra={"model_updates": False})
    edge = Server(root, cfg, os.path.join(TMP, "oodd-edge-state"))
    photo = open(os.path.join(H.SRC, "tests", "data", "heldout", "dog.jpg"), "rb").read()
    up = "glint_edge_escalations_unconfident_total"
    n0 = edge.metric(up)
    st, plain = edge.iq(det2, photo)
    check(st == 200 and plain["result"]["confidence"] >= 0.9 and edge.metric(up) == n0,
          "without the OODD model the photograph is answered confidently: %s %.3f, kept"
          % (plain["result"]["label"], plain["result"]["confidence"]))
    st, q = edge.iq(DET, photo)
    meta = q.get("metadata") or {}
    od = (meta.get("edge_models") or {}).get("oodd") or {}
    check(st == 200 and od.get("p_out", 0) > 0.9 and q["result"]["confidence"] < 0.6
          and abs(od.get("raw_confidence", 0) - plain["result"]["confidence"]) < 1e-6,
          "with it: P(out) %.3f pulls the confidence from %.3f to %.3f"
          % (od.get("p_out", -1), od.get("raw_confidence", -1), q["result"]["confidence"]))
    check(edge.metric(up) == n0 + 1, "and the photograph is escalated")
    st, q = edge.iq(DET, PICS["shapes_00.png"], headers={"Content-Type": "image/png"})
    od = ((q.get("metadata") or {}).get("edge_models") or {}).get("oodd") or {}
    check(st == 200 and od.get("p_out", 1) < 0.05 and q["result"]["confidence"] >= 0.9
          and q["result"]["label"] == truth("shapes_00.png") and edge.metric(up) == n0 + 1,
          "a drawn picture: P(out) %.4f, confidence %.3f kept, not escalated"
          % (od.get("p_out", -1), q["result"]["confidence"]))
    em = (q.get("metadata") or {}).get("edge_models") or {}
    check(em.get("primary") == {"model": "red_disc", "version": "local"} and
          od.get("model") == "red_disc_oodd" and od.get("version") == "local",
          "the metadata names both models and their versions: %s" % em)
    edge.stop()
    hub.stop()

    # from the upstream: the hub's detector has both; an edge with neither pulls both
    d = os.path.join(hub_root, "red_disc_oodd")
    os.makedirs(d)
    for f in ("model.onnx", "model.yaml", "test_data_set_0"):
        os.symlink(os.path.join(MODELS, "red_disc_oodd", f), os.path.join(d, f))
    hcfg = config(os.path.join(TMP, "oodd-hub2.yaml"),
                  [{"detector_id": DET, "model": "red_disc", "oodd_model": "red_disc_oodd"}])
    hub = Server(hub_root, hcfg, os.path.join(TMP, "oodd-hub2-state"))
    st, urls = hub.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET)
    check(st == 200 and len(urls.get("oodd_model_binary_id", "")) == 64 and
          "labels: [IN, OUT]" in urls.get("oodd_pipeline_config", "") and
          urls.get("oodd_model_binary_url", "").endswith(urls.get("oodd_model_binary_id", "-") + ".tar"),
          "the hub publishes the OODD model in the oodd_* fields")
    ecfg = config(os.path.join(TMP, "oodd2-edge.yaml"),
                  [{"detector_id": DET, "mode": "BINARY", "confidence_threshold": 0.9}], upstream=hub.url)
    edge = Server(empty_repo("oodd2-edge"), ecfg, os.path.join(TMP, "oodd2-edge-state"))
    both = wait_until(lambda: updates(edge).get("version") == 1 and
                      edge.request("GET", "/health")[1]["edge"]["model_updates"]
                      .get(DET + "-oodd", {}).get("version") == 1, 30)
    check(both, "the edge pulls the detector's model and its OODD model (%s-oodd)" % DET)
    n0 = edge.metric(up)
    st, q = edge.iq(DET, photo)
    od = ((q.get("metadata") or {}).get("edge_models") or {}).get("oodd") or {}
    check(st == 200 and od.get("model") == DET + "-oodd" and od.get("version") == "1"
          and od.get("p_out", 0) > 0.9 and q["result"]["confidence"] < 0.6 and edge.metric(up) == n0 + 1,
          "the pulled OODD model weighs the photograph (P(out) %.3f, confidence %.3f) and it escalates"
          % (od.get("p_out", -1), q["result"]["confidence"] if st == 200 else -1))
    edge.stop()
    hub.stop()


def test_disk_full():
    """The state folder on a small file system (a 2 MB tmpfs): a version
    that cannot fit is refused before a byte is written (the download and its
    version need twice its size), one whose size is not announced stops at
    ENOSPC; both counted as disk, the partial file removed, version 1 serves."""
    import subprocess
    state = os.path.join(TMP, "full-edge-state")
    os.makedirs(state)
    sudo = ["sudo", "-n"] if os.geteuid() != 0 else []
    r = subprocess.run(sudo + ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", state],
                       capture_output=True, text=True)
    if not check(r.returncode == 0, "a 2 MB tmpfs for the state folder (%s)" % r.stderr.strip()):
        return
    try:
        root, hub = start_hub("full")
        d = os.path.join(root, "resnet18")
        os.makedirs(d)
        for f in ("model.onnx", "model.yaml", "labels.txt"):
            os.symlink(os.path.join(MODELS, "resnet18", f), os.path.join(d, f))
        hub.stop()
        cfg = os.path.join(TMP, "full-hub.yaml")
        hub = Server(root, cfg, os.path.join(TMP, "full-hub-state"))
        edge, _ = start_edge("full", hub.url, state=state)
        check(wait_until(lambda: updates(edge).get("version") == 1, 20), "version 1 fits and is pulled")
        config(cfg, [{"detector_id": DET, "model": "resnet18"}])  # 45 MB
        seen = wait_until(lambda: updates(edge).get("failures", {}).get("disk", 0) >= 1, 60, 0.05)
        u = updates(edge)
        part = os.path.join(state, "models", DET, "download.part")
        check(seen and u.get("version") == 1 and "needed" in (u.get("last_error") or "")
              and not os.path.exists(part),
              "a version too big for the disk: refused up front, counted as disk (%s)" % u.get("last_error"))
        check(label(edge, "shapes_00.png") == truth("shapes_00.png"), "version 1 serves on")
        edge.stop()
        hub.stop()
        fault = Fault(os.urandom(3 << 20))
        fault.mode = "nolength"
        edge, _ = start_edge("full", fault.url, state=state)
        seen = wait_until(lambda: updates(edge).get("failures", {}).get("disk", 0) >= 1, 30, 0.05)
        u = updates(edge)
        check(seen and u.get("version") == 1 and "No space left" in (u.get("last_error") or "")
              and not os.path.exists(part),
              "a body of unknown size stops at ENOSPC, its part removed (%s)" % (u.get("last_error") or "")[-60:])
        check(label(edge, "shapes_00.png") == truth("shapes_00.png"), "version 1 still serves")
        edge.stop()
        fault.shutdown()
    finally:
        subprocess.run(sudo + ["umount", "-l", state])


class FileServer(http.server.ThreadingHTTPServer):
    """A plain HTTP file server with ETags: GET /NAME answers the bytes set in
    files[NAME] with ETag "sha1", and 304 to a matching If-None-Match."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FileHandler)
        self.files, self.answers = {}, []
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server_address[1]


class FileHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        body = self.server.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        tag = '"%s"' % hashlib.sha1(body).hexdigest()
        status = 304 if self.headers.get("If-None-Match") == tag else 200
        self.server.answers.append(status)
        self.send_response(status)
        self.send_header("ETag", tag)
        self.send_header("Content-Length", str(len(body) if status == 200 else 0))
        self.end_headers()
        if status == 200:
            self.wfile.write(body)


def test_source():
    """A repository folder whose model.yaml names a `source:`: glint serve
    pulls its versions from a plain file server (no edge detector), polls
    with If-None-Match (304: nothing new), serves the next version when the
    file changes, and refuses a body that is not the pinned sha256."""
    files = FileServer()
    rd_dir = os.path.join(TMP, "src-rd")
    os.makedirs(rd_dir)
    yaml = open(os.path.join(MODELS, "red_disc", "model.yaml")).read().replace("precision: auto", "precision: f32")
    for name, text in (("model.yaml", yaml), ("model.onnx", None)):
        if text is None:
            shutil.copy(os.path.join(MODELS, "red_disc", name), os.path.join(rd_dir, name))
        else:
            write(os.path.join(rd_dir, name), text)
    v1 = tar_of(rd_dir)
    files.files["rd.tar"] = v1
    root = os.path.join(TMP, "src-repo")
    for m, extra in (("rd", "source: %s/rd.tar\n" % files.url),
                     ("pinned", "source: %s/rd.tar\nsource_sha256: %s\n" % (files.url, "0" * 64))):
        os.makedirs(os.path.join(root, m))
        write(os.path.join(root, m, "model.yaml"), yaml + extra)  # no model.onnx: it comes from the source
    cfg = config(os.path.join(TMP, "src-edge.yaml"), [])
    srv = Server(root, cfg, os.path.join(TMP, "src-state"))

    def upd(name):
        st, h = srv.request("GET", "/health")
        return h["edge"]["model_updates"].get(name, {}) if st == 200 else {}

    def classify(name):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        c.request("POST", "/v1/models/rd/classify", PICS[name], {"Content-Type": "image/png"})
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        return r.status, (body.get("classes") or [{}])[0].get("label")

    check(wait_until(lambda: upd("rd").get("version") == 1, 20),
          "a folder with only a model.yaml naming a source: version 1 pulled")
    check(all(classify(n) == (200, truth(n)) for n in NAMES[:4]), "and it serves /v1/models/rd")
    time.sleep(2.5)
    check(files.answers.count(304) >= 2 and upd("rd").get("version") == 1,
          "polls with If-None-Match get 304 and change nothing (%s)" % files.answers)
    # the labels reversed in place: the same length, so the tar stays well formed
    files.files["rd.tar"] = v1.replace(b"labels: [YES, NO]", b"labels: [NO, YES]")
    check(wait_until(lambda: upd("rd").get("version") == 2, 20), "the file changes: version 2 serves")
    check(all(classify(n) == (200, truth(n, flipped=True)) for n in NAMES[:4]), "with its labels")
    check(wait_until(lambda: upd("pinned").get("failures", {}).get("checksum", 0) >= 1, 20)
          and not upd("pinned").get("version"),
          "a body that is not the pinned sha256 is refused (%s)" % (upd("pinned").get("last_error") or "")[:80])
    st, _ = srv.request("POST", "/v1/models/pinned/classify", PICS["shapes_00.png"], {"Content-Type": "image/png"})
    check(st in (404, 503), "and that model does not serve (%d)" % st)
    srv.stop()
    files.shutdown()


class Fault(http.server.ThreadingHTTPServer):
    """An upstream that relays a real package with a fault: `mode` is one of
    ok, truncate (half the body, then the connection closes), badsum (the id
    is not the body's sha256), garbage (not a package), error500, slow (the
    body at a trickle, for kill -9 mid-download)."""
    daemon_threads = True

    def __init__(self, blob):
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.blob, self.mode, self.ranges = blob, "ok", []
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server_address[1]

        self.pipeline_config = ""

    def body(self):
        if self.mode == "hostile":  # a package with an entry outside its folder
            import io
            import tarfile
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
                for name in ("model.onnx", "../../escaped"):
                    info = tarfile.TarInfo(name)
                    info.size = len(self.blob)
                    t.addfile(info, io.BytesIO(self.blob))
            return buf.getvalue()
        return b"this is not a tar of a model folder" * 100 if self.mode == "garbage" else self.blob


class FaultHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        srv = self.server
        if "/fetch-model-urls/" in self.path:
            if srv.mode == "hang":  # longer than the 10 s the edge waits for an answer
                time.sleep(12)
                return self.reply(200, b"{}")
            if srv.mode == "error500":
                return self.reply(500, b'{"detail": "the upstream is down for maintenance"}')
            body = srv.body()
            bid = hashlib.sha256(body).hexdigest()
            if srv.mode == "badsum":
                bid = hashlib.sha256(b"another package").hexdigest()
            doc = {"pipeline_config": srv.pipeline_config, "predictor_metadata": "{}", "model_binary_id": bid,
                   "model_binary_url": srv.url + "/bin/" + bid + "?mode=" + srv.mode,
                   "oodd_pipeline_config": ""}
            if srv.mode == "config":  # no binary: only the pipeline config
                del doc["model_binary_id"], doc["model_binary_url"]
            return self.reply(200, json.dumps(doc).encode())
        body = srv.body()
        start = 0
        rng = self.headers.get("Range")
        srv.ranges.append(rng)
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/x-tar")
        if srv.mode != "nolength":  # else the body ends with the connection (HTTP/1.0)
            self.send_header("Content-Length", str(len(body) - start))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))
        self.end_headers()
        part = body[start:]
        try:
            if srv.mode == "truncate":
                self.wfile.write(part[:len(part) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if srv.mode == "slow":
                for i in range(0, len(part), 4096):
                    self.wfile.write(part[i:i + 4096])
                    self.wfile.flush()
                    time.sleep(0.02)
                return
            self.wfile.write(part)
        except OSError:
            pass

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_faults():
    """Each fault leaves the version serving, counted by reason and shown in
    /health; no half-written version appears; kill -9 mid-download, then a
    restart resumes the download with Range."""
    root, hub = start_hub("faults")
    st, urls = hub.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET)
    c = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    c.request("GET", urls["model_binary_url"][len(hub.url):])
    v1 = c.getresponse().read()
    c.close()
    publish_reversed(root)  # version 2: the package the fault server relays
    got = wait_until(lambda: hub.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET)[1]
                     ["model_binary_id"] != urls["model_binary_id"], 20)
    st, urls2 = hub.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET)
    c = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    c.request("GET", urls2["model_binary_url"][len(hub.url):])
    v2 = c.getresponse().read()
    c.close()
    hub.stop()
    check(got and hashlib.sha256(v2).hexdigest() == urls2["model_binary_id"] and v1 != v2,
          "the hub's two packages")

    fault = Fault(v1)
    edge, state = start_edge("faults", fault.url)
    check(wait_until(lambda: updates(edge).get("version") == 1, 20), "version 1 from the fault server (mode ok)")
    fault.blob = v2

    def fails(reason):
        """Waits for one more failure of this reason."""
        n = updates(edge).get("failures", {}).get(reason, 0) + 1
        return wait_until(lambda: updates(edge).get("failures", {}).get(reason, 0) >= n, 60, 0.05)

    # (garbage is not a package, so it is taken for an ONNX file, which does not load)
    for mode, reason in (("truncate", "download"), ("badsum", "checksum"), ("hostile", "package"),
                         ("garbage", "load"), ("error500", "upstream"), ("hang", "upstream")):
        fault.mode = mode
        if mode == "hang":  # the answer that never comes: the 10 s timeout (after a backoff)
            seen = wait_until(lambda: "Timeout" in (updates(edge).get("last_error") or ""), 60, 0.2)
        else:
            seen = fails(reason)
        u = updates(edge)
        check(seen and u.get("version") == 1 and reason in (u.get("last_error") or ""),
              "%s: counted as %s, version 1 serves on (%s)" % (mode, reason, (u.get("last_error") or "")[:120]))
        check(label(edge, "shapes_00.png") == truth("shapes_00.png") and versions(state) == ["1"],
              "%s: the answers are version 1's and no other version is in the store" % mode)
    check(not os.path.exists(os.path.join(state, "models", "escaped")) and
          not os.path.exists(os.path.join(state, "escaped")), "hostile: nothing written outside the store")
    check(edge.metric('glint_model_update_failures_total{detector="%s",reason="checksum"}' % DET) >= 1,
          "glint_model_update_failures_total{reason=checksum}")

    # a model that does not load: a package of a folder whose model.onnx is not ONNX
    broken_dir = os.path.join(TMP, "broken")
    os.makedirs(broken_dir)
    with open(os.path.join(broken_dir, "model.onnx"), "wb") as f:
        f.write(b"not an onnx model")
    shutil.copy(os.path.join(root, "red_disc", "model.yaml"), os.path.join(broken_dir, "model.yaml"))
    fault.blob = tar_of(broken_dir)
    fault.mode = "ok"
    seen = fails("load")
    u = updates(edge)
    check(seen and u.get("version") == 1 and versions(state) == ["1"],
          "a version that does not load: counted as load, removed from the store, version 1 serves")
    # a model that loads but does not reproduce its reference pair
    odd_dir = os.path.join(TMP, "odd")
    os.makedirs(odd_dir)
    for f, src in (("model.onnx", "model.onnx"), ("model.yaml", "model.yaml"),
                   ("reference_input.pb", "test_data_set_0/input_0.pb"),
                   ("reference_output.pb", "test_data_set_1/output_0.pb")):
        shutil.copy(os.path.join(MODELS, "red_disc", src), os.path.join(odd_dir, f))
    fault.blob = tar_of(odd_dir)
    seen = fails("check")
    u = updates(edge)
    check(seen and u.get("version") == 1 and versions(state) == ["1"] and
          "differs from the reference" in (u.get("last_error") or ""),
          "a version that fails its reference pair: counted as check, removed, version 1 serves (%s)"
          % (u.get("last_error") or "")[:100])
    # a model that loads and runs but answers NaN, with no reference pair: it
    # must answer the detector's recent query images before it may serve
    fault.blob = tar_of(os.path.join(H.SRC, "tests", "data", "nan_model"))
    seen = fails("check")
    u = updates(edge)
    check(seen and u.get("version") == 1 and versions(state) == ["1"] and
          "recent query image" in (u.get("last_error") or ""),
          "a version that answers NaN on the recent queries: counted as check, version 1 serves (%s)"
          % (u.get("last_error") or "")[-90:])
    fault.blob = tar_of(odd_dir)
    fails("check")
    # backoff: the same failing id is not fetched again at every refresh
    n1 = updates(edge)["failures"]["check"]
    time.sleep(7)
    n2 = updates(edge)["failures"]["check"]
    check(n2 - n1 <= 3, "backoff (1, 2, 4 s ...): %d more check failures in 7 s at refresh_rate 1 s"
          % (n2 - n1))

    # kill -9 in the middle of a slow download, then a restart resumes it
    edge.stop()
    fault.blob, fault.mode = v2, "slow"
    edge, _ = start_edge("faults", fault.url, state=state)
    part = os.path.join(state, "models", DET, "download.part")
    mid = wait_until(lambda: os.path.exists(part) and os.path.getsize(part) > 100000, 30, 0.05)
    size_at_kill = os.path.getsize(part) if os.path.exists(part) else 0
    edge.kill9()
    check(mid and size_at_kill < len(v2), "killed mid-download (%d of %d bytes on disk)" % (size_at_kill, len(v2)))
    check(versions(state) == ["1"], "after kill -9: no partial version is visible (%s)" % versions(state))
    fault.mode, fault.ranges = "ok", []
    edge, _ = start_edge("faults", fault.url, state=state)
    done = wait_until(lambda: updates(edge).get("version") == 2, 30)
    check(done and any(r and r.startswith("bytes=") for r in fault.ranges),
          "restarted: the download resumes with Range (%s) and version 2 serves" % fault.ranges)
    check("(resumed)" in edge.logtext(), "the log says the download was resumed")
    vdir = os.path.join(state, "models", DET, "versions", "2")
    check(files_of(vdir) == untar(v2) and open(os.path.join(vdir, ".origin")).read()
          == hashlib.sha256(v2).hexdigest(), "version 2 on disk is the package's files, byte for byte, "
          "with its id")
    check(label(edge, "shapes_00.png") == truth("shapes_00.png", flipped=True), "version 2 answers")

    # a bare ONNX binary: pipeline_config carries its model.yaml
    yaml = open(os.path.join(MODELS, "red_disc", "model.yaml")).read().replace("precision: auto", "precision: f32")
    fault.blob = open(os.path.join(MODELS, "red_disc", "model.onnx"), "rb").read()
    fault.pipeline_config = yaml + "# from pipeline_config\n"
    ok = wait_until(lambda: updates(edge).get("version") == 3, 20)
    vdir = os.path.join(state, "models", DET, "versions", "3")
    check(ok and files_of(vdir) == {"model.onnx": fault.blob, "model.yaml": fault.pipeline_config.encode()},
          "an ONNX binary: version 3 is model.onnx + pipeline_config as model.yaml")
    check(all(label(edge, n) == truth(n) for n in NAMES[:4]), "version 3 answers with its labels")

    # no binary, a changed pipeline_config: the version serving with that model.yaml
    fault.mode = "config"
    fault.pipeline_config = yaml.replace("labels: [YES, NO]", "labels: [NO, YES]")
    ok = wait_until(lambda: updates(edge).get("version") == 4, 20)
    vdir = os.path.join(state, "models", DET, "versions", "4")
    check(ok and files_of(vdir) == {"model.onnx": fault.blob, "model.yaml": fault.pipeline_config.encode()}
          and open(os.path.join(vdir, ".origin")).read().startswith("config-"),
          "a changed pipeline_config without a binary: version 4 is version 3 with that model.yaml")
    check(all(label(edge, n) == truth(n, flipped=True) for n in NAMES[:4]), "version 4 answers with its labels")
    time.sleep(2)
    check(updates(edge).get("version") == 4 and updates(edge).get("state") == "up to date",
          "the same pipeline_config again: nothing new")
    edge.stop()
    fault.shutdown()


def tar_of(folder):
    """The package glint makes of a folder (sorted regular files, ustar, mode
    0644, owner 0, mtime 0), made here with Python's tarfile."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name in sorted(os.listdir(folder)):
            p = os.path.join(folder, name)
            if name.startswith(".") or not os.path.isfile(p):
                continue
            data = open(p, "rb").read()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), 0o644, 0, 0, 0
            info.uname = info.gname = ""
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def untar(blob):
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def files_of(folder):
    return {n: open(os.path.join(folder, n), "rb").read() for n in os.listdir(folder)
            if not n.startswith(".")}


def main():
    tests = ["pull_and_swap", "chain", "ready_waits", "source", "rollback", "auto_rollback", "calibration", "oodd", "faults",
             "disk_full"]
    for t in tests:
        if ONLY and t not in ONLY:
            continue
        print("--- " + t, flush=True)
        globals()["test_" + t]()
    return H.finish()


if __name__ == "__main__":
    sys.exit(main())
