#!/usr/bin/python3
"""Black-box tests of glint's Groundlight edge API: real `glint serve`
processes on 127.0.0.1 (an edge and, for escalations, another glint serve as
its upstream), driven the way the Groundlight SDK drives the original.
Standard library only.

usage: test_edge.py GLINT_BINARY SOURCE_DIR [TEST_NAME...]

The detectors use the trained models/red_disc (YES/NO classifier) and
models/shapes (detector) on the drawn pictures of tests/data/shapes, whose
truth.json says what is in each.
"""
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

import edge_harness as H
from edge_harness import Server, check, config, free_port, repo, wait_until

H.setup(sys.argv, "glint-edge-test-")
TMP, MODELS, TRUTH, PICS = H.TMP, H.MODELS, H.TRUTH, H.PICS
GLINT, ONLY = H.GLINT, H.ONLY

DET_BIN = "det_2bTqCredDiscBinary000000000"
DET_COUNT = "det_2bTqCsquaresCount0000000000"
DET_BOX = "det_2bTqCredDiscBoxes0000000000"
DET_MULTI = "det_2bTqCredDiscMulti0000000000"
DET_FAST = "det_2bTqCalwaysReturn0000000000"
DET_OFF = "det_2bTqCnoCloud000000000000000"

IQ_KEYS = {"metadata", "id", "type", "created_at", "query", "detector_id", "result_type",
           "result", "patience_time", "confidence_threshold", "rois", "text"}


STD_DETECTORS = [
    {"detector_id": DET_BIN, "model": "red_disc", "query": "Is there a red disc?",
     "mode": "BINARY", "confidence_threshold": 0.8},
    {"detector_id": DET_COUNT, "model": "shapes", "query": "How many squares?", "mode": "COUNT",
     "class_name": "square", "max_count": 3, "confidence_threshold": 0.5},
    {"detector_id": DET_BOX, "model": "shapes", "query": "Where are the red discs?",
     "mode": "BOUNDING_BOX", "class_name": "red_disc", "max_num_bboxes": 5},
    {"detector_id": DET_MULTI, "model": "red_disc", "query": "Red disc: YES or NO?",
     "mode": "MULTI_CLASS"},
    {"detector_id": DET_FAST, "model": "red_disc", "query": "Is there a red disc?",
     "edge_inference_config": "edge_answers_with_escalation", "confidence_threshold": 1.0},
    {"detector_id": DET_OFF, "model": "red_disc", "query": "Is there a red disc?",
     "edge_inference_config": "no_cloud", "confidence_threshold": 1.0},
]


def valid_iq(q, det):
    return (isinstance(q, dict) and IQ_KEYS <= set(q) and q["type"] == "image_query"
            and re.fullmatch(r"iq_[0-9A-Za-z]{27}", q["id"] or "") is not None
            and q["detector_id"] == det and re.match(r"\d{4}-\d\d-\d\dT", q["created_at"])
            and isinstance(q["patience_time"], float) and isinstance(q["confidence_threshold"], float))


# ---------------------------------------------------------------- tests


def test_config_rules():
    """Bad edge configs are refused at start with the field named."""
    models = repo("rules")
    cases = [
        ({"edge_inference_configs": {"x": {"disable_cloud_escalation": True}}},
         "edge_inference_configs.x.disable_cloud_escalation"),
        ({"detectors": [{"detector_id": DET_BIN}, {"detector_id": DET_BIN.lower()}]},
         "detectors[1].detector_id"),
        ({"detectors": [{"detector_id": DET_BIN, "edge_inference_config": "nope"}]},
         "detectors[0].edge_inference_config: unknown preset 'nope'"),
        ({"detectors": [{"detector_id": "det_short"}]}, "detectors[0].detector_id"),
        ({"detectors": [{"detector_id": DET_BIN, "mode": "TEXTISH"}]}, "detectors[0].mode"),
        ({"detectors": [{"detector_id": DET_BIN, "model": "missing"}]}, "detectors[0].model"),
        ({"global_config": {"refresh_rate": 0}}, "global_config.refresh_rate"),
        ({"detectors": [{"detector_id": DET_BIN, "max_count": 51}]}, "detectors[0].max_count"),
    ]
    for doc, want in cases:
        path = os.path.join(TMP, "bad-%d.yaml" % time.monotonic_ns())
        with open(path, "w") as f:
            json.dump(doc, f)
        p = subprocess.run([GLINT, "serve", "--models", models, "--listen", "127.0.0.1:0",
                            "--edge-config", path, "--state-dir", os.path.join(TMP, "st-rules")],
                           capture_output=True, text=True, timeout=60)
        H.no_sanitizer_report(p.stderr, "refused config")
        check(p.returncode == 1 and want in p.stderr,
              "bad config refused (exit %d, want 1) naming %s" % (p.returncode, want))
    # YAML in the original's shape, with unknown keys ignored
    path = os.path.join(TMP, "good.yaml")
    with open(path, "w") as f:
        f.write("global_config:\n  refresh_rate: 60\n  confident_audit_rate: 1e-5\n"
                "  something_else: 1\n"
                "edge_inference_configs:\n  mine:\n    enabled: true\n"
                "    always_return_edge_prediction: true\n"
                "    min_time_between_escalations: 2.5\n"
                "detectors:\n  - detector_id: %s\n    edge_inference_config: mine\n"
                "    model: red_disc\n    future_key: [1, 2]\n" % DET_BIN)
    s = Server(models, path, os.path.join(TMP, "st-good"))
    st, doc = s.request("GET", "/edge-config")
    check(st == 200 and doc["edge_inference_configs"]["mine"]["min_time_between_escalations"] == 2.5
          and doc["detectors"][0]["detector_id"] == DET_BIN, "GET /edge-config returns the YAML's document")
    s.stop()


