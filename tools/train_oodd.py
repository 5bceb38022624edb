#!/usr/bin/python3
"""Train the out-of-domain (OODD) model of the red-disc detector.

  models/red_disc_oodd/   binary classifier "is this picture out of the
                          domain the detector was trained on?", classes
                          [IN, OUT] (index 1 = out of domain, the original
                          edge endpoint's OODD label); input [B,3,128,128]
                          letterboxed as glint does, x/255 -> probs [B,2]

In the domain: the synthetic scenes models/red_disc was trained on
(tools/train_shapes.py's generator, its letterboxed frames included). Out of
it: photographs — random crops (a quarter to all of the picture, aspect 1:2
to 2:1, mirrored, brightness and contrast jittered) of the four pictures of
tests/data/calib, letterboxed to 128 x 128. The held-out check uses pictures
never trained on: tests/data/heldout's three photographs must come out OUT,
the drawn test pictures (tests/data/shapes) and held-out scenes IN.

Seeded (numpy PCG64, torch.manual_seed), one thread; about two minutes of
one core. Needs Debian's python3-torch, python3-onnx, python3-numpy and
python3-pil (a dependency of python3-torchvision: it decodes the JPEGs).

Usage:
  /usr/bin/python3 tools/train_oodd.py [--out models/red_disc_oodd] [--steps 500]
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_shapes as ts  # noqa: E402  (the scene generator, letterbox, cbr)

SEED_NP, SEED_TORCH, SEED_EVAL = 31337, 33, 4711
LABELS = ["IN", "OUT"]


def load_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


def photo_crop(rng, img):
    """A random crop of a photograph, letterboxed to the model's input."""
    h, w, _ = img.shape
    area = rng.uniform(0.25, 1.0) * h * w
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    ch = int(min(h, max(16, round(np.sqrt(area / aspect)))))
    cw = int(min(w, max(16, round(np.sqrt(area * aspect)))))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = img[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    f = crop.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
    crop = np.clip(f, 0, 255).astype(np.uint8)
    return ts.letterbox(np.ascontiguousarray(crop))[0]


class OoddNet(nn.Module):
    """Small conv features to stride 16, mean and max pooled, 2 logits."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(ts.cbr(3, 16, 2), ts.cbr(16, 24, 2), ts.cbr(24, 32, 2),
                                      ts.cbr(32, 48, 2), ts.cbr(48, 48))
        self.fc = nn.Linear(96, 2)

    def forward(self, x):
        f = self.features(x)
        return self.fc(torch.cat([f.mean(dim=(2, 3)), torch.amax(f, dim=(2, 3))], 1))


class OoddExport(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), 1)


def batch(rng, photos, n):
    imgs, ys = [], []
    for i in range(n):
        if i % 2 == 0:
            imgs.append(ts.letterbox_frame(rng)[0])
            ys.append(0)
        else:
            imgs.append(photo_crop(rng, photos[rng.integers(len(photos))]))
            ys.append(1)
    return ts.to_tensor(imgs), torch.tensor(ys)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ts.REPO, "models", "red_disc_oodd"))
    ap.add_argument("--steps", type=int, default=500)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED_TORCH)
    rng = np.random.default_rng(SEED_NP)
    calib = os.path.join(ts.REPO, "tests", "data", "calib")
    photos = [load_rgb(os.path.join(calib, n)) for n in sorted(os.listdir(calib)) if n.endswith(".jpg")]
    net = OoddNet()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = ts.lr_at(step, a.steps, 2e-3)
        x, y = batch(rng, photos, 32)
        loss = loss_fn(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == a.steps - 1:
            print("step %d loss %.4f" % (step, loss.item()), flush=True)
    net.eval()
    model = OoddExport(net).eval()

    # held out: photographs never trained on, the drawn test pictures, new scenes
    def p_out(img):
        with torch.no_grad():
            return float(model(ts.to_tensor([ts.letterbox(img)[0]]))[0, 1])
    heldout = os.path.join(ts.REPO, "tests", "data", "heldout")
    shapes = os.path.join(ts.REPO, "tests", "data", "shapes")
    report = {"photos_out": {}, "shapes_in": {}}
    for n in sorted(os.listdir(heldout)):
        if n.endswith(".jpg"):
            report["photos_out"][n] = round(p_out(load_rgb(os.path.join(heldout, n))), 4)
    for n in sorted(os.listdir(shapes)):
        if n.endswith(".png"):
            report["shapes_in"][n] = round(p_out(load_rgb(os.path.join(shapes, n))), 4)
    erng = np.random.default_rng(SEED_EVAL)
    scenes = [ts.draw_scene(erng, 128, 128)[0] for _ in range(200)]
    with torch.no_grad():
        po = model(ts.to_tensor(scenes))[:, 1].numpy()
    report["new_scenes_in"] = {"n": 200, "max_p_out": round(float(po.max()), 4),
                               "share_p_out_over_0.5": float((po > 0.5).mean())}
    print(json.dumps(report, indent=1))
    ok = (all(v > 0.9 for v in report["photos_out"].values()) and
          all(v < 0.1 for v in report["shapes_in"].values()) and
          report["new_scenes_in"]["share_p_out_over_0.5"] <= 0.01)
    if not ok:
        sys.exit("train_oodd: the held-out check failed (see above)")

    os.makedirs(a.out, exist_ok=True)
    x = ts.to_tensor([ts.letterbox(load_rgb(os.path.join(heldout, "dog.jpg")))[0]])
    path = os.path.join(a.out, "model.onnx")
    torch.onnx.export(model, x, path, input_names=["input"], output_names=["probs"],
                      dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}},
                      opset_version=13, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    # reference pairs: a photograph (OUT) and a drawn picture (IN)
    drawn = ts.to_tensor([ts.letterbox(load_rgb(os.path.join(shapes, "shapes_00.png")))[0]])
    for k, xin in enumerate((x, drawn)):
        ds = os.path.join(a.out, "test_data_set_%d" % k)
        os.makedirs(ds, exist_ok=True)
        with torch.no_grad():
            y = model(xin)
        with open(os.path.join(ds, "input_0.pb"), "wb") as f:
            f.write(onnx.numpy_helper.from_array(xin.numpy(), "input").SerializeToString())
        with open(os.path.join(ds, "output_0.pb"), "wb") as f:
            f.write(onnx.numpy_helper.from_array(y.numpy(), "probs").SerializeToString())
    with open(os.path.join(a.out, "model.yaml"), "w") as f:
        f.write("# Out-of-domain model of the red-disc detector (tools/train_oodd.py):\n"
                "# index 1 = OUT (a picture unlike the drawn scenes red_disc knows).\n"
                "name: red_disc_oodd\ntask: classify\ninput: input\nwidth: 128\nheight: 128\n"
                "resize: letterbox\nmean: [0, 0, 0]\nstd: [1, 1, 1]\nlabels: [IN, OUT]\n"
                "precision: f32\n")
    with open(os.path.join(a.out, "heldout.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
