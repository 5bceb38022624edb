#!/usr/bin/python3
"""The unmodified Groundlight Python SDK (package `groundlight`, source
groundlight/python-sdk) against real `glint serve` processes on 127.0.0.1:
an edge with the detectors of tests/data/shapes, and a second glint serve as
its upstream for escalations and want_async.

usage: test_sdk.py GLINT_BINARY SOURCE_DIR [TEST_NAME...]

The SDK is not vendored (its code must not be committed here); the test
imports a copy named by the environment (ctest sets these from the cmake
options of the same names: cmake -DGLINT_SDK_DIR=... or -DGLINT_SDK_GIT=...):
  GLINT_SDK_DIR  a source tree of the SDK (with src/ and generated/), or
  GLINT_SDK_GIT  a git directory of it, from which GLINT_SDK_REF (default
                 v0.30.0) is extracted.
Neither set: the test is skipped (exit 77) saying so; set but unusable: the
same, with the reason.
The SDK needs pydantic 2 (since v0.18.0); Debian 12's python3-pydantic is 1.10,
so /usr/bin/python3 cannot import it. The test re-runs itself under the first
python3 that can (GLINT_SDK_PYTHON, then each python3 on PATH, then pyenv's).
v0.30.0 is the newest tag that imports with what the machine has: v0.31.0
adds filelock>=3.10 and platformdirs (FileLock(mode=...)), which Debian 12
(filelock 3.9) cannot satisfy. With no SDK or no such python the test is
skipped: exit 77 (ctest SKIP_RETURN_CODE).
"""
import glob
import io
import os
import re
import shutil
import subprocess
import sys
import time

import edge_harness as H
from edge_harness import Server, check, free_port, repo

PROBE = ("import pydantic, urllib3, dateutil, requests, certifi, yaml, typing_extensions;"
         "import sys; sys.exit(0 if int(pydantic.VERSION.split('.')[0]) >= 2"
         " and int(urllib3.__version__.split('.')[0]) >= 2 else 1)")


def skip(why):
    print("SKIP " + why, flush=True)
    print("0 passed, 0 failed, 1 skipped", flush=True)
    sys.exit(77)


def usable(python):
    try:
        return subprocess.run([python, "-c", PROBE], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def sdk_python():
    """This interpreter if it can run the SDK, else another python3 that can."""
    if usable(sys.executable):
        return sys.executable
    cands = [os.environ.get("GLINT_SDK_PYTHON", "")]
    cands += [os.path.join(d, "python3") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    cands += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")), reverse=True)
    seen = {os.path.realpath(sys.executable)}
    for c in cands:
        if not c or not os.access(c, os.X_OK) or os.path.realpath(c) in seen:
            continue
        seen.add(os.path.realpath(c))
        if usable(c):
            return c
    return None


if len(sys.argv) < 3:
    sys.exit(__doc__)
NO_SDK = ("no Groundlight SDK given: set GLINT_SDK_DIR (a source tree of groundlight/python-sdk) "
          "or GLINT_SDK_GIT (a git directory of it), in the environment or as cmake -D options")
if not os.environ.get("GLINT_SDK_DIR") and not os.environ.get("GLINT_SDK_GIT"):
    skip(NO_SDK)
if os.environ.get("GLINT_SDK_REEXEC") != "1" and not usable(sys.executable):
    py = sdk_python()
    if not py:
        skip("no python3 here has pydantic>=2 and urllib3>=2 (Debian 12's python3-pydantic is 1.10)")
    os.environ["GLINT_SDK_REEXEC"] = "1"
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])

H.setup(sys.argv, "glint-sdk-test-")
GLINT, SRC, ONLY, SHAPES, TRUTH, PICS, TMP = H.GLINT, H.SRC, H.ONLY, H.SHAPES, H.TRUTH, H.PICS, H.TMP


