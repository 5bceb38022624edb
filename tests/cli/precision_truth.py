#!/usr/bin/python3
"""The trained models in reduced precision still answer what the pictures
hold: `glint quantize` quantizes models/shapes and models/red_disc on
tests/data/shapes_heldout/calib and reports int8 and bf16 agreement on
.../eval; then `glint run` answers the held-out pictures of .../eval (never
used for calibration or training) in f32, int8 and bf16, each scored
against truth.json: square count, red-disc presence (from the detector's
boxes and from the classifier). int8 and bf16 must score as f32 does (at
most one picture apart) and both reports must pass their bar; auto must
choose one of the three and say so.

usage: precision_truth.py GLINT_BINARY SOURCE_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
HELD = os.path.join(SRC, "tests", "data", "shapes_heldout")
TRUTH = json.load(open(os.path.join(HELD, "truth.json")))["images"]
EVAL = sorted(f for f in os.listdir(os.path.join(HELD, "eval")) if f.endswith(".png"))
TMP = tempfile.mkdtemp(prefix="glint-precision-truth-")
PASSES, FAILS = 0, 0
# bf16 needs AVX512-BF16: elsewhere glint refuses it, and its checks are skipped
BF16 = any(l.startswith("flags") and " avx512_bf16" in l for l in open("/proc/cpuinfo"))
PRECS = ("int8", "bf16") if BF16 else ("int8",)
if not BF16:
    print("skip bf16 checks: this CPU has no AVX512-BF16 (no avx512_bf16 in /proc/cpuinfo)", flush=True)


def check(cond, what):
    global PASSES, FAILS
    PASSES += bool(cond)
    FAILS += not cond
    print(("ok   " if cond else "FAIL ") + what, flush=True)


SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: UndefinedBehaviorSanitizer")


def sanitized(stderr):
    """A sanitizer report in a glint's stderr fails the test (printed: ctest
    matches it too)."""
    m = SANITIZER.search(stderr)
    check(not m, "no sanitizer report" + ("" if not m else ":\n" + stderr[-4000:]))


def run(model_dir, precision, stderr=None):
    out = subprocess.run([GLINT, "run", "--model", model_dir, "--precision", precision]
                         + [os.path.join(HELD, "eval", f) for f in EVAL],
                         capture_output=True, text=True, timeout=300)
    if SANITIZER.search(out.stderr):
        sanitized(out.stderr)
    if stderr is not None:
        stderr.append(out.stderr)
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
                        "--eval", os.path.join(HELD, "eval")] + ([] if BF16 else ["--precision", "int8"]),
                       capture_output=True, text=True, timeout=300)
    sanitized(q.stderr)
    for prec, report in (("int8", "model.int8.onnx.report.json"), ("bf16", "model.bf16.report.json")):
        if prec not in PRECS:
            continue
        rep = json.load(open(os.path.join(d, report)))
        cr = rep["chosen_report"]
        check(q.returncode == 0 and rep["precision"] == prec and cr["passes"],
              "%s: %s passes its agreement bar (%s)" % (model, prec, ", ".join(
                  "%s %s" % (k, cr[k]) for k in ("f1", "top1_agreement", "rel_l2_mean") if k in cr)))
    log = []
    ans = {p: run(d, p) for p in ("f32",) + PRECS}
    ans["auto"] = run(d, "auto", log)
    check(all(len(a) == len(EVAL) for a in ans.values()),
          "%s: %d held-out pictures answered in each precision" % (model, len(EVAL)))
    if BF16:
        check("precision auto: " in log[0] and "f32 " in log[0] and "int8 " in log[0] and "bf16 " in log[0],
              "%s: auto timed f32, int8 and bf16: %s" % (model, log[0].strip()))
    else:
        check("precision auto: " in log[0] and "f32 " in log[0] and "int8 " in log[0]
              and "bf16 cannot run here" in log[0],
              "%s: auto timed f32 and int8, said bf16 cannot run here: %s" % (model, log[0].strip()))
    for k in kinds:
        a = score(ans["f32"], k)
        for p in PRECS + ("auto",):
            b = score(ans[p], k)
            check(b >= a - 1 and b >= 0.9 * len(EVAL),
                  "%s %s: %s %d/%d right, f32 %d/%d" % (model, k, p, b, len(EVAL), a, len(EVAL)))
print("%d passed, %d failed" % (PASSES, FAILS))
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(1 if FAILS else 0)