def test_routes(s):
    """The fact sheet's service routes."""
    check(s.request("GET", "/ping") == (200, {"message": "Hello!"}), "/ping")
    check(s.request("GET", "/health/live") == (200, {"status": "alive"}), "/health/live")
    check(s.request("GET", "/health/ready") == (200, {"status": "ready"}), "/health/ready")
    st, me = s.request("GET", "/device-api/v1/me")
    check(st == 200 and "email" in me and me["is_superuser"] is False, "/v1/me")
    st, b = s.request("GET", "/device-api/v1/api-tokens/by-snippet/tok_test")
    check(st == 404 and "detail" in b, "token snippet answers 404 (SDK disables rotation)")
    st, r = s.request("GET", "/edge-detector-readiness")
    check(st == 200 and all(r[d["detector_id"]]["ready"] for d in STD_DETECTORS),
          "readiness: every configured detector ready")
    st, d = s.request("GET", "/device-api/v1/detectors/" + DET_COUNT)
    check(st == 200 and d["id"] == DET_COUNT and d["type"] == "detector" and d["mode"] == "COUNT"
          and d["mode_configuration"] == {"class_name": "square", "max_count": 3}
          and d["confidence_threshold"] == 0.5 and d["query"] == "How many squares?",
          "GET detector: Detector JSON with mode_configuration")
    st, d = s.request("GET", "/device-api/v1/detectors/" + DET_MULTI)
    check(st == 200 and d["mode"] == "MULTI_CLASS"
          and d["mode_configuration"] == {"class_names": ["YES", "NO"], "num_classes": 2},
          "GET MULTI_CLASS detector: mode_configuration with its model's class names (%r)"
          % d.get("mode_configuration"))
    st, d = s.request("GET", "/device-api/v1/detectors/det_2bTqCunknown000000000000000")
    check(st == 404 and "detail" in d, "unknown detector: 404 with detail")
    st, r = s.request("GET", "/status/resources.json")
    sysr = r["system"]
    check(st == 200 and 0 <= sysr["cpu_utilization_pct"]["total"] <= 100
          and sysr["ram_bytes"]["total"] > sysr["ram_bytes"]["used"] > 0
          and sysr["gpu"]["vram_bytes"]["total"] == 0, "/status/resources.json")
    st, _ = s.request("POST", "/ping")
    check(st == 405, "POST /ping: 405")
    st, h = s.request("GET", "/health")
    check(st == 200 and h["edge"]["detectors"] == len(STD_DETECTORS)
          and h["edge"]["detectors_ready"] == len(STD_DETECTORS) and h["edge"]["outbox"] is True,
          "/health has the edge part (detectors, readiness, outbox)")


def test_upstream_models(s):
    """glint as the upstream: fetch-model-urls in the original's shape, and a
    model binary that is a tar of the model folder's files whose sha256 is
    model_binary_id, stable while the files are, refused for bad ids."""
    import hashlib, io, tarfile, urllib.request
    st, u = s.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET_BIN)
    check(st == 200 and all(isinstance(u.get(k), str) for k in
                            ("pipeline_config", "predictor_metadata", "model_binary_id",
                             "model_binary_url", "oodd_pipeline_config")),
          "fetch-model-urls: the original's string fields: %s" % sorted(u))
    meta = json.loads(u["predictor_metadata"])
    check("task: classify" in u["pipeline_config"] and meta["model"] == "red_disc",
          "pipeline_config is red_disc's model.yaml, predictor_metadata names it")
    with urllib.request.urlopen(u["model_binary_url"], timeout=30) as r:
        blob, etag, ctype = r.read(), r.headers["ETag"], r.headers["Content-Type"]
    check(hashlib.sha256(blob).hexdigest() == u["model_binary_id"] and
          etag == '"%s"' % u["model_binary_id"] and ctype == "application/x-tar",
          "the binary's sha256 is model_binary_id (and its ETag)")
    folder = os.path.join(s.models, "red_disc")
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        got = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    want = {f: open(os.path.join(folder, f), "rb").read() for f in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, f))}
    check(got == want and "model.onnx" in got, "the tar holds the folder's files, byte for byte: %s"
          % sorted(got))
    st, u2 = s.request("GET", "/edge-api/v1/fetch-model-urls/%s" % DET_BIN)
    check(st == 200 and u2["model_binary_id"] == u["model_binary_id"],
          "the same files give the same id (no trailing slash too)")
    st, b = s.request("GET", "/edge-api/v1/fetch-model-urls/det_2bTqCunknown000000000000000/")
    check(st == 404 and "detail" in b, "unknown detector: 404 with detail")
    st, b = s.request("GET", "/edge-api/v1/model-binaries/%s.tar" % ("0" * 64))
    check(st == 404 and "detail" in b, "unknown binary id: 404")
    st, b = s.request("GET", "/edge-api/v1/model-binaries/../../etc/passwd")
    check(st == 404, "a path instead of an id: 404")
    st, b = s.request("POST", "/edge-api/v1/fetch-model-urls/%s/" % DET_BIN)
    check(st == 405, "POST: 405")


def test_upstream_change():
    """A model whose files change gets a new model_binary_id once it reloads,
    and its binary holds the new files."""
    import hashlib, urllib.request
    root = os.path.join(TMP, "upchange")
    os.makedirs(os.path.join(root, "red_disc"))
    for f in ("model.onnx", "model.yaml"):
        shutil.copy(os.path.join(MODELS, "red_disc", f), os.path.join(root, "red_disc", f))
    cfg = config(os.path.join(TMP, "edge-upchange.yaml"), [{"detector_id": DET_BIN, "model": "red_disc"}])
    edge = Server(root, cfg, os.path.join(TMP, "st-upchange"))
    try:
        st, u1 = edge.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET_BIN)
        yaml_path = os.path.join(root, "red_disc", "model.yaml")
        with open(yaml_path, "a") as f:
            f.write("# version 2\n")

        def new_id():
            st, u = edge.request("GET", "/edge-api/v1/fetch-model-urls/%s/" % DET_BIN)
            return u if st == 200 and u["model_binary_id"] != u1["model_binary_id"] else None
        u2 = wait_until(new_id, 20)
        check(st == 200 and u2 and "# version 2" in u2["pipeline_config"],
              "a changed model.yaml: a new model_binary_id and pipeline_config after the reload")
        if u2:
            with urllib.request.urlopen(u2["model_binary_url"], timeout=30) as r:
                blob = r.read()
            check(hashlib.sha256(blob).hexdigest() == u2["model_binary_id"] and b"# version 2" in blob,
                  "the new binary holds the new files")
    finally:
        edge.stop()


