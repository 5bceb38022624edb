#!/usr/bin/python3
"""OCR models in PaddleOCR's shape, end to end through `glint run` and
`glint serve`, against what PaddleOCR's own post-processing answered on
PyTorch's outputs (models/ocr_*/reference.json, tools/train_ocr.py).

models/ocr_det (PP-OCRv3's DB text detector, free H and W, trained on
printed text) and models/ocr_rec (PP-OCRv3's SVTR/CTC recogniser, free
width, characters in dict.txt):
  - tests/data/ocr/scene.png (640x480: runs at its own size) gives
    DBPostProcess's boxes: the same count, corners within 2 px, scores
    within 0.02 (OpenCV's fillPoly and pyclipper round differently), in
    PaddleOCR's reading order;
  - wide.png (1280x720) runs at 960x544 (the long side limited to 960, each
    side a multiple of 32) and its boxes come back in the picture's pixels;
  - each line picture under tests/data/ocr/lines reads as PaddleOCR read it
    (the text exactly, the score within 1e-3), long.png at a tensor wider
    than 320 (the width follows the line);
  - the same ONNX files without model.yaml: the detector is recognised from
    its output; the recogniser asks for its characters by name;
    characters that do not match the output's classes are refused;
  - `glint serve` answers both on /v1/models/{name}/{task}, refuses the
    other task's route, and KServe v2 infer takes a line tensor of a free
    width (400: 50 steps).

usage: test_ocr.py GLINT SOURCE_DIR
"""
import json
import os
import shutil
import sys
import tempfile

import cli_harness as H

GLINT, SRC = sys.argv[1], sys.argv[2]
DET = os.path.join(SRC, "models", "ocr_det")
REC = os.path.join(SRC, "models", "ocr_rec")
PICS = os.path.join(SRC, "tests", "data", "ocr")
DET_REF = json.load(open(os.path.join(DET, "reference.json")))["answers"]
REC_REF = json.load(open(os.path.join(REC, "reference.json")))["answers"]
T = H.Tally()
check = T.check


def run(model, *args):
    return H.run(GLINT, model, *args)


def same_boxes(got, want):
    """None if glint's detections `got` are PaddleOCR's boxes `want` (any
    order), else what differs."""
    if got is None:
        return "no answer"
    if len(got) != len(want):
        return "%d boxes, want %d: %s" % (len(got), len(want), [g["points"] for g in got])
    left = list(got)
    for w in want:
        best = min(left, key=lambda g: max(abs(a - b) for p, q in zip(g["points"], w["points"])
                                           for a, b in zip(p, q)))
        err = max(abs(a - b) for p, q in zip(best["points"], w["points"]) for a, b in zip(p, q))
        if err > 2:
            return "box %s: nearest is %s (%d px)" % (w["points"], best["points"], err)
        if abs(best["score"] - w["score"]) > 0.02:
            return "box %s: score %g, want %g" % (w["points"], best["score"], w["score"])
        b = best["box"]
        xs, ys = [p[0] for p in best["points"]], [p[1] for p in best["points"]]
        if (b["x1"], b["y1"], b["x2"], b["y2"]) != (min(xs), min(ys), max(xs), max(ys)):
            return "box %s does not bound its points" % b
        if best["label"] != "text":
            return "label %r" % best["label"]
        left.remove(best)
    return None


def reading_order(got):
    """PaddleOCR's sorted_boxes on the top-left corners."""
    tl = sorted((g["points"][0] for g in got), key=lambda p: (p[1], p[0]))
    for i in range(len(tl) - 1):
        for j in range(i, -1, -1):
            if abs(tl[j + 1][1] - tl[j][1]) < 10 and tl[j + 1][0] < tl[j][0]:
                tl[j], tl[j + 1] = tl[j + 1], tl[j]
            else:
                break
    return [g["points"][0] for g in got] == tl


# ---- detection ----
out, err = run(DET, os.path.join(PICS, "scene.png"), os.path.join(PICS, "wide.png"))
check("glint run answers both pictures", out is not None and len(out) == 2, err)
if out and len(out) == 2:
    scene, wide = out
    d = scene.get("detections")
    check("scene.png: PaddleOCR's %d boxes" % len(DET_REF["scene.png"]),
          len(DET_REF["scene.png"]) >= 5 and not same_boxes(d, DET_REF["scene.png"]),
          same_boxes(d, DET_REF["scene.png"]) or "")
    check("scene.png: in reading order", d is not None and reading_order(d), str(d))
    check("the answer names the task and the picture's size",
          scene.get("task") == "text_detect" and (scene["width"], scene["height"]) == (640, 480),
          str({k: scene.get(k) for k in ("task", "width", "height")}))
    d = wide.get("detections")
    check("wide.png (1280x720 at 960x544): PaddleOCR's %d boxes in the picture's pixels"
          % len(DET_REF["wide.png"]),
          len(DET_REF["wide.png"]) >= 4 and not same_boxes(d, DET_REF["wide.png"]),
          same_boxes(d, DET_REF["wide.png"]) or "")
    far = max((p[0] for g in d or [] for p in g["points"]), default=0)
    check("wide.png's boxes reach past x 960 (mapped back from the tensor)", far > 960, str(far))

