#!/usr/bin/python3
"""A pipeline's throughput against its parts on the same work (issue 19:
>= 0.9x). One glint serve holds the detector D, the classifier C and the
pipeline P = D -> crops -> C. `glint bench concurrency` (closed loop, N in
flight) measures, interleaved round by round:

  P   images/s through the pipeline (every image's crops classified);
  D   images/s of the detector alone on the same images;
  C   crops/s of the classifier alone on the very crops P cut (cut here with
      PIL at the pixels P reports, one crop per request).

The parts' rate on the same work is one image through D plus its k crops
through C: parts = 1 / (1/D + k/C) images/s, k the mean crops per image.
The ratio P / parts per round, and its median, is the figure.

usage: bench/pipeline.py [--case shapes|yolo] [--rounds 3] [--seconds 4]
                         [--concurrency 4] [--glint build/glint]"""
import argparse
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {
    # trained: the shapes detector's discs and squares, each classified by red_disc
    "shapes": {"detect": "shapes", "classify": "red_disc", "task": "detect",
               "images": os.path.join(ROOT, "tests", "data", "shapes"), "extra": "padding: 1\n"},
    # heavy: YOLOv8n's boxes (seeded weights: many boxes) into MobileNetV2, 8 per image
    "yolo": {"detect": "yolov8n", "classify": "mobilenetv2", "task": "detect",
             "images": os.path.join(ROOT, "tests", "data"), "extra": "max_crops: 8\n"},
}


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, body, {"Content-Type": "application/octet-stream"})
    r = c.getresponse()
    return r.status, json.loads(r.read())


def bench(glint, url, images, conc, seconds, out):
    subprocess.run([glint, "bench", "concurrency", "--url", url, "--image", images,
                    "--concurrency", "%d:%d" % (conc, conc), "--window", "1000",
                    "--min-windows", str(seconds), "--max-windows", str(seconds),
                    "--out", out, "--quiet", "--no-request-log", "--health", "off"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = json.load(open(os.path.join(out, "summary.json")))
    if s["requests"]["failed"]:
        sys.exit("bench %s: %d failed %s" % (url, s["requests"]["failed"], s["status_codes"]))
    return s["ok_rps"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="shapes", choices=sorted(CASES))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--glint", default=os.path.join(ROOT, "build", "glint"))
    ap.add_argument("--serve-args", default="--max-batch 8 --max-queue-delay-us 2000")
    a = ap.parse_args()
    case = CASES[a.case]
    tmp = tempfile.mkdtemp(prefix="glint-bench-pipeline-")
    models = os.path.join(tmp, "models")
    os.mkdir(models)
    for m in (case["detect"], case["classify"]):
        os.symlink(os.path.join(ROOT, "models", m), os.path.join(models, m))
    os.mkdir(os.path.join(models, "pipe"))
    open(os.path.join(models, "pipe", "model.yaml"), "w").write(
        "pipeline:\n  detect: %s\n  classify: %s\n  %s" % (case["detect"], case["classify"],
                                                          case["extra"].replace("\n", "\n  ")))
    imgs = os.path.join(tmp, "images")
    os.mkdir(imgs)
    for f in sorted(os.listdir(case["images"])):
        if f.lower().endswith((".jpg", ".jpeg", ".png")):
            os.symlink(os.path.join(case["images"], f), os.path.join(imgs, f))
    ready = os.path.join(tmp, "ready")
    log = open(os.path.join(tmp, "serve.log"), "w")
    srv = subprocess.Popen([a.glint, "serve", "--models", models, "--listen", "127.0.0.1:0",
                            "--ready-file", ready, "--state-dir", os.path.join(tmp, "state"),
                            *a.serve_args.split()], stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        while not os.path.exists(ready) and srv.poll() is None and time.time() < t0 + 120:
            time.sleep(0.05)
        port = int(open(ready).read().strip().rsplit(":", 1)[1])
        # the crops the pipeline cuts, cut here at the same pixels
        crops = os.path.join(tmp, "crops")
        os.mkdir(crops)
        n_img = n_crop = 0
        for f in sorted(os.listdir(imgs)):
            data = open(os.path.join(imgs, f), "rb").read()
            st, ans = post(port, "/v1/models/pipe/%s?cache=0" % case["task"], data)
            if st != 200:
                sys.exit("pipeline on %s: %d %s" % (f, st, ans))
            n_img += 1
            pic = Image.open(io.BytesIO(data)).convert("RGB")
            for d in ans["detections"]:
                if "crop" not in d:
                    continue
                c = d["crop"]
                pic.crop((round(c["x1"]), round(c["y1"]), round(c["x2"]), round(c["y2"]))).save(
                    os.path.join(crops, "%s-%03d.png" % (f, n_crop)))
                n_crop += 1
        k = n_crop / n_img
        print("case %s: %s -> crops -> %s, %d images, %.2f crops per image, concurrency %d"
              % (a.case, case["detect"], case["classify"], n_img, k, a.concurrency))
        print("round  pipeline img/s  detector img/s  classifier crops/s  parts img/s  ratio")
        ratios = []
        base = "http://127.0.0.1:%d/v1/models/" % port
        for r in range(-1, a.rounds):  # round 0: warm-up (batch shapes planned), not counted
            out = os.path.join(tmp, "r%d" % (r + 1))
            p = bench(a.glint, base + "pipe/%s?cache=0" % case["task"], imgs, a.concurrency,
                      a.seconds, out + "p")
            d = bench(a.glint, base + "%s/detect?cache=0" % case["detect"], imgs, a.concurrency,
                      a.seconds, out + "d")
            c = bench(a.glint, base + "%s/classify?cache=0" % case["classify"], crops,
                      a.concurrency, a.seconds, out + "c")
            parts = 1 / (1 / d + k / c)
            if r < 0:
                continue
            ratios.append(p / parts)
            print("%5d  %14.1f  %14.1f  %18.1f  %11.1f  %5.3f" % (r + 1, p, d, c, parts, p / parts))
        print("median ratio pipeline / parts: %.3f (target >= 0.9)" % statistics.median(ratios))
    finally:
        srv.terminate()
        srv.wait(timeout=60)


if __name__ == "__main__":
    main()