def test_modes(s):
    """Every mode answers what the pictures hold, SDK-shaped."""
    ok = {"bin": 0, "count": 0, "box": 0, "multi": 0}
    shapes_ok = True
    for name, img in PICS.items():
        t = TRUTH[name]
        st, q = s.iq(DET_BIN, img)
        shapes_ok &= st == 200 and valid_iq(q, DET_BIN)
        r = q["result"]
        shapes_ok &= (r["result_type"] == "binary_classification" and r["source"] == "ALGORITHM"
                      and r["from_edge"] is True and 0 <= r["confidence"] <= 1
                      and q["metadata"] == {"is_from_edge": True,
                                            "edge_models": {"primary": {"model": "red_disc", "version": "local"}}}
                      and q["result_type"] == "binary_classification")
        ok["bin"] += r["label"] == t["red_disc"]
        st, q = s.iq(DET_COUNT, img)
        r = q["result"]
        shapes_ok &= st == 200 and valid_iq(q, DET_COUNT) and r["result_type"] == "counting"
        want = min(t["squares"], 3)
        ok["count"] += r["count"] == want and r["greater_than_max"] == (t["squares"] > 3)
        st, q = s.iq(DET_BOX, img)
        r = q["result"]
        shapes_ok &= st == 200 and valid_iq(q, DET_BOX) and r["result_type"] == "bounding_box"
        rois = q["rois"] or []
        want_label = "BOUNDING_BOX" if t["red_discs"] else "NO_OBJECTS"
        geo_ok = all(0 <= g["geometry"]["left"] < g["geometry"]["right"] <= 1
                     and abs(g["geometry"]["x"] - (g["geometry"]["left"] + g["geometry"]["right"]) / 2) < 1e-6
                     and g["label"] == "red_disc" for g in rois)
        ok["box"] += r["label"] == want_label and len(rois) == t["red_discs"] and geo_ok
        st, q = s.iq(DET_MULTI, img)
        r = q["result"]
        shapes_ok &= st == 200 and r["result_type"] == "multi_classification"
        ok["multi"] += r["label"] == t["red_disc"]
    n = len(PICS)
    check(shapes_ok, "every answer has the ImageQuery keys, result_type and edge source")
    check(ok["bin"] == n, "BINARY (red_disc classifier): %d/%d pictures right" % (ok["bin"], n))
    check(ok["count"] >= n - 1, "COUNT (shapes detector, squares, max 3): %d/%d right" % (ok["count"], n))
    check(ok["box"] >= n - 1, "BOUNDING_BOX (red discs): %d/%d right" % (ok["box"], n))
    check(ok["multi"] == n, "MULTI_CLASS (classifier labels): %d/%d right" % (ok["multi"], n))
    # GET by id returns the stored query
    st, q = s.iq(DET_COUNT, PICS["shapes_00.png"])
    st2, q2 = s.request("GET", "/device-api/v1/image-queries/" + q["id"])
    check(st2 == 200 and q2 == q, "GET image query by id returns the answer")
    st, b = s.request("GET", "/device-api/v1/image-queries/iq_doesnotexist")
    check(st == 404 and "detail" in b, "GET unknown image query: 404")


def test_bad_requests(s):
    img = PICS["shapes_00.png"]
    st, b = s.request("POST", "/device-api/v1/image-queries?detector_id=" + DET_BIN, img,
                      {"Content-Type": "application/octet-stream"})
    check(st == 415 and b["detail"] == "Request body must be image bytes", "non-image body: 415")
    st, b = s.iq(DET_BIN, b"")
    check(st == 400 and "empty" in b["detail"], "empty image: 400")
    st, b = s.iq(DET_BIN, b"\xff\xd8\xff\xe0garbage")
    check(st == 400 and "detail" in b, "corrupt image: 400 with detail")
    st, b = s.request("POST", "/device-api/v1/image-queries", img, {"Content-Type": "image/jpeg"})
    check(st == 422 and "detector_id" in b["detail"], "missing detector_id: 422")
    for p, what in [("&confidence_threshold=1.5", "confidence_threshold"),
                    ("&patience_time=-1", "patience_time"),
                    ("&human_review=SOMETIMES", "human_review"),
                    ("&want_async=maybe", "want_async"),
                    ("&metadata=notbase64!!", "metadata"),
                    ("&image_query_id=bad-id", "image_query_id")]:
        st, b = s.iq(DET_BIN, img, p)
        check(st == 422 and what in b["detail"], "bad %s: 422 naming it" % what)
    st, b = s.iq("det_2bTqCunknown000000000000000", img)
    check(st == 404 and "not configured" in b["detail"], "unknown detector: 404")
    st, b = s.iq(DET_FAST, img, "&want_async=True")
    check(st == 400, "want_async with always-return preset: 400")
    st, b = s.iq(DET_FAST, img, "&human_review=ALWAYS")
    check(st == 400, "human_review=ALWAYS with always-return preset: 400")
    # detector ids match case-insensitively; metadata and inspection_id are accepted
    meta = base64.urlsafe_b64encode(json.dumps({"camera": "dock-3"}).encode()).decode()
    st, q = s.iq(DET_BIN.lower(), img, "&metadata=%s&inspection_id=insp_1" % meta)
    check(st == 200 and q["metadata"] == {"camera": "dock-3", "is_from_edge": True, "edge_models":
                                          {"primary": {"model": "red_disc", "version": "local"}}},
          "metadata accepted (merged with is_from_edge and the model that answered), id case-insensitive")


def test_dedup(s):
    img = PICS["shapes_01.png"]
    rid = "req_uu" + "ab" * 16
    st1, q1 = s.iq(DET_BIN, img, headers={"X-Request-Id": rid})
    st2, q2 = s.iq(DET_BIN, img, headers={"X-Request-Id": rid})
    check(st1 == st2 == 200 and q1["id"] == q2["id"], "a retried X-Request-Id gets the same image query")
    st3, q3 = s.iq(DET_BIN, img, headers={"X-Request-Id": "req_uu" + "cd" * 16})
    check(q3["id"] != q1["id"], "another request id gets a new image query")
    st, q4 = s.iq(DET_BIN, img, "&image_query_id=iq_clientChosen1")
    st, q5 = s.iq(DET_BIN, img, "&image_query_id=iq_clientChosen1")
    check(q4["id"] == "iq_clientChosen1" and q5 == q4, "a client-named image_query_id is answered once")


