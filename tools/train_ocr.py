#!/usr/bin/python3
"""Train and export glint's OCR reference models: PaddleOCR's PP-OCRv3 text
detector and recogniser (tools/arch_ocr.py), trained here on printed text
rendered with the DejaVu fonts, exported in PaddleOCR's ONNX shape:

  models/ocr_det/  x [B,3,H,W] (free H, W) -> sigmoid_0.tmp_0 [B,1,H,W],
                   the DB probability map; opset 14
  models/ocr_rec/  x [B,3,48,W] (free W) -> softmax_0.tmp_0 [B,W/8,38],
                   CTC over dict.txt (0-9, a-z) plus space; opset 14

Preprocessing is PaddleOCR's, on BGR planes (it reads images with OpenCV):
detection resizes so the long side is at most 960 and each side a multiple
of 32, then ImageNet mean/std; recognition resizes to height 48 keeping the
aspect ratio, (x/255 - 0.5) / 0.5, zero-padded on the right to
max(320, 48 * w / h).

What make test checks comes from here and is committed: each model's
test_data_set_N (PyTorch's outputs), the test pictures under tests/data/ocr,
and in reference.json the answers PaddleOCR's own post-processing gives
(DBPostProcess, written here as PaddleOCR does with OpenCV and pyclipper;
greedy CTC decoding). The generator refuses to write a model that does not
find every drawn word or misreads a test line.

Needs python3-torch, python3-opencv, python3-pyclipper, python3-pil and
fonts-dejavu-core (scripts/install-deps.sh --models). Training is seeded but
not bit-reproducible across machines; the committed files are the reference.

Usage: /usr/bin/python3 tools/train_ocr.py [--only det,rec] [--det-steps N]
                                           [--rec-steps N] [--out DIR]
                                           [--resume [--more N]]
"""

import argparse
import json
import math
import os
import sys
import time

import cv2
import numpy as np
import onnx
import pyclipper
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arch_ocr  # noqa: E402
from gen_models import write_tensor, write_yaml, sha256  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"]
CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
N_CLASSES = 1 + len(CHARS) + 1  # CTC blank, the dictionary, space
DET_MEAN, DET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
REC_H, REC_W = 48, 320
REC_TRAIN_W, REC_BATCH = 224, 16  # training tensors: lines of up to 9 characters fit
REC_MAX_CHARS = 9
CKPT = "/tmp/glint-train-ocr-{}.pt"  # trained weights, kept for --resume
# PaddleOCR's DBPostProcess defaults (PP-OCRv3 inference)
DB_THRESH, DB_BOX_THRESH, DB_UNCLIP, DB_MAX_CANDIDATES, DB_MIN_SIZE = 0.3, 0.6, 1.5, 1000, 3
DET_LIMIT = 960

_font_cache = {}


def font(i, size):
    key = (i, size)
    if key not in _font_cache:
        _font_cache[key] = ImageFont.truetype(os.path.join(FONT_DIR, FONTS[i]), size)
    return _font_cache[key]


def random_word(rng, lo=1, hi=8):
    return "".join(rng.choice(list(CHARS), int(rng.integers(lo, hi + 1))))


def random_text(rng, max_chars=None):
    max_chars = max_chars or REC_MAX_CHARS
    words = [random_word(rng) for _ in range(int(rng.integers(1, 3)))]
    return " ".join(words)[:max_chars].strip() or random_word(rng)


def contrast_colors(rng):
    while True:
        bg, fg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if abs(int(bg.mean()) - int(fg.mean())) > 90:
            return tuple(int(v) for v in bg), tuple(int(v) for v in fg)


def clutter(draw, rng, w, h, n):
    """Shapes that are not text: lines, rectangles, ellipses."""
    for _ in range(n):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
        k = rng.integers(0, 3)
        if k == 0:
            draw.line([x0, y0, x1, y1], fill=c, width=int(rng.integers(1, 6)))
        elif k == 1:
            draw.rectangle([x0, y0, x1, y1], outline=c, width=int(rng.integers(1, 4)))
        else:
            draw.ellipse([x0, y0, x1, y1], fill=c)


