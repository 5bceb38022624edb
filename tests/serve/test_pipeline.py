"""Pipelines on glint serve (a model folder whose model.yaml says `pipeline:`,
docs/serve.md): the shapes detector's boxes cropped and classified by the
red_disc classifier, served like a model.

- the pipeline's boxes are the detector's own, and each crop's class is the
  classifier's answer for that very crop sent alone (the crop cut here with
  PIL from the PNG, at the pixels the pipeline says it cut): the parts agree
  exactly;
- the classes mean something: red discs are judged YES and other discs NO
  (ground truth of tests/data/shapes);
- text lines (ocr_det -> crops -> ocr_rec, PaddleOCR's two stages): each
  line read as the recogniser reads its crop alone, the pictures' words;
- relabel; merged models; several images in one request; crops batched
  through the classifier's batcher (--max-batch); statistics and metrics per
  stage; a Groundlight edge detector on the pipeline counting red discs;
- unloading a model the pipeline runs takes the pipeline down with a reason,
  loading it back brings it up; a pipeline's file changed is reloaded;
- bad pipeline files are refused with the key named; KServe infer says a
  pipeline takes images; a deadline of 1 ms fails cleanly.

usage: test_pipeline.py GLINT SRC"""
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import re
import struct
import threading
import time

import grpc
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_harness import Serve, Tally, request  # noqa: E402

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
T = Tally()
SHAPES = os.path.join(SRC, "tests", "data", "shapes")
TRUTH = json.load(open(os.path.join(SHAPES, "truth.json")))["images"]
PICS = sorted(TRUTH)
DATA = {p: open(os.path.join(SHAPES, p), "rb").read() for p in PICS}

gen = tempfile.mkdtemp(prefix="glint-pipeline-pb-")  # KServe's gRPC messages, by protoc
subprocess.run(["protoc", "--proto_path=" + os.path.join(SRC, "src/serve/kserve/proto"),
                "--python_out=" + gen, "grpc_service.proto", "model_config.proto"], check=True)
sys.path.insert(0, gen)
import grpc_service_pb2 as pb  # noqa: E402

tmp = tempfile.mkdtemp(prefix="glint-pipeline-")
models = os.path.join(tmp, "models")
os.mkdir(models)
for name in ("shapes", "red_disc", "ocr_det", "ocr_rec"):
    os.symlink(os.path.join(SRC, "models", name), os.path.join(models, name))


def pipeline(name, text):
    d = os.path.join(models, name)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "model.yaml"), "w").write(text)


CROP = """pipeline:
  detect: shapes
  classify: red_disc
  classes: [red_disc, other_disc]
  padding: 1
  min_size: 4
"""
pipeline("discs", CROP)
pipeline("discs_relabel", CROP + "  relabel: true\n")
pipeline("both", "pipeline:\n  models: [shapes, red_disc]\n")
# PaddleOCR's two stages: text lines found, cut and read
pipeline("ocr", "pipeline:\n  detect: ocr_det\n  recognize: ocr_rec\n  padding: 0.02\n"
         "  min_size: 4\n")
OCR = os.path.join(SRC, "tests", "data", "ocr")
OCR_TRUTH = {"scene.png": ["glint", "edge 2026", "rtsp42", "camera7", "ok"],  # tools/train_ocr.py
             "wide.png": ["loading dock", "gate3", "exit", "b12"]}


def edits(a, b):
    """Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]
edge = os.path.join(tmp, "edge.yaml")
DET = "det_2bTqCredDiscsCounted0000000"
open(edge, "w").write("""edge_inference_configs:
  no_cloud: {always_return_edge_prediction: true, disable_cloud_escalation: true}
detectors:
  - detector_id: %s
    edge_inference_config: no_cloud
    model: discs_relabel
    query: How many red discs?
    mode: COUNT
    class_name: "YES"
    max_count: 5