def test_sdk_sequence(s):
    """Groundlight(endpoint=...) then submit_image_query: the calls the SDK makes, in order."""
    h = {"x-api-token": "tok_test", "Accept": "application/json"}
    st1, _ = s.request("GET", "/device-api/v1/api-tokens/by-snippet/tok_test", headers=h)
    st2, _ = s.request("GET", "/device-api/v1/me", headers=h)
    st3, _ = s.request("GET", "/device-api/v1/me", headers=h)
    st4, q = s.iq(DET_COUNT, PICS["shapes_02.png"], "&patience_time=30",
                  {"X-Request-Id": "req_uu" + "ef" * 16})
    st5, d = s.request("GET", "/device-api/v1/detectors/" + DET_COUNT, headers=h)
    polls = 0
    while q["result"]["confidence"] < d["confidence_threshold"] and polls < 3:
        time.sleep(0.25)
        st6, q = s.request("GET", "/device-api/v1/image-queries/" + q["id"], headers=h)
        polls += 1
    check((st1, st2, st3, st4, st5) == (404, 200, 200, 200, 200) and q["result"]["count"] == min(TRUTH["shapes_02.png"]["squares"], 3),
          "SDK sequence: snippet 404, me x2, submit, detector, confident answer")


def test_put_config(s, path):
    st, b = s.request("PUT", "/edge-config", json.dumps({"detectors": [{"detector_id": "det_bad"}]}),
                      {"Content-Type": "application/json"})
    check(st == 422 and b["detail"][0]["loc"] == "detectors[0].detector_id", "PUT bad config: 422 with loc")
    st, b = s.request("PUT", "/edge-config", b"{not json", {"Content-Type": "application/json"})
    check(st == 400, "PUT non-JSON: 400")
    st, cur = s.request("GET", "/edge-config")
    newdet = {"detector_id": "det_2bTqCaddedByPut000000000000", "model": "shapes", "mode": "COUNT",
              "class_name": "square"}
    doc = dict(cur)
    doc["detectors"] = cur["detectors"] + [newdet]
    st, b = s.request("PUT", "/edge-config", json.dumps(doc), {"Content-Type": "application/json"})
    st2, q = s.iq(newdet["detector_id"], PICS["shapes_00.png"])
    check(st == 200 and st2 == 200 and q["result"]["count"] == 2, "PUT adds a detector that answers at once")
    check(json.load(open(path))["detectors"][-1] == newdet, "PUT config saved to the config file")
    # a bad file keeps the old config; a good one is picked up without restart
    errs = s.metric("glint_edge_config_errors_total")
    with open(path, "w") as f:
        f.write("detectors: [ {detector_id: det_bad\n")
    check(wait_until(lambda: s.metric("glint_edge_config_errors_total") > errs, 5),
          "broken config file counted as an error")
    st, q = s.iq(newdet["detector_id"], PICS["shapes_00.png"])
    check(st == 200, "broken config file: the previous config keeps answering")
    config(path, STD_DETECTORS)
    check(wait_until(lambda: s.iq(newdet["detector_id"], PICS["shapes_00.png"])[0] == 404, 5),
          "config file change picked up without restart")


def count_created(up):
    return up.metric("glint_edge_image_queries_total")


def test_escalation():
    """Unconfident answers go upstream (another glint serve) and the upstream's
    answer reaches GET; the upstream deduplicates by image_query_id."""
    models = repo("esc")
    # the upstream answers the same question with a bigger model: the shapes
    # detector (40 M MACs vs the classifier's 29 M), "a red_disc box"
    upcfg = config(os.path.join(TMP, "up.yaml"),
                   [{"detector_id": DET_BIN, "model": "shapes", "query": "Is there a red disc?",
                     "mode": "BINARY", "class_name": "red_disc", "confidence_threshold": 0.5},
                    {"detector_id": DET_FAST, "model": "red_disc", "confidence_threshold": 0.5}])
    up = Server(models, upcfg, os.path.join(TMP, "st-up"))
    dets = [dict(d, confidence_threshold=1.0) if d["detector_id"] == DET_BIN else d for d in STD_DETECTORS]
    presets = {"edge_answers_with_escalation": {"always_return_edge_prediction": True,
                                                 "min_time_between_escalations": 60}}
    cfg = config(os.path.join(TMP, "edge-esc.yaml"), dets, "http://127.0.0.1:%d" % up.port, presets)
    edge = Server(models, cfg, os.path.join(TMP, "st-edge"))
    st, q = edge.iq(DET_BIN, PICS["shapes_00.png"])
    check(st == 200 and q["result"]["from_edge"] and q["done_processing"] is False,
          "unconfident answer: edge result, done_processing false")
    got = wait_until(lambda: edge.request("GET", "/device-api/v1/image-queries/" + q["id"])[1]["done_processing"], 10)
    st, q2 = edge.request("GET", "/device-api/v1/image-queries/" + q["id"])
    st, qu = up.request("GET", "/device-api/v1/image-queries/" + q["id"])
    check(got and q2["result"] == qu["result"] and st == 200
          and q2["result"]["label"] == TRUTH["shapes_00.png"]["red_disc"],
          "GET returns the upstream's (right) answer once it arrived")
    check(qu["metadata"].get("edge_result", {}).get("label") == q["result"]["label"],
          "upstream received the edge result in metadata")
    # always-return preset: escalations rate-limited per detector for the process
    before = up.metric("glint_edge_image_queries_total")
    for i in range(3):
        st, q = edge.iq(DET_FAST, PICS["shapes_0%d.png" % i])
        check(st == 200 and q["result"]["source"] == "ALGORITHM", "always-return answers at the edge (%d)" % i)
    check(wait_until(lambda: up.metric("glint_edge_image_queries_total") == before + 1, 10)
          and edge.metric("glint_edge_escalations_rate_limited_total") == 2,
          "min_time_between_escalations: 1 of 3 escalated, 2 rate-limited")
    # no_cloud preset never escalates
    d0 = edge.metric("glint_edge_outbox_committed_total")
    st, q = edge.iq(DET_OFF, PICS["shapes_00.png"])
    check(st == 200 and edge.metric("glint_edge_outbox_committed_total") == d0, "no_cloud: nothing escalated")
    # want_async: straight upstream, result null; the answer arrives later
    st, q = edge.iq(DET_BIN, PICS["shapes_03.png"], "&want_async=True")
    check(st == 200 and q["result"] is None, "want_async: result null")
    check(wait_until(lambda: up.request("GET", "/device-api/v1/image-queries/" + q["id"])[0] == 200, 10)
          and wait_until(lambda: edge.request("GET", "/device-api/v1/image-queries/" + q["id"])[1]["done_processing"], 10),
          "want_async: delivered upstream, whose answer arrives by GET")
    # the upstream deduplicates what it receives by image_query_id
    dup = up.metric("glint_edge_duplicates_total")
    st, again = up.iq(DET_BIN, PICS["shapes_03.png"], "&want_async=True&image_query_id=" + q["id"])
    check(st == 200 and again["id"] == q["id"] and up.metric("glint_edge_duplicates_total") == dup + 1,
          "upstream answers a repeated image_query_id from its store")
    edge.stop()
    up.stop()


