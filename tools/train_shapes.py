#!/usr/bin/python3
"""Train glint's two small shape models on synthetic scenes drawn here.

  models/shapes/     detector, classes [red_disc, other_disc, square];
                     images [B,3,128,128] -> output0 [B,7,256] (YOLOv8 layout:
                     rows cx, cy, w, h in input pixels, then sigmoid scores;
                     one prediction per cell of a 16x16 grid, stride 8)
  models/red_disc/   binary classifier "Is there a red disc?", classes
                     [YES, NO] (index 0 = YES, Groundlight's convention);
                     input [B,3,128,128] -> probs [B,2] (softmax inside)

Scenes: a background of a random colour (optionally a gradient, a few soft
blobs, pixel noise) with 0..6 shapes of random size, colour, position and
rotation, some overlapping: discs (red or another colour), squares (any
colour, red included, axis-aligned or rotated) and triangles (distractors of
any colour, never labelled). "Red" is hue within 10 degrees of 0 with
saturation >= 0.65 and value >= 0.55; every other colour keeps its hue in
40..320 degrees or is a grey, so no colour is ambiguous. A shape's colour is
at least 90 RGB units from the background's. Two shapes' boxes overlap by
at most 25% of the smaller box and their centres are at least 12 px apart.
A fifth of the scenes are 4:3 or 16:9 pictures letterboxed into the square
with grey 114 bars, as glint does with a non-square image.

Everything is seeded (numpy PCG64, torch.manual_seed) and runs on one thread
(torch.set_num_threads(1)): a rerun on the same machine gives the same
weights. Training takes about 18 minutes of one core (detector 12,
classifier 6).

Evaluation: held-out scenes (a seed never used in training) are scored in
torch, then written as PNG files with their truth and, given --glint, run
through `glint run` so that the figures measure what glint answers:
detector: exact square count, red-disc presence, box recall and precision at
IoU 0.5 (class must match); classifier: accuracy.

Needs Debian's python3-torch, python3-onnx and python3-numpy only (PNG files
are written with zlib). Run with /usr/bin/python3.

Usage:
  /usr/bin/python3 tools/train_shapes.py [--out models] [--glint build/glint]
        [--eval-dir DIR] [--only shapes,red_disc] [--steps-scale F]
  /usr/bin/python3 tools/train_shapes.py --write-test-images tests/data/shapes
"""

import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
import zlib

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 128          # model input: SIZE x SIZE RGB, x/255
STRIDE = 8          # detector grid: (SIZE/STRIDE)^2 cells
GRID = SIZE // STRIDE
DET_LABELS = ["red_disc", "other_disc", "square"]
CLS_LABELS = ["YES", "NO"]
RED, OTHER, SQUARE = 0, 1, 2
PAD = 114           # glint's letterbox fill
SEEDS = {"det_train": 1001, "cls_train": 2002, "heldout": 777,
         "test_images": 4242, "torch_det": 11, "torch_cls": 22, "val": 555}
# Detector answer thresholds written to model.yaml: the score threshold is
# the candidate with the most exact per-class counts on the torch validation
# frames (never on the held-out pictures); NMS IoU is fixed.
SCORE_CANDIDATES = [0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]
IOU_THRESHOLD = 0.45

# --------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------


def hsv_to_rgb(h, s, v):
    """h in degrees, s and v in 0..1 -> RGB floats 0..255."""
    h = (h % 360.0) / 60.0
    c = v * s
    x = c * (1 - abs(h % 2 - 1))
    m = v - c
    i = int(h) % 6
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][i]
    return np.array([r + m, g + m, b + m]) * 255.0


def red_colour(rng):
    return hsv_to_rgb(rng.uniform(-10, 10), rng.uniform(0.65, 1.0),
                      rng.uniform(0.55, 1.0))


def other_colour(rng):
    """A colour that is clearly not red: hue 40..320 or a grey."""
    if rng.random() < 0.12:
        return np.full(3, rng.uniform(0, 255))
    return hsv_to_rgb(rng.uniform(40, 320), rng.uniform(0.35, 1.0),
                      rng.uniform(0.3, 1.0))


def background(rng, h, w):
    """Float HxWx3 background: colour, optional gradient and soft blobs.
    Returns (image, mean colour)."""
    base = rng.uniform(0, 255, 3)
    if rng.random() < 0.5:  # washed out: most backgrounds are not saturated
        base = base * 0.4 + rng.uniform(60, 200) * 0.6
    img = np.empty((h, w, 3))
    img[:] = base
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    if rng.random() < 0.5:
        ang = rng.uniform(0, 2 * math.pi)
        ramp = (xx * math.cos(ang) + yy * math.sin(ang)) / max(h, w)
        img += ramp[..., None] * rng.uniform(-40, 40, 3)
    for _ in range(rng.integers(0, 3)):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        s = rng.uniform(0.1, 0.4) * max(h, w)
        g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        img += g[..., None] * rng.uniform(-35, 35, 3)
    return img, img.reshape(-1, 3).mean(0)


def shape_sdf(kind, cx, cy, r, rot, xx, yy):
    """Signed distance (px, < 0 inside) of a disc (radius r), square (half
    side r) or equilateral triangle (circumradius r) rotated by rot."""
    dx, dy = xx - cx, yy - cy
    if kind == "disc":
        return np.sqrt(dx * dx + dy * dy) - r
    c, s = math.cos(rot), math.sin(rot)
    u, v = c * dx + s * dy, -s * dx + c * dy
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) - r
    d = None  # triangle: intersection of three half-planes
    for k in range(3):
        a = rot + math.pi / 2 + k * 2 * math.pi / 3
        n = (math.cos(a), math.sin(a))
        e = dx * n[0] + dy * n[1] - r / 2
        d = e if d is None else np.maximum(d, e)
    return d


def shape_box(kind, cx, cy, r, rot):
    """Tight axis-aligned box [x1, y1, x2, y2] of a shape."""
    if kind == "disc":
        return [cx - r, cy - r, cx + r, cy + r]
    if kind == "square":
        e = r * (abs(math.cos(rot)) + abs(math.sin(rot)))
        return [cx - e, cy - e, cx + e, cy + e]
    # triangle: vertices opposite each edge normal, at distance r
    pts = [(cx - r * math.cos(rot + math.pi / 2 + k * 2 * math.pi / 3),
            cy - r * math.sin(rot + math.pi / 2 + k * 2 * math.pi / 3))
           for k in range(3)]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return [min(xs), min(ys), max(xs), max(ys)]


