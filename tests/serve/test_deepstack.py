"""DeepStack's object detection API on glint serve, driven as DeepStack's
published documentation shows its clients doing it (docs.deepstack.cc:
object detection, custom models, security): a multipart/form-data POST with
the picture in a field named `image`, optional `min_confidence` and
`api_key` fields; the answer {"success", "predictions": [{"label",
"confidence", "x_min", "y_min", "x_max", "y_max"}]}. The trained `shapes`
detector answers the drawn test pictures, whose boxes are known
(tests/data/shapes/truth.json). Standard library only.

usage: test_deepstack.py GLINT SRC"""
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_harness import Serve, Tally  # noqa: E402

GLINT, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SHAPES = os.path.join(SRC, "tests", "data", "shapes")
T = Tally()


def form(fields, files):
    """A multipart/form-data body: (content type, bytes). files: {name:
    (filename or None, bytes, content type or None)}."""
    b = uuid.uuid4().hex
    out = []
    for k, v in fields.items():
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                    % (b, k, v)).encode())
    for k, (fn, data, ct) in files.items():
        head = "--%s\r\nContent-Disposition: form-data; name=\"%s\"" % (b, k)
        if fn:
            head += "; filename=\"%s\"" % fn
        head += "\r\n"
        if ct:
            head += "Content-Type: %s\r\n" % ct
        out.append(head.encode() + b"\r\n" + data + b"\r\n")
    out.append(("--%s--\r\n" % b).encode())
    return "multipart/form-data; boundary=" + b, b"".join(out)


def call(s, path, fields=None, files=None, method="POST", body=None, ctype=None):
    """(status, parsed JSON) of one request."""
    if body is None and files is not None:
        ctype, body = form(fields or {}, files)
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
    c.request(method, path, body, {"Content-Type": ctype} if ctype else {})
    r = c.getresponse()
    data = r.read()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, None


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0


def matches(preds, truth):
    """How many truth boxes a prediction of the same label covers (IoU >= 0.5)."""
    found = 0
    for t in truth:
        tb = (t["x1"], t["y1"], t["x2"], t["y2"])
        if any(p["label"] == t["label"] and iou(tb, (p["x_min"], p["y_min"], p["x_max"],
                                                     p["y_max"])) >= 0.5 for p in preds):
            found += 1
    return found


def well_formed(j):
    keys = {"label", "confidence", "x_min", "y_min", "x_max", "y_max"}
    return (j.get("success") is True and isinstance(j.get("predictions"), list)
            and isinstance(j.get("duration"), int)
            and all(set(p) == keys and all(isinstance(p[k], int) for k in
                                           ("x_min", "y_min", "x_max", "y_max"))
                    and 0 <= p["confidence"] <= 1 and p["x_min"] <= p["x_max"]
                    and p["y_min"] <= p["y_max"] for p in j["predictions"]))