def test_audit():
    """confident_audit_rate 1: every confident answer is answered at the edge
    at once and also sent up, marked is_edge_audit with the edge's result;
    rate 0: none is."""
    models = repo("audit", models=("red_disc",))
    dets = [{"detector_id": DET_BIN, "model": "red_disc", "confidence_threshold": 0.5}]
    up = Server(models, config(os.path.join(TMP, "up-audit.yaml"), dets), os.path.join(TMP, "st-up-audit"))
    cfg = config(os.path.join(TMP, "edge-audit.yaml"), dets, up.url, extra={"confident_audit_rate": 1.0})
    edge = Server(models, cfg, os.path.join(TMP, "st-audit"))
    qs = [edge.iq(DET_BIN, PICS["shapes_0%d.png" % i]) for i in range(3)]
    check(all(st == 200 and q["done_processing"] is True and q["result"]["confidence"] >= 0.5
              and q["result"]["source"] == "ALGORITHM" for st, q in qs),
          "rate 1: confident answers, done at the edge")
    check(wait_until(lambda: up.metric("glint_edge_image_queries_total") == 3, 15)
          and edge.metric("glint_edge_escalations_audit_total") == 3
          and edge.metric("glint_edge_escalations_unconfident_total") == 0,
          "rate 1: each of the 3 confident answers sent up once for audit (upstream created %s)"
          % up.metric("glint_edge_image_queries_total"))

    def upstream_copies():
        got = [up.request("GET", "/device-api/v1/image-queries/" + q["id"]) for _, q in qs]
        return [u for st, u in got if st == 200 and isinstance(u.get("metadata"), dict)]
    ups = wait_until(lambda: len(upstream_copies()) == 3 and upstream_copies(), 15)
    check(ups and all(u["metadata"].get("is_edge_audit") is True
              and u["metadata"].get("edge_result", {}).get("label") == q["result"]["label"]
              for u, (_, q) in zip(ups, qs)),
          "the audits carry is_edge_audit and the edge's result: %s" % [u.get("metadata") for u in ups or []][:1])
    reloads = edge.metric("glint_edge_config_reloads_total")
    committed = edge.metric("glint_edge_outbox_committed_total")
    config(cfg, dets, up.url, extra={"confident_audit_rate": 0})
    check(wait_until(lambda: edge.metric("glint_edge_config_reloads_total") > reloads, 10),
          "the config with confident_audit_rate 0 is installed")
    qs = [edge.iq(DET_BIN, PICS["shapes_0%d.png" % i]) for i in range(3, 6)]
    check(all(st == 200 and q["done_processing"] is True for st, q in qs)
          and edge.metric("glint_edge_escalations_audit_total") == 3
          and edge.metric("glint_edge_outbox_committed_total") == committed,
          "rate 0: confident answers are not sent up")
    edge.stop()
    up.stop()


def test_roi_trim():
    """An escalation's metadata carries the edge result with its ROIs; when
    that is over 1024 bytes the ROIs are dropped first (the result stays)."""
    root = os.path.join(TMP, "roi")
    d = os.path.join(root, "shapes")
    os.makedirs(d)
    os.symlink(os.path.join(MODELS, "shapes", "model.onnx"), os.path.join(d, "model.onnx"))
    yaml = open(os.path.join(MODELS, "shapes", "model.yaml")).read()
    check("score_threshold: 0.5" in yaml, "models/shapes' yaml has score_threshold 0.5")
    with open(os.path.join(d, "model.yaml"), "w") as f:  # many weak boxes
        f.write(yaml.replace("score_threshold: 0.5", "score_threshold: 0.01")
                .replace("precision: auto", "precision: f32"))
    det_many, det_few = DET_BOX, "det_2bTqCredDiscBoxesFew0000000"
    dets = [{"detector_id": det_many, "model": "shapes", "mode": "BOUNDING_BOX", "class_name": "red_disc",
             "max_num_bboxes": 50, "box_score": 0.01, "confidence_threshold": 1.0},
            {"detector_id": det_few, "model": "shapes", "mode": "BOUNDING_BOX", "class_name": "red_disc",
             "max_num_bboxes": 50, "box_score": 0.9, "confidence_threshold": 1.0}]
    up = Server(root, config(os.path.join(TMP, "up-roi.yaml"), dets), os.path.join(TMP, "st-up-roi"))
    edge = Server(root, config(os.path.join(TMP, "edge-roi.yaml"), dets, up.url), os.path.join(TMP, "st-roi"))
    img = PICS["shapes_02.png"]
    st1, many = edge.iq(det_many, img)
    st2, few = edge.iq(det_few, img)

    def upstream(q):
        st, u = up.request("GET", "/device-api/v1/image-queries/" + q["id"])
        return u if st == 200 and isinstance(u.get("metadata"), dict) else None
    u_many = wait_until(lambda: upstream(many), 15)
    u_few = wait_until(lambda: upstream(few), 15)
    big = len(json.dumps(many.get("rois") or []))
    small = len(json.dumps(few.get("rois") or []))
    check(st1 == st2 == 200 and big > 1024 and 0 < small < 600,
          "the edge answers with %d ROIs (%d bytes) and %d ROIs (%d bytes)"
          % (len(many.get("rois") or []), big, len(few.get("rois") or []), small))
    er = (u_many or {}).get("metadata", {}).get("edge_result", {})
    check(er.get("label") == many["result"]["label"] and "rois" not in er,
          "over 1024 bytes: the escalation's edge_result without its ROIs (%s)" % sorted(er))
    er = (u_few or {}).get("metadata", {}).get("edge_result", {})
    check(er.get("label") == few["result"]["label"] and er.get("rois") == few["rois"],
          "small: the escalation's edge_result with its ROIs")
    edge.stop()
    up.stop()


def run_load(edge, det, seconds, results, stop=None):
    """Closed-loop client: records (status, id) of every answer."""
    t_end = time.time() + seconds
    i = 0
    while time.time() < t_end and not (stop and stop.is_set()):
        try:
            st, q = edge.iq(det, PICS["shapes_0%d.png" % (i % 10)], timeout=10)
            results.append((st, q.get("id") if isinstance(q, dict) else None))
        except (OSError, http.client.HTTPException):
            results.append((0, None))
        i += 1