def find_sdk():
    """(path of an SDK source tree, None) or (None, why not)."""
    d = os.environ.get("GLINT_SDK_DIR")
    if d:
        if os.path.isdir(os.path.join(d, "src", "groundlight")):
            return d, None
        return None, "GLINT_SDK_DIR=%s holds no src/groundlight" % d
    git = os.environ.get("GLINT_SDK_GIT")
    ref = os.environ.get("GLINT_SDK_REF", "v0.30.0")
    if not git:
        return None, NO_SDK
    if not os.path.isdir(git):
        return None, "GLINT_SDK_GIT=%s is not a directory" % git
    out = os.path.join(TMP, "sdk")
    os.makedirs(out)
    arch = subprocess.run(["git", "--git-dir=" + git, "archive", ref, "src", "generated", "LICENSE", "pyproject.toml"],
                          capture_output=True)
    if arch.returncode != 0:
        return None, "git archive %s of GLINT_SDK_GIT=%s failed: %s" % (ref, git, arch.stderr.decode()[-300:])
    subprocess.run(["tar", "-x", "-C", out], input=arch.stdout, check=True)
    return out, None


SDK, WHY = find_sdk()
if not SDK:
    shutil.rmtree(TMP, ignore_errors=True)
    skip(WHY)
sys.path[:0] = [os.path.join(SDK, "src"), os.path.join(SDK, "generated")]
os.environ["GROUNDLIGHT_TOKEN_DIR"] = os.path.join(TMP, "tokens")  # v0.31+: keep its cache out of $HOME
os.environ.pop("GROUNDLIGHT_API_TOKEN", None)
try:
    from groundlight import Groundlight  # noqa: E402
    from groundlight.internalapi import NotFoundError  # noqa: E402
    from model import (BinaryClassificationResult, BoundingBoxResult, CountingResult, Detector,  # noqa: E402
                       ImageQuery, MultiClassificationResult)
except ImportError as e:
    shutil.rmtree(TMP, ignore_errors=True)
    skip("the Groundlight SDK at %s does not import here: %r" % (SDK, e))

DET_BIN = "det_2bTqCredDiscBinary000000000"
DET_COUNT = "det_2bTqCsquaresCount0000000000"
DET_BOX = "det_2bTqCredDiscBoxes0000000000"
DET_MULTI = "det_2bTqCredDiscMulti0000000000"
DET_ESC = "det_2bTqCescalates0000000000000"   # never confident at the edge: goes upstream
DET_OFF = "det_2bTqCnoCloud000000000000000"
TOKEN = "tok_glintSdkTest0123456789abcdef"

EDGE_DETECTORS = [
    {"detector_id": DET_BIN, "model": "red_disc", "query": "Is there a red disc?",
     "mode": "BINARY", "confidence_threshold": 0.8},
    {"detector_id": DET_COUNT, "model": "shapes", "query": "How many squares?", "mode": "COUNT",
     "class_name": "square", "max_count": 3, "confidence_threshold": 0.5},
    {"detector_id": DET_BOX, "model": "shapes", "query": "Where are the red discs?",
     "mode": "BOUNDING_BOX", "class_name": "red_disc", "max_num_bboxes": 5, "confidence_threshold": 0.5},
    {"detector_id": DET_MULTI, "model": "red_disc", "query": "Red disc: YES or NO?",
     "mode": "MULTI_CLASS", "confidence_threshold": 0.5},
    {"detector_id": DET_ESC, "model": "red_disc", "query": "Is there a red disc?",
     "confidence_threshold": 1.0},
    {"detector_id": DET_OFF, "model": "red_disc", "query": "Is there a red disc?",
     "edge_inference_config": "no_cloud", "confidence_threshold": 1.0},
]
UP_DETECTORS = [
    {"detector_id": DET_BIN, "model": "red_disc", "query": "Is there a red disc?", "confidence_threshold": 0.5},
    {"detector_id": DET_ESC, "model": "red_disc", "query": "Is there a red disc?", "confidence_threshold": 0.5},
    {"detector_id": DET_COUNT, "model": "shapes", "query": "How many squares?", "mode": "COUNT",
     "class_name": "square", "max_count": 3, "confidence_threshold": 0.5},
]