def add_noise(arr, rng, sigma):
    return np.clip(arr.astype(np.float32) + rng.normal(0, sigma, arr.shape), 0, 255).astype(np.uint8)


# ---- recognition ----

def rec_line(rng, text=None, size=None, fi=None):
    """A text line picture (RGB uint8) and its text."""
    text = text or random_text(rng)
    size = size or int(rng.integers(24, 44))
    f = font(int(rng.integers(0, len(FONTS))) if fi is None else fi, size)
    bg, fg = contrast_colors(rng)
    l, t, r, b = f.getbbox(text)
    mx, my = int(rng.integers(2, 10)), int(rng.integers(2, 8))
    img = Image.new("RGB", (r - l + 2 * mx, b - t + 2 * my), bg)
    ImageDraw.Draw(img).text((mx - l, my - t), text, font=f, fill=fg)
    arr = np.asarray(img)
    if rng.random() < 0.5:
        arr = add_noise(arr, rng, rng.uniform(2, 10))
    return arr, text


def rec_tensor(rgb, width=None):
    """PaddleOCR's resize_norm_img: BGR, height 48 keeping the aspect ratio
    (width rounded up, at most the tensor width), (x/255 - .5)/.5, zero
    padding on the right; the tensor width is max(320, int(48 * w / h))."""
    h, w = rgb.shape[:2]
    ratio = w / h
    img_w = width or max(REC_W, int(REC_H * ratio))
    rw = min(img_w, int(math.ceil(REC_H * ratio)))
    bgr = cv2.resize(np.ascontiguousarray(rgb[:, :, ::-1]), (rw, REC_H)).astype(np.float32)
    x = np.zeros((3, REC_H, img_w), np.float32)
    x[:, :, :rw] = (bgr.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return x


def encode(text):
    return [1 + CHARS.index(c) if c != " " else N_CLASSES - 1 for c in text]


def ctc_greedy(probs):
    """PaddleOCR's CTCLabelDecode: argmax per step, repeats and blanks
    dropped; the score is the mean probability of the kept steps."""
    idx, p = probs.argmax(1), probs.max(1)
    chars, scores = [], []
    for t in range(len(idx)):
        if idx[t] == 0 or (t > 0 and idx[t] == idx[t - 1]):
            continue
        chars.append(" " if idx[t] == N_CLASSES - 1 else CHARS[idx[t] - 1])
        scores.append(float(p[t]))
    return "".join(chars), (float(np.mean(scores)) if scores else 0.0)


def train_rec(steps, rng, resume, more=0):
    torch.manual_seed(1)
    model = arch_ocr.TextRecognizer(N_CLASSES)
    if resume and os.path.exists(CKPT.format("rec")):
        model.load_state_dict(torch.load(CKPT.format("rec")))
        if not more:
            return model.eval()
        steps = more  # go on from the weights kept, at a lower peak rate
    peak = 1e-3 if not more else 5e-4
    opt = torch.optim.Adam(model.parameters(), peak)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, peak, total_steps=steps, pct_start=0.05)
    model.train()
    t0, avg = time.time(), None
    for step in range(steps):
        xs, ys, lens = [], [], []
        for _ in range(REC_BATCH):
            arr, text = rec_line(rng)
            xs.append(rec_tensor(arr, REC_TRAIN_W))
            ys += encode(text)
            lens.append(len(text))
        logits = model.logits(torch.from_numpy(np.stack(xs)))
        lp = F.log_softmax(logits, 2).permute(1, 0, 2)
        loss = F.ctc_loss(lp, torch.tensor(ys), torch.full((REC_BATCH,), lp.shape[0], dtype=torch.long),
                          torch.tensor(lens), blank=0, zero_infinity=True)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0 or step == steps - 1:
            print(f"rec step {step} loss {avg:.3f} ({time.time() - t0:.0f} s)", flush=True)
    torch.save(model.state_dict(), CKPT.format("rec"))
    return model.eval()


# ---- detection ----

def shrink_rect(x0, y0, x1, y1, r=0.4):
    """DB's shrunk polygon of a rectangle: offset inwards by A (1 - r^2) / L."""
    w, h = x1 - x0, y1 - y0
    d = w * h * (1 - r * r) / (2 * (w + h))
    return x0 + d, y0 + d, x1 - d, y1 - d


