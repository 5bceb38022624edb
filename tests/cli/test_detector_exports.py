#!/usr/bin/python3
"""Detectors exported with their own decoding, end to end through `glint run`
and `glint serve`, against what PyTorch answered for the same tensors.

RT-DETR (models/rtdetr): output0 [1, 100, 84], queries of cx, cy, w, h as
fractions of the input and 80 class scores, no NMS: tests/data/rtdetr/dog.png
(the photo already stretched to 640x640) gives PyTorch's queries over 0.25,
best first, classes, scores to 1e-4 and corners to 0.05 px.

A torchvision detector exported with its post-processing:
models/ssdlite (SSDlite320-MobileNetV3, seeded) answers boxes [N,4], scores
[N] and labels [N] with NMS done inside the graph (NonZero, TopK of a run-time
k, NonMaxSuppression inside an If): the plan's interpreter of run-time shapes
runs that part. Checks, against what PyTorch answered for the same pictures
(models/ssdlite/reference.json, "answers"; tools/gen_models.py):
  - `glint run` on tests/data/ssdlite/dog.png (320x320) gives PyTorch's
    detections: the same count and order, classes, scores to 1e-4, boxes to
    0.05 px, labels named from model.yaml (COCO's 91 ids);
  - dog_wide.png (each column twice, 640x320) is stretched back to the same
    tensor: the same detections with x doubled (the stretch mapping);
  - horses.png has no box over the threshold: an empty answer (the If's
    other branch);
  - --score raises the threshold; the same ONNX file without model.yaml is
    recognised as a torchvision detector (labels numbered);
  - `layout: torchvision` on a YOLO model is refused with a clear message;
  - `glint serve` answers the same detections over HTTP.

usage: test_detector_exports.py GLINT SOURCE_DIR
"""
import json
import os
import shutil
import sys
import tempfile

import cli_harness as H

GLINT, SRC = sys.argv[1], sys.argv[2]
MODEL = os.path.join(SRC, "models", "ssdlite")
PICS = os.path.join(SRC, "tests", "data", "ssdlite")
REF = json.load(open(os.path.join(MODEL, "reference.json")))["answers"]
LABELS = None
T = H.Tally()
check = T.check


def run(model, *args):
    return H.run(GLINT, model, *args)


def labels():
    for line in open(os.path.join(MODEL, "model.yaml")):
        if line.startswith("labels:"):
            return [s.strip() for s in line.split(":", 1)[1].strip()[1:-1].split(",")]
    return None