def config(name, detectors, upstream=None):
    return H.config(os.path.join(TMP, name), detectors, upstream, token=TOKEN)


def attempt(fn, *a, **kw):
    """(result, None) or (None, exception): one SDK call, never raising."""
    try:
        return fn(*a, **kw), None
    except Exception as e:  # noqa: BLE001 - any SDK error is a test failure to report
        return None, e


def val(x):
    """An SDK enum's value, or the thing itself."""
    return getattr(x, "value", x)


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def edge_iq_ok(iq, det):
    return (isinstance(iq, ImageQuery) and re.fullmatch(r"iq_[0-9A-Za-z]{27}", iq.id) is not None
            and iq.detector_id == det and val(iq.type) == "image_query" and iq.created_at.tzinfo is not None
            and iq.result is not None and val(iq.result.source) == "ALGORITHM" and iq.result.from_edge is True
            and 0 <= iq.result.confidence <= 1 and (iq.metadata or {}).get("is_from_edge") is True)


# ---------------------------------------------------------------- tests


def test_client(gl, edge):
    check(gl.endpoint == edge.url + "/device-api", "endpoint becomes .../device-api")
    who, err = attempt(gl.whoami)
    check(err is None and isinstance(who, str) and who, "whoami: %r" % (who if err is None else err))
    for det, mode, conf in [(DET_BIN, "BINARY", None),
                            (DET_COUNT, "COUNT", {"class_name": "square", "max_count": 3}),
                            (DET_BOX, "BOUNDING_BOX", {"class_name": "red_disc", "max_num_bboxes": 5}),
                            (DET_MULTI, "MULTI_CLASS", None)]:
        d, err = attempt(gl.get_detector, det)
        ok = (err is None and isinstance(d, Detector) and d.id == det and val(d.mode) == mode
              and val(d.type) == "detector" and d.created_at.tzinfo is not None)
        if conf is not None:
            ok = ok and d.mode_configuration == conf
        check(ok, "get_detector %s: Detector, mode %s%s" % (det, mode, "" if err is None else " (%r)" % err))
    d, _ = attempt(gl.get_detector, DET_BIN)
    check(d is not None and d.confidence_threshold == 0.8 and d.query == "Is there a red disc?",
          "get_detector: threshold and query from the edge config")
    d2, err = attempt(gl.get_detector, d) if d is not None else (None, None)
    check(d2 is d, "get_detector(Detector) returns it as is")
    _, err = attempt(gl.get_detector, "det_2bTqCunknown000000000000000")
    check(isinstance(err, NotFoundError), "get_detector of an unknown id raises NotFoundError (%r)" % err)