def test_outbox_faults():
    """Upstream down then back: every escalation delivered exactly once;
    kill -9 mid-load then restart: nothing lost, nothing duplicated; a full
    outbox answers 503."""
    models = repo("faults")
    port = free_port()
    upcfg = config(os.path.join(TMP, "up2.yaml"),
                   [{"detector_id": DET_BIN, "model": "red_disc", "confidence_threshold": 0.5}])
    dets = [{"detector_id": DET_BIN, "model": "red_disc", "confidence_threshold": 1.0}]
    cfg = config(os.path.join(TMP, "edge-f.yaml"), dets, "http://127.0.0.1:%d" % port,
                 extra={"outbox_max_pending": 1000})
    state = os.path.join(TMP, "st-f")
    edge = Server(models, cfg, state)
    ids = []
    for i in range(12):
        st, q = edge.iq(DET_BIN, PICS["shapes_0%d.png" % (i % 10)])
        ids.append(q["id"])
        check(st == 200, "upstream down: query %d answered at the edge" % i) if i == 0 else None
    check(len(set(ids)) == 12 and edge.metric("glint_edge_outbox_depth") == 12,
          "upstream down: 12 escalations wait in the outbox")
    check(wait_until(lambda: edge.metric("glint_edge_outbox_retries_total") >= 1, 10),
          "delivery retried while the upstream is down")
    up = Server(models, upcfg, os.path.join(TMP, "st-up2"), port=port)
    check(wait_until(lambda: edge.metric("glint_edge_outbox_depth") == 0, 30),
          "upstream back: the outbox drains")
    check(up.metric("glint_edge_image_queries_total") == 12
          and up.metric("glint_edge_duplicates_total") == 0 and
          all(up.request("GET", "/device-api/v1/image-queries/" + i)[0] == 200 for i in ids),
          "every escalation reached the upstream exactly once (%s created, %s duplicates)"
          % (up.metric("glint_edge_image_queries_total"), up.metric("glint_edge_duplicates_total")))
    # kill -9 under load with the upstream down, restart on the same state:
    # the outbox holds every committed escalation; the upstream, back, gets
    # each exactly once
    up.stop()
    results = []
    t = threading.Thread(target=run_load, args=(edge, DET_BIN, 3.0, results))
    t.start()
    wait_until(lambda: len(results) >= 10, 10, 0.02)  # load under way
    edge.kill9()
    t.join()
    acked = [i for st, i in results if st == 200]
    edge = Server(models, cfg, state)
    depth = edge.metric("glint_edge_outbox_depth")
    check(len(acked) >= 10 and depth is not None and len(acked) <= depth <= len(acked) + 1,
          "kill -9 with the upstream down: after restart the outbox holds %s escalations for %d "
          "acknowledged (at most one in flight more)" % (depth, len(acked)))
    up = Server(models, upcfg, os.path.join(TMP, "st-up2"), port=port)
    check(wait_until(lambda: edge.metric("glint_edge_outbox_depth") == 0
                     and edge.metric("glint_edge_outbox_awaiting_answer") == 0, 30),
          "after kill -9 and restart the outbox drains")
    created = up.metric("glint_edge_image_queries_total")
    dups = up.metric("glint_edge_duplicates_total")
    missing = [i for i in acked if up.request("GET", "/device-api/v1/image-queries/" + i)[0] != 200]
    check(not missing, "kill -9: all %d acknowledged escalations delivered (%d missing)"
          % (len(acked), len(missing)))
    check(created == depth and dups == 0,
          "kill -9: the upstream created exactly the %s escalations of the outbox (%s created, "
          "%s duplicates)" % (depth, created, dups))
    # full outbox: 503
    up.stop()
    reloads = edge.metric("glint_edge_config_reloads_total")
    config(cfg, dets, "http://127.0.0.1:%d" % port, extra={"outbox_max_pending": 2})
    check(wait_until(lambda: edge.metric("glint_edge_config_reloads_total") > reloads, 10),
          "the config with outbox_max_pending 2 is installed")
    sts = [edge.iq(DET_BIN, PICS["shapes_00.png"])[0] for _ in range(2)]
    st, b = edge.iq(DET_BIN, PICS["shapes_00.png"])
    check(sts == [200, 200] and st == 503 and "outbox is full" in b["detail"]
          and edge.metric("glint_edge_outbox_full_total") >= 1, "full outbox: 503 with a clear error")
    edge.stop()


def test_permanent_failure():
    """An upstream that refuses an escalation (4xx) fails it for good: kept, counted."""
    models = repo("perm")
    upcfg = config(os.path.join(TMP, "up3.yaml"), [])  # knows no detector: 404
    up = Server(models, upcfg, os.path.join(TMP, "st-up3"))
    cfg = config(os.path.join(TMP, "edge-p.yaml"),
                 [{"detector_id": DET_BIN, "model": "red_disc", "confidence_threshold": 1.0}],
                 "http://127.0.0.1:%d" % up.port)
    edge = Server(models, cfg, os.path.join(TMP, "st-p"))
    edge.iq(DET_BIN, PICS["shapes_00.png"])
    check(wait_until(lambda: edge.metric("glint_edge_outbox_failed") == 1, 10)
          and edge.metric("glint_edge_outbox_failures_total") == 1
          and edge.metric("glint_edge_outbox_depth") == 0,
          "4xx from the upstream: failed for good, counted, kept")
    check("refused by the upstream for good" in edge.logtext(), "permanent failure logged")
    # an async query the upstream refuses still gets an answer: the local one
    st, q = edge.iq(DET_BIN, PICS["shapes_01.png"], "&want_async=True")
    done = wait_until(lambda: edge.request("GET", "/device-api/v1/image-queries/" + q["id"])[1]["done_processing"], 10)
    st2, q2 = edge.request("GET", "/device-api/v1/image-queries/" + q["id"])
    check(st == 200 and q["result"] is None and done
          and q2["result"]["label"] == TRUTH["shapes_01.png"]["red_disc"]
          and "HTTP 404" in q2["metadata"].get("escalation_error", ""),
          "refused async query: GET gives the local answer, done, with the upstream's refusal")
    edge.stop()
    up.stop()