def box_area(b):
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def inter_area(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def iou(a, b):
    i = inter_area(a, b)
    u = box_area(a) + box_area(b) - i
    return i / u if u > 0 else 0.0


def draw_scene(rng, h, w, n_max=6, noise_max=8.0, force_red=None):
    """Draws one scene of h x w pixels. force_red True/False forces a red
    disc to be present/absent (None: as it comes).
    Returns (uint8 HxWx3, objects): objects are dicts {kind, red, box} in
    drawing order, triangles included (they have no class)."""
    img, bg = background(rng, h, w)
    scale = max(h, w) / SIZE  # shape sizes are set in model-input pixels
    n = int(rng.integers(0, n_max + 1))
    if force_red and n == 0:
        n = 1
    kinds = []
    for _ in range(n):
        u = rng.random()
        kinds.append("disc" if u < 0.42 else "square" if u < 0.82 else "triangle")
    reds = [bool(rng.random() < 0.4) for _ in range(n)]
    if force_red is True and not any(k == "disc" and r for k, r in zip(kinds, reds)):
        i = int(rng.integers(0, n))
        kinds[i], reds[i] = "disc", True
    if force_red is False:
        reds = [r and k != "disc" for k, r in zip(kinds, reds)]
    objs = []
    for kind, red in zip(kinds, reds):
        for _try in range(60):
            size = rng.uniform(11, 36) * scale  # diameter / side / triangle side
            if kind == "disc":
                r = size / 2
            elif kind == "square":
                r = size / 2
            else:
                r = size / math.sqrt(3)
            rot = 0.0
            if kind == "square" and rng.random() < 0.35:
                rot = rng.uniform(-math.pi / 4, math.pi / 4)
            if kind == "triangle":
                rot = rng.uniform(0, 2 * math.pi)
            ext = r * 1.42
            cx = rng.uniform(ext + 1, w - ext - 1) if w > 2 * ext + 2 else None
            cy = rng.uniform(ext + 1, h - ext - 1) if h > 2 * ext + 2 else None
            if cx is None or cy is None:
                continue
            box = shape_box(kind, cx, cy, r, rot)
            ok = True
            for o in objs:
                ob = o["box"]
                if inter_area(box, ob) > 0.25 * min(box_area(box), box_area(ob)):
                    ok = False
                ocx, ocy = (ob[0] + ob[2]) / 2, (ob[1] + ob[3]) / 2
                if math.hypot(ocx - (box[0] + box[2]) / 2,
                              ocy - (box[1] + box[3]) / 2) < 12 * scale:
                    ok = False
            if not ok:
                continue
            for _c in range(30):
                col = red_colour(rng) if red else other_colour(rng)
                if np.linalg.norm(col - bg) >= 90:
                    break
            else:
                continue
            # coverage of each pixel (antialiased edge), in the box only
            x0, y0 = max(0, int(box[0]) - 1), max(0, int(box[1]) - 1)
            x1, y1 = min(w, int(box[2]) + 2), min(h, int(box[3]) + 2)
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
            sd = shape_sdf(kind, cx, cy, r, rot, xx, yy)
            cov = np.clip(0.5 - sd, 0.0, 1.0)[..., None]
            shade = col + rng.normal(0, 4, 3)  # a little tint per shape
            win = img[y0:y1, x0:x1]
            img[y0:y1, x0:x1] = win * (1 - cov) + shade * cov
            objs.append({"kind": kind, "red": bool(red), "box": box})
            break
    if noise_max > 0:  # pixel noise over everything, sigma up to noise_max
        img += rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(0, noise_max)
    img = np.clip(np.floor(img + 0.5), 0, 255).astype(np.uint8)
    return img, objs


def obj_class(o):
    """Detector class of an object, or None for a triangle."""
    if o["kind"] == "disc":
        return RED if o["red"] else OTHER
    if o["kind"] == "square":
        return SQUARE
    return None


def letterbox_frame(rng, p_letterbox=0.2, **kw):
    """A SIZE x SIZE model input: usually a full square scene; with
    probability p_letterbox a 4:3 or 16:9 scene centred on grey 114 bars
    (as glint letterboxes such a picture). Boxes in input pixels."""
    if rng.random() >= p_letterbox:
        return draw_scene(rng, SIZE, SIZE, **kw)
    sh = SIZE * 3 // 4 if rng.random() < 0.6 else SIZE * 9 // 16
    img, objs = draw_scene(rng, sh, SIZE, **kw)
    top = int(round((SIZE - sh) / 2 - 0.1))
    out = np.full((SIZE, SIZE, 3), PAD, np.uint8)
    out[top:top + sh] = img
    if rng.random() < 0.5:  # portrait too: bars left and right
        out = out.transpose(1, 0, 2).copy()
        for o in objs:
            b = o["box"]
            o["box"] = [b[1] + top, b[0], b[3] + top, b[2]]
    else:
        for o in objs:
            b = o["box"]
            o["box"] = [b[0], b[1] + top, b[2], b[3] + top]
    return out, objs


def to_tensor(imgs):
    """N x H x W x 3 uint8 -> N x 3 x H x W float32 in 0..1 (x/255)."""
    return torch.from_numpy(np.ascontiguousarray(
        np.stack(imgs).transpose(0, 3, 1, 2))).float().div_(255.0)


def write_png(path, img):
    """Writes an HxWx3 uint8 array as an 8-bit RGB PNG (zlib, filter 0)."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


# --------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------


def cbr(ci, co, s=1, k=3):
    """Conv (no bias) + BatchNorm + ReLU; the exporter folds the BN."""
    return nn.Sequential(nn.Conv2d(ci, co, k, s, k // 2, bias=False),
                         nn.BatchNorm2d(co), nn.ReLU(inplace=True))


class ShapeNet(nn.Module):
    """Detector: stride-8 grid of raw predictions [B, 4+C, 16, 16]:
    dx, dy (box centre minus cell centre, in cells), log(w/8), log(h/8),
    then C class logits. A stride-16 branch, upsampled and fused, widens
    the receptive field for the largest shapes."""

    def __init__(self, nc=len(DET_LABELS)):
        super().__init__()
        self.s8 = nn.Sequential(cbr(3, 16, 2), cbr(16, 32, 2), cbr(32, 32),
                                cbr(32, 48, 2), cbr(48, 48))
        self.s16 = nn.Sequential(cbr(48, 64, 2), cbr(64, 64))
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.fuse = nn.Sequential(cbr(48 + 64, 64, 1, 1), cbr(64, 64))
        self.head = nn.Conv2d(64, 4 + nc, 1)
        nn.init.constant_(self.head.bias[4:], -4.0)  # rare positives
        nn.init.zeros_(self.head.bias[:4])

    def forward(self, x):
        a = self.s8(x)
        b = self.up(self.s16(a))
        return self.head(self.fuse(torch.cat((a, b), 1)))


def grid_centres():
    """[1, 2, GRID*GRID] cell centres in cells, row-major (x fastest)."""
    g = torch.arange(GRID, dtype=torch.float32) + 0.5
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    return torch.stack((xx.reshape(-1), yy.reshape(-1)))[None]


class ShapeDetExport(nn.Module):
    """ShapeNet with the YOLOv8 export head: [B, 4+C, N] with rows cx, cy,
    w, h in input pixels and sigmoid class scores."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.register_buffer("centres", grid_centres())

    def forward(self, x):
        r = self.net(x).flatten(2)
        xy = (self.centres + r[:, 0:2]) * float(STRIDE)
        wh = torch.exp(r[:, 2:4]) * float(STRIDE)
        return torch.cat((xy, wh, torch.sigmoid(r[:, 4:])), 1)


class RedDiscNet(nn.Module):
    """Classifier: conv features to stride 16, global max pool (presence
    anywhere), linear to 2 logits [YES, NO]."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(cbr(3, 16, 2), cbr(16, 32, 2), cbr(32, 32),
                                      cbr(32, 48, 2), cbr(48, 48),
                                      cbr(48, 64, 2), cbr(64, 64))
        self.fc = nn.Linear(64, 2)

    def forward(self, x):
        return self.fc(torch.amax(self.features(x), dim=(2, 3)))


class RedDiscExport(nn.Module):
    """RedDiscNet answering probabilities (softmax inside the model)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), 1)