def test_modes(gl):
    """submit_image_query on every picture, every mode, parsed by the SDK."""
    n = len(PICS)
    right = {"bin": 0, "count": 0, "box": 0, "multi": 0}
    shaped = True
    errors = []
    for name, img in PICS.items():
        t = TRUTH[name]
        iq, err = attempt(gl.submit_image_query, DET_BIN, img)
        if err:
            errors.append("%s BINARY: %r" % (name, err))
        else:
            shaped &= (edge_iq_ok(iq, DET_BIN) and isinstance(iq.result, BinaryClassificationResult)
                       and val(iq.result_type) == "binary_classification" and iq.confidence_threshold == 0.8)
            right["bin"] += val(iq.result.label) == t["red_disc"]
        iq, err = attempt(gl.submit_image_query, DET_COUNT, img)
        if err:
            errors.append("%s COUNT: %r" % (name, err))
        else:
            shaped &= (edge_iq_ok(iq, DET_COUNT) and isinstance(iq.result, CountingResult)
                       and val(iq.result_type) == "counting" and isinstance(iq.result.count, int))
            right["count"] += (iq.result.count == min(t["squares"], 3)
                               and iq.result.greater_than_max == (t["squares"] > 3))
        iq, err = attempt(gl.submit_image_query, DET_BOX, img)
        if err:
            errors.append("%s BOUNDING_BOX: %r" % (name, err))
        else:
            shaped &= (edge_iq_ok(iq, DET_BOX) and isinstance(iq.result, BoundingBoxResult)
                       and val(iq.result_type) == "bounding_box")
            want = [(b["x1"] / t["width"], b["y1"] / t["height"], b["x2"] / t["width"], b["y2"] / t["height"])
                    for b in t["boxes"] if b["label"] == "red_disc"]
            got = [(r.geometry.left, r.geometry.top, r.geometry.right, r.geometry.bottom) for r in iq.rois or []]
            matched = all(any(iou(w, g) >= 0.5 for g in got) for w in want)
            labels_ok = all(r.label == "red_disc" and 0 <= r.score <= 1 for r in iq.rois or [])
            right["box"] += (val(iq.result.label) == ("BOUNDING_BOX" if want else "NO_OBJECTS")
                             and len(got) == len(want) and matched and labels_ok)
        iq, err = attempt(gl.submit_image_query, DET_MULTI, img)
        if err:
            errors.append("%s MULTI_CLASS: %r" % (name, err))
        else:
            shaped &= (edge_iq_ok(iq, DET_MULTI) and isinstance(iq.result, MultiClassificationResult)
                       and val(iq.result_type) == "multi_classification")
            right["multi"] += iq.result.label == t["red_disc"]
    check(not errors, "the SDK accepts every reply" + ("" if not errors else ": " + "; ".join(errors[:4])))
    check(shaped, "every ImageQuery parsed with its mode's result class, edge source, metadata")
    check(right["bin"] == n, "BINARY: %d/%d labels match truth.json" % (right["bin"], n))
    check(right["count"] >= n - 1, "COUNT: %d/%d counts match truth.json" % (right["count"], n))
    check(right["box"] >= n - 1, "BOUNDING_BOX: %d/%d label + rois (IoU >= 0.5) match truth.json"
          % (right["box"], n))
    check(right["multi"] == n, "MULTI_CLASS: %d/%d labels match truth.json" % (right["multi"], n))


def test_inputs(gl):
    """The SDK's numpy- and PIL-free image inputs: bytes, BytesIO, an open file, a JPEG filename."""
    name = "shapes_00.png"
    want = TRUTH[name]["red_disc"]
    path = os.path.join(SHAPES, name)
    for what, make in [("BytesIO", lambda: io.BytesIO(PICS[name])),
                       ("open file (BufferedReader)", lambda: open(path, "rb"))]:
        iq, err = attempt(gl.submit_image_query, DET_BIN, make())
        check(err is None and val(iq.result.label) == want, "submit_image_query with %s%s"
              % (what, "" if err is None else ": %r" % err))
    jpeg = os.path.join(TMP, "picture.jpg")   # PNG bytes under a .jpg name: the SDK sends them as they are
    with open(jpeg, "wb") as f:
        f.write(PICS[name])
    iq, err = attempt(gl.submit_image_query, DET_BIN, jpeg)
    check(err is None and val(iq.result.label) == want, "submit_image_query with a .jpg filename%s"
          % ("" if err is None else ": %r" % err))
    det, _ = attempt(gl.get_detector, DET_COUNT)
    iq, err = attempt(gl.submit_image_query, det, PICS[name])
    check(err is None and iq.detector_id == DET_COUNT and iq.result.count == min(TRUTH[name]["squares"], 3),
          "submit_image_query with a Detector object")


def test_parameters(gl):
    img = PICS["shapes_01.png"]
    iq, err = attempt(gl.submit_image_query, DET_BIN, img, wait=0, confidence_threshold=0.6,
                      patience_time=12.5, human_review="NEVER", inspection_id="inspect_1")
    check(err is None and iq.confidence_threshold == 0.6 and iq.patience_time == 12.5,
          "confidence_threshold and patience_time reach the ImageQuery%s" % ("" if err is None else ": %r" % err))
    iq, err = attempt(gl.submit_image_query, DET_BIN, img, metadata={"camera": "dock-3", "n": 7})
    check(err is None and iq.metadata.get("camera") == "dock-3" and iq.metadata.get("n") == 7,
          "metadata dict round-trips in the reply%s" % ("" if err is None else ": %r" % err))
    if iq is not None:
        again, err = attempt(gl.get_image_query, iq.id)
        check(err is None and again.metadata == iq.metadata and again.id == iq.id
              and val(again.result.label) == val(iq.result.label), "get_image_query keeps the metadata")
    qid = "iq_2bTqCsdkChosenId000000000000"
    a, err1 = attempt(gl.submit_image_query, DET_BIN, img, image_query_id=qid)
    b, err2 = attempt(gl.submit_image_query, DET_BIN, img, image_query_id=qid)
    check(err1 is None and err2 is None and a.id == qid and b.id == qid,
          "image_query_id: the client's id is used, a repeat answered once")


