#!/usr/bin/python3
"""Generate glint's committed reference models under models/.

Builds three networks with seeded (untrained) weights, exports each to ONNX
and writes, in ONNX's backend-test layout, real-photo inputs preprocessed the
way the server does plus the outputs PyTorch computes for them:

  models/yolov8n/      YOLOv8n (n scale) written from the public architecture,
                       opset 17, dynamic batch, output0 [B,84,8400]
  models/yolov8n_dyn/  the same YOLOv8n exported with batch, height and width
                       free (Ultralytics dynamic=True), output0 [B,84,anchors]
  models/yolov8n_e2e/  the same YOLOv8n with YOLOv10's NMS-free export head,
                       output0 [B,300,6] (TopK, GatherElements in the graph)
  models/yolo11n/      YOLO11n (C3k2, C2PSA attention), opset 17, [B,84,8400]
  models/yolov5n/      YOLOv5n v6.0 (C3, anchor-based head), opset 12, [B,25200,85]
  models/ssdlite/      torchvision ssdlite320_mobilenet_v3_large with its
                       post-processing (NMS inside If), opset 13, [1,3,320,320]
  models/rtdetr/       RT-DETR (tools/arch_rtdetr.py: r18 layout, half width,
                       100 queries), opset 16, dynamic batch, output0 [B,100,84]
  models/resnet18/     torchvision resnet18, opset 13, dynamic batch
  models/mobilenetv3/  torchvision mobilenet_v3_small, opset 11, batch 1
  models/mobilenetv2/  torchvision mobilenet_v2, opset 13, dynamic batch
  models/efficientnet_b0/ torchvision efficientnet_b0, opset 13, dynamic batch
  models/vit_tiny/     torchvision VisionTransformer at ViT-Ti/16 size, opset 17
  models/convnext_atto/ torchvision ConvNeXt at convnext_atto size, opset 17

Each directory holds model.onnx, model.yaml (serving config), labels.txt
(classifiers), reference.json (cost, shapes, versions, photos) and
test_data_set_N/{input_0,output_0}.pb (onnx TensorProto files).

Determinism: every weight comes from numpy's PCG64 (bit-identical on every
machine). BatchNorm running statistics are calibrated on the photos in float64
and rounded to 12 significant bits, then perturbed with seeded noise, so a
rerun yields byte-identical model.onnx files. The recorded outputs are float32
results of this machine's torch and may differ from another machine's by a
few ULPs; checks must compare with a tolerance.

Needs Debian's python3-torch, python3-torchvision, python3-onnx, python3-numpy
and python3-pil (scripts/install-deps.sh --models), and the photos from the
Debian package `darknet` (fetched with apt-get download if absent).

Usage: /usr/bin/python3 tools/gen_models.py [--out DIR] [--photos DIR]
                                            [--only NAME[,NAME]]
"""

import argparse
import collections
import glob
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torchvision
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DARKNET_DATA = "usr/share/darknet/data"
DEFAULT_PHOTOS = "/tmp/darknet/" + DARKNET_DATA
CALIB_PHOTOS = ["dog", "horses", "person", "kite", "giraffe", "eagle"]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

COCO_NAMES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train",
    "truck", "boat", "traffic light", "fire hydrant", "stop sign",
    "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag",
    "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot",
    "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
]


# --------------------------------------------------------------------------
# Photos and preprocessing (what the server does before inference)
# --------------------------------------------------------------------------

def find_photos(photos_dir):
    """Return a directory holding darknet's sample photos, fetching the
    Debian package into a temporary directory when photos_dir lacks them."""
    if os.path.isfile(os.path.join(photos_dir, "dog.jpg")):
        return photos_dir
    dest = "/tmp/darknet"
    print(f"photos not in {photos_dir}: apt-get download darknet -> {dest}")
    work = tempfile.mkdtemp(prefix="glint-darknet-")
    subprocess.run(["apt-get", "download", "darknet"], cwd=work, check=True)
    debs = glob.glob(os.path.join(work, "darknet_*.deb"))
    if not debs:
        sys.exit("gen_models: apt-get download darknet gave no .deb")
    subprocess.run(["dpkg", "-x", debs[0], dest], check=True)
    return os.path.join(dest, DARKNET_DATA)


def load_rgb(photos_dir, name):
    """Decode <name>.jpg to an HxWx3 uint8 RGB array."""
    with Image.open(os.path.join(photos_dir, name + ".jpg")) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _axis_taps(n_in, n_out):
    """Source indices and weights of bilinear, half-pixel-centred sampling
    along one axis (OpenCV INTER_LINEAR: no antialiasing, edges clamped)."""
    scale = n_in / n_out
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    return i0, i1, frac