# --------------------------------------------------------------------------
# Detector targets, loss, decoding
# --------------------------------------------------------------------------


def det_targets(objs_list):
    """Per batch: heat [B,C,G,G] (Gaussian around each centre, 1 at its
    cell), reg [B,4,G,G] (dx, dy, log w, log h in cells), box [B,4,G,G]
    (x1,y1,x2,y2 px), weight [B,G,G] (box loss weight; 0 = no box)."""
    b = len(objs_list)
    nc = len(DET_LABELS)
    heat = np.zeros((b, nc, GRID, GRID), np.float32)
    reg = np.zeros((b, 4, GRID, GRID), np.float32)
    box = np.zeros((b, 4, GRID, GRID), np.float32)
    wgt = np.zeros((b, GRID, GRID), np.float32)
    g = np.arange(GRID) + 0.5
    for i, objs in enumerate(objs_list):
        for o in objs:
            c = obj_class(o)
            if c is None:
                continue
            x1, y1, x2, y2 = o["box"]
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            w, h = (x2 - x1) / STRIDE, (y2 - y1) / STRIDE
            sig = max(0.5, min(w, h) / 3.0)
            gx = np.exp(-((g - cx) ** 2) / (2 * sig * sig))
            gy = np.exp(-((g - cy) ** 2) / (2 * sig * sig))
            gauss = gy[:, None] * gx[None, :]
            ix, iy = min(int(cx), GRID - 1), min(int(cy), GRID - 1)
            gauss[iy, ix] = 1.0
            heat[i, c] = np.maximum(heat[i, c], gauss)
            # box regression where this object's Gaussian is the largest
            # and >= 0.3 and the cell centre lies in the box
            inside = ((g[None, :] > x1 / STRIDE) & (g[None, :] < x2 / STRIDE)
                      & (g[:, None] > y1 / STRIDE) & (g[:, None] < y2 / STRIDE))
            m = (gauss >= 0.3) & inside & (gauss > wgt[i])
            m[iy, ix] = True
            yy, xx = np.nonzero(m)
            wgt[i, yy, xx] = gauss[yy, xx]
            reg[i, 0, yy, xx] = cx - g[xx]
            reg[i, 1, yy, xx] = cy - g[yy]
            reg[i, 2, yy, xx] = math.log(w)
            reg[i, 3, yy, xx] = math.log(h)
            box[i, :, yy, xx] = np.array([x1, y1, x2, y2], np.float32)
    return [torch.from_numpy(a) for a in (heat, reg, box, wgt)]


def decode_raw(raw):
    """Raw [B,4+C,G,G] -> boxes [B,4,G,G] (x1,y1,x2,y2 px)."""
    c = torch.arange(GRID, dtype=raw.dtype) + 0.5
    cx = (c[None, None, :] + raw[:, 0]) * STRIDE
    cy = (c[None, :, None] + raw[:, 1]) * STRIDE
    w = torch.exp(raw[:, 2].clamp(max=4.0)) * STRIDE
    h = torch.exp(raw[:, 3].clamp(max=4.0)) * STRIDE
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 1)


def giou_loss(p, t):
    """1 - GIoU of boxes [..., 4] (x1,y1,x2,y2)."""
    iw = (torch.min(p[..., 2], t[..., 2]) - torch.max(p[..., 0], t[..., 0])).clamp(min=0)
    ih = (torch.min(p[..., 3], t[..., 3]) - torch.max(p[..., 1], t[..., 1])).clamp(min=0)
    inter = iw * ih
    ap = (p[..., 2] - p[..., 0]) * (p[..., 3] - p[..., 1])
    at = (t[..., 2] - t[..., 0]) * (t[..., 3] - t[..., 1])
    union = ap + at - inter + 1e-6
    cw = torch.max(p[..., 2], t[..., 2]) - torch.min(p[..., 0], t[..., 0])
    ch = torch.max(p[..., 3], t[..., 3]) - torch.min(p[..., 1], t[..., 1])
    hull = cw * ch + 1e-6
    return 1 - (inter / union - (hull - union) / hull)


def det_loss(raw, heat, reg, box, wgt):
    """CenterNet focal loss on the class maps + weighted L1 and GIoU on the
    boxes. Returns (total, parts dict)."""
    logit = raw[:, 4:]
    p = torch.sigmoid(logit).clamp(1e-5, 1 - 1e-5)
    pos = heat.eq(1.0).float()
    npos = pos.sum().clamp(min=1.0)
    lpos = -(pos * (1 - p) ** 2 * torch.log(p)).sum()
    lneg = -((1 - pos) * (1 - heat) ** 4 * p ** 2 * torch.log(1 - p)).sum()
    lcls = (lpos + lneg) / npos
    wsum = wgt.sum().clamp(min=1e-3)
    l1 = ((raw[:, :4] - reg).abs().sum(1) * wgt).sum() / wsum
    pb = decode_raw(raw).permute(0, 2, 3, 1)
    lgiou = (giou_loss(pb, box.permute(0, 2, 3, 1)) * wgt).sum() / wsum
    total = lcls + l1 + 2.0 * lgiou
    return total, {"cls": float(lcls), "l1": float(l1), "giou": float(lgiou)}