def test_ask(gl):
    name = "shapes_02.png"
    want = TRUTH[name]["red_disc"]
    t0 = time.time()
    iq, err = attempt(gl.ask_confident, DET_BIN, PICS[name], confidence_threshold=0.5, wait=10)
    el = time.time() - t0
    check(err is None and val(iq.result.label) == want and iq.result.confidence >= 0.5 and el < 2,
          "ask_confident: confident edge answer at once (%.2f s)%s" % (el, "" if err is None else ": %r" % err))
    t0 = time.time()
    iq, err = attempt(gl.ask_ml, DET_COUNT, PICS[name])
    el = time.time() - t0
    check(err is None and iq.result.count == min(TRUTH[name]["squares"], 3) and el < 2,
          "ask_ml: first ML answer at once (%.2f s)%s" % (el, "" if err is None else ": %r" % err))
    # a threshold the edge never reaches, no cloud: the SDK waits out `wait` and returns the edge answer
    t0 = time.time()
    iq, err = attempt(gl.ask_confident, DET_OFF, PICS[name], wait=1.5)
    el = time.time() - t0
    check(err is None and val(iq.result.label) == want and 1.4 <= el < 5,
          "ask_confident, unreachable threshold: edge answer after the wait (%.2f s)" % el)


def test_async(gl):
    """ask_async goes straight upstream (result None); get_image_query / wait_for_ml_result get the answer."""
    name = "shapes_03.png"
    want = TRUTH[name]["red_disc"]
    iq, err = attempt(gl.ask_async, DET_BIN, PICS[name])
    check(err is None and iq.result is None and iq.id.startswith("iq_") and iq.detector_id == DET_BIN,
          "ask_async: ImageQuery with result None%s" % ("" if err is None else ": %r" % err))
    if iq is None:
        return
    deadline = time.time() + 15
    got = None
    while time.time() < deadline:
        got, err = attempt(gl.get_image_query, iq.id)
        if err or (got.result is not None and val(got.result.source) != "STILL_PROCESSING"):
            break
        time.sleep(0.2)
    check(err is None and got is not None and got.id == iq.id and got.result is not None
          and val(got.result.label) == want, "get_image_query: the upstream's answer arrives (%s)"
          % (err if err else got.result))
    done, err = attempt(gl.wait_for_ml_result, iq.id, timeout_sec=5)
    check(err is None and done.result is not None and val(done.result.label) == want, "wait_for_ml_result")
    iq2, err = attempt(gl.ask_async, DET_COUNT, PICS[name])
    done, err2 = attempt(gl.wait_for_ml_result, iq2, timeout_sec=10) if iq2 else (None, err)
    check(err is None and err2 is None and done.result is not None
          and done.result.count == min(TRUTH[name]["squares"], 3),
          "ask_async COUNT + wait_for_ml_result: the upstream's count (%s)" % (err or err2 or done.result))