def det_scene(rng, w, h, texts=None, n_clutter=None):
    """A picture with text lines at random places (not overlapping) and
    clutter; returns RGB uint8 and the words' boxes [(x0, y0, x1, y1, text)]."""
    bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    clutter(draw, rng, w, h, int(rng.integers(0, 6)) if n_clutter is None else n_clutter)
    boxes = []
    lines = texts or [random_text(rng, 12) for _ in range(int(rng.integers(1, 7)))]
    for text in lines:
        for _ in range(50):
            size = int(rng.integers(14, 48))
            f = font(int(rng.integers(0, len(FONTS))), size)
            l, t, r, b = f.getbbox(text)
            if r - l + 8 > w or b - t + 8 > h:
                continue
            x, y = int(rng.integers(4, w - (r - l) - 3)), int(rng.integers(4, h - (b - t) - 3))
            box = (x, y, x + r - l, y + b - t)
            if any(not (box[2] + 6 < o[0] or o[2] + 6 < box[0] or box[3] + 6 < o[1] or o[3] + 6 < box[1])
                   for o in boxes):
                continue
            region = np.asarray(img.crop(box)).reshape(-1, 3).mean(0)
            while True:
                fg = rng.integers(0, 256, 3)
                if abs(float(fg.mean()) - float(region.mean())) > 100:
                    break
            draw.text((x - l, y - t), text, font=f, fill=tuple(int(v) for v in fg))
            boxes.append((*box, text))
            break
    arr = np.asarray(img)
    if rng.random() < 0.5:
        arr = add_noise(arr, rng, rng.uniform(2, 8))
    return arr, boxes