def nms_decode(out, score_thr, iou_thr=IOU_THRESHOLD):
    """One image's exported output [4+C, N] -> [(x1,y1,x2,y2, score, class)]
    as glint decodes it: best class per box, score > thr, per-class greedy
    NMS (suppress IoU > iou_thr), sorted by score."""
    cls = out[4:]
    best = cls.argmax(0)
    score = cls[best, np.arange(cls.shape[1])]
    keep = np.nonzero(score > score_thr)[0]
    keep = keep[np.lexsort((keep, -score[keep]))]
    kept = []
    for k in keep:
        cx, cy, w, h = out[:4, k]
        b = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        if any(q[5] == best[k] and iou(q[:4], b) > iou_thr for q in kept):
            continue
        kept.append((*b, float(score[k]), int(best[k])))
    return kept


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def lr_at(step, steps, base, warmup=100):
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def det_batch(rng, n):
    frames = [letterbox_frame(rng) for _ in range(n)]
    x = to_tensor([f[0] for f in frames])
    return x, [f[1] for f in frames]


def cls_batch(rng, n):
    """Balanced batch: even items hold a red disc, odd ones do not."""
    frames = [letterbox_frame(rng, force_red=(i % 2 == 0)) for i in range(n)]
    x = to_tensor([f[0] for f in frames])
    y = torch.tensor([0 if i % 2 == 0 else 1 for i in range(n)])
    return x, y


def train_detector(steps, batch, log):
    torch.manual_seed(SEEDS["torch_det"])
    rng = np.random.default_rng(SEEDS["det_train"])
    net = ShapeNet()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    net.train()
    t0 = time.process_time()
    avg = None
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, 3e-3)
        x, objs = det_batch(rng, batch)
        heat, reg, box, wgt = det_targets(objs)
        loss, parts = det_loss(net(x), heat, reg, box, wgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        v = np.array([float(loss), parts["cls"], parts["l1"], parts["giou"]])
        avg = v if avg is None else 0.98 * avg + 0.02 * v
        if step % 200 == 0 or step == steps - 1:
            log(f"det step {step:5d}/{steps} loss {avg[0]:.3f} (cls {avg[1]:.3f} "
                f"l1 {avg[2]:.3f} giou {avg[3]:.3f}) cpu {time.process_time() - t0:.0f} s")
    net.eval()
    return net, time.process_time() - t0


def train_classifier(steps, batch, log):
    torch.manual_seed(SEEDS["torch_cls"])
    rng = np.random.default_rng(SEEDS["cls_train"])
    net = RedDiscNet()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    net.train()
    t0 = time.process_time()
    avg = None
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, 3e-3)
        x, y = cls_batch(rng, batch)
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc = float((logits.argmax(1) == y).float().mean())
        v = np.array([float(loss), acc])
        avg = v if avg is None else 0.98 * avg + 0.02 * v
        if step % 200 == 0 or step == steps - 1:
            log(f"cls step {step:5d}/{steps} loss {avg[0]:.3f} acc {avg[1]:.3f} "
                f"cpu {time.process_time() - t0:.0f} s")
    net.eval()
    return net, time.process_time() - t0


# --------------------------------------------------------------------------
# Held-out scenes, glint-style letterbox, metrics
# --------------------------------------------------------------------------


def _axis_taps(n_in, n_out):
    scale = n_in / n_out
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def resize_bilinear(img, out_h, out_w):
    """Bilinear, half-pixel centres, no antialiasing, rounded (as glint)."""
    h, w, _ = img.shape
    if (h, w) == (out_h, out_w):
        return img.copy()
    x = img.astype(np.float64)
    c0, c1, fx = _axis_taps(w, out_w)
    x = x[:, c0] * (1.0 - fx)[None, :, None] + x[:, c1] * fx[None, :, None]
    r0, r1, fy = _axis_taps(h, out_h)
    x = x[r0] * (1.0 - fy)[:, None, None] + x[r1] * fy[:, None, None]
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def letterbox(img, size=SIZE):
    """Ultralytics/glint letterbox: fit, centre, pad 114.
    Returns (uint8 size x size image, scale, pad_x, pad_y)."""
    h, w, _ = img.shape
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    top, left = int(round((size - nh) / 2 - 0.1)), int(round((size - nw) / 2 - 0.1))
    out = np.full((size, size, 3), PAD, dtype=np.uint8)
    out[top:top + nh, left:left + nw] = resize_bilinear(img, nh, nw)
    return out, r, left, top


HELDOUT_SIZES = [(SIZE, SIZE)] * 200 + [(192, 256)] * 50 + [(192, 144)] * 50


def heldout_scenes(n=None, seed=SEEDS["heldout"], noise_max=8.0):
    """Held-out pictures at their own sizes (most 128x128, then 256x192
    and 144x192 that glint letterboxes), half with a red disc forced.
    Returns [(name, uint8 HxWx3, objs in picture pixels)]."""
    rng = np.random.default_rng(seed)
    sizes = HELDOUT_SIZES if n is None else HELDOUT_SIZES[:n]
    out = []
    for i, (h, w) in enumerate(sizes):
        img, objs = draw_scene(rng, h, w, noise_max=noise_max, force_red=(i % 2 == 0))
        out.append((f"shapes_{i:03d}.png", img, objs))
    return out


def truth_of(objs):
    """Ground truth summary of one picture's objects."""
    boxes = [{"label": DET_LABELS[obj_class(o)],
              "x1": round(o["box"][0], 2), "y1": round(o["box"][1], 2),
              "x2": round(o["box"][2], 2), "y2": round(o["box"][3], 2)}
             for o in objs if obj_class(o) is not None]
    return {"squares": sum(b["label"] == "square" for b in boxes),
            "red_discs": sum(b["label"] == "red_disc" for b in boxes),
            "other_discs": sum(b["label"] == "other_disc" for b in boxes),
            "triangles": sum(o["kind"] == "triangle" for o in objs),
            "red_disc": "YES" if any(b["label"] == "red_disc" for b in boxes) else "NO",
            "boxes": boxes}