def test_escalation(gl, up):
    """An edge answer below the detector's threshold (1.0) is returned at once
    with done_processing false and escalated in the background; the SDK sees
    the upstream's answer arrive by get_image_query."""
    name = "shapes_04.png" if "shapes_04.png" in PICS else sorted(PICS)[0]
    want = TRUTH[name]["red_disc"]
    t0 = time.time()
    iq, err = attempt(gl.submit_image_query, DET_ESC, PICS[name], wait=0)
    el = time.time() - t0
    check(err is None and iq.result is not None and val(iq.result.label) == want and el < 5
          and iq.done_processing is False and iq.confidence_threshold == 1.0,
          "unconfident submit_image_query (wait=0): edge answer, done_processing False (%.2f s)%s"
          % (el, "" if err is None else ": %r" % err))
    if iq is None:
        return
    deadline = time.time() + 15
    got = iq
    while time.time() < deadline and not got.done_processing:
        time.sleep(0.2)
        got, err = attempt(gl.get_image_query, iq.id)
        if err:
            break
    check(err is None and got.done_processing is True and got.id == iq.id and val(got.result.label) == want,
          "get_image_query: done_processing once the upstream answered%s" % ("" if err is None else ": %r" % err))
    done, err = attempt(gl.wait_for_confident_result, iq, confidence_threshold=0.5, timeout_sec=5)
    check(err is None and done.id == iq.id and val(done.result.label) == want, "wait_for_confident_result at 0.5")
    upgl, err = attempt(Groundlight, endpoint=up.url, api_token=TOKEN)
    same, err = attempt(upgl.get_image_query, iq.id) if upgl else (None, err)
    check(err is None and same.id == iq.id and "edge_result" in (same.metadata or {})
          and val(same.result.label) == want,
          "the upstream holds the same image query, the edge result in its metadata%s"
          % ("" if err is None else ": %r" % err))


def test_errors(gl):
    _, err = attempt(gl.submit_image_query, "det_2bTqCunknown000000000000000", PICS["shapes_00.png"])
    check(err is not None and "404" in str(err), "unknown detector: the SDK raises on the 404 (%s)"
          % type(err).__name__)
    _, err = attempt(gl.submit_image_query, DET_BIN, b"")
    check(err is not None and "400" in str(err), "empty image: the SDK raises on the 400 (%s)" % type(err).__name__)
    _, err = attempt(gl.submit_image_query, DET_OFF, PICS["shapes_00.png"], human_review="ALWAYS")
    check(err is not None and "400" in str(err), "human_review=ALWAYS on a no_cloud detector: 400 raised (%s)"
          % type(err).__name__)
    _, err = attempt(gl.get_image_query, "iq_2bTqCdoesNotExist00000000000")
    check(err is not None and "404" in str(err), "get_image_query of an unknown id raises (%s)" % type(err).__name__)
    _, err = attempt(Groundlight, endpoint="http://127.0.0.1:%d" % free_port(), api_token=TOKEN)
    check(err is not None, "no server: the constructor raises (%s)" % type(err).__name__)



def main():
    m = re.search(r'^version = "([^"]+)"', open(os.path.join(SDK, "pyproject.toml")).read(), re.M) \
        if os.path.exists(os.path.join(SDK, "pyproject.toml")) else None
    print("SDK: groundlight %s from %s, python %s, pydantic %s" % (
        m.group(1) if m else "?", SDK, sys.version.split()[0], __import__("pydantic").VERSION),
        flush=True)
    models = repo("models")
    up = Server(models, config("up.yaml", UP_DETECTORS), os.path.join(TMP, "st-up"))
    edge = Server(models, config("edge.yaml", EDGE_DETECTORS, up.url), os.path.join(TMP, "st-edge"))
    gl, err = attempt(Groundlight, endpoint=edge.url, api_token=TOKEN)
    check(err is None, "Groundlight(endpoint=..., api_token=...) connects%s" % ("" if err is None else ": %r" % err))
    if gl is not None:
        tests = ["client", "modes", "inputs", "parameters", "ask", "async", "escalation", "errors"]
        for t in [t for t in tests if not ONLY or t in ONLY]:
            print("--- " + t, flush=True)
            fn = globals()["test_" + t]
            fn(*[{"gl": gl, "edge": edge, "up": up}[a] for a in fn.__code__.co_varnames[:fn.__code__.co_argcount]])
    edge.stop()
    up.stop()
    return H.finish()


if __name__ == "__main__":
    sys.exit(main())
