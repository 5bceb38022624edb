#!/usr/bin/python3
"""The trained models quantized by `glint quantize` still answer what the
pictures hold: quantizes models/shapes and models/red_disc on
tests/data/shapes_heldout/calib, then runs f32 and int8 with `glint run` on
the held-out pictures of .../eval (never used for calibration or training)
and scores both against truth.json: square count, red-disc presence (from
the detector's boxes and from the classifier). int8 must score as f32 does
(at most one picture apart) and the report must pass its bar.

usage: int8_truth.py GLINT_BINARY SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
HELD = os.path.join(SRC, "tests", "data", "shapes_heldout")
TRUTH = json.load(open(os.path.join(HELD, "truth.json")))["images"]
EVAL = sorted(f for f in os.listdir(os.path.join(HELD, "eval")) if f.endswith(".png"))
TMP = tempfile.mkdtemp(prefix="glint-int8-truth-")
PASSES, FAILS = 0, 0


def check(cond, what):
    global PASSES, FAILS
    PASSES += bool(cond)
    FAILS += not cond
    print(("ok   " if cond else "FAIL ") + what, flush=True)


def run(model_dir, precision):
    out = subprocess.run([GLINT, "run", "--model", model_dir, "--precision", precision]
                         + [os.path.join(HELD, "eval", f) for f in EVAL],
                         capture_output=True, text=True, timeout=300)
    return {os.path.basename(j["image"]): j for j in map(json.loads, out.stdout.splitlines())}


def score(answers, kind):
    right = 0
    for name, a in answers.items():
        t = TRUTH[name]
        if kind == "squares":
            right += sum(d["label"] == "square" for d in a["detections"]) == t["squares"]
        elif kind == "red_box":
            right += any(d["label"] == "red_disc" for d in a["detections"]) == (t["red_disc"] == "YES")
        else:
            right += a["classes"][0]["label"] == t["red_disc"]
    return right


for model, kinds in (("shapes", ("squares", "red_box")), ("red_disc", ("classifier",))):
    d = os.path.join(TMP, model)
    shutil.copytree(os.path.join(SRC, "models", model), d)
    q = subprocess.run([GLINT, "quantize", "--model", d, "--calib", os.path.join(HELD, "calib"),
                        "--eval", os.path.join(HELD, "eval")], capture_output=True, text=True,
                       timeout=300)
    rep = json.load(open(os.path.join(d, "model.int8.onnx.report.json")))["chosen_report"]
    check(q.returncode == 0 and rep["passes"], "%s: quantize passes its agreement bar (%s)" % (
        model, ", ".join("%s %s" % (k, rep[k]) for k in ("f1", "top1_agreement", "rel_l2_mean") if k in rep)))
    f32, int8 = run(d, "f32"), run(d, "int8")
    check(len(f32) == len(int8) == len(EVAL), "%s: %d held-out pictures answered" % (model, len(EVAL)))
    for k in kinds:
        a, b = score(f32, k), score(int8, k)
        check(b >= a - 1 and b >= 0.9 * len(EVAL),
              "%s %s: int8 %d/%d right, f32 %d/%d" % (model, k, b, len(EVAL), a, len(EVAL)))
print("%d passed, %d failed" % (PASSES, FAILS))
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(1 if FAILS else 0)