def main():
    truth = json.load(open(os.path.join(SHAPES, "truth.json")))["images"]
    tmp = tempfile.mkdtemp(prefix="glint-deepstack-")
    models = os.path.join(SRC, "models")
    with Serve(GLINT, tmp, "--models", models, "--model", "red_disc", "--model", "shapes",
               "--cache-mb", "0") as s:
        T.check("serve ready", s.port > 0, s.log())
        # the documented Python client: files={"image": image_data} (no filename)
        total = found = 0
        shaped = True
        for name, t in sorted(truth.items()):
            img = open(os.path.join(SHAPES, name), "rb").read()
            st, j = call(s, "/v1/vision/detection", files={"image": (None, img, None)})
            shaped &= st == 200 and j is not None and well_formed(j)
            if st == 200 and j:
                total += len(t["boxes"])
                found += matches(j["predictions"], t["boxes"])
        T.check("/v1/vision/detection: DeepStack's answer shape for all %d pictures" % len(truth),
                shaped)
        T.check("/v1/vision/detection (the first detection model, shapes): %d of %d drawn "
                "boxes found with their label (IoU >= 0.5)" % (found, total),
                total > 0 and found >= 0.9 * total)

        img0 = open(os.path.join(SHAPES, "shapes_00.png"), "rb").read()
        # Home Assistant's deepstack_object shape: api_key and min_confidence fields
        st, low = call(s, "/v1/vision/detection", fields={"api_key": "", "min_confidence": "0.05"},
                       files={"image": ("image.png", img0, "image/png")})
        st2, high = call(s, "/v1/vision/detection", fields={"min_confidence": "0.95"},
                         files={"image": ("image.png", img0, "image/png")})
        lo = low["predictions"] if st == 200 else []
        hi = high["predictions"] if st2 == 200 else []
        T.check("min_confidence filters: %d predictions at 0.05, %d at 0.95, all of them "
                "above it" % (len(lo), len(hi)),
                len(lo) >= len(hi) and all(p["confidence"] >= 0.05 for p in lo)
                and all(p["confidence"] >= 0.95 for p in hi))
        st, dflt = call(s, "/v1/vision/detection", files={"image": ("a.png", img0, "image/png")})
        T.check("default min_confidence is DeepStack's 0.45",
                st == 200 and all(p["confidence"] >= 0.45 for p in dflt["predictions"])
                and len(dflt["predictions"]) >= len(hi))
        # Blue Iris / custom models: /v1/vision/custom/{model}
        st, cu = call(s, "/v1/vision/custom/shapes", files={"image": ("a.png", img0, "image/png")})
        T.check("/v1/vision/custom/shapes answers as /v1/vision/detection",
                st == 200 and cu["predictions"] == dflt["predictions"])
        st, j = call(s, "/v1/vision/custom/red_disc", files={"image": ("a.png", img0, None)})
        T.check("a classifier as a custom detection model: 400, success false, an error",
                st == 400 and j and j["success"] is False and "classify" in j["error"], j)
        st, j = call(s, "/v1/vision/custom/nope", files={"image": ("a.png", img0, None)})
        T.check("an unknown custom model: 404 with DeepStack's error shape",
                st == 404 and j and j["success"] is False and j["error"], j)
        # bad input: a clear error in the same shape, never a crash
        st, j = call(s, "/v1/vision/detection", files={"picture": ("a.png", img0, None)})
        T.check("no 'image' field: 400", st == 400 and j and j["success"] is False, j)
        st, j = call(s, "/v1/vision/detection", files={"image": ("a.png", b"not an image", None)})
        T.check("not a picture: 400 naming it", st == 400 and j and "image" in j["error"], j)
        st, j = call(s, "/v1/vision/detection", fields={"min_confidence": "high"},
                     files={"image": ("a.png", img0, None)})
        T.check("min_confidence not a number: 400", st == 400 and j and
                "min_confidence" in j["error"], j)
        st, j = call(s, "/v1/vision/detection", body=img0, ctype="image/png")
        T.check("a raw body (not a form): 400 saying how to send it",
                st == 400 and j and "multipart" in j["error"], j)
        st, j = call(s, "/v1/vision/detection", method="GET", body=b"")
        T.check("GET: 405", st == 405 and j and j["success"] is False, j)
    # --deepstack-model picks the model of /v1/vision/detection
    tmp2 = tempfile.mkdtemp(prefix="glint-deepstack-") # its own ready file
    with Serve(GLINT, tmp2, "--models", models, "--model", "red_disc", "--model", "shapes",
               "--deepstack-model", "red_disc", "--cache-mb", "0") as s:
        st, j = call(s, "/v1/vision/detection", files={"image": ("a.png", img0, None)})
        T.check("--deepstack-model red_disc: /v1/vision/detection runs it (a classifier: 400)",
                st == 400 and j and "red_disc" in j["error"], j)
    # with API keys (DeepStack's security page): the key comes as the api_key field
    keys = os.path.join(tmp, "keys")
    with open(keys, "w") as f:
        f.write("nvr %s\n" % hashlib.sha256(b"Mysecretkey").hexdigest())
    tmp3 = tempfile.mkdtemp(prefix="glint-deepstack-")
    with Serve(GLINT, tmp3, "--models", models, "--model", "shapes", "--cache-mb", "0",
               "--api-keys", keys, "--require-api-key", "1") as s:
        st, j = call(s, "/v1/vision/detection", files={"image": (None, img0, None)})
        T.check("API keys, no key: 401 {'success': False, 'error': 'Incorrect api key'}",
                st == 401 and j == {"success": False, "error": "Incorrect api key", "duration": 0},
                (st, j))
        st, j = call(s, "/v1/vision/custom/nope", fields={"api_key": "wrong"},
                     files={"image": (None, img0, None)})
        T.check("a wrong key: 401 before the model is looked up", st == 401, (st, j))
        st, j = call(s, "/v1/vision/detection", fields={"api_key": "Mysecretkey"},
                     files={"image": (None, img0, None)})
        T.check("the key as the api_key form field: answered",
                st == 200 and j and j["success"] is True and j["predictions"], (st, j))
    subprocess.run(["rm", "-rf", tmp, tmp2, tmp3])
    T.finish()


main()