def det_metrics(preds, truths):
    """preds: per image [(x1,y1,x2,y2,score,class)]; truths: per image
    truth_of() dicts. Exact square count, red-disc presence, exact count of
    every class, box recall / precision at IoU 0.5 (same class)."""
    n = len(truths)
    sq = red = allc = 0
    tp = n_gt = n_pred = 0
    for p, t in zip(preds, truths):
        counts = [sum(q[5] == c for q in p) for c in range(len(DET_LABELS))]
        sq += counts[SQUARE] == t["squares"]
        red += (counts[RED] > 0) == (t["red_disc"] == "YES")
        allc += counts == [t["red_discs"], t["other_discs"], t["squares"]]
        gts = [([b["x1"], b["y1"], b["x2"], b["y2"]], DET_LABELS.index(b["label"]))
               for b in t["boxes"]]
        used = [False] * len(gts)
        for q in sorted(p, key=lambda q: -q[4]):
            best, bi = 0.5, -1
            for j, (gb, gc) in enumerate(gts):
                if not used[j] and gc == q[5]:
                    v = iou(q[:4], gb)
                    if v >= best:
                        best, bi = v, j
            if bi >= 0:
                used[bi] = True
                tp += 1
        n_gt += len(gts)
        n_pred += len(p)
    return {"images": n,
            "square_count_accuracy": sq / n,
            "red_disc_presence_accuracy": red / n,
            "all_counts_exact": allc / n,
            "box_recall_iou50": tp / max(1, n_gt),
            "box_precision_iou50": tp / max(1, n_pred),
            "objects": n_gt}


def torch_det_outputs(model, scenes):
    """Runs the export-form detector on pictures letterboxed as glint does.
    Returns per picture (output [4+C, N], scale, pad_x, pad_y, w, h)."""
    res = []
    for i in range(0, len(scenes), 64):
        chunk = scenes[i:i + 64]
        lbs = [letterbox(s[1]) for s in chunk]
        with torch.no_grad():
            out = model(to_tensor([lb[0] for lb in lbs])).numpy()
        for o, (_, r, px, py), s in zip(out, lbs, chunk):
            res.append((o, r, px, py, s[1].shape[1], s[1].shape[0]))
    return res


def det_preds(outputs, score_thr):
    """Boxes (picture pixels, clipped) from torch_det_outputs()."""
    preds = []
    for o, r, px, py, w, h in outputs:
        boxes = []
        for (x1, y1, x2, y2, sc, c) in nms_decode(o, score_thr):
            x1, x2 = [min(max((v - px) / r, 0), w) for v in (x1, x2)]
            y1, y2 = [min(max((v - py) / r, 0), h) for v in (y1, y2)]
            boxes.append((x1, y1, x2, y2, sc, c))
        preds.append(boxes)
    return preds


def torch_cls_preds(model, scenes):
    labels = []
    for i in range(0, len(scenes), 64):
        x = to_tensor([letterbox(s[1])[0] for s in scenes[i:i + 64]])
        with torch.no_grad():
            p = model(x).numpy()
        labels += [CLS_LABELS[int(k)] for k in p.argmax(1)]
    return labels


def val_scenes(n, seed=SEEDS["val"]):
    """Torch-only validation: model-input frames like training's (a fifth
    letterboxed), a seed never trained on."""
    rng = np.random.default_rng(seed)
    return [(f"val_{i}", *letterbox_frame(rng, force_red=(i % 2 == 0))) for i in range(n)]


def cls_accuracy(labels, truths):
    ok = sum(a == t["red_disc"] for a, t in zip(labels, truths))
    yes = [a == t["red_disc"] for a, t in zip(labels, truths) if t["red_disc"] == "YES"]
    no = [a == t["red_disc"] for a, t in zip(labels, truths) if t["red_disc"] == "NO"]
    return {"images": len(truths), "accuracy": ok / len(truths),
            "yes_recall": sum(yes) / max(1, len(yes)),
            "no_recall": sum(no) / max(1, len(no))}


# --------------------------------------------------------------------------
# glint
# --------------------------------------------------------------------------


def glint_run(glint, model_dir, paths):
    """Answers of `glint run` for the files, in order (JSON dicts)."""
    cmd = [glint, "run", "--model", model_dir, "--threads", "1", *paths]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"train_shapes: {' '.join(cmd[:5])} ... failed ({res.returncode}): "
                 f"{res.stderr.strip()[:500]}")
    answers = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    if len(answers) != len(paths):
        sys.exit(f"train_shapes: glint answered {len(answers)} of {len(paths)} images")
    return answers


def glint_det_preds(answers):
    return [[(d["box"]["x1"], d["box"]["y1"], d["box"]["x2"], d["box"]["y2"],
              d["score"], DET_LABELS.index(d["label"])) for d in a["detections"]]
            for a in answers]


def glint_cls_preds(answers):
    return [a["classes"][0]["label"] for a in answers]


def glint_check(glint, model_dir):
    cmd = [glint, "check", "--rel-l2", "1e-4", model_dir]
    res = subprocess.run(cmd, capture_output=True, text=True)
    return res.returncode == 0, (res.stdout + res.stderr).strip()


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------


def write_tensor(path, array, name):
    t = onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def export(model, path, in_name, out_name, out_dims, description):
    """ONNX opset 13, dynamic batch; BN folded by the exporter (eval mode);
    static output dims restored after the dynamic-batch reshapes."""
    x = torch.zeros(1, 3, SIZE, SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, path, opset_version=13, do_constant_folding=True,
                          input_names=[in_name], output_names=[out_name],
                          dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}})
    m = onnx.load(path)
    del m.metadata_props[:]
    e = m.metadata_props.add()
    e.key, e.value = "description", description
    for d, v in zip(m.graph.output[0].type.tensor_type.shape.dim, out_dims):
        if isinstance(v, int):
            d.ClearField("dim_param")
            d.dim_value = v
        else:
            d.dim_param = v
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m


def write_yaml(path, comment, fields):
    lines = ["# " + c for c in comment]
    for k, v in fields.items():
        if isinstance(v, (list, tuple)):
            v = "[" + ", ".join(str(e) for e in v) + "]"
        lines.append(f"{k}: {v}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def count_macs(model):
    macs = 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            macs += out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            macs += out.numel() * mod.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, SIZE, SIZE))
    for h in hs:
        h.remove()
    return macs


def dump_json(path, obj):
    text = json.dumps(obj, indent=1)
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",
                  lambda mt: "[" + re.sub(r",\s+", ", ", mt.group(1)) + "]", text)
    with open(path, "w") as f:
        f.write(text + "\n")


# --------------------------------------------------------------------------
# The two models
# --------------------------------------------------------------------------

DET_STEPS, CLS_STEPS, BATCH = 3000, 1800, 32
REPRO = "/usr/bin/python3 tools/train_shapes.py --glint build/glint"