def same(got, want, sx=1.0, name=None):
    """Whether detections `got` (glint's JSON) are `want` (PyTorch's), x scaled by sx."""
    if len(got) != len(want):
        return "%d detections, want %d" % (len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        box = [w["box"][0] * sx, w["box"][1], w["box"][2] * sx, w["box"][3]]
        gb = [g["box"][k] for k in ("x1", "y1", "x2", "y2")]
        if g["class_id"] != w["class_id"] or abs(g["score"] - w["score"]) > 1e-4:
            return "detection %d: class %d score %g, want %d %g" % (
                i, g["class_id"], g["score"], w["class_id"], w["score"])
        if max(abs(a - b) for a, b in zip(gb, box)) > 0.05:
            return "detection %d: box %s, want %s" % (i, gb, box)
        if name and g["label"] != name[w["class_id"]]:
            return "detection %d: label %r, want %r" % (i, g["label"], name[w["class_id"]])
    return None


# ---- RT-DETR ----
RT = os.path.join(SRC, "models", "rtdetr")
RT_REF = json.load(open(os.path.join(RT, "reference.json")))["answers"]["dog.png"]
out, err = run(RT, os.path.join(SRC, "tests", "data", "rtdetr", "dog.png"))
d = out[0].get("detections") if out else None
check("rtdetr: PyTorch's %d queries over 0.25, best first" % len(RT_REF),
      d is not None and len(RT_REF) > 0 and not same(d, RT_REF),
      err if d is None else same(d, RT_REF) or "")
out, err = run(RT, "--score", "0.4", os.path.join(SRC, "tests", "data", "rtdetr", "dog.png"))
want = [w for w in RT_REF if w["score"] > 0.4]
check("rtdetr: --score 0.4 keeps the %d over it" % len(want),
      out is not None and 0 < len(want) < len(RT_REF) and not same(out[0]["detections"], want),
      err if out is None else same(out[0]["detections"], want) or "")

# ---- SSDlite (torchvision) ----
names = labels()
check("model.yaml names COCO's 91 ids", names is not None and len(names) == 91 and
      names[18] == "dog", str(names and len(names)))
out, err = run(MODEL, *[os.path.join(PICS, f) for f in ("dog.png", "dog_wide.png", "horses.png")])
check("glint run answers the three pictures", out is not None and len(out) == 3, err)
if out and len(out) == 3:
    dog, wide, horses = (a.get("detections") for a in out)
    check("dog.png: PyTorch's detections (%d)" % len(REF["dog.png"]),
          dog is not None and not same(dog, REF["dog.png"], 1.0, names),
          dog is not None and same(dog, REF["dog.png"], 1.0, names) or str(out[0]))
    check("dog_wide.png: the same detections, x doubled",
          wide is not None and not same(wide, REF["dog.png"], 2.0),
          wide is not None and same(wide, REF["dog.png"], 2.0) or str(out[1]))
    check("horses.png: no detection over 0.5 (PyTorch has none)",
          horses == [] and REF["horses.png"] == [], str(out[2]))
    check("answers name the task and the picture size",
          out[1].get("task") == "detect" and (out[1].get("width"), out[1].get("height")) ==
          (640, 320), str({k: out[1].get(k) for k in ("task", "width", "height")}))

out, err = run(MODEL, "--score", "0.8", os.path.join(PICS, "dog.png"))
want = [w for w in REF["dog.png"] if w["score"] > 0.8]
check("--score 0.8 keeps the %d over it" % len(want),
      out is not None and len(want) > 0 and not same(out[0]["detections"], want),
      err if out is None else same(out[0]["detections"], want) or "")

tmp = tempfile.mkdtemp()
try:
    bare = os.path.join(tmp, "bare")
    os.makedirs(bare)
    shutil.copy(os.path.join(MODEL, "model.onnx"), bare)
    out, err = run(bare, "--score", "0.5", os.path.join(PICS, "dog.png"))
    d = out[0]["detections"] if out else None
    check("without model.yaml: recognised from its outputs, labels numbered",
          d is not None and not same(d, REF["dog.png"]) and d[0]["label"] == str(d[0]["class_id"]),
          err if d is None else (same(d, REF["dog.png"]) or str(d[0])))

    yolo = os.path.join(tmp, "yolo")
    shutil.copytree(os.path.join(SRC, "models", "yolov8n"), yolo)
    conf = os.path.join(yolo, "model.yaml")
    lines = [l for l in open(conf) if not l.startswith("layout:")]
    open(conf, "w").write("".join(lines) + "layout: torchvision\n")
    out, err = run(yolo, os.path.join(SRC, "tests", "data", "dog.jpg"))
    check("layout: torchvision on a YOLO model is refused, naming the outputs it needs",
          out is None and "layout: torchvision" in err and "boxes" in err, err)

    with H.Serve(GLINT, tmp, "--models", os.path.join(SRC, "models"), "--model", "ssdlite",
                 "--cache-mb", "0", "--max-queue-ms", "0") as srv:
        d = None
        if srv.port:
            st, a = srv.post("/v1/models/ssdlite/detect",
                             open(os.path.join(PICS, "dog_wide.png"), "rb").read())
            d = a.get("detections") if st == 200 and a else None
        check("glint serve answers the same detections",
              d is not None and not same(d, REF["dog.png"], 2.0),
              srv.log() if d is None else same(d, REF["dog.png"], 2.0))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

T.finish()