""" % DET)


def post(port, model, task, img, query="?cache=0"):
    return request(port, "POST", "/v1/models/%s/%s%s" % (model, task, query), img,
                   {"Content-Type": "image/png"})


def metrics(port):
    st, text = request(port, "GET", "/metrics")
    out = {}
    for line in (text.decode() if isinstance(text, bytes) else "").splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def boxes(ans):
    return [(d["label"], d["score"], tuple(d["box"][k] for k in ("x1", "y1", "x2", "y2")))
            for d in ans.get("detections", [])]


# ---- bad pipeline files: glint serve refuses to start, naming the problem ----
for text, want in (("pipeline:\n  detect: shapes\n  classify: red_disc\n  paddin: 1\n",
                    "no key 'paddin'"),
                   ("pipeline:\n  detect: shapes\n  classify: nothing\n",
                    "no model nothing"),
                   ("pipeline:\n  detect: red_disc\n  classify: shapes\n",
                    "red_disc is a classify model, not detect"),
                   ("pipeline:\n  detect: shapes\n  classify: red_disc\n  classes: [circle]\n",
                    "shapes has no class circle (it has: red_disc, other_disc, square)"),
                   ("pipeline:\n  detect: shapes\n  classify: shapes\n",
                    "shapes is a detect model, not classify"),
                   ("pipeline:\n  models: [shapes]\n", "must list 2 to 4 models"),
                   ("pipeline:\n  detect: shapes\n  classify: red_disc\n  padding: 5\n",
                    "pipeline.padding must be a number in [0, 2]")):
    bad = os.path.join(tmp, "bad")
    os.makedirs(os.path.join(bad, "p"), exist_ok=True)
    for name in ("shapes", "red_disc"):
        if not os.path.exists(os.path.join(bad, name)):
            os.symlink(os.path.join(SRC, "models", name), os.path.join(bad, name))
    open(os.path.join(bad, "p", "model.yaml"), "w").write(text)
    p = subprocess.run([GLINT, "serve", "--models", bad, "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=120)
    T.check("a bad pipeline file (%s): glint serve refuses to start and says so, "
            "nothing leaked" % want,
            p.returncode != 0 and want in p.stderr and "Sanitizer" not in p.stderr,
            (p.returncode, p.stderr[-300:]))

with Serve(GLINT, tmp, "--models", models, "--edge-config", edge, "--max-batch", "8",
           "--max-queue-delay-us", "3000", "--grpc-listen", "127.0.0.1:0",
           "--state-dir", os.path.join(tmp, "state"),
           # one precision whatever load timing says: shapes loaded again must answer as before
           "--precision", "f32") as s:
    port = s.port
    T.check("serve starts with pipelines in the repository", port, s.log())
    st, j = request(port, "GET", "/v1/models")
    got = {m["name"]: m.get("pipeline") for m in (j or {}).get("models", [])}
    T.check("/v1/models lists the pipelines with their stages",
            got.get("discs") == {"mode": "crop", "stages": ["shapes", "red_disc"]} and
            got.get("both") == {"mode": "merge", "stages": ["shapes", "red_disc"]} and
            got.get("shapes") is None, got)
    m0 = metrics(port)

    # ---- the pipeline against its parts ----
    same_boxes, crops, exact, worst, judged, right, filtered = 0, 0, 0, 0.0, 0, 0, True
    with_crops, crop_off = 0, 0.0
    for p in PICS:
        st, a = post(port, "discs", "detect", DATA[p])
        st2, d = post(port, "shapes", "detect", DATA[p])
        if st != 200 or st2 != 200:
            T.check("pipeline answers " + p, False, (st, a, st2, d))
            continue
        with_crops += any("crop" in det for det in a["detections"])
        same_boxes += boxes(a) == boxes(d)
        img = Image.open(io.BytesIO(DATA[p])).convert("RGB")
        for det in a["detections"]:
            if det["label"] == "square":
                filtered &= "classes" not in det
                continue
            c = det["crop"]
            crops += 1
            b = det["box"]  # padding 1: the box and its size again on every side, clipped
            w, h = b["x2"] - b["x1"], b["y2"] - b["y1"]
            want_c = (max(0, b["x1"] - w), max(0, b["y1"] - h), min(TRUTH[p]["width"], b["x2"] + w),
                      min(TRUTH[p]["height"], b["y2"] + h))
            off = max(abs(u - v) for u, v in zip(want_c, (c["x1"], c["y1"], c["x2"], c["y2"])))
            crop_off = max(crop_off, off)
            buf = io.BytesIO()
            img.crop((int(c["x1"]), int(c["y1"]), int(c["x2"]), int(c["y2"]))).save(buf, "PNG")
            st3, alone = post(port, "red_disc", "classify", buf.getvalue(), "?cache=0&top_k=1")
            top, ref = det["classes"][0], (alone or {}).get("classes", [{}])[0]
            if st3 == 200 and top["label"] == ref.get("label"):
                exact += 1
                worst = max(worst, abs(top["score"] - ref["score"]))
            # is this crop's box a red disc of the ground truth?
            bx = det["box"]
            cx, cy = (bx["x1"] + bx["x2"]) / 2, (bx["y1"] + bx["y2"]) / 2
            truth = [t["label"] for t in TRUTH[p]["boxes"]
                     if t["x1"] <= cx <= t["x2"] and t["y1"] <= cy <= t["y2"]]
            if truth and truth[0] in ("red_disc", "other_disc"):
                judged += 1
                right += (top["label"] == "YES") == (truth[0] == "red_disc")
    T.check("the pipeline's boxes are the detector's own (%d of %d pictures)"
            % (same_boxes, len(PICS)), same_boxes == len(PICS))
    T.check("squares are not classified (classes: [red_disc, other_disc])", filtered)
    T.check("each crop is its box grown by the padding on every side (worst %.2f px off)"
            % crop_off, crops and crop_off <= 1.0)
    T.check("each crop's class is the classifier's answer for that crop alone "
            "(%d of %d, worst score gap %.2g)" % (exact, crops, worst),
            crops >= 10 and exact == crops and worst < 1e-4)
    T.check("red discs are judged YES and other discs NO: %d of %d right" % (right, judged),
            judged >= 10 and right >= 0.8 * judged)
    m1 = metrics(port)
    d_crops = m1.get('glint_pipeline_crops_total{model="discs"}', 0)
    d_red = (m1.get('glint_inference_count_total{model="red_disc"}', 0) -
             m0.get('glint_inference_count_total{model="red_disc"}', 0))
    T.check("metrics: the pipeline's crops (%d) ran on red_disc (%d rows: the crops and the "
            "crops sent alone)" % (d_crops, d_red), d_crops == crops and d_red == 2 * crops)
    T.check("metrics: each stage's time, per pipeline",
            m1.get('glint_pipeline_stage_seconds_count{model="discs",stage="shapes"}') ==
            len(PICS) and m1.get('glint_pipeline_stage_seconds_count{model="discs",'
                                 'stage="red_disc"}') == with_crops)
    T.check("metrics: squares counted as skipped boxes",
            m1.get('glint_pipeline_boxes_skipped_total{model="discs"}', 0) > 0)
    st, stats = request(port, "GET", "/v2/models/discs/stats")
    ms = (stats or {}).get("model_stats", [{}])[0]
    T.check("KServe statistics of the pipeline count its requests",
            st == 200 and ms.get("inference_stats", {}).get("success", {}).get("count") ==
            len(PICS), (st, str(stats)[:300]))

    # ---- text: detected, cut, read (ocr_det -> crops -> ocr_rec) ----
    same_text, lines, errs, chars, found = 0, 0, 0, 0, 0
    for name, words in OCR_TRUTH.items():
        data = open(os.path.join(OCR, name), "rb").read()
        st, a = post(port, "ocr", "text_detect", data)
        st2, d = post(port, "ocr_det", "text_detect", data)
        pic = Image.open(io.BytesIO(data)).convert("RGB")
        T.check("ocr on %s: the text detector's own lines" % name,
                st == 200 and st2 == 200 and boxes(a) == boxes(d), (st, a))
        for det in (a or {}).get("detections", []):
            c, lines = det["crop"], lines + 1
            buf = io.BytesIO()
            pic.crop((int(c["x1"]), int(c["y1"]), int(c["x2"]), int(c["y2"]))).save(buf, "PNG")
            st3, alone = post(port, "ocr_rec", "text_recognize", buf.getvalue())
            same_text += (st3 == 200 and alone["text"] == det["text"] and
                          abs(alone["score"] - det["text_score"]) < 1e-5)
            best = min(words, key=lambda w: edits(w, det["text"]))
            errs += edits(best, det["text"])
            chars += len(best)
        found += sum(any(edits(w, x["text"]) <= len(w) // 3 for x in a.get("detections", []))
                     for w in words)
    T.check("ocr: each line's text is the recogniser's answer for that crop alone (%d of %d)"
            % (same_text, lines), lines >= 8 and same_text == lines)
    T.check("ocr: the pictures' words read with %.0f%% of characters wrong (%d of %d words found)"
            % (100.0 * errs / max(chars, 1), found, sum(map(len, OCR_TRUTH.values()))),
            chars and errs <= 0.25 * chars and found >= 8)

    # ---- relabel and merged models ----
    st, a = post(port, "discs_relabel", "detect", DATA["shapes_02.png"])
    labs = [(d["label"], d.get("detector_label")) for d in (a or {}).get("detections", [])]
    T.check("relabel: a classified box takes its crop's class, its detector's label kept",
            st == 200 and labs and all(l in ("YES", "NO") and dl in ("red_disc", "other_disc")
                                       for l, dl in labs if dl) and
            any(l == "square" for l, dl in labs if not dl), labs)
    st, a = post(port, "both", "detect", DATA["shapes_00.png"])
    st2, d = post(port, "shapes", "detect", DATA["shapes_00.png"])
    st3, c = post(port, "red_disc", "classify", DATA["shapes_00.png"])
    mine = [(x["label"], x["score"]) for x in (a or {}).get("classes", [])]
    ref = [(x["label"], x["score"]) for x in (c or {}).get("classes", [])]
    T.check("merged: the detector's boxes and the classifier's classes, each naming its model",
            st == 200 and boxes(a) == boxes(d) and mine == ref and
            all(x["model"] == "shapes" for x in a["detections"]) and
            all(x["model"] == "red_disc" for x in a["classes"]), (a, d, c))

    # ---- several images at once, crops batched, under load ----
    bnd = "glintpipe"
    body = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"%s\"\r\n"
                    b"Content-Type: image/png\r\n\r\n%s\r\n" % (bnd.encode(), p.encode(), DATA[p])
                    for p in PICS[:4]) + b"--%s--\r\n" % bnd.encode()
    st, multi = request(port, "POST", "/v1/models/discs/detect?cache=0", body,
                        {"Content-Type": "multipart/form-data; boundary=" + bnd})
    singles = [post(port, "discs", "detect", DATA[p])[1] for p in PICS[:4]]
    T.check("several images in one request: each answered as alone",
            st == 200 and [boxes(r) for r in multi["results"]] == [boxes(r) for r in singles]
            and [[x.get("classes") for x in r["detections"]] for r in multi["results"]] ==
            [[x.get("classes") for x in r["detections"]] for r in singles], str(multi)[:300])
    want = {p: post(port, "discs", "detect", DATA[p])[1] for p in PICS}
    e0 = metrics(port)
    bad = []

    def client(k):
        for i in range(12):
            p = PICS[(k + i) % len(PICS)]
            st, a = post(port, "discs", "detect", DATA[p])
            if st != 200 or boxes(a) != boxes(want[p]) or \
                    [x.get("classes") for x in a["detections"]] != \
                    [x.get("classes") for x in want[p]["detections"]]:
                bad.append((p, st))
    th = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    e1 = metrics(port)
    rows = (e1['glint_inference_count_total{model="red_disc"}'] -
            e0['glint_inference_count_total{model="red_disc"}'])
    execs = (e1['glint_inference_exec_count_total{model="red_disc"}'] -
             e0['glint_inference_exec_count_total{model="red_disc"}'])
    T.check("6 clients x 12 requests: every answer the same as alone (%d differ)" % len(bad),
            not bad, bad[:5])
    T.check("the crops are batched by the classifier's batcher: %d rows in %d runs"
            % (rows, execs), rows > 0 and execs < rows, (rows, execs))
    T.check("the detector's statistics count the pipeline's images",
            e1['glint_inference_count_total{model="shapes"}'] -
            e0['glint_inference_count_total{model="shapes"}'] == 72)

    # ---- an edge detector on the pipeline: how many red discs ----
    right = 0
    for p in PICS:
        st, q = request(port, "POST", "/device-api/v1/image-queries?detector_id=" + DET,
                        DATA[p], {"Content-Type": "image/png"})
        right += st in (200, 201) and q["result"].get("count") == TRUTH[p]["red_discs"]
    T.check("an edge detector (COUNT of YES) on the relabelling pipeline counts red discs: "
            "%d of %d pictures right" % (right, len(PICS)), right >= 8)

    # ---- errors ----
    st, a = post(port, "discs", "detect", DATA[PICS[0]], "?cache=0&timeout_ms=1")
    T.check("a 1 ms deadline: 504 (or 503 refused at admission) with a message",
            st in (503, 504) and "error" in a, (st, a))
    st, a = post(port, "discs", "detect", b"not an image")
    T.check("a bad image: 400 with a message", st == 400 and "image" in a["error"], (st, a))

    # ---- KServe v2: encoded images in, JSON answers out, as BYTES (HTTP and gRPC) ----
    st, meta = request(port, "GET", "/v2/models/discs")
    T.check("KServe metadata of a pipeline: platform ensemble, image BYTES in, answer BYTES out",
            st == 200 and meta["platform"] == "ensemble" and
            meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}] and
            meta["outputs"] == [{"name": "answer", "datatype": "BYTES", "shape": [-1]}], meta)
    st, cfg = request(port, "GET", "/v2/models/discs/config")
    steps = [(x["model_name"], x["model_version"]) for x in
             (cfg or {}).get("ensemble_scheduling", {}).get("step", [])]
    T.check("KServe config of a pipeline: TYPE_STRING tensors, Triton's ensemble_scheduling with "
            "its steps (what perf_analyzer reads to find the composing models)",
            st == 200 and cfg["input"][0]["data_type"] == "TYPE_STRING" and
            steps == [("shapes", -1), ("red_disc", -1)] and "dynamic_batching" not in cfg, cfg)
    st, s0 = request(port, "GET", "/v2/models/shapes/stats")
    n0 = s0["model_stats"][0]["inference_stats"]["success"]["count"]
    three = PICS[:3]
    blob = b"".join(struct.pack("<I", len(DATA[p])) + DATA[p] for p in three)

    def v2(blob, n, binary_out, name="image"):
        head = json.dumps({"inputs": [{"name": name, "datatype": "BYTES", "shape": [n],
                                       "parameters": {"binary_data_size": len(blob)}}],
                           "parameters": {"binary_data_output": binary_out}}).encode()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("POST", "/v2/models/discs/infer", head + blob,
                  {"Inference-Header-Content-Length": str(len(head))})
        r = c.getresponse()
        body = r.read()
        hl = int(r.getheader("Inference-Header-Content-Length") or len(body))
        return r.status, json.loads(body[:hl]), body[hl:]

    def unpack(raw):
        out = []
        while raw:
            n = struct.unpack("<I", raw[:4])[0]
            out.append(json.loads(raw[4:4 + n]))
            raw = raw[4 + n:]
        return out

    def same(answers, names):
        return len(answers) == len(names) and all(
            boxes(a) == boxes(want[p]) and a["model"] == "discs" and
            [x.get("classes") for x in a["detections"]] ==
            [x.get("classes") for x in want[p]["detections"]] for a, p in zip(answers, names))
    st, j, _ = v2(blob, 3, False)
    got = [json.loads(x) for x in j["outputs"][0]["data"]] if st == 200 else []
    T.check("KServe HTTP: 3 images as BYTES, 3 answers as JSON strings, each as /v1 answers it",
            st == 200 and j["outputs"][0]["shape"] == [3] and same(got, three), (st, j))
    st, j, raw = v2(blob, 3, True)
    T.check("KServe HTTP: the answers as binary BYTES (4-byte lengths, then the JSON text)",
            st == 200 and j["outputs"][0]["datatype"] == "BYTES" and same(unpack(raw), three),
            (st, j))
    st, j, _ = v2(blob, 3, False, name="images")
    T.check("KServe HTTP: another input name: 400 naming 'image'",
            st == 400 and "'image'" in j["error"], (st, j))
    st, j, _ = v2(struct.pack("<I", 99999) + DATA[PICS[0]], 1, False)
    T.check("KServe HTTP: a BYTES length past the body's end: 400",
            st == 400 and "BYTES elements" in j["error"], (st, j))
    st, s1 = request(port, "GET", "/v2/models/shapes/stats")
    n1 = s1["model_stats"][0]["inference_stats"]["success"]["count"]
    T.check("the composing detector counts the pipeline's steps as its requests (+%d for 6 "
            "images)" % (n1 - n0), n1 - n0 == 6)
    gp = int(re.search(r"KServe v2 over gRPC on [^ ]*:(\d+)", s.log()).group(1))
    ch = grpc.insecure_channel("127.0.0.1:%d" % gp)
    infer = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                           request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=pb.ModelInferResponse.FromString)
    q = pb.ModelInferRequest(model_name="discs")
    t = q.inputs.add()
    t.name, t.datatype = "image", "BYTES"
    t.shape.append(3)
    q.raw_input_contents.append(blob)
    a = infer(q, timeout=60)
    T.check("KServe gRPC: raw BYTES in, the answers in raw_output_contents",
            a.outputs[0].name == "answer" and a.outputs[0].datatype == "BYTES" and
            list(a.outputs[0].shape) == [3] and same(unpack(a.raw_output_contents[0]), three))
    q = pb.ModelInferRequest(model_name="discs")
    t = q.inputs.add()
    t.name, t.datatype = "image", "BYTES"
    t.shape.append(2)
    t.contents.bytes_contents.extend([DATA[p] for p in three[:2]])
    a = infer(q, timeout=60)
    T.check("KServe gRPC: bytes_contents in", same(unpack(a.raw_output_contents[0]), three[:2]))
    meta = ch.unary_unary("/inference.GRPCInferenceService/ModelMetadata",
                          request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=pb.ModelMetadataResponse.FromString)(
        pb.ModelMetadataRequest(name="discs"), timeout=30)
    T.check("KServe gRPC metadata of a pipeline",
            meta.platform == "ensemble" and meta.inputs[0].datatype == "BYTES" and
            meta.outputs[0].name == "answer", str(meta))
    gcfg = ch.unary_unary("/inference.GRPCInferenceService/ModelConfig",
                          request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=pb.ModelConfigResponse.FromString)(
        pb.ModelConfigRequest(name="discs"), timeout=30).config
    T.check("KServe gRPC config of a pipeline: ensemble_scheduling's steps",
            [x.model_name for x in gcfg.ensemble_scheduling.step] == ["shapes", "red_disc"] and
            dict(gcfg.ensemble_scheduling.step[1].output_map) == {"probs": "answer"} and
            not gcfg.HasField("dynamic_batching"), str(gcfg))
    ch.close()

    # ---- lifecycle ----
    st, _ = request(port, "POST", "/v2/repository/models/shapes/unload")
    st2, j = request(port, "GET", "/v1/models")
    state = {m["name"]: (m["state"], m.get("reason")) for m in j["models"]}
    T.check("unloading shapes takes its pipelines down with a reason",
            st == 200 and state["discs"] == ("UNAVAILABLE", "model shapes it runs was unloaded")
            and state["red_disc"][0] == "READY", state)
    st, a = post(port, "discs", "detect", DATA[PICS[0]])
    T.check("a request to it meanwhile: 4xx/503 with a message", st in (404, 503) and
            "error" in a, (st, a))
    st, _ = request(port, "POST", "/v2/repository/models/shapes/load")
    st2, j = request(port, "GET", "/v1/models")
    state = {m["name"]: m["state"] for m in j["models"]}
    st3, a = post(port, "discs", "detect", DATA[PICS[0]])
    T.check("loading shapes back brings them up, answering",
            st == 200 and state["discs"] == "READY" and state["both"] == "READY" and st3 == 200
            and boxes(a) == boxes(want[PICS[0]]), (state, st3))
    open(os.path.join(models, "discs", "model.yaml"), "w").write(CROP.replace("padding: 1",
                                                                               "padding: 0"))
    st, _ = request(port, "POST", "/v2/repository/models/discs/unload")
    st2, _ = request(port, "POST", "/v2/repository/models/discs/load")
    st3, a = post(port, "discs", "detect", DATA[PICS[0]])
    cr = [d["crop"] for d in (a or {}).get("detections", []) if "crop" in d]
    tight = all(d["crop"]["x2"] - d["crop"]["x1"] <= d["box"]["x2"] - d["box"]["x1"] + 2
                for d in a["detections"] if "crop" in d)
    T.check("a changed pipeline file, reloaded through the repository API: crops with no "
            "padding", st == 200 and st2 == 200 and st3 == 200 and cr and tight, (st, st2, a))
    open(os.path.join(models, "discs", "model.yaml"), "w").write(CROP.replace("padding: 1",
                                                                               "padding: 9"))
    st, _ = request(port, "POST", "/v2/repository/models/discs/unload")
    st2, a = request(port, "POST", "/v2/repository/models/discs/load")
    T.check("a broken pipeline file: the repository load says why",
            st == 200 and st2 == 400 and "padding" in a["error"], (st2, a))
    s.proc.terminate()
    T.check("exit 0 after SIGTERM", s.proc.wait(timeout=60) == 0, s.log())
    log = s.log()
    T.check("no sanitizer report", "Sanitizer" not in log and "runtime error" not in log,
            log[-1500:])

# ---- admission: a pipeline's images wait behind its first model's own ----
q = os.path.join(tmp, "queue")
os.makedirs(os.path.join(q, "models", "y"))
for name in ("yolov8n", "red_disc"):
    os.symlink(os.path.join(SRC, "models", name), os.path.join(q, "models", name))
open(os.path.join(q, "models", "y", "model.yaml"), "w").write(
    "pipeline: {detect: yolov8n, classify: red_disc, max_crops: 2}\n")
DOG = open(os.path.join(SRC, "tests", "data", "dog.jpg"), "rb").read()
with Serve(GLINT, q, "--models", os.path.join(q, "models"), "--max-queue", "3", "--instances", "1",
           "--threads", "1", "--precision", "f32", "--max-queue-ms", "0",
           "--state-dir", os.path.join(q, "state")) as s:
    direct = []
    th = [threading.Thread(target=lambda: direct.append(post(s.port, "yolov8n", "detect", DOG)[0]))
          for _ in range(3)]
    for t in th:
        t.start()
    time.sleep(0.05)  # three images of yolov8n's own queued (~60 ms each here)
    st, a = post(s.port, "y", "detect", DOG)
    for t in th:
        t.join()
    st2, a2 = post(s.port, "y", "detect", DOG)
    T.check("a pipeline's image is refused while its detector's own queue is full (%s: %s), "
            "answered once it drains (%s)" % (st, (a or {}).get("error"), st2),
            st == 503 and "queue full" in a["error"] and st2 == 200 and direct == [200] * 3,
            (st, a, st2, direct))

T.finish()