def test_model_swap():
    """A changed model file is loaded beside the old one and swapped in with no
    failed request; a broken one leaves the old model serving."""
    models = repo("swap", models=("red_disc",))
    cfg = config(os.path.join(TMP, "edge-swap.yaml"),
                 [{"detector_id": DET_BIN, "model": "red_disc", "confidence_threshold": 0.5}])
    edge = Server(models, cfg, os.path.join(TMP, "st-swap"))
    results, stop = [], threading.Event()
    threads = [threading.Thread(target=run_load, args=(edge, DET_BIN, 30, results, stop)) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: len(results) >= 10, 10, 0.02)  # load under way
    onnx = os.path.join(models, "red_disc", "model.onnx")
    shutil.copy(os.path.join(MODELS, "red_disc", "model.onnx"), onnx + ".new")
    os.replace(onnx + ".new", onnx)  # a new file (new inode, new mtime)
    swapped = wait_until(lambda: "new version swapped in" in edge.logtext(), 10)
    n = len(results)
    wait_until(lambda: len(results) >= n + 10, 10, 0.02)  # load on the new version
    with open(onnx + ".new", "wb") as f:
        f.write(b"this is not an onnx model")
    os.replace(onnx + ".new", onnx)
    failed = wait_until(lambda: edge.metric("glint_model_load_failures_total") == 1, 10)
    n = len(results)
    wait_until(lambda: len(results) >= n + 10, 10, 0.02)  # load after the failed reload
    stop.set()
    for t in threads:
        t.join()
    bad = [st for st, _ in results if st != 200]
    check(swapped, "changed model file: new version loaded and swapped in")
    check(failed and "previous version keeps serving" in edge.logtext(), "broken model file: load failure logged and counted")
    check(len(results) > 20 and not bad, "model swap under load: %d requests, %d failed" % (len(results), len(bad)))
    st, q = edge.iq(DET_BIN, PICS["shapes_00.png"])
    check(st == 200, "the previous model still answers after a failed reload")
    st, h = edge.request("GET", "/health")
    rd = [m for m in h["models"] if m["name"] == "red_disc"][0]
    check(rd["state"] == "READY" and rd.get("load_failures") == 1 and rd.get("last_load_error"),
          "/health shows the failed reload beside the serving model (%s)" % rd.get("last_load_error"))
    edge.stop()


def test_swap_cache():
    """Hot swap with the response cache on, to a version whose answers differ
    (other weights: the QDQ model run in f32; labels reversed): under load,
    no request that starts after the swap gets an old answer, from the cache
    or otherwise, and the cache serves the new version's answers."""
    root = os.path.join(TMP, "swapc")
    d = os.path.join(root, "red_disc")
    os.makedirs(d)
    yaml = open(os.path.join(MODELS, "red_disc", "model.yaml")).read()
    yaml = yaml.replace("precision: auto", "precision: f32")
    check("labels: [YES, NO]" in yaml, "red_disc's model.yaml names its labels [YES, NO]")
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(yaml)
    os.symlink(os.path.join(MODELS, "red_disc", "model.onnx"), os.path.join(d, "model.onnx"))
    cfg = config(os.path.join(TMP, "edge-swapc.yaml"),
                 [{"detector_id": DET_BIN, "model": "red_disc", "confidence_threshold": 0.5}])
    edge = Server(root, cfg, os.path.join(TMP, "st-swapc"), extra=["--cache-mb", "16"])
    names = ["shapes_0%d.png" % i for i in range(4)]

    def classify(name):
        c = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
        c.request("POST", "/v1/models/red_disc/classify", PICS[name], {"Content-Type": "image/png"})
        r = c.getresponse()
        body = json.loads(r.read())
        hit = "cache" in (r.getheader("Server-Timing") or "")
        c.close()
        return r.status, hit, tuple((k["label"], k["class_id"], k["score"]) for k in body.get("classes", []))

    old = {n: classify(n) for n in names}
    again = {n: classify(n) for n in names}
    check(all(old[n][0] == 200 and old[n][2][0][0] == TRUTH[n]["red_disc"] for n in names)
          and all(again[n][1] and again[n][2] == old[n][2] for n in names),
          "before the swap: right answers, the second time from the cache")
    results, stop = [], threading.Event()

    def load():
        i = 0
        while not stop.is_set() and i < 5000:
            t0 = time.monotonic()
            st, hit, ans = classify(names[i % len(names)])
            results.append((t0, names[i % len(names)], st, hit, ans))
            i += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: len(results) >= 20, 10, 0.02)
    new_yaml = yaml.replace("labels: [YES, NO]", "labels: [NO, YES]")
    with open(os.path.join(d, "model.yaml.new"), "w") as f:
        f.write(new_yaml)
    os.replace(os.path.join(d, "model.yaml.new"), os.path.join(d, "model.yaml"))
    os.symlink(os.path.join(MODELS, "red_disc", "model.int8.onnx"), os.path.join(d, "model.onnx.new"))
    os.replace(os.path.join(d, "model.onnx.new"), os.path.join(d, "model.onnx"))
    swapped = wait_until(lambda: "new version swapped in" in edge.logtext(), 15, 0.02)
    t_swap = time.monotonic()
    n_before = len(results)
    wait_until(lambda: len(results) >= n_before + 40, 20, 0.05)
    stop.set()
    for t in threads:
        t.join()
    after = [r for r in results if r[0] > t_swap]
    stale = [r for r in after if r[2] != 200 or r[4] == old[r[1]][2]]
    flipped = [r for r in after if r[4] and r[4][0][0] != TRUTH[r[1]]["red_disc"]
               and r[4][0][1] == (0 if TRUTH[r[1]]["red_disc"] == "YES" else 1)]
    check(swapped, "the changed model files are swapped in")
    check(len(after) >= 40 and not stale and len(flipped) == len(after),
          "after the swap: %d requests, %d old or failed answers, %d with the new labels"
          % (len(after), len(stale), len(flipped)))
    check(any(r[3] for r in after) and any(r[4] != old[r[1]][2] for r in after),
          "after the swap the cache answers with the new version (%d hits)" % sum(r[3] for r in after))
    check(all(r[2] == 200 for r in results), "no failed request across the swap")
    edge.stop()


