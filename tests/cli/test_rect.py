#!/usr/bin/python3
"""Rect inference in `glint run`: a detector whose height and width are free
runs each picture at its own letterboxed size (the long side to the model's
size, the short side padded to the network's stride), not the square.

models/shapes_dyn holds the trained models/shapes weights exported with free
height and width (tools/gen_shapes_dyn.py); tests/data/shapes_rect holds
non-square pictures with their truth. Checks:
  - with `rect: false` the free model answers exactly as the fixed square
    model (same weights, same tensor): the two exports agree;
  - rect answers differ from the square ones (another tensor really ran)
    but find the same boxes: at least 95% of the square model's boxes have a
    rect box of the same label at IoU >= 0.5, and the rect boxes recall at
    least 95% of the truth;
  - pictures of different sizes in one call are batched by size and come
    back in order;
  - `rect: true` on a fixed-size model is refused with a clear message.

usage: test_rect.py GLINT SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import cli_harness as H

GLINT, SRC = sys.argv[1], sys.argv[2]
PICS = os.path.join(SRC, "tests", "data", "shapes_rect")
TRUTH = json.load(open(os.path.join(PICS, "truth.json")))["images"]
NAMES = sorted(TRUTH)
T = H.Tally()
check = T.check


def run(model, *extra):
    p = subprocess.run([GLINT, "run", "--model", model, *extra] +
                       [os.path.join(PICS, n) for n in NAMES],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        print(p.stderr)
        return None
    return [json.loads(line) for line in p.stdout.splitlines()]


def iou(p, q):
    x1, y1 = max(p["x1"], q["x1"]), max(p["y1"], q["y1"])
    x2, y2 = min(p["x2"], q["x2"]), min(p["y2"], q["y2"])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = ((p["x2"] - p["x1"]) * (p["y2"] - p["y1"]) +
             (q["x2"] - q["x1"]) * (q["y2"] - q["y1"]) - inter)
    return inter / union if union > 0 else 0.0


def matched(want, got):
    """How many of `want` ({label, box}) have a `got` box of the same label
    at IoU >= 0.5."""
    return sum(any(g["label"] == w["label"] and iou(w["box"], g["box"]) >= 0.5 for g in got)
               for w in want)


def strip(a):
    return {k: v for k, v in a.items() if k not in ("timings_ms", "model")}


tmp = tempfile.mkdtemp()
try:
    square = run(os.path.join(SRC, "models", "shapes"))
    rect = run(os.path.join(SRC, "models", "shapes_dyn"))
    off = os.path.join(tmp, "shapes_off")
    shutil.copytree(os.path.join(SRC, "models", "shapes_dyn"), off)
    with open(os.path.join(off, "model.yaml"), "a") as f:
        f.write("rect: false\n")
    unrect = run(off)
    check("all three ran", None not in (square, rect, unrect))
    if None in (square, rect, unrect):
        sys.exit(1)
    check("answers in order", [os.path.basename(a["image"]) for a in rect] == NAMES)
    check("rect: false answers as the fixed square model",
          [strip(a) for a in unrect] == [strip(a) for a in square],
          "the free export at 128x128 differs from the fixed one")
    check("rect answers differ from square ones",
          any(strip(a) != strip(b) for a, b in zip(rect, square)))
    n_sq = sum(len(a["detections"]) for a in square)
    n_match = sum(matched(a["detections"], b["detections"]) for a, b in zip(square, rect))
    check(f"rect finds the square boxes ({n_match}/{n_sq})", n_sq > 40 and n_match >= 0.95 * n_sq)
    n_truth = sum(len(TRUTH[n]["boxes"]) for n in NAMES)
    rec = sum(matched([{"label": t["label"], "box": t} for t in TRUTH[n]["boxes"]], a["detections"])
              for n, a in zip(NAMES, rect))
    check(f"rect recalls the truth ({rec}/{n_truth})", rec >= 0.95 * n_truth)
    for a in rect:
        t = TRUTH[os.path.basename(a["image"])]
        check(f"{os.path.basename(a['image'])} size", (a["width"], a["height"]) == (t["width"], t["height"]))
    # a fixed model refuses rect: true
    fixed = os.path.join(tmp, "shapes_fixed")
    shutil.copytree(os.path.join(SRC, "models", "shapes"), fixed)
    with open(os.path.join(fixed, "model.yaml"), "a") as f:
        f.write("rect: true\n")
    p = subprocess.run([GLINT, "run", "--model", fixed, os.path.join(PICS, NAMES[0])],
                       capture_output=True, text=True, timeout=60)
    check("rect: true on a fixed size is refused",
          p.returncode == 1 and "fixed height and width" in p.stderr, p.stderr)
finally:
    shutil.rmtree(tmp)
T.finish()