def det_tensor(rgb):
    """BGR planes, ImageNet mean/std (PaddleOCR's NormalizeImage on cv2's BGR)."""
    x = rgb[:, :, ::-1].astype(np.float32) / 255.0
    x = (x - np.array(DET_MEAN, np.float32)) / np.array(DET_STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def train_det(steps, rng, resume, more=0):
    torch.manual_seed(2)
    model = arch_ocr.TextDetector()
    if resume and os.path.exists(CKPT.format("det")):
        model.load_state_dict(torch.load(CKPT.format("det")))
        if not more:
            return model.eval()
        steps = more
    peak = 3e-3 if not more else 1.5e-3
    opt = torch.optim.AdamW(model.parameters(), peak, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, peak, total_steps=steps, pct_start=0.1)
    model.train()
    t0, avg, S = time.time(), None, 320
    for step in range(steps):
        xs, gts = [], []
        for _ in range(8):
            arr, boxes = det_scene(rng, S, S)
            gt = np.zeros((S, S), np.float32)
            for x0, y0, x1, y1, _ in boxes:
                a, b, c, d = shrink_rect(x0, y0, x1, y1)
                gt[int(round(b)):int(round(d)) + 1, int(round(a)):int(round(c)) + 1] = 1
            xs.append(det_tensor(arr))
            gts.append(gt)
        gt = torch.from_numpy(np.stack(gts))[:, None]
        logit = model.logits(torch.from_numpy(np.stack(xs)))
        p = torch.sigmoid(logit)
        bce = F.binary_cross_entropy_with_logits(logit, gt, reduction="none")
        # DB's balanced BCE: every positive, the hardest negatives up to 3x
        pos = gt > 0.5
        npos = int(pos.sum())
        neg = bce[~pos]
        k = min(neg.numel(), max(3 * npos, 1000))
        bal = (bce[pos].sum() + neg.topk(k).values.sum()) / (npos + k)
        dice = 1 - 2 * (p * gt).sum() / (p.sum() + gt.sum() + 1e-6)
        loss = bal + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0 or step == steps - 1:
            print(f"det step {step} loss {avg:.3f} ({time.time() - t0:.0f} s)", flush=True)
    torch.save(model.state_dict(), CKPT.format("det"))
    return model.eval()


def det_resize_dims(h, w, limit=DET_LIMIT):
    """PaddleOCR's DetResizeForTest (limit_type max): long side at most
    `limit`, each side rounded to a multiple of 32 (at least 32)."""
    ratio = min(1.0, limit / max(h, w))
    rh, rw = int(h * ratio), int(w * ratio)
    return max(int(round(rh / 32) * 32), 32), max(int(round(rw / 32) * 32), 32)


# PaddleOCR's DBPostProcess (ppocr/postprocess/db_postprocess.py), as it is.
def get_mini_boxes(contour):
    bounding_box = cv2.minAreaRect(contour)
    points = sorted(list(cv2.boxPoints(bounding_box)), key=lambda x: x[0])
    if points[1][1] > points[0][1]:
        i1, i4 = 0, 1
    else:
        i1, i4 = 1, 0
    if points[3][1] > points[2][1]:
        i2, i3 = 2, 3
    else:
        i2, i3 = 3, 2
    return [points[i1], points[i2], points[i3], points[i4]], min(bounding_box[1])


def box_score_fast(bitmap, _box):
    h, w = bitmap.shape[:2]
    box = _box.copy()
    xmin = np.clip(np.floor(box[:, 0].min()).astype("int32"), 0, w - 1)
    xmax = np.clip(np.ceil(box[:, 0].max()).astype("int32"), 0, w - 1)
    ymin = np.clip(np.floor(box[:, 1].min()).astype("int32"), 0, h - 1)
    ymax = np.clip(np.ceil(box[:, 1].max()).astype("int32"), 0, h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    box[:, 0] = box[:, 0] - xmin
    box[:, 1] = box[:, 1] - ymin
    cv2.fillPoly(mask, box.reshape(1, -1, 2).astype("int32"), 1)
    return cv2.mean(bitmap[ymin:ymax + 1, xmin:xmax + 1], mask)[0]


def unclip(box, ratio):
    area = cv2.contourArea(box)
    length = cv2.arcLength(box, True)
    distance = area * ratio / length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return np.array(offset.Execute(distance))


def db_postprocess(pred, dest_w, dest_h):
    """Boxes (4 corner points, clockwise from top-left, in the source
    picture's pixels) and scores, as PaddleOCR's DBPostProcess + its
    filter_tag_det_res."""
    bitmap = pred > DB_THRESH
    height, width = bitmap.shape
    contours, _ = cv2.findContours((bitmap * 255).astype(np.uint8), cv2.RETR_LIST,
                                   cv2.CHAIN_APPROX_SIMPLE)
    boxes, scores = [], []
    for contour in contours[:DB_MAX_CANDIDATES]:
        points, sside = get_mini_boxes(contour)
        if sside < DB_MIN_SIZE:
            continue
        points = np.array(points)
        score = box_score_fast(pred, points.reshape(-1, 2))
        if DB_BOX_THRESH > score:
            continue
        box = unclip(points, DB_UNCLIP).reshape(-1, 1, 2)
        box, sside = get_mini_boxes(box)
        if sside < DB_MIN_SIZE + 2:
            continue
        box = np.array(box)
        box[:, 0] = np.clip(np.round(box[:, 0] / width * dest_w), 0, dest_w)
        box[:, 1] = np.clip(np.round(box[:, 1] / height * dest_h), 0, dest_h)
        rw = int(np.linalg.norm(box[0] - box[1]))
        rh = int(np.linalg.norm(box[0] - box[3]))
        if rw <= 3 or rh <= 3:
            continue
        boxes.append(box.astype(np.int32).tolist())
        scores.append(float(score))
    return boxes, scores


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def export(model, x, path, in_axes, out_name, out_axes):
    torch.onnx.export(model, torch.from_numpy(x), path, opset_version=14, do_constant_folding=True,
                      input_names=["x"], output_names=[out_name],
                      dynamic_axes={"x": in_axes, out_name: out_axes})
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def write_set(out_dir, i, x, y, out_name):
    d = os.path.join(out_dir, f"test_data_set_{i}")
    os.makedirs(d, exist_ok=True)
    write_tensor(os.path.join(d, "input_0.pb"), x, "x")
    write_tensor(os.path.join(d, "output_0.pb"), y, out_name)
    return {"dir": os.path.basename(d), "input_shape": list(x.shape), "output_shape": list(y.shape)}


def write_reference(out_dir, ref):
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


def gen_det(out_dir, steps, resume, more=0):
    rng = np.random.default_rng(7 + more)
    model = train_det(steps, rng, resume, more)
    os.makedirs(out_dir, exist_ok=True)
    pics = os.path.join(REPO, "tests", "data", "ocr")
    os.makedirs(pics, exist_ok=True)
    # the test pictures: 640x480 and 1280x720 (the second is resized to 960x544)
    srng = np.random.default_rng(2026)
    scenes = [("scene.png", 640, 480, ["glint", "edge 2026", "rtsp42", "camera7", "ok"]),
              ("wide.png", 1280, 720, ["loading dock", "gate3", "exit", "b12"])]
    answers, sets, recall = {}, [], {}
    with torch.no_grad():
        for i, (name, w, h, texts) in enumerate(scenes):
            arr, boxes = det_scene(srng, w, h, texts, n_clutter=4)
            Image.fromarray(arr).save(os.path.join(pics, name), optimize=True)
            rh, rw = det_resize_dims(h, w)
            bgr = cv2.resize(np.ascontiguousarray(arr[:, :, ::-1]), (rw, rh)) if (rh, rw) != (h, w) \
                else np.ascontiguousarray(arr[:, :, ::-1])
            x = det_tensor(np.ascontiguousarray(bgr[:, :, ::-1]))[None]
            y = model(torch.from_numpy(x)).numpy()
            if (rh, rw) == (h, w):  # the exact tensor glint prepares: a reference pair
                sets.append(write_set(out_dir, len(sets), x, y, "sigmoid_0.tmp_0"))
            dt, sc = db_postprocess(y[0, 0], w, h)
            answers[name] = [{"points": b, "score": round(s, 5)} for b, s in zip(dt, sc)]
            found = 0
            for bx in boxes:
                best = max((iou(bx[:4], (min(p[0] for p in d), min(p[1] for p in d),
                                         max(p[0] for p in d), max(p[1] for p in d))) for d in dt),
                           default=0)
                found += best > 0.5
            recall[name] = f"{found} of {len(boxes)}"
            print(f"ocr_det: {name}: {len(dt)} boxes, {found} of {len(boxes)} words found", flush=True)
            if found < len(boxes) or len(dt) > len(boxes):
                sys.exit(f"train_ocr: the detector finds {found} of {len(boxes)} words and "
                         f"{len(dt)} boxes in {name}: train longer")
        # a batch of two at another size: free H and W
        x2 = np.stack([det_tensor(det_scene(srng, 416, 288)[0]) for _ in range(2)])
        sets.append(write_set(out_dir, len(sets), x2, model(torch.from_numpy(x2)).numpy(),
                              "sigmoid_0.tmp_0"))
    path = os.path.join(out_dir, "model.onnx")
    m = export(model, x2, path, {0: "batch", 2: "height", 3: "width"}, "sigmoid_0.tmp_0",
               {0: "batch", 2: "height", 3: "width"})
    write_yaml(os.path.join(out_dir, "model.yaml"),
               "PP-OCRv3's text detector (MobileNetV3 x0.5, RSEFPN, DB head) trained on "
               "printed text by tools/train_ocr.py; PaddleOCR's preprocessing and DB post-processing",
               {"name": "ocr_det", "task": "text_detect", "input": "x", "width": DET_LIMIT,
                "height": DET_LIMIT, "channels": "bgr", "mean": DET_MEAN, "std": DET_STD,
                "threshold": DB_THRESH, "box_threshold": DB_BOX_THRESH,
                "unclip_ratio": DB_UNCLIP, "max_detections": DB_MAX_CANDIDATES})
    write_reference(out_dir, {
        "name": "ocr_det", "weights": f"trained {steps} steps on rendered text (tools/train_ocr.py)",
        "params": arch_ocr.count_params(model), "opset": 14,
        "ops": sorted({n.op_type for n in m.graph.node}),
        "model_sha256": sha256(path), "test_data_sets": sets, "words_found": recall,
        "answers": answers,
        "versions": {"torch": torch.__version__, "opencv": cv2.__version__, "onnx": onnx.__version__}})


def gen_rec(out_dir, steps, resume, more=0):
    rng = np.random.default_rng(11 + more)
    model = train_rec(steps, rng, resume, more)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "dict.txt"), "w") as f:
        f.write("\n".join(CHARS) + "\n")
    pics = os.path.join(REPO, "tests", "data", "ocr", "lines")
    os.makedirs(pics, exist_ok=True)
    srng = np.random.default_rng(48)
    lines = [("glint.png", "glint", 0), ("edge.png", "edge 2026", 1), ("rtsp.png", "rtsp42", 2),
             ("gate.png", "gate3", 0), ("long.png", "loading dock b12", 1)]
    answers, xs, sets = {}, [], []
    with torch.no_grad():
        for name, text, fi in lines:
            arr, _ = rec_line(srng, text, 36, fi)
            Image.fromarray(arr).save(os.path.join(pics, name), optimize=True)
            x = rec_tensor(arr)[None]
            got, score = ctc_greedy(model(torch.from_numpy(x)).numpy()[0])
            print(f"ocr_rec: {name}: {got!r} ({score:.3f}), width {x.shape[3]}", flush=True)
            if got != text:
                sys.exit(f"train_ocr: the recogniser reads {got!r} in {name}, not {text!r}: train longer")
            answers[name] = {"text": got, "score": round(score, 5)}
            xs.append(x)
        short = np.concatenate([x for x in xs if x.shape[3] == REC_W])
        sets.append(write_set(out_dir, 0, short, model(torch.from_numpy(short)).numpy(),
                              "softmax_0.tmp_0"))
        wide = [x for x in xs if x.shape[3] != REC_W][0]
        sets.append(write_set(out_dir, 1, wide, model(torch.from_numpy(wide)).numpy(),
                              "softmax_0.tmp_0"))
    path = os.path.join(out_dir, "model.onnx")
    m = export(model, short, path, {0: "batch", 3: "width"}, "softmax_0.tmp_0",
               {0: "batch", 1: "steps"})
    write_yaml(os.path.join(out_dir, "model.yaml"),
               "PP-OCRv3's text recogniser (MobileNetV1Enhance x0.5, SVTR neck, CTC head) trained "
               "on printed text by tools/train_ocr.py; PaddleOCR's preprocessing and CTC decoding",
               {"name": "ocr_rec", "task": "text_recognize", "input": "x", "width": REC_W,
                "height": REC_H, "channels": "bgr", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                "characters_file": "dict.txt", "use_space_char": "true"})
    write_reference(out_dir, {
        "name": "ocr_rec", "weights": f"trained {steps} steps on rendered text (tools/train_ocr.py)",
        "params": arch_ocr.count_params(model), "opset": 14,
        "ops": sorted({n.op_type for n in m.graph.node}),
        "model_sha256": sha256(path), "test_data_sets": sets, "answers": answers,
        "versions": {"torch": torch.__version__, "opencv": cv2.__version__, "onnx": onnx.__version__}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--only", default="det,rec")
    ap.add_argument("--det-steps", type=int, default=700)
    ap.add_argument("--rec-steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rec-lines", default="224x9",
                    help="training tensor width x longest line, in characters")
    ap.add_argument("--resume", action="store_true",
                    help="take the weights the last run trained (" + CKPT.format("*") + ")")
    ap.add_argument("--more", type=int, default=0,
                    help="with --resume: train the kept weights this many steps more")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    global REC_TRAIN_W, REC_MAX_CHARS
    REC_TRAIN_W, REC_MAX_CHARS = (int(v) for v in a.rec_lines.split("x"))
    only = a.only.split(",")
    if "rec" in only:
        gen_rec(os.path.join(a.out, "ocr_rec"), a.rec_steps, a.resume, a.more)
    if "det" in only:
        gen_det(os.path.join(a.out, "ocr_det"), a.det_steps, a.resume, a.more)


if __name__ == "__main__":
    main()