def fmt(m, keys):
    return ", ".join(f"{k} {m[k] * 100:.1f}%" for k in keys)


DET_KEYS = ["square_count_accuracy", "red_disc_presence_accuracy", "all_counts_exact",
            "box_recall_iou50", "box_precision_iou50"]


def versions():
    return {"torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__}


def write_test_set(out_dir, model, in_name, out_name, x):
    d = os.path.join(out_dir, "test_data_set_0")
    os.makedirs(d, exist_ok=True)
    with torch.no_grad():
        y = model(x).numpy()
    write_tensor(os.path.join(d, "input_0.pb"), x.numpy(), in_name)
    write_tensor(os.path.join(d, "output_0.pb"), y, out_name)


def run_shapes(args, log, heldout, truths, paths, val, val_truths):
    out_dir = os.path.join(args.out, "shapes")
    os.makedirs(out_dir, exist_ok=True)
    steps = max(1, int(DET_STEPS * args.steps_scale))
    net, cpu = train_detector(steps, BATCH, log)
    model = ShapeDetExport(net).eval()
    fig = {"train_cpu_s": round(cpu, 1), "steps": steps, "batch": BATCH}
    vout = torch_det_outputs(model, val)
    sweep = {t: det_metrics(det_preds(vout, t), val_truths) for t in SCORE_CANDIDATES}
    thr = max(SCORE_CANDIDATES, key=lambda t: (sweep[t]["all_counts_exact"], -t))
    for t in SCORE_CANDIDATES:
        log(f"  val score > {t:.2f}: " + fmt(sweep[t], DET_KEYS))
    fig["score_threshold"] = thr
    fig["val_sweep_all_counts_exact"] = {str(t): round(sweep[t]["all_counts_exact"], 4)
                                         for t in SCORE_CANDIDATES}
    fig["torch_val"] = sweep[thr]
    fig["torch_heldout"] = det_metrics(det_preds(torch_det_outputs(model, heldout), thr),
                                       truths)
    log("shapes torch val:     " + fmt(fig["torch_val"], DET_KEYS))
    log("shapes torch heldout: " + fmt(fig["torch_heldout"], DET_KEYS))
    path = os.path.join(out_dir, "model.onnx")
    m = export(model, path, "images", "output0", ["batch", 4 + len(DET_LABELS), GRID * GRID],
               "glint shapes detector [red_disc, other_disc, square], trained on "
               "synthetic scenes by tools/train_shapes.py")
    x0 = to_tensor([letterbox(heldout[0][1])[0]])
    write_test_set(out_dir, model, "images", "output0", x0)
    write_yaml(os.path.join(out_dir, "model.yaml"), [
        "Shape detector trained by tools/train_shapes.py on synthetic scenes (see README.md):",
        "red_disc = a red disc, other_disc = a disc of any other colour, square = a square",
        "of any colour; triangles are never detected. Output [B,7,256], YOLOv8 layout."], {
        "name": "shapes", "task": "detect", "layout": "yolov8", "input": "images",
        "width": SIZE, "height": SIZE, "resize": "letterbox",
        "mean": [0, 0, 0], "std": [1, 1, 1],
        "score_threshold": thr, "iou_threshold": IOU_THRESHOLD,
        "max_detections": 50, "labels": DET_LABELS})
    finish_model(args, log, out_dir, "shapes", net, m, fig, paths,
                 lambda a: det_metrics(glint_det_preds(a), truths), DET_KEYS)
    return fig


def run_red_disc(args, log, heldout, truths, paths, val, val_truths):
    out_dir = os.path.join(args.out, "red_disc")
    os.makedirs(out_dir, exist_ok=True)
    steps = max(1, int(CLS_STEPS * args.steps_scale))
    net, cpu = train_classifier(steps, BATCH, log)
    model = RedDiscExport(net).eval()
    fig = {"train_cpu_s": round(cpu, 1), "steps": steps, "batch": BATCH}
    fig["torch_val"] = cls_accuracy(torch_cls_preds(model, val), val_truths)
    fig["torch_heldout"] = cls_accuracy(torch_cls_preds(model, heldout), truths)
    keys = ["accuracy", "yes_recall", "no_recall"]
    log("red_disc torch val:     " + fmt(fig["torch_val"], keys))
    log("red_disc torch heldout: " + fmt(fig["torch_heldout"], keys))
    path = os.path.join(out_dir, "model.onnx")
    m = export(model, path, "input", "probs", ["batch", 2],
               "glint red_disc classifier 'Is there a red disc?' [YES, NO], trained on "
               "synthetic scenes by tools/train_shapes.py")
    x0 = to_tensor([letterbox(heldout[0][1])[0]])
    write_test_set(out_dir, model, "input", "probs", x0)
    write_yaml(os.path.join(out_dir, "model.yaml"), [
        "Binary classifier 'Is there a red disc?' trained by tools/train_shapes.py on",
        "synthetic scenes (see README.md). Index 0 = YES (Groundlight's convention).",
        "Output: probabilities [B,2] (softmax inside the model)."], {
        "name": "red_disc", "task": "classify", "input": "input",
        "width": SIZE, "height": SIZE, "resize": "letterbox",
        "mean": [0, 0, 0], "std": [1, 1, 1], "labels": CLS_LABELS})
    finish_model(args, log, out_dir, "red_disc", net, m, fig, paths,
                 lambda a: cls_accuracy(glint_cls_preds(a), truths), keys)
    return fig


def finish_model(args, log, out_dir, name, net, m, fig, paths, glint_metrics, keys):
    """glint figures and check, reference.json."""
    if args.glint:
        t0 = time.time()
        fig["glint_heldout"] = glint_metrics(glint_run(args.glint, out_dir, paths))
        log(f"{name} glint heldout: " + fmt(fig["glint_heldout"], keys)
            + f" ({time.time() - t0:.1f} s)")
        ok, text = glint_check(args.glint, out_dir)
        fig["glint_check_rel_l2_1e-4"] = "pass" if ok else "FAIL"
        log(f"{name} glint check --rel-l2 1e-4: {fig['glint_check_rel_l2_1e-4']}: {text}")
    path = os.path.join(out_dir, "model.onnx")
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    ref = {"name": name,
           "weights": "trained on synthetic scenes (tools/train_shapes.py)",
           "params": sum(p.numel() for p in net.parameters()),
           "macs": count_macs(net), "opset": m.opset_import[0].version,
           "op_counts": dict(sorted(ops.items())),
           "onnx_bytes": os.path.getsize(path),
           "inputs": {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                      for v in m.graph.input},
           "outputs": {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                       for v in m.graph.output},
           "seeds": SEEDS, "versions": versions(),
           "test_data_set_0": "held-out picture shapes_000.png, letterboxed, x/255",
           **fig}
    dump_json(os.path.join(out_dir, "reference.json"), ref)


def reflow(text, width=76):
    """Rewraps the prose paragraphs of a Markdown text (tables, headings and
    indented code blocks are left alone)."""
    out = []
    for para in text.split("\n\n"):
        lines = para.split("\n")
        if any(ln.startswith(("|", "    ", "#")) for ln in lines):
            out.append(para)
        else:
            out.append(textwrap.fill(" ".join(ln.strip() for ln in lines), width,
                                     break_on_hyphens=False, break_long_words=False))
    return "\n\n".join(out).rstrip("\n") + "\n"


def pct(m, k):
    return f"{m[k] * 100:.1f}%" if m else "n/a"


def write_readme_shapes(out_dir, fig):
    tv, th, g = fig["torch_val"], fig["torch_heldout"], fig.get("glint_heldout")
    rows = [("exact square count", "square_count_accuracy"),
            ("red disc present yes/no", "red_disc_presence_accuracy"),
            ("every class count exact", "all_counts_exact"),
            ("box recall, IoU >= 0.5, same class", "box_recall_iou50"),
            ("box precision, IoU >= 0.5, same class", "box_precision_iou50")]
    table = "\n".join(f"| {a} | {pct(tv, k)} | {pct(th, k)} | {pct(g, k)} |" for a, k in rows)
    text = f"""# shapes — a small trained detector (red_disc, other_disc, square)

Trained here by `tools/train_shapes.py` on synthetic scenes the script draws
(numpy): a background of a random colour (gradient, soft blobs, pixel noise)
with 0..6 shapes of random size (11..36 px at 128x128), colour, position and
rotation, some overlapping: discs, squares (axis-aligned or rotated) and
triangles (distractors, never detected). Classes: `red_disc` (hue within 10
degrees of red, saturated), `other_disc` (a disc of any clearly non-red colour
or grey), `square` (any colour, red included). "How many squares?" = number
of `square` boxes; "Is there a red disc?" = any `red_disc` box. A fifth of
the training scenes are 4:3 / 16:9 pictures letterboxed with grey 114 bars.

Network: 10 conv layers (BatchNorm folded by the exporter), a stride-8 grid
of 16x16 cells plus a stride-16 branch upsampled and fused; one prediction
per cell (CenterNet-style Gaussian focal loss on the class maps, L1 + GIoU on
the boxes). The exported graph decodes in-model to the YOLOv8 layout:
`images` [B,3,128,128] (RGB, letterbox, x/255) -> `output0` [B,7,256], rows
cx, cy, w, h in input pixels then 3 sigmoid scores. Opset 13, dynamic batch.
{fig['params']:,} parameters, {fig['macs'] / 1e6:.1f} M MACs per image,
{fig['onnx_bytes'] / 1024:.0f} KB ONNX. Trained {fig['steps']} steps x
{fig['batch']} fresh scenes in {fig['train_cpu_s'] / 60:.1f} min of one CPU core.
model.yaml: score_threshold {fig['score_threshold']} (the best of
{SCORE_CANDIDATES[0]}..{SCORE_CANDIDATES[-1]} for exact counts on the torch validation
frames), iou_threshold {IOU_THRESHOLD}.

## Accuracy (pictures never seen in training)

| measure | torch, {tv['images']} val frames | torch, {th['images']} held-out pictures | glint run, same {th['images']} pictures |
| --- | --- | --- | --- |
{table}

Held-out pictures: 200 at 128x128, 50 at 256x192 and 50 at 144x192 (glint
letterboxes and resizes those), half of them with a red disc; {th['objects']}
discs and squares. The glint column is `glint run --model models/shapes` on
the PNG files, scored against the script's truth. `glint check --rel-l2 1e-4
models/shapes`: {fig.get('glint_check_rel_l2_1e-4', 'not run')}
(test_data_set_0 = torch's output for held-out picture 0).

## Reproduce

    {REPRO}                # both models, ~20 min of one core
    {REPRO} --only shapes

Deterministic (numpy PCG64 and torch seeds, one thread); see reference.json
for seeds, versions and the figures above. `tests/data/shapes/` holds ten
small pictures from the same generator with their truth (`--write-test-images`).

## Limits

Synthetic scenes only: flat-coloured shapes 11..36 px across in the 128x128
input (9..28% of the picture's long side), on plain backgrounds. The misses
left are small shapes pressed against or partly hidden by larger ones (a
disc or square missed, or its class mistaken). Not meant for photos.
"""
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(reflow(text))


def write_readme_red_disc(out_dir, fig):
    tv, th, g = fig["torch_val"], fig["torch_heldout"], fig.get("glint_heldout")
    rows = [("accuracy", "accuracy"), ("YES recall (red disc present)", "yes_recall"),
            ("NO recall (no red disc)", "no_recall")]
    table = "\n".join(f"| {a} | {pct(tv, k)} | {pct(th, k)} | {pct(g, k)} |" for a, k in rows)
    text = f"""# red_disc — "Is there a red disc?" (binary classifier, YES / NO)

Trained here by `tools/train_shapes.py` on the same synthetic scenes as
`models/shapes` (random backgrounds, 0..6 discs, squares and triangles of
random size, colour, rotation, some overlapping). Every batch is balanced:
half the scenes hold at least one red disc, the other half none, but may
hold red squares, red triangles and discs of other colours, so the answer
needs both the shape and the colour. Red = hue within 10 degrees of 0,
saturation >= 0.65, value >= 0.55; other colours keep their hue in 40..320
degrees or are greys.

Classes: index 0 = `YES`, 1 = `NO` (Groundlight's convention). Network: 7
conv layers to stride 16 (BatchNorm folded), global max pool (presence
anywhere), linear 64 -> 2, softmax inside the model: `input`
[B,3,128,128] (RGB, letterbox, x/255) -> `probs` [B,2]. Opset 13, dynamic
batch. {fig['params']:,} parameters, {fig['macs'] / 1e6:.1f} M MACs per image,
{fig['onnx_bytes'] / 1024:.0f} KB ONNX. Trained {fig['steps']} steps x
{fig['batch']} fresh scenes (cross-entropy) in {fig['train_cpu_s'] / 60:.1f} min
of one CPU core.

## Accuracy (pictures never seen in training)

| measure | torch, {tv['images']} val frames | torch, {th['images']} held-out pictures | glint run, same {th['images']} pictures |
| --- | --- | --- | --- |
{table}

Held-out pictures: 200 at 128x128, 50 at 256x192, 50 at 144x192 (glint
letterboxes and resizes those), half with a red disc. The glint column is
the top class of `glint run --model models/red_disc` on the PNG files.
`glint check --rel-l2 1e-4 models/red_disc`: {fig.get('glint_check_rel_l2_1e-4', 'not run')}.

## Reproduce

    {REPRO}                   # both models, ~20 min of one core
    {REPRO} --only red_disc

Deterministic (numpy PCG64 and torch seeds, one thread); see reference.json.

## Limits

Synthetic scenes only (flat-coloured shapes 11..36 px across in the 128x128
input, plain backgrounds). The misses left are small or partly hidden red
discs next to other shapes, and red discs or magenta discs on a reddish
background. Not meant for photos.
"""
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(reflow(text))


def write_test_images(out_dir, log, n=10):
    """About ten small pictures (no pixel noise, so the PNGs stay a few KB)
    from their own seed, with truth.json, for end-to-end tests."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEEDS["test_images"])
    sizes = [(SIZE, SIZE)] * (n - 2) + [(192, 256), (192, 144)]
    truth = {}
    for i, (h, w) in enumerate(sizes):
        img, objs = draw_scene(rng, h, w, noise_max=0.0, force_red=(i % 2 == 0))
        name = f"shapes_{i:02d}.png"
        write_png(os.path.join(out_dir, name), img)
        truth[name] = {"width": w, "height": h, **truth_of(objs)}
        log(f"{name}: {w}x{h}, squares {truth[name]['squares']}, "
            f"red disc {truth[name]['red_disc']}, {len(truth[name]['boxes'])} boxes, "
            f"{os.path.getsize(os.path.join(out_dir, name))} bytes")
    doc = {"about": "Synthetic test pictures drawn by tools/train_shapes.py "
                    "--write-test-images (seed %d). Per picture: counts of squares, red "
                    "discs, other discs and triangles (distractors), red_disc YES/NO, and "
                    "the boxes (pixels, x1 y1 x2 y2) of every disc and square, labelled "
                    "as models/shapes labels them." % SEEDS["test_images"],
           "images": truth}
    dump_json(os.path.join(out_dir, "truth.json"), doc)
    return truth


def check_test_images(args, log, out_dir, truth):
    """Answers of the committed models on the test pictures vs truth."""
    names = sorted(truth)
    paths = [os.path.join(out_dir, n) for n in names]
    ts = [truth[n] for n in names]
    det = glint_run(args.glint, os.path.join(args.out, "shapes"), paths)
    cls = glint_run(args.glint, os.path.join(args.out, "red_disc"), paths)
    dm = det_metrics(glint_det_preds(det), ts)
    cm = cls_accuracy(glint_cls_preds(cls), ts)
    log("test pictures, glint shapes: " + fmt(dm, DET_KEYS))
    log("test pictures, glint red_disc: " + fmt(cm, ["accuracy"]))
    for n, a, c, t in zip(names, glint_det_preds(det), glint_cls_preds(cls), ts):
        sq = sum(q[5] == SQUARE for q in a)
        red = any(q[5] == RED for q in a)
        bad = sq != t["squares"] or red != (t["red_disc"] == "YES") or c != t["red_disc"]
        if bad:
            log(f"  {n}: squares {sq} (truth {t['squares']}), red disc box {red}, "
                f"classifier {c} (truth {t['red_disc']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--glint", help="glint binary: score the held-out pictures with it")
    ap.add_argument("--eval-dir", help="where the held-out PNGs go (default: a temp dir)")
    ap.add_argument("--only", default="shapes,red_disc")
    ap.add_argument("--steps-scale", type=float, default=1.0,
                    help="scale the training steps (quick trials)")
    ap.add_argument("--readme-only", action="store_true",
                    help="only rewrite each model's README.md from its reference.json")
    ap.add_argument("--write-heldout", metavar="DIR",
                    help="only write the first --count held-out pictures (the ones the "
                         "accuracy figures use, never trained on) and truth.json to DIR")
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--write-test-images", metavar="DIR",
                    help="only write the test pictures and truth.json to DIR "
                         "(with --glint: check the models in --out on them)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    def log(msg):
        print(msg, flush=True)

    runs = {"shapes": (run_shapes, write_readme_shapes),
            "red_disc": (run_red_disc, write_readme_red_disc)}
    if args.glint:
        args.glint = os.path.abspath(args.glint)
    if args.readme_only:
        for name in args.only.split(","):
            d = os.path.join(args.out, name)
            with open(os.path.join(d, "reference.json")) as f:
                runs[name][1](d, json.load(f))
        return
    if args.write_heldout:
        os.makedirs(args.write_heldout, exist_ok=True)
        truth = {}
        for name, img, objs in heldout_scenes(n=args.count):
            write_png(os.path.join(args.write_heldout, name), img)
            truth[name] = {"width": img.shape[1], "height": img.shape[0], **truth_of(objs)}
        dump_json(os.path.join(args.write_heldout, "truth.json"),
                  {"about": "The first %d held-out pictures of tools/train_shapes.py (seed %d, "
                            "never used in training)." % (args.count, SEEDS["heldout"]),
                   "images": truth})
        log(f"wrote {len(truth)} held-out pictures to {args.write_heldout}")
        return
    if args.write_test_images:
        truth = write_test_images(args.write_test_images, log)
        if args.glint:
            check_test_images(args, log, args.write_test_images, truth)
        return
    eval_dir = args.eval_dir or tempfile.mkdtemp(prefix="glint-shapes-")
    os.makedirs(eval_dir, exist_ok=True)
    heldout = heldout_scenes()
    truths = [truth_of(o) for _, _, o in heldout]
    paths = []
    for (name, img, _), t in zip(heldout, truths):
        p = os.path.join(eval_dir, name)
        write_png(p, img)
        paths.append(p)
    dump_json(os.path.join(eval_dir, "truth.json"),
              {n: {"width": img.shape[1], "height": img.shape[0], **t}
               for (n, img, _), t in zip(heldout, truths)})
    log(f"held-out pictures and truth.json in {eval_dir}")
    val = val_scenes(2000)
    val_truths = [truth_of(o) for _, _, o in val]
    for name in args.only.split(","):
        if name not in runs:
            sys.exit(f"train_shapes: unknown model {name}")
        run, readme = runs[name]
        run(args, log, heldout, truths, paths, val, val_truths)
        with open(os.path.join(args.out, name, "reference.json")) as f:
            readme(os.path.join(args.out, name), json.load(f))


if __name__ == "__main__":
    main()