# ---- recognition ----
lines = sorted(REC_REF)
out, err = run(REC, *[os.path.join(PICS, "lines", n) for n in lines])
check("glint run answers the %d lines" % len(lines), out is not None and len(out) == len(lines),
      err)
for name, a in zip(lines, out or []):
    want = REC_REF[name]
    check("%s reads %r" % (name, want["text"]),
          a.get("text") == want["text"] and abs(a.get("score", -1) - want["score"]) < 1e-3,
          "%r %s, want %r %s" % (a.get("text"), a.get("score"), want["text"], want["score"]))
check("a line's answer is its text and score", out and out[0].get("task") == "text_recognize" and
      "detections" not in out[0], str(out and out[0]))

tmp = tempfile.mkdtemp()
try:
    bare = os.path.join(tmp, "bare_det")
    os.makedirs(bare)
    shutil.copy(os.path.join(DET, "model.onnx"), bare)
    out, err = run(bare, os.path.join(PICS, "scene.png"))
    d = out[0].get("detections") if out else None
    check("without model.yaml the DB detector is recognised (task text_detect, same boxes)",
          out is not None and out[0]["task"] == "text_detect" and
          not same_boxes(d, DET_REF["scene.png"]), err if out is None else str(out[0])[:300])

    bare = os.path.join(tmp, "bare_rec")
    os.makedirs(bare)
    shutil.copy(os.path.join(REC, "model.onnx"), bare)
    out, err = run(bare, os.path.join(PICS, "lines", "glint.png"))
    check("without model.yaml the recogniser asks for its characters_file",
          out is None and "characters_file" in err and "text_recognize" in err, err)
    shutil.copy(os.path.join(REC, "dict.txt"), bare)
    open(os.path.join(bare, "model.yaml"), "w").write("characters_file: dict.txt\n"
                                                      "use_space_char: false\n")
    out, err = run(bare, os.path.join(PICS, "lines", "glint.png"))
    check("characters that do not match the output's classes are refused, with the counts",
          out is None and "38 classes" in err and "36 characters" in err, err)

    with H.Serve(GLINT, tmp, "--models", os.path.join(SRC, "models"), "--model", "ocr_det",
                 "--model", "ocr_rec", "--cache-mb", "0", "--max-queue-ms", "0") as srv:
        check("glint serve starts with both", srv.port > 0, srv.log())
        if srv.port:
            st, a = srv.post("/v1/models/ocr_det/text_detect",
                             open(os.path.join(PICS, "wide.png"), "rb").read())
            check("serve: /v1/models/ocr_det/text_detect gives wide.png's boxes",
                  st == 200 and not same_boxes(a.get("detections"), DET_REF["wide.png"]),
                  "%d %s" % (st, str(a)[:300]))
            st, a = srv.post("/v1/models/ocr_rec/text_recognize",
                             open(os.path.join(PICS, "lines", "long.png"), "rb").read())
            check("serve: /v1/models/ocr_rec/text_recognize reads long.png",
                  st == 200 and a.get("text") == REC_REF["long.png"]["text"], "%d %s" % (st, a))
            st, a = srv.post("/v1/models/ocr_rec/detect",
                             open(os.path.join(PICS, "scene.png"), "rb").read())
            check("serve: the detect route on a recogniser is refused, naming its route",
                  st == 400 and "text_recognize" in (a or {}).get("error", ""), "%d %s" % (st, a))
            w = 400
            body = json.dumps({"inputs": [{"name": "x", "shape": [1, 3, 48, w],
                                           "datatype": "FP32", "data": [0.0] * (3 * 48 * w)}]})
            st, a = srv.post("/v2/models/ocr_rec/infer", body, "application/json")
            shape = a["outputs"][0]["shape"] if st == 200 else None
            check("KServe v2 infer takes a line of free width 400: [1, 50, 38] out",
                  shape == [1, 50, 38], "%d %s" % (st, str(a)[:300]))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

T.finish()