class FaultyUpstream:
    """A fault-injecting upstream (what glint cannot be made to do on cue):
    the first image query it sees fails with 500 forever, the second gets
    503 + Retry-After: 2 once, the third 429 + Retry-After: 2 once, the rest
    are accepted; accepted queries are answered (by GET) with a HUMAN result."""

    def __init__(self):
        self.attempts = {}  # iq id -> [monotonic times]
        self.order = []
        self.lock = threading.Lock()
        up = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def iq(self, qid, det, result):
                return {"id": qid, "type": "image_query", "created_at": "2026-01-01T00:00:00+00:00",
                        "query": "q", "detector_id": det, "result_type": "binary_classification",
                        "result": result, "patience_time": 30.0, "confidence_threshold": 0.9,
                        "rois": None, "text": None, "metadata": None, "done_processing": result is not None}

            def do_POST(self):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                qid = q["image_query_id"][0]
                with up.lock:
                    if qid not in up.attempts:
                        up.order.append(qid)
                        up.attempts[qid] = []
                    up.attempts[qid].append(time.monotonic())
                    rank, n = up.order.index(qid), len(up.attempts[qid])
                if rank == 0:
                    return self.reply(500, {"detail": "injected failure"})
                if rank == 1 and n == 1:
                    return self.reply(503, {"detail": "busy"}, [("Retry-After", "2")])
                if rank == 2 and n == 1:
                    return self.reply(429, {"detail": "slow down"}, [("Retry-After", "2")])
                self.reply(200, self.iq(qid, q["detector_id"][0], None))

            def do_GET(self):
                qid = self.path.rsplit("/", 1)[1]
                result = {"label": "NO", "confidence": 0.99, "source": "HUMAN",
                          "result_type": "binary_classification", "from_edge": False}
                self.reply(200, self.iq(qid, DET_BIN, result))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_delivery_rules():
    """Retry-After is honoured, a failing item does not hold back the others,
    the upstream's later answer reaches GET, delivered items are pruned after
    the retention period while undelivered ones stay."""
    up = FaultyUpstream()
    models = repo("rules-d", models=("red_disc",))
    cfg = config(os.path.join(TMP, "edge-d.yaml"),
                 [{"detector_id": DET_BIN, "model": "red_disc", "confidence_threshold": 1.0}],
                 "http://127.0.0.1:%d" % up.port, extra={"outbox_retention_s": 1})
    state = os.path.join(TMP, "st-d")
    edge = Server(models, cfg, state)
    ids = []
    for i in range(6):
        ids.append(edge.iq(DET_BIN, PICS["shapes_0%d.png" % i])[1]["id"])
        wait_until(lambda: len(up.order) == i + 1, 10, 0.02)  # the upstream sees them in this order
    check(wait_until(lambda: edge.metric("glint_edge_outbox_deliveries_total") == 5, 15),
          "no head-of-line blocking: 5 delivered while the first keeps failing")
    check(edge.metric("glint_edge_outbox_depth") == 1 and len(up.attempts[ids[0]]) >= 2,
          "the failing item stays pending and is retried (%d attempts)" % len(up.attempts[ids[0]]))
    for i, code in ((1, 503), (2, 429)):
        t = up.attempts[ids[i]]
        check(len(t) == 2 and 1.9 <= t[1] - t[0] <= 4.0,
              "%d Retry-After: 2 honoured (retried after %.2f s, %d attempts)"
              % (code, t[1] - t[0] if len(t) >= 2 else -1, len(t)))
    st, q = edge.request("GET", "/device-api/v1/image-queries/" + ids[2])
    got = wait_until(lambda: edge.request("GET", "/device-api/v1/image-queries/" + ids[2])[1]["result"]["source"] == "HUMAN", 10)
    st, q = edge.request("GET", "/device-api/v1/image-queries/" + ids[2])
    check(got and q["result"]["label"] == "NO" and q["done_processing"] is True and q["id"] == ids[2],
          "the upstream's later answer (polled) is what GET returns")

    def rows():
        db = sqlite3.connect("file:%s/edge.db?mode=ro" % state, uri=True)
        r = dict(db.execute("SELECT iq_id, state FROM outbox").fetchall())
        db.close()
        return r
    check(wait_until(lambda: set(rows()) == {ids[0]}, 10),
          "delivered and answered items pruned after the retention period; the undelivered one kept")
    check(edge.request("GET", "/device-api/v1/image-queries/" + ids[3])[0] == 200,
          "a pruned query is still answered from memory")
    edge.stop()
    up.stop()


def test_presets_and_models():
    """The disabled preset, and PUT /edge-config pointing a detector at a model
    that is not loaded yet."""
    models = repo("presets")
    dets = [{"detector_id": DET_BIN, "model": "red_disc", "edge_inference_config": "disabled"}]
    path = config(os.path.join(TMP, "edge-pre.yaml"), dets)
    edge = Server(models, path, os.path.join(TMP, "st-pre"), extra=["--model", "red_disc"])
    st, b = edge.iq(DET_BIN, PICS["shapes_00.png"])
    check(st == 503 and "disabled" in b["detail"], "disabled preset, no upstream: 503 naming why")
    st, r = edge.request("GET", "/edge-detector-readiness")
    check(r[DET_BIN]["ready"] is False, "disabled detector is not ready")
    doc = {"detectors": [{"detector_id": DET_COUNT, "model": "shapes", "mode": "COUNT",
                          "class_name": "square"}]}
    st, _ = edge.request("PUT", "/edge-config", json.dumps(doc), {"Content-Type": "application/json"})
    ready = wait_until(lambda: edge.request("GET", "/edge-detector-readiness")[1][DET_COUNT]["ready"], 20)
    st, q = edge.iq(DET_COUNT, PICS["shapes_00.png"])
    check(ready and st == 200 and q["result"]["count"] == TRUTH["shapes_00.png"]["squares"],
          "PUT pointing at an unloaded model: loaded, then it answers")
    edge.stop()


def main():
    models = repo("main")
    path = config(os.path.join(TMP, "edge.yaml"), STD_DETECTORS)
    tests = ["config_rules", "routes", "upstream_models", "upstream_change", "modes", "bad_requests", "dedup", "sdk_sequence",
             "put_config", "escalation", "audit", "roi_trim", "outbox_faults", "permanent_failure", "delivery_rules",
             "presets_and_models", "model_swap", "swap_cache"]
    tests = [t for t in tests if not ONLY or t in ONLY]
    s = None
    for t in tests:
        print("--- " + t, flush=True)
        fn = globals()["test_" + t]
        if fn.__code__.co_argcount == 0:
            fn()
            continue
        if s is None:
            s = Server(models, path, os.path.join(TMP, "st-main"))
        fn(*([s, path][:fn.__code__.co_argcount]))
    if s:
        s.stop()
    return H.finish()


if __name__ == "__main__":
    sys.exit(main())