def resize_bilinear(img, out_h, out_w):
    """Resize HxWx3 uint8 to out_h x out_w x 3 uint8: bilinear, half-pixel
    centres, no antialiasing, computed in float64, rounded half up."""
    h, w, _ = img.shape
    if (h, w) == (out_h, out_w):
        return img.copy()
    x = img.astype(np.float64)
    c0, c1, fx = _axis_taps(w, out_w)
    x = x[:, c0] * (1.0 - fx)[None, :, None] + x[:, c1] * fx[None, :, None]
    r0, r1, fy = _axis_taps(h, out_h)
    x = x[r0] * (1.0 - fy)[:, None, None] + x[r1] * fy[:, None, None]
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def letterbox(img, size):
    """Ultralytics LetterBox: scale to fit size x size keeping the aspect
    ratio (up or down), centre it, pad with 114. Returns (uint8 image, info)."""
    h, w, _ = img.shape
    r = min(size / h, size / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    out = np.full((size, size, 3), 114, dtype=np.uint8)
    out[top:top + new_h, left:left + new_w] = resize_bilinear(img, new_h, new_w)
    info = {"source": [w, h], "scale": r, "resized": [new_w, new_h],
            "pad_left": left, "pad_top": top}
    return out, info


def letterbox_rect(img, size, stride=32):
    """Ultralytics LetterBox(auto=True), its "rect" inference for models
    with free height and width: the long side to size, the short side padded
    only to a multiple of stride. Returns (uint8 image, info)."""
    h, w, _ = img.shape
    r = min(size / h, size / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (size - new_w) % stride / 2, (size - new_h) % stride / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    out_h = new_h + int(round(dh - 0.1)) + int(round(dh + 0.1))
    out_w = new_w + int(round(dw - 0.1)) + int(round(dw + 0.1))
    out = np.full((out_h, out_w, 3), 114, dtype=np.uint8)
    out[top:top + new_h, left:left + new_w] = resize_bilinear(img, new_h, new_w)
    info = {"source": [w, h], "scale": r, "resized": [new_w, new_h],
            "padded": [out_w, out_h], "pad_left": left, "pad_top": top}
    return out, info


def crop_center(img, short, size):
    """Resize the short side to `short` (torchvision Resize rule for the long
    side), then take the centred size x size crop. Returns (uint8, info)."""
    h, w, _ = img.shape
    if w <= h:
        new_w, new_h = short, int(short * h / w)
    else:
        new_w, new_h = int(short * w / h), short
    img = resize_bilinear(img, new_h, new_w)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    info = {"source": [w, h], "resized": [new_w, new_h],
            "crop_left": left, "crop_top": top}
    return img[top:top + size, left:left + size].copy(), info


def to_nchw(img, mean, std):
    """uint8 HxWx3 -> float32 1x3xHxW: /255, then (x - mean) / std."""
    x = img.astype(np.float64).transpose(2, 0, 1) / 255.0
    x = (x - np.asarray(mean)[:, None, None]) / np.asarray(std)[:, None, None]
    return x[None].astype(np.float32)


# --------------------------------------------------------------------------
# YOLOv8n, from the public architecture (Ultralytics yolov8.yaml, scale n)
# --------------------------------------------------------------------------

class Conv(nn.Module):
    """Conv2d(bias=False) + BatchNorm2d + SiLU, 'same' padding."""

    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 Convs, with a residual Add when shortcut is set."""

    def __init__(self, c, shortcut):
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """1x1 Conv, split in two halves (Ultralytics' export form, forward_split),
    n Bottlenecks chained on the second
    half, concat of all pieces, 1x1 Conv."""

    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))  # ONNX Split
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """1x1 Conv, three chained 5x5 stride-1 max pools, concat, 1x1 Conv."""

    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    """Distribution focal loss integral: softmax over reg_max bins, then a
    fixed 1x1 conv with weights 0..reg_max-1 (the expected bin)."""

    def __init__(self, c1=16):
        super().__init__()
        self.c1 = c1
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        w = torch.arange(c1, dtype=torch.float32).view(1, c1, 1, 1)
        self.conv.weight.data[:] = w

    def forward(self, x):
        b, _, a = x.shape
        x = x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)
        return self.conv(x).view(b, 4, a)


def make_anchors(shapes, strides, offset=0.5):
    """Anchor centres (in grid units) and per-anchor stride for feature maps
    of the given (h, w) shapes, in Ultralytics order. Returns ([2,N], [1,N])."""
    points, stride_col = [], []
    for (h, w), s in zip(shapes, strides):
        sx = torch.arange(w, dtype=torch.float32) + offset
        sy = torch.arange(h, dtype=torch.float32) + offset
        sy, sx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(s), dtype=torch.float32))
    return torch.cat(points).transpose(0, 1), torch.cat(stride_col).transpose(0, 1)


def dist2bbox(distance, anchor_points, dim=1):
    """(left, top, right, bottom) distances -> (cx, cy, w, h)."""
    lt, rb = distance.chunk(2, dim)
    x1y1 = anchor_points - lt
    x2y2 = anchor_points + rb
    return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)


class Detect(nn.Module):
    """Decoupled head: per level a box branch (4*reg_max DFL logits) and a
    class branch; export form: decoded xywh boxes in input pixels stacked on
    sigmoid class scores, [B, 4+nc, N]."""

    def __init__(self, nc, ch, strides=(8, 16, 32)):
        super().__init__()
        self.nc, self.reg_max = nc, 16
        self.no = nc + 4 * self.reg_max
        self.stride = strides
        c2 = max(16, ch[0] // 4, self.reg_max * 4)
        c3 = max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(
            Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1))
            for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(
            Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1))
            for x in ch)
        self.dfl = DFL(self.reg_max)
        self.shape = None
        self.anchors = self.strides = None
        self.dynamic = False  # True: anchors from the traced shapes (dynamic=True export)
        self.end2end = False  # True: YOLOv10's NMS-free export head, [B, max_det, 6]
        self.max_det = 300

    def forward(self, xs):
        xs = [torch.cat((b(x), c(x)), 1)
              for x, b, c in zip(xs, self.cv2, self.cv3)]
        shape = xs[0].shape
        # Anchors are cached from the first (eager) call, as Ultralytics does,
        # so the exported graph holds them as constants for the traced size.
        if self.end2end:
            return self.forward_end2end(xs)
        # With dynamic set they are made in every call from the feature maps'
        # shapes, which the tracer records as Shape/Gather/Range ops.
        if self.dynamic:
            self.anchors, self.strides = make_anchors(
                [x.shape[2:] for x in xs], self.stride)
        else:
            hw = [tuple(int(d) for d in x.shape[2:]) for x in xs]
            if self.shape != hw:
                self.anchors, self.strides = make_anchors(hw, self.stride)
                self.shape = hw
        x_cat = torch.cat([x.view(shape[0], self.no, -1) for x in xs], 2)
        box, cls = x_cat.split((self.reg_max * 4, self.nc), 1)
        dbox = dist2bbox(self.dfl(box), self.anchors.unsqueeze(0)) * self.strides
        return torch.cat((dbox, cls.sigmoid()), 1)


def detect_forward_end2end(self, xs):
    """YOLOv10's end-to-end export (Ultralytics Detect.postprocess): boxes as
    corners in input pixels; the max_det anchors with the best class score,
    then the max_det best (anchor, class) pairs among them; [B, max_det, 6]
    rows x1, y1, x2, y2, score, class. TopK and GatherElements run inside
    the graph; no NMS."""
    hw = [tuple(int(d) for d in x.shape[2:]) for x in xs]
    if self.shape != hw:
        self.anchors, self.strides = make_anchors(hw, self.stride)
        self.shape = hw
    b = xs[0].shape[0]
    x_cat = torch.cat([x.view(b, self.no, -1) for x in xs], 2)
    box, cls = x_cat.split((self.reg_max * 4, self.nc), 1)
    lt, rb = self.dfl(box).chunk(2, 1)
    a = self.anchors.unsqueeze(0)
    dbox = torch.cat((a - lt, a + rb), 1) * self.strides
    preds = torch.cat((dbox, cls.sigmoid()), 1).permute(0, 2, 1)
    k = min(self.max_det, preds.shape[1])
    boxes, scores = preds.split([4, self.nc], dim=-1)
    index = scores.amax(dim=-1).topk(k)[1].unsqueeze(-1)
    boxes = boxes.gather(dim=1, index=index.repeat(1, 1, 4))
    scores = scores.gather(dim=1, index=index.repeat(1, 1, self.nc))
    scores, index = scores.flatten(1).topk(k)
    i = torch.arange(b)[..., None]
    return torch.cat([boxes[i, index // self.nc], scores[..., None],
                      (index % self.nc)[..., None].float()], dim=-1)


Detect.forward_end2end = detect_forward_end2end


class YOLOv8(nn.Module):
    """YOLOv8 detection model; depth/width multiples select the scale."""

    def __init__(self, nc=80, depth=0.33, width=0.25, max_ch=1024):
        super().__init__()

        def ch(c):
            return int(math.ceil(min(c, max_ch) * width / 8) * 8)

        def n(k):
            return max(round(k * depth), 1)

        c64, c128, c256, c512, c1024 = (ch(c) for c in (64, 128, 256, 512, 1024))
        self.b0 = Conv(3, c64, 3, 2)                 # P1/2
        self.b1 = Conv(c64, c128, 3, 2)              # P2/4
        self.b2 = C2f(c128, c128, n(3), True)
        self.b3 = Conv(c128, c256, 3, 2)             # P3/8
        self.b4 = C2f(c256, c256, n(6), True)
        self.b5 = Conv(c256, c512, 3, 2)             # P4/16
        self.b6 = C2f(c512, c512, n(6), True)
        self.b7 = Conv(c512, c1024, 3, 2)            # P5/32
        self.b8 = C2f(c1024, c1024, n(3), True)
        self.b9 = SPPF(c1024, c1024, 5)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.h12 = C2f(c1024 + c512, c512, n(3), False)
        self.h15 = C2f(c512 + c256, c256, n(3), False)   # P3 out
        self.h16 = Conv(c256, c256, 3, 2)
        self.h18 = C2f(c256 + c512, c512, n(3), False)   # P4 out
        self.h19 = Conv(c512, c512, 3, 2)
        self.h21 = C2f(c512 + c1024, c1024, n(3), False)  # P5 out
        self.detect = Detect(nc, (c256, c512, c1024))

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        h12 = self.h12(torch.cat((self.up(p5), p4), 1))
        h15 = self.h15(torch.cat((self.up(h12), p3), 1))
        h18 = self.h18(torch.cat((self.h16(h15), h12), 1))
        h21 = self.h21(torch.cat((self.h19(h18), p5), 1))
        return self.detect([h15, h18, h21])


# --------------------------------------------------------------------------
# YOLOv5n (v6.0), from the public architecture (yolov5n.yaml)
# --------------------------------------------------------------------------

class C3(nn.Module):
    """cv3(cat(m(cv1(x)), cv2(x))) with YOLOv5's 1x1-3x3 Bottlenecks."""

    def __init__(self, c1, c2, n=1, shortcut=True, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = ConvG(c1, c_, 1)
        self.cv2 = ConvG(c1, c_, 1)
        self.cv3 = ConvG(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck11(c_, c_, shortcut, k=(1, 3), e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


YOLOV5_ANCHORS = ((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119),
                  (116, 90, 156, 198, 373, 326))


class Detect5(nn.Module):
    """YOLOv5's anchor-based head in export form: per level sigmoid, xy =
    (2 s - 0.5 + grid) * stride, wh = (2 s)^2 * anchor, [B, 3*H*W summed
    over levels, 5 + C] rows cx, cy, w, h, objectness, class probabilities."""

    def __init__(self, nc, ch, strides=(8, 16, 32)):
        super().__init__()
        self.nc, self.no, self.na = nc, nc + 5, 3
        self.stride = strides
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.anchors = torch.tensor(YOLOV5_ANCHORS, dtype=torch.float32).view(3, 3, 2)

    def forward(self, xs):
        z = []
        for i, x in enumerate(xs):
            x = self.m[i](x)
            bs, _, ny, nx = (int(d) for d in x.shape)
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            yv, xv = torch.meshgrid(torch.arange(ny, dtype=torch.float32),
                                    torch.arange(nx, dtype=torch.float32), indexing="ij")
            grid = torch.stack((xv, yv), 2).expand(1, self.na, ny, nx, 2) - 0.5
            agrid = self.anchors[i].view(1, self.na, 1, 1, 2).expand(1, self.na, ny, nx, 2)
            y = x.sigmoid()
            xy, wh, conf = y.split((2, 2, self.nc + 1), 4)
            xy = (xy * 2 + grid) * self.stride[i]
            wh = (wh * 2) ** 2 * agrid
            z.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * nx * ny, self.no))
        return torch.cat(z, 1)


class YOLOv5(nn.Module):
    """YOLOv5 v6.0 detection model; n scale by default."""

    def __init__(self, nc=80, depth=0.33, width=0.25):
        super().__init__()

        def ch(c):
            return int(math.ceil(c * width / 8) * 8)

        def n(k):
            return max(round(k * depth), 1)

        c64, c128, c256, c512, c1024 = (ch(c) for c in (64, 128, 256, 512, 1024))
        self.b0 = ConvG(3, c64, 6, 2)  # k 6 s 2 p 2 (k // 2 - 1 below)
        self.b0.conv.padding = (2, 2)
        self.b1 = ConvG(c64, c128, 3, 2)
        self.b2 = C3(c128, c128, n(3))
        self.b3 = ConvG(c128, c256, 3, 2)
        self.b4 = C3(c256, c256, n(6))
        self.b5 = ConvG(c256, c512, 3, 2)
        self.b6 = C3(c512, c512, n(9))
        self.b7 = ConvG(c512, c1024, 3, 2)
        self.b8 = C3(c1024, c1024, n(3))
        self.b9 = SPPF(c1024, c1024, 5)
        self.h10 = ConvG(c1024, c512, 1)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.h13 = C3(c512 + c512, c512, n(3), False)
        self.h14 = ConvG(c512, c256, 1)
        self.h17 = C3(c256 + c256, c256, n(3), False)
        self.h18 = ConvG(c256, c256, 3, 2)
        self.h20 = C3(c256 + c256, c512, n(3), False)
        self.h21 = ConvG(c512, c512, 3, 2)
        self.h23 = C3(c512 + c512, c1024, n(3), False)
        self.detect = Detect5(nc, (c256, c512, c1024))

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        h10 = self.h10(self.b9(self.b8(self.b7(p4))))
        h14 = self.h14(self.h13(torch.cat((self.up(h10), p4), 1)))
        h17 = self.h17(torch.cat((self.up(h14), p3), 1))
        h20 = self.h20(torch.cat((self.h18(h17), h14), 1))
        h23 = self.h23(torch.cat((self.h21(h20), h10), 1))
        return self.detect([h17, h20, h23])


# --------------------------------------------------------------------------
# YOLO11n, from the public architecture (Ultralytics yolo11.yaml, scale n)
# --------------------------------------------------------------------------

class ConvG(nn.Module):
    """Conv2d(bias=False) + BatchNorm2d + optional SiLU with groups (DWConv
    when g = channels)."""

    def __init__(self, c1, c2, k=1, s=1, g=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck11(nn.Module):
    def __init__(self, c1, c2, shortcut=True, k=(3, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = ConvG(c1, c_, k[0])
        self.cv2 = ConvG(c_, c2, k[1])
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3k(nn.Module):
    """C3 with n 3x3 Bottlenecks: cv3(cat(m(cv1(x)), cv2(x)))."""

    def __init__(self, c1, c2, n=2, shortcut=True, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = ConvG(c1, c_, 1)
        self.cv2 = ConvG(c1, c_, 1)
        self.cv3 = ConvG(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck11(c_, c_, shortcut, e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k2(nn.Module):
    """C2f whose blocks are C3k (c3k) or Bottlenecks."""

    def __init__(self, c1, c2, n=1, c3k=False, e=0.5, shortcut=True):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = ConvG(c1, 2 * self.c, 1)
        self.cv2 = ConvG((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(C3k(self.c, self.c, 2, shortcut) if c3k
                               else Bottleneck11(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class Attention11(nn.Module):
    """Ultralytics' area attention of PSA: qkv by a 1x1 conv, softmax(q^T k)
    over the H*W positions per head, plus a depthwise positional conv of v."""

    def __init__(self, dim, num_heads=8, attn_ratio=0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim ** -0.5
        h = dim + self.key_dim * num_heads * 2
        self.qkv = ConvG(dim, h, 1, act=False)
        self.proj = ConvG(dim, dim, 1, act=False)
        self.pe = ConvG(dim, dim, 3, 1, g=dim, act=False)

    def forward(self, x):
        B, C, H, W = x.shape
        N = H * W
        qkv = self.qkv(x)
        q, k, v = qkv.view(B, self.num_heads, self.key_dim * 2 + self.head_dim, N).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)
        x = (v @ attn.transpose(-2, -1)).view(B, C, H, W) + self.pe(v.reshape(B, C, H, W))
        return self.proj(x)


class PSABlock(nn.Module):
    def __init__(self, c, attn_ratio=0.5, num_heads=4):
        super().__init__()
        self.attn = Attention11(c, attn_ratio=attn_ratio, num_heads=num_heads)
        self.ffn = nn.Sequential(ConvG(c, c * 2, 1), ConvG(c * 2, c, 1, act=False))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.ffn(x)


class C2PSA(nn.Module):
    def __init__(self, c1, c2, n=1, e=0.5):
        super().__init__()
        self.c = int(c1 * e)
        self.cv1 = ConvG(c1, 2 * self.c, 1)
        self.cv2 = ConvG(2 * self.c, c1, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, 0.5, self.c // 64) for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


class Detect11(Detect):
    """YOLO11's head: Detect with depthwise-separable class branches."""

    def __init__(self, nc, ch, strides=(8, 16, 32)):
        super().__init__(nc, ch, strides)
        c3 = max(ch[0], min(nc, 100))
        self.cv3 = nn.ModuleList(nn.Sequential(
            nn.Sequential(ConvG(x, x, 3, g=x), ConvG(x, c3, 1)),
            nn.Sequential(ConvG(c3, c3, 3, g=c3), ConvG(c3, c3, 1)),
            nn.Conv2d(c3, nc, 1)) for x in ch)


class YOLO11(nn.Module):
    """YOLO11 detection model (yolo11.yaml); n scale by default."""

    def __init__(self, nc=80, depth=0.5, width=0.25, max_ch=1024):
        super().__init__()

        def ch(c):
            return int(math.ceil(min(c, max_ch) * width / 8) * 8)

        def n(k):
            return max(round(k * depth), 1)

        c64, c128, c256, c512, c1024 = (ch(c) for c in (64, 128, 256, 512, 1024))
        self.b0 = ConvG(3, c64, 3, 2)
        self.b1 = ConvG(c64, c128, 3, 2)
        self.b2 = C3k2(c128, c256, n(2), False, 0.25)
        self.b3 = ConvG(c256, c256, 3, 2)
        self.b4 = C3k2(c256, c512, n(2), False, 0.25)
        self.b5 = ConvG(c512, c512, 3, 2)
        self.b6 = C3k2(c512, c512, n(2), True)
        self.b7 = ConvG(c512, c1024, 3, 2)
        self.b8 = C3k2(c1024, c1024, n(2), True)
        self.b9 = SPPF(c1024, c1024, 5)
        self.b10 = C2PSA(c1024, c1024, n(2))
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.h13 = C3k2(c1024 + c512, c512, n(2), False)
        self.h16 = C3k2(c512 + c512, c256, n(2), False)   # P3
        self.h17 = ConvG(c256, c256, 3, 2)
        self.h19 = C3k2(c256 + c512, c512, n(2), False)   # P4
        self.h20 = ConvG(c512, c512, 3, 2)
        self.h22 = C3k2(c512 + c1024, c1024, n(2), True)  # P5
        self.detect = Detect11(nc, (c256, c512, c1024))

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        p5 = self.b10(self.b9(self.b8(self.b7(p4))))
        h13 = self.h13(torch.cat((self.up(p5), p4), 1))
        h16 = self.h16(torch.cat((self.up(h13), p3), 1))
        h19 = self.h19(torch.cat((self.h17(h16), h13), 1))
        h22 = self.h22(torch.cat((self.h20(h19), p5), 1))
        return self.detect([h16, h19, h22])


# --------------------------------------------------------------------------
# Seeded weights
# --------------------------------------------------------------------------

def _fill(t, values):
    t.data.copy_(torch.from_numpy(np.asarray(values, dtype=np.float32)))


def seed_weights(model, rng, skip=()):
    """Give every Conv/Linear/BatchNorm parameter a value drawn from rng
    (He-uniform weights, small biases, BN gamma in [0.5, 1.5), beta in
    [-0.5, 0.5)). Modules listed in skip keep their values."""
    for mod in model.modules():
        if mod in skip:
            continue
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            w = mod.weight
            fan_in = w[0].numel()
            bound = math.sqrt(6.0 / fan_in)
            _fill(w, rng.uniform(-bound, bound, w.shape))
            if mod.bias is not None:
                b = 1.0 / math.sqrt(fan_in)
                _fill(mod.bias, rng.uniform(-b, b, mod.bias.shape))
        elif isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            _fill(mod.weight, rng.uniform(0.5, 1.5, c))
            _fill(mod.bias, rng.uniform(-0.5, 0.5, c))


def _round_bits(x, bits=12):
    """Round to `bits` significant bits so that float64 noise from different
    BLAS kernels cannot change the stored float32 value."""
    m, e = np.frexp(x)
    return np.ldexp(np.round(m * (1 << bits)) / (1 << bits), e)


def calibrate_bn(model, batch, rng):
    """Set every BatchNorm's running mean/var to the statistics of `batch`
    (computed in float64, BN layers in training mode, everything else in
    eval mode), rounded, then perturbed with seeded noise so the statistics
    are not exactly the data's. Leaves the model in eval mode, float32."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    model.double().eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum_saved, bn.momentum = bn.momentum, None
        bn.train()
    with torch.no_grad():
        model(torch.from_numpy(batch).double())
    model.float().eval()
    for bn in bns:
        bn.momentum = bn.momentum_saved
        del bn.momentum_saved
        mean = bn.running_mean.double().numpy()
        var = bn.running_var.double().numpy()
        c = bn.num_features
        mean = mean + 0.1 * np.sqrt(var) * rng.uniform(-1.0, 1.0, c)
        var = var * np.exp(rng.uniform(-0.2, 0.2, c))
        _fill(bn.running_mean, _round_bits(mean))
        _fill(bn.running_var, _round_bits(np.maximum(var, 1e-4)))
        bn.num_batches_tracked.zero_()


# --------------------------------------------------------------------------
# Cost and export
# --------------------------------------------------------------------------

def count_macs(model, x):
    """Multiply-accumulates of Conv2d and Linear layers for one forward on x
    (per image). Returns (macs, per-kind dict)."""
    totals = collections.Counter()

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.weight[0].numel()  # (in/groups) * kh * kw
            totals["Conv"] += out.numel() // out.shape[0] * k
        else:
            totals["Linear"] += out.numel() // out.shape[0] * mod.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return sum(totals.values()), dict(totals)


def fused_params(model):
    """Parameter count after folding each BatchNorm into the conv before it
    (what an inference engine stores): BN gamma/beta disappear, each
    bias-free conv followed by BN gains a bias."""
    total = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            total += m.weight.numel()
            total += m.bias.numel() if m.bias is not None else 0
        elif isinstance(m, nn.BatchNorm2d):
            total += m.num_features  # the bias folded into the conv
    return total


def export_onnx(model, x, path, opset, in_name, out_name, dynamic):
    """Export in eval mode (the exporter folds BatchNorm into Conv), check
    the result and return the loaded ModelProto."""
    axes = {in_name: {0: "batch"}, out_name: {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        # Expected: Detect's anchors are traced as constants for this size,
        # and torch 1.13 warns about its own prim::Constant shape inference.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*prim::Constant.*")
        torch.onnx.export(model, x, path, opset_version=opset,
                          do_constant_folding=True, input_names=[in_name],
                          output_names=[out_name], dynamic_axes=axes)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def finalize_onnx(path, props, out_dims):
    """Store string metadata_props in the model (as Ultralytics does) and
    write the static output dims the exporter's shape inference lost behind
    the dynamic-batch Reshapes (it names them Concatoutput0_dim_N)."""
    m = onnx.load(path)
    del m.metadata_props[:]
    for k, v in props.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = k, str(v)
    dims = m.graph.output[0].type.tensor_type.shape.dim
    assert len(dims) == len(out_dims)
    for d, v in zip(dims, out_dims):
        if isinstance(v, int):
            d.dim_value = v
        else:
            d.dim_param = v
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m


def graph_summary(m):
    ops = collections.Counter(n.op_type for n in m.graph.node)
    inits = {i.name for i in m.graph.initializer}

    def shape(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    return {
        "op_counts": dict(sorted(ops.items())),
        "nodes": len(m.graph.node),
        "initializer_elements": int(sum(
            int(np.prod(i.dims)) for i in m.graph.initializer)),
        "inputs": {v.name: shape(v) for v in m.graph.input if v.name not in inits},
        "outputs": {v.name: shape(v) for v in m.graph.output},
    }


def write_tensor(path, array, name):
    t = onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_yaml(path, comment, fields):
    """Flat YAML: one `key: value` a line; lists in flow style, unquoted."""
    lines = ["# " + comment]
    for k, v in fields.items():
        if isinstance(v, (list, tuple)):
            v = "[" + ", ".join(str(e) for e in v) + "]"
        lines.append(f"{k}: {v}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# A case checks something only if its output depends on its input: the
# output for the photos upside down must differ from the output for the
# photos by at least this relative L2 (100x the 1e-4 `glint check` uses on
# the models). tests/cli/sensitivity.py checks the committed cases the same way.
MIN_SENSITIVITY = 1e-2


def rel_l2(a, b):
    return float(np.sqrt(((a.astype(np.float64) - b) ** 2).sum() / max((b.astype(np.float64) ** 2).sum(), 1e-300)))


def sensitivity(model, x, y, where):
    """Relative L2 change of the output when x (N, C, H, W) is flipped upside
    down; exits if it is below MIN_SENSITIVITY."""
    with torch.no_grad():
        y2 = model(torch.from_numpy(np.ascontiguousarray(x[:, :, ::-1, :]))).numpy()
    s = rel_l2(y2, y)
    print(f"{where}: output sensitivity (photos flipped) rel L2 {s:.3g}")
    if not s >= MIN_SENSITIVITY:
        sys.exit(f"gen_models: {where}: the output hardly depends on the input (rel L2 {s:.3g} < "
                 f"{MIN_SENSITIVITY}); calibrate BatchNorm on photos or change the seeds")
    return s


def write_case(out_dir, spec, model, in_name, out_name):
    """Compute and write test_data_set_N for each batch of photos in spec:
    [(photo names, input array)], after checking that each output depends on
    its input (sensitivity). Returns the per-set record for JSON."""
    sets = []
    for i, (names, x) in enumerate(spec):
        d = os.path.join(out_dir, f"test_data_set_{i}")
        os.makedirs(d, exist_ok=True)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        if not np.isfinite(y).all():
            sys.exit(f"gen_models: non-finite output in {d}")
        sensitivity(model, x, y, d)
        write_tensor(os.path.join(d, "input_0.pb"), x, in_name)
        write_tensor(os.path.join(d, "output_0.pb"), y, out_name)
        sets.append({"dir": os.path.basename(d), "photos": names,
                     "input_shape": list(x.shape), "output_shape": list(y.shape),
                     "output_stats": stats(y)})
    return sets


def stats(y):
    return {"min": float(y.min()), "max": float(y.max()),
            "mean": float(y.mean()), "std": float(y.std())}


def finish(out_dir, name, model, m_onnx, macs, macs_by_kind, extra):
    """Write reference.json and print the summary for one model."""
    summ = graph_summary(m_onnx)
    params = sum(p.numel() for p in model.parameters())
    ref = {
        "name": name,
        "weights": "seeded, untrained (tools/gen_models.py)",
        "params": params,
        "params_fused": fused_params(model),
        "macs": macs,
        "macs_by_kind": macs_by_kind,
        "flops": 2 * macs,
        "gflops": round(2 * macs / 1e9, 3),
        "opset": m_onnx.opset_import[0].version,
        **summ,
        "model_sha256": sha256(os.path.join(out_dir, "model.onnx")),
        "versions": {"torch": torch.__version__,
                     "torchvision": torchvision.__version__,
                     "onnx": onnx.__version__, "numpy": np.__version__},
        **extra,
    }
    text = json.dumps(ref, indent=1)
    # Lists of scalars (shapes, photo names) on one line each.
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",
                  lambda mt: "[" + re.sub(r",\s+", ", ", mt.group(1)) + "]", text)
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        f.write(text + "\n")
    print(f"{name}: params {params:,} (BN folded {ref['params_fused']:,}), "
          f"{ref['gflops']} GFLOPs, opset {ref['opset']}, "
          f"{summ['nodes']} nodes")
    print("  ops: " + ", ".join(f"{k} {v}" for k, v in summ["op_counts"].items()))
    for s in extra["test_data_sets"]:
        print(f"  {s['dir']}: {s['photos']} -> {s['output_shape']} "
              f"range [{s['output_stats']['min']:.4g}, "
              f"{s['output_stats']['max']:.4g}]"
              + (f", {s['anchors_over_0.25']} anchors score > 0.25"
                 if "anchors_over_0.25" in s else ""))


# --------------------------------------------------------------------------
# The three models
# --------------------------------------------------------------------------

YOLO_SIZE = 640
# Gain on the class-logit convs' seeded weights, with Ultralytics' class bias
# prior log(5 / nc / (640 / stride)^2): tuned once so that a photo yields
# tens of boxes over 0.25, like a trained model, not none or thousands.
YOLO_CLS_GAIN = 2.5


def yolo_input(photos_dir, names):
    xs, infos = [], []
    for n in names:
        img, info = letterbox(load_rgb(photos_dir, n), YOLO_SIZE)
        xs.append(to_nchw(img, [0, 0, 0], [1, 1, 1]))
        infos.append({"photo": n + ".jpg", **info})
    return np.concatenate(xs), infos


def build_yolov8n(photos_dir):
    """The seeded YOLOv8n both exports share."""
    torch.manual_seed(0)
    rng = np.random.default_rng(8)
    model = YOLOv8(nc=80)
    det = model.detect
    seed_weights(model, rng, skip=(det.dfl.conv,))
    for box, cls, s in zip(det.cv2, det.cv3, det.stride):
        # Ultralytics' box prior is 1.0; jitter it so the three levels' biases
        # differ (the exporter would merge equal initializers into Identity).
        _fill(box[-1].bias, rng.uniform(0.9, 1.1, box[-1].bias.shape))
        cls[-1].weight.data *= YOLO_CLS_GAIN
        prior = math.log(5 / det.nc / (YOLO_SIZE / s) ** 2)
        _fill(cls[-1].bias, np.full(cls[-1].bias.shape, prior))
    calib, _ = yolo_input(photos_dir, CALIB_PHOTOS)
    calibrate_bn(model, calib, rng)
    return model


YOLO_NAMES_META = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(COCO_NAMES)) + "}"


def write_detect_yaml(out_dir, name, comment, layout=None, iou=True):
    """model.yaml of a YOLO export: letterbox to 640, x/255, COCO labels."""
    fields = {"name": name, "task": "detect"}
    if layout:
        fields["layout"] = layout
    fields.update({"input": "images", "width": YOLO_SIZE, "height": YOLO_SIZE,
                   "resize": "letterbox", "mean": [0, 0, 0], "std": [1, 1, 1],
                   "score_threshold": 0.25})
    if iou:
        fields["iou_threshold"] = 0.45
    fields.update({"max_detections": 300, "labels": COCO_NAMES})
    write_yaml(os.path.join(out_dir, "model.yaml"), comment, fields)


def finish_yolo(out_dir, name, model, m, macs, by_kind, seed, preprocess, infos, sets):
    """reference.json of a YOLO export seeded like models/yolov8n."""
    finish(out_dir, name, model, m, macs, by_kind, {
        "seed": {"numpy_pcg64": seed, "torch": 0},
        "preprocess": preprocess,
        "preprocess_info": infos,
        "calibration_photos": [n + ".jpg" for n in CALIB_PHOTOS],
        "test_data_sets": sets})


def gen_yolov8n(out_dir, photos_dir):
    model = build_yolov8n(photos_dir)
    det = model.detect
    x0, info0 = yolo_input(photos_dir, ["dog"])
    x1, info1 = yolo_input(photos_dir, ["horses", "person"])
    macs, by_kind = count_macs(model, torch.from_numpy(x0))
    path = os.path.join(out_dir, "model.onnx")
    export_onnx(model, torch.from_numpy(x0), path, 17, "images", "output0", True)
    names = YOLO_NAMES_META
    m = finalize_onnx(path, {
        "description": "YOLOv8n architecture with seeded, untrained weights "
                       "(glint tools/gen_models.py)",
        "author": "glint", "version": "8.0.0-glint-seeded", "task": "detect",
        "stride": 32, "batch": 1, "imgsz": [YOLO_SIZE, YOLO_SIZE],
        "names": names}, ["batch", 4 + det.nc, det.anchors.shape[1]])
    sets = write_case(out_dir, [(["dog.jpg"], x0),
                                (["horses.jpg", "person.jpg"], x1)],
                      model, "images", "output0")
    with torch.no_grad():
        y = model(torch.from_numpy(x0)).numpy()[0]
    best = y[4:].max(0)
    sets[0]["anchors_over_0.25"] = int((best > 0.25).sum())
    write_detect_yaml(out_dir, "yolov8n",
                      "YOLOv8n architecture (n scale) with seeded, untrained weights: "
                      "tests speed and plumbing, its detections mean nothing", layout="yolov8")
    finish_yolo(out_dir, "yolov8n", model, m, macs, by_kind, 8,
                "RGB, letterbox to 640x640 (bilinear half-pixel resize "
                "without antialiasing, rounded to uint8; pad 114, "
                "centred), /255, NCHW float32",
                info0 + info1, sets)


def gen_yolov8n_dyn(out_dir, photos_dir):
    """The same seeded YOLOv8n exported as Ultralytics' dynamic=True does:
    batch, height and width free, anchors computed in the graph from the
    feature maps' shapes. Its cases are rect-letterboxed photos (640x480,
    640x448) and a square batch of two, so one file is checked at three
    shapes."""
    model = build_yolov8n(photos_dir)
    det = model.detect
    det.dynamic = True
    xs, infos = [], []
    for n in ["dog", "person"]:
        img, info = letterbox_rect(load_rgb(photos_dir, n), YOLO_SIZE)
        xs.append(to_nchw(img, [0, 0, 0], [1, 1, 1]))
        infos.append({"photo": n + ".jpg", **info})
    x2, info2 = yolo_input(photos_dir, ["person"])
    # the same weights as models/yolov8n: its committed square output
    fixed = os.path.join(os.path.dirname(out_dir), "yolov8n", "test_data_set_1")
    if os.path.isfile(os.path.join(fixed, "output_0.pb")):
        want = onnx.numpy_helper.to_array(onnx.load_tensor(os.path.join(fixed, "output_0.pb")))[1:]
        with torch.no_grad():
            got = model(torch.from_numpy(x2)).numpy()
        if rel_l2(got, want) > 1e-5:
            sys.exit(f"gen_models: yolov8n_dyn differs from models/yolov8n ({rel_l2(got, want):.3g})")
    macs, by_kind = count_macs(model, torch.from_numpy(xs[0]))
    path = os.path.join(out_dir, "model.onnx")
    axes = {"images": {0: "batch", 2: "height", 3: "width"},
            "output0": {0: "batch", 2: "anchors"}}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*prim::Constant.*")
        torch.onnx.export(model, torch.from_numpy(xs[0]), path, opset_version=17,
                          do_constant_folding=True, input_names=["images"],
                          output_names=["output0"], dynamic_axes=axes)
    m = finalize_onnx(path, {
        "description": "YOLOv8n architecture with seeded, untrained weights, "
                       "dynamic export (glint tools/gen_models.py)",
        "author": "glint", "version": "8.0.0-glint-seeded", "task": "detect",
        "stride": 32, "batch": 1, "imgsz": [YOLO_SIZE, YOLO_SIZE],
        "args": "{'batch': 1, 'dynamic': True}",
        "names": YOLO_NAMES_META}, ["batch", 4 + det.nc, "anchors"])
    sets = write_case(out_dir, [(["dog.jpg"], xs[0]), (["person.jpg"], xs[1]),
                                (["person.jpg"], x2)],
                      model, "images", "output0")
    write_detect_yaml(out_dir, "yolov8n_dyn",
                      "YOLOv8n (seeded, untrained weights) exported with free batch, "
                      "height and width: served with rect letterboxing", layout="yolov8")
    finish_yolo(out_dir, "yolov8n_dyn", model, m, macs, by_kind, 8,
                "RGB, rect letterbox: long side to 640, short side "
                "padded (114, centred) to a multiple of 32 (bilinear "
                "half-pixel resize without antialiasing, rounded to "
                "uint8); set 2 square 640x640; /255, NCHW float32",
                infos + info2, sets)


def gen_yolo11n(out_dir, photos_dir):
    """YOLO11n from the public architecture (C3k2 blocks, C2PSA attention,
    depthwise-separable class branches), seeded like YOLOv8n, exported as
    Ultralytics does (opset 17, dynamic batch, output0 [B, 84, 8400]). One
    case (the dog photo) keeps the repository small; the batch axis is the
    other YOLO models' to check."""
    torch.manual_seed(0)
    rng = np.random.default_rng(11)
    model = YOLO11(nc=80)
    det = model.detect
    seed_weights(model, rng, skip=(det.dfl.conv,))
    for box, cls, st in zip(det.cv2, det.cv3, det.stride):
        _fill(box[-1].bias, rng.uniform(0.9, 1.1, box[-1].bias.shape))
        cls[-1].weight.data *= YOLO_CLS_GAIN
        prior = math.log(5 / det.nc / (YOLO_SIZE / st) ** 2)
        _fill(cls[-1].bias, np.full(cls[-1].bias.shape, prior))
    calib, _ = yolo_input(photos_dir, CALIB_PHOTOS)
    calibrate_bn(model, calib, rng)
    x0, info0 = yolo_input(photos_dir, ["dog"])
    macs, by_kind = count_macs(model, torch.from_numpy(x0))
    path = os.path.join(out_dir, "model.onnx")
    export_onnx(model, torch.from_numpy(x0), path, 17, "images", "output0", True)
    m = finalize_onnx(path, {
        "description": "YOLO11n architecture with seeded, untrained weights "
                       "(glint tools/gen_models.py)",
        "author": "glint", "version": "11.0.0-glint-seeded", "task": "detect",
        "stride": 32, "batch": 1, "imgsz": [YOLO_SIZE, YOLO_SIZE],
        "names": YOLO_NAMES_META}, ["batch", 4 + det.nc, det.anchors.shape[1]])
    sets = write_case(out_dir, [(["dog.jpg"], x0)], model, "images", "output0")
    write_detect_yaml(out_dir, "yolo11n",
                      "YOLO11n architecture (n scale) with seeded, untrained weights: "
                      "tests speed and plumbing, its detections mean nothing", layout="yolo11")
    finish_yolo(out_dir, "yolo11n", model, m, macs, by_kind, 11,
                "as models/yolov8n",
                info0, sets)


def gen_yolov5n(out_dir, photos_dir):
    """YOLOv5n (v6.0) from the public architecture, seeded, with YOLOv5's
    bias priors (objectness log(8 / cells), classes log(0.6 / (nc - 0.99))),
    exported as its export.py does: opset 12, dynamic batch, output0
    [B, 25200, 85] (anchor-based; score = objectness x class)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(5)
    model = YOLOv5(nc=80)
    det = model.detect
    seed_weights(model, rng)
    for conv, st in zip(det.m, det.stride):
        b = conv.bias.data.view(det.na, det.no)
        b[:, 4] += math.log(8 / (YOLO_SIZE / st) ** 2)
        b[:, 5:] += math.log(0.6 / (det.nc - 0.99))
        conv.weight.data *= YOLO_CLS_GAIN
    calib, _ = yolo_input(photos_dir, CALIB_PHOTOS)
    calibrate_bn(model, calib, rng)
    x0, info0 = yolo_input(photos_dir, ["dog"])
    macs, by_kind = count_macs(model, torch.from_numpy(x0))
    path = os.path.join(out_dir, "model.onnx")
    export_onnx(model, torch.from_numpy(x0), path, 12, "images", "output0", True)
    m = finalize_onnx(path, {"stride": 32, "names": YOLO_NAMES_META},
                      ["batch", 25200, 4 + 1 + det.nc])
    sets = write_case(out_dir, [(["dog.jpg"], x0)], model, "images", "output0")
    write_detect_yaml(out_dir, "yolov5n",
                      "YOLOv5n (v6.0) architecture with seeded, untrained weights: tests the "
                      "anchor-based head and its decoding, its detections mean nothing", layout="yolov5")
    finish_yolo(out_dir, "yolov5n", model, m, macs, by_kind, 5,
                "as models/yolov8n",
                info0, sets)


def gen_yolov8n_e2e(out_dir, photos_dir):
    """The seeded YOLOv8n network with YOLOv10's NMS-free export head:
    output [B, 300, 6] (x1, y1, x2, y2, score, class), TopK and
    GatherElements inside the graph. The backbone is v8's (YOLOv10n's own
    blocks are convolutions of the kinds v8 has, plus attention); what this
    model tests is the end-to-end head and its decoding."""
    model = build_yolov8n(photos_dir)
    det = model.detect
    det.end2end = True
    x0, info0 = yolo_input(photos_dir, ["dog"])
    x1, info1 = yolo_input(photos_dir, ["horses", "eagle"])
    macs, by_kind = count_macs(model, torch.from_numpy(x0))
    path = os.path.join(out_dir, "model.onnx")
    export_onnx(model, torch.from_numpy(x0), path, 17, "images", "output0", True)
    m = finalize_onnx(path, {
        "description": "YOLOv8n network with seeded, untrained weights and YOLOv10's "
                       "end-to-end (NMS-free) export head (glint tools/gen_models.py)",
        "author": "glint", "version": "8.0.0-glint-seeded", "task": "detect",
        "stride": 32, "batch": 1, "imgsz": [YOLO_SIZE, YOLO_SIZE],
        "args": "{'batch': 1, 'nms': False, 'end2end': True}",
        "names": YOLO_NAMES_META}, ["batch", det.max_det, 6])
    sets = write_case(out_dir, [(["dog.jpg"], x0), (["horses.jpg", "eagle.jpg"], x1)],
                      model, "images", "output0")
    write_detect_yaml(out_dir, "yolov8n_e2e",
                      "YOLOv8n (seeded, untrained weights) with YOLOv10's NMS-free export head: "
                      "tests the end-to-end decoding, its detections mean nothing", iou=False)
    finish_yolo(out_dir, "yolov8n_e2e", model, m, macs, by_kind, 8,
                "as models/yolov8n",
                info0 + info1, sets)


SSD_SIZE = 320


def ssd_input(photos_dir, name):
    """torchvision's detection transform for SSDlite: the photo stretched to
    320x320 (its fixed size; bilinear, half-pixel, rounded to uint8), /255."""
    img = load_rgb(photos_dir, name)
    h, w, _ = img.shape
    x = to_nchw(resize_bilinear(img, SSD_SIZE, SSD_SIZE), [0, 0, 0], [1, 1, 1])
    return x, {"photo": name + ".jpg", "source": [w, h], "resized": [SSD_SIZE, SSD_SIZE]}


class SSDExport(nn.Module):
    """A torchvision detector as its users export it: one image in (here as a
    batch of one, [1, 3, H, W] in 0..1), the model's own transform
    (normalise, resize to 320x320) and post-processing (per-class score
    filter and top-k, batched NMS, boxes back to input pixels) in the graph;
    out boxes [N, 4] (x1, y1, x2, y2), scores [N], labels [N] (int64)."""

    def __init__(self, det):
        super().__init__()
        self.det = det

    def forward(self, x):
        d = self.det([x[0]])[0]
        return d["boxes"], d["scores"], d["labels"]


def gen_ssdlite(out_dir, photos_dir):
    """torchvision's ssdlite320_mobilenet_v3_large (COCO's 91 class ids),
    seeded; exported with its post-processing, which the exporter writes
    with NonZero, GatherND, a TopK of data-dependent k per class, Concat of
    90 inputs, and batched NMS inside an If (NonMaxSuppression). score_thresh
    0.5 (torchvision's default is 0.001) keeps the seeded model's detections
    well apart in score, so that float rounding cannot reorder them."""
    torch.manual_seed(0)
    rng = np.random.default_rng(31)
    ssd = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=91)
    seed_weights(ssd, rng)

    class Features(nn.Module):  # backbone and head, for BatchNorm calibration
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.head(list(self.m.backbone((x - 0.5) / 0.5).values()))["cls_logits"]

    calib = np.concatenate([ssd_input(photos_dir, n)[0] for n in CALIB_PHOTOS])
    calibrate_bn(Features(ssd), calib, rng)
    ssd.score_thresh = 0.5
    model = SSDExport(ssd).eval()
    photos = ["dog", "eagle", "horses"]  # horses: no box over 0.5 (the empty branch)
    xs = [ssd_input(photos_dir, n) for n in photos]
    x0 = torch.from_numpy(xs[0][0])
    macs, by_kind = count_macs(Features(ssd), x0)
    path = os.path.join(out_dir, "model.onnx")
    out_names = ["boxes", "scores", "labels"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        torch.onnx.export(model, x0, path, opset_version=13, do_constant_folding=True,
                          input_names=["images"], output_names=out_names)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    sets = []
    for i, (x, info) in enumerate(xs):
        d = os.path.join(out_dir, f"test_data_set_{i}")
        os.makedirs(d, exist_ok=True)
        with torch.no_grad():
            ys = [t.numpy() for t in model(torch.from_numpy(x))]
        write_tensor(os.path.join(d, "input_0.pb"), x, "images")
        for k, (y, nm) in enumerate(zip(ys, out_names)):
            write_tensor(os.path.join(d, f"output_{k}.pb"), y, nm)
        sets.append({"dir": os.path.basename(d), "photos": [info["photo"]],
                     "input_shape": list(x.shape), "output_shape": list(ys[0].shape),
                     "output_stats": stats(ys[1]) if len(ys[1]) else stats(np.zeros(1)),
                     "labels": ys[2].tolist()[:10]})
    # What `glint run` must answer for pictures in tests/data/ssdlite: the
    # photos already stretched to 320x320 (PNG), so that the tensor glint
    # prepares is exactly this one: the seeded network is chaotic enough that
    # half a grey level on a few pixels changes its answer. dog_wide.png
    # repeats each column of dog.png (640x320), which glint's stretch
    # resamples back to the same tensor: the same boxes, x doubled.
    answers = {}
    pics = os.path.join(REPO, "tests", "data", "ssdlite")
    os.makedirs(pics, exist_ok=True)
    for n in ("dog", "horses"):
        img = resize_bilinear(load_rgb(photos_dir, n), SSD_SIZE, SSD_SIZE)
        Image.fromarray(img).save(os.path.join(pics, n + ".png"), optimize=True)
        if n == "dog":
            Image.fromarray(np.repeat(img, 2, axis=1)).save(os.path.join(pics, "dog_wide.png"),
                                                            optimize=True)
        with torch.no_grad():
            bx, sc, lb = [t.numpy() for t in model(torch.from_numpy(
                to_nchw(img, [0, 0, 0], [1, 1, 1])))]
        answers[n + ".png"] = [
            {"class_id": int(lb[i]), "score": round(float(sc[i]), 5),
             "box": [round(float(v), 2) for v in bx[i]]}
            for i in range(len(sc))]
    write_yaml(os.path.join(out_dir, "model.yaml"),
               "torchvision SSDlite320-MobileNetV3 (seeded, untrained weights) exported with "
               "its post-processing: tests run-time shapes, its detections mean nothing",
               {"name": "ssdlite", "task": "detect", "input": "images",
                "width": SSD_SIZE, "height": SSD_SIZE, "resize": "stretch",
                "mean": [0, 0, 0], "std": [1, 1, 1], "score_threshold": 0.5,
                "max_detections": 300,
                "labels": torchvision.models.detection.SSDLite320_MobileNet_V3_Large_Weights
                .COCO_V1.meta["categories"]})
    finish(out_dir, "ssdlite", model, m, macs, by_kind, {
        "seed": {"numpy_pcg64": 31, "torch": 0},
        "preprocess": "RGB, stretched to 320x320 (bilinear half-pixel without antialiasing, "
                      "rounded to uint8), /255, NCHW float32; the graph normalises",
        "preprocess_info": [info for _, info in xs],
        "calibration_photos": [n + ".jpg" for n in CALIB_PHOTOS],
        "test_data_sets": sets,
        "answers": answers})


RTDETR_SIZE = 640
RTDETR_CLS_GAIN = 2.5  # on the decoder's class weights: tens of queries over 0.25 a photo


def seed_detr(model, rng):
    """RT-DETR's own initialisation (rtdetr_pytorch _reset_parameters), drawn
    from rng: the transformer's linear layers as torch's default (uniform
    1/sqrt(fan_in); He-uniform, as seed_weights gives convolutions, makes the
    decoder chaotic: two engines' roundings then end 1% apart), attention
    projections Xavier, deformable attention's sampling offsets a ring of
    directions per head and nearly zero weights, and the box heads' last
    layers nearly zero (the boxes start at the selected anchors)."""
    from arch_rtdetr import MSDeformableAttention
    for mod in list(model.encoder.encoder.modules()) + list(model.decoder.modules()):
        if isinstance(mod, nn.Linear):
            b = 1.0 / math.sqrt(mod.weight.shape[1])
            _fill(mod.weight, rng.uniform(-b, b, mod.weight.shape))
            _fill(mod.bias, rng.uniform(-b, b, mod.bias.shape))
        elif isinstance(mod, nn.MultiheadAttention):
            w = mod.in_proj_weight
            b = math.sqrt(6.0 / (w.shape[0] + w.shape[1]))
            _fill(w, rng.uniform(-b, b, w.shape))
            _fill(mod.in_proj_bias, np.zeros(mod.in_proj_bias.shape))
    for mod in model.decoder.modules():
        if isinstance(mod, MSDeformableAttention):
            h, lv, pt = mod.nhead, mod.levels, mod.points
            th = np.arange(h) * (2.0 * math.pi / h)
            grid = np.stack([np.cos(th), np.sin(th)], -1)
            grid = grid / np.abs(grid).max(-1, keepdims=True)
            grid = np.tile(grid[:, None, None, :], (1, lv, pt, 1)) * np.arange(1, pt + 1)[None, None, :, None]
            for lin in (mod.sampling_offsets, mod.attention_weights):
                _fill(lin.weight, rng.uniform(-1e-3, 1e-3, lin.weight.shape))
            _fill(mod.sampling_offsets.bias, grid.reshape(-1))
            _fill(mod.attention_weights.bias, np.zeros(mod.attention_weights.bias.shape))
    for head in [model.decoder.enc_bbox_head, *model.decoder.dec_bbox_head]:
        last = head.layers[-1]
        _fill(last.weight, rng.uniform(-1e-3, 1e-3, last.weight.shape))
        _fill(last.bias, np.zeros(last.bias.shape))


def gen_rtdetr(out_dir, photos_dir):
    """RT-DETR (tools/arch_rtdetr.py) at r18's layout and half its width,
    seeded, exported as Ultralytics exports RT-DETR: opset 16 (GridSample),
    the input stretched to 640x640 (its predictor's LetterBox(scale_fill)),
    output0 [B, 100, 84] (normalised cx, cy, w, h and 80 sigmoid scores).
    100 queries, not 300: the queries are the TopK of the encoder's scores,
    and the seeded encoder puts several of its best 300 closer than float
    rounding, where any two engines (ONNX Runtime and torch: 4-12% apart)
    pick and order them differently; its best 100 stand 3.5e-5 apart."""
    from arch_rtdetr import RTDETR
    torch.manual_seed(0)
    rng = np.random.default_rng(41)
    model = RTDETR(nc=80, queries=100)
    seed_weights(model, rng)
    seed_transformer(model, rng)
    seed_detr(model, rng)
    dec = model.decoder
    prior = -math.log((1 - 0.01) / 0.01)  # RT-DETR's class bias: a prior probability of 0.01
    for head in [dec.enc_score_head, *dec.dec_score_head]:
        _fill(head.bias, np.full(head.bias.shape, prior))
    for head in dec.dec_score_head:  # a few confident queries a picture, as a trained model
        head.weight.data *= RTDETR_CLS_GAIN
    # the anchors at the border are masked out (memory 0): with no LayerNorm
    # shift they score the prior, below the queries chosen from the picture
    _fill(dec.enc_output[1].bias, np.zeros(dec.enc_output[1].bias.shape))

    def stretch(n):
        img = load_rgb(photos_dir, n)
        h, w, _ = img.shape
        x = to_nchw(resize_bilinear(img, RTDETR_SIZE, RTDETR_SIZE), [0, 0, 0], [1, 1, 1])
        return x, {"photo": n + ".jpg", "source": [w, h], "resized": [RTDETR_SIZE, RTDETR_SIZE]}

    calib = np.concatenate([stretch(n)[0] for n in CALIB_PHOTOS])
    calibrate_bn(model, calib, rng)
    (x0, i0), (x1, i1), (x2, i2) = stretch("dog"), stretch("horses"), stretch("eagle")
    x12 = np.concatenate([x1, x2])
    # The 300 queries are the TopK of the encoder's best class scores, in
    # order: scores closer than float rounding would let an engine pick or
    # order them otherwise than torch. Refuse seeds that leave them that close.
    seen = []
    hook = dec.enc_score_head.register_forward_hook(lambda mod, i, o: seen.append(o))
    with torch.no_grad():
        model(torch.from_numpy(np.concatenate([x0, x12])))
    hook.remove()
    best = np.sort(seen[0].max(-1).values.numpy(), axis=1)[:, ::-1][:, :dec.queries + 1]
    gap = float(np.diff(-best, axis=1).min())
    print(f"rtdetr: smallest gap between the {dec.queries + 1} best encoder scores {gap:.3g}")
    if not gap > 2e-5:
        sys.exit(f"gen_models: rtdetr: encoder scores {gap:.3g} apart: change the seed")
    macs, by_kind = count_macs(model, torch.from_numpy(x0))
    path = os.path.join(out_dir, "model.onnx")
    export_onnx(model, torch.from_numpy(x0), path, 16, "images", "output0", True)
    m = finalize_onnx(path, {
        "description": "RT-DETR (r18 layout, half width) with seeded, untrained weights "
                       "(glint tools/gen_models.py)",
        "author": "glint", "version": "rtdetr-glint-seeded", "task": "detect",
        "stride": 32, "batch": 1, "imgsz": [RTDETR_SIZE, RTDETR_SIZE],
        "names": YOLO_NAMES_META}, ["batch", model.decoder.queries, 84])
    sets = write_case(out_dir, [(["dog.jpg"], x0), (["horses.jpg", "eagle.jpg"], x12)],
                      model, "images", "output0")
    with torch.no_grad():
        y = model(torch.from_numpy(x0)).numpy()[0]
    sets[0]["queries_over_0.25"] = int((y[:, 4:].max(1) > 0.25).sum())
    # What `glint run` must answer for tests/data/rtdetr/dog.png, the photo
    # already stretched to 640x640 (so that glint prepares this very tensor:
    # the query selection turns on small input changes): queries over 0.25,
    # best first, as corners in pixels clipped to the picture.
    img = resize_bilinear(load_rgb(photos_dir, "dog"), RTDETR_SIZE, RTDETR_SIZE)
    pics = os.path.join(REPO, "tests", "data", "rtdetr")
    os.makedirs(pics, exist_ok=True)
    Image.fromarray(img).save(os.path.join(pics, "dog.png"), optimize=True)
    score, cls = y[:, 4:].max(1), y[:, 4:].argmax(1)
    answers = []
    for i in sorted(np.nonzero(score > 0.25)[0], key=lambda i: (-score[i], i)):
        cx, cy, w, h = (float(v) * RTDETR_SIZE for v in y[i, :4])
        box = [min(max(v, 0.0), RTDETR_SIZE) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)]
        answers.append({"class_id": int(cls[i]), "score": round(float(score[i]), 5),
                        "box": [round(v, 2) for v in box]})
    write_yaml(os.path.join(out_dir, "model.yaml"),
               "RT-DETR (r18 layout at half width) with seeded, untrained weights: tests the "
               "transformer decoder and its decoding, its detections mean nothing",
               {"name": "rtdetr", "task": "detect", "layout": "rtdetr", "input": "images",
                "width": RTDETR_SIZE, "height": RTDETR_SIZE, "resize": "stretch",
                "mean": [0, 0, 0], "std": [1, 1, 1], "score_threshold": 0.25,
                "max_detections": 100, "labels": COCO_NAMES})
    finish(out_dir, "rtdetr", model, m, macs, by_kind, {
        "seed": {"numpy_pcg64": 41, "torch": 0},
        "preprocess": "RGB, stretched to 640x640 (bilinear half-pixel without antialiasing, "
                      "rounded to uint8), /255, NCHW float32",
        "preprocess_info": [i0, i1, i2],
        "calibration_photos": [n + ".jpg" for n in CALIB_PHOTOS],
        "test_data_sets": sets,
        "answers": {"dog.png": answers}})


def classify_input(photos_dir, names):
    xs, infos = [], []
    for n in names:
        img, info = crop_center(load_rgb(photos_dir, n), 256, 224)
        xs.append(to_nchw(img, IMAGENET_MEAN, IMAGENET_STD))
        infos.append({"photo": n + ".jpg", **info})
    return np.concatenate(xs), infos


def seed_transformer(model, rng):
    """Values for what seed_weights leaves alone in ViT and ConvNeXt:
    LayerNorm gains and shifts, attention's packed input projection, the
    class token and position embedding, ConvNeXt's layer scale (large
    enough that every block changes its input)."""
    for mod in model.modules():
        if isinstance(mod, nn.LayerNorm):
            c = mod.weight.shape
            _fill(mod.weight, rng.uniform(0.5, 1.5, c))
            _fill(mod.bias, rng.uniform(-0.2, 0.2, c))
        elif isinstance(mod, nn.MultiheadAttention):
            w = mod.in_proj_weight
            bound = math.sqrt(6.0 / w.shape[1])
            _fill(w, rng.uniform(-bound, bound, w.shape))
            _fill(mod.in_proj_bias, rng.uniform(-0.05, 0.05, mod.in_proj_bias.shape))
    for name, prm in model.named_parameters():
        if name.endswith("class_token") or name.endswith("pos_embedding"):
            _fill(prm, rng.normal(0, 0.02, prm.shape))
        elif name.endswith("layer_scale"):
            _fill(prm, rng.uniform(0.1, 0.3, prm.shape))


def vit_tiny(weights=None):
    """DeiT-tiny / ViT-Ti/16: 12 layers, 3 heads, width 192, MLP 768
    (torchvision's VisionTransformer at timm's vit_tiny_patch16_224 size)."""
    return torchvision.models.VisionTransformer(
        image_size=224, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192,
        mlp_dim=768, num_classes=1000)


def convnext_atto(weights=None):
    """ConvNeXt at timm's convnext_atto size (widths 40-320, depths 2-2-6-2):
    torchvision's ConvNeXt blocks (7x7 depthwise, channels-last LayerNorm,
    GELU MLP, layer scale) at a size that fits the repository; ConvNeXt-T is
    the same blocks, wider and deeper."""
    from torchvision.models.convnext import CNBlockConfig
    cfg = [CNBlockConfig(40, 80, 2), CNBlockConfig(80, 160, 2), CNBlockConfig(160, 320, 6),
           CNBlockConfig(320, None, 2)]
    return torchvision.models.ConvNeXt(cfg, stochastic_depth_prob=0.0, num_classes=1000)


def gen_classifier(out_dir, photos_dir, name, ctor, seed, opset, dynamic,
                   batch_photos, extra_seed=None):
    torch.manual_seed(0)
    rng = np.random.default_rng(seed)
    model = ctor(weights=None)
    seed_weights(model, rng)
    if extra_seed:
        extra_seed(model, rng)
    calib, _ = classify_input(photos_dir, CALIB_PHOTOS)
    calibrate_bn(model, calib, rng)

    x0, info0 = classify_input(photos_dir, ["dog"])
    spec = [(["dog.jpg"], x0)]
    infos = list(info0)
    if batch_photos:
        x1, info1 = classify_input(photos_dir, batch_photos)
        spec.append(([p + ".jpg" for p in batch_photos], x1))
        infos += info1
    macs, by_kind = count_macs(model, torch.from_numpy(x0))
    path = os.path.join(out_dir, "model.onnx")
    m = export_onnx(model, torch.from_numpy(x0), path, opset, "input",
                    "logits", dynamic)
    sets = write_case(out_dir, spec, model, "input", "logits")
    cats = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    with open(os.path.join(out_dir, "labels.txt"), "w") as f:
        f.write("\n".join(cats) + "\n")
    for s, (_, x) in zip(sets, spec):
        with torch.no_grad():
            top = model(torch.from_numpy(x)).topk(5, 1).indices.tolist()
        s["top5"] = top
    write_yaml(os.path.join(out_dir, "model.yaml"),
               f"torchvision {name} with seeded, untrained weights: tests "
               "speed and plumbing, its classes mean nothing",
               {"name": name, "task": "classify", "input": "input",
                "width": 224, "height": 224, "resize": "crop",
                "resize_short": 256, "mean": IMAGENET_MEAN,
                "std": IMAGENET_STD, "labels_file": "labels.txt"})
    finish(out_dir, name, model, m, macs, by_kind, {
        "seed": {"numpy_pcg64": seed, "torch": 0},
        "preprocess": "RGB, short side to 256 (bilinear half-pixel without "
                      "antialiasing, long side int(256*long/short), rounded "
                      "to uint8), centre crop 224 (offset round((n-224)/2)), "
                      "/255, (x-mean)/std, NCHW float32",
        "preprocess_info": infos,
        "calibration_photos": [n + ".jpg" for n in CALIB_PHOTOS],
        "test_data_sets": sets})


MODELS = {
    "yolov8n": lambda d, p: gen_yolov8n(d, p),
    "yolov8n_dyn": lambda d, p: gen_yolov8n_dyn(d, p),
    "yolov8n_e2e": lambda d, p: gen_yolov8n_e2e(d, p),
    "yolo11n": lambda d, p: gen_yolo11n(d, p),
    "yolov5n": lambda d, p: gen_yolov5n(d, p),
    "ssdlite": lambda d, p: gen_ssdlite(d, p),
    "rtdetr": lambda d, p: gen_rtdetr(d, p),
    "resnet18": lambda d, p: gen_classifier(
        d, p, "resnet18", torchvision.models.resnet18, 18, 13, True,
        ["eagle", "giraffe"]),
    "mobilenetv3": lambda d, p: gen_classifier(
        d, p, "mobilenetv3", torchvision.models.mobilenet_v3_small, 3, 11,
        False, None),
    "mobilenetv2": lambda d, p: gen_classifier(
        d, p, "mobilenetv2", torchvision.models.mobilenet_v2, 2, 13, True,
        ["eagle", "giraffe"]),
    "efficientnet_b0": lambda d, p: gen_classifier(
        d, p, "efficientnet_b0", torchvision.models.efficientnet_b0, 23, 13, True,
        ["eagle", "giraffe"]),
    "vit_tiny": lambda d, p: gen_classifier(
        d, p, "vit_tiny", vit_tiny, 21, 17, True, ["eagle", "giraffe"], seed_transformer),
    "convnext_atto": lambda d, p: gen_classifier(
        d, p, "convnext_atto", convnext_atto, 22, 17, True, ["eagle", "giraffe"],
        seed_transformer),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--photos", default=DEFAULT_PHOTOS)
    ap.add_argument("--only", default=",".join(MODELS))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    photos = find_photos(args.photos)
    for name in args.only.split(","):
        if name not in MODELS:
            sys.exit(f"gen_models: unknown model {name}")
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        MODELS[name](d, photos)


if __name__ == "__main__":
    main()
