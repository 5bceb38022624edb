#!/usr/bin/python3
"""Export the trained shapes detector with free height and width.

models/shapes/model.onnx (tools/train_shapes.py) is fixed at 128x128: its
grid centres are constants of that size. This script rebuilds the network
in PyTorch from that file's weights (BatchNorm is already folded into the
convolutions there), checks it reproduces the committed output, and exports
it again as Ultralytics does with dynamic=True: batch, height and width free,
the grid centres computed in the graph from the feature map's shape. It
writes

  models/shapes_dyn/       model.onnx, model.yaml, reference.json and two
                           cases: a rect-letterboxed 16:9 picture (128x80)
                           and a square one, outputs from PyTorch
  tests/data/shapes_rect/  non-square pictures (16:9, 4:3, portrait) drawn by
                           train_shapes.py's scene generator, with truth.json

so that tests can check rect inference (the tensor follows the picture,
padded to the network's stride, 16) against the square letterbox and the
truth. The weights are the trained ones: the answers mean something.

Needs Debian's python3-torch, python3-onnx and python3-numpy. Run with
/usr/bin/python3 from the repository root.

Usage: /usr/bin/python3 tools/gen_shapes_dyn.py [--out models] [--pictures DIR]
"""

import argparse
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_shapes as ts  # noqa: E402  (scene generator, letterbox, PNG writer)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET_STRIDE = 16  # s16 branch upsampled and concatenated with s8: sides must divide by 16
SEED = 5151      # pictures: never used by train_shapes.py
# (height, width) of the pictures: 16:9 and 4:3 landscapes, portraits
RECT_SIZES = [(144, 256)] * 6 + [(192, 256)] * 4 + [(256, 144)] * 3 + [(256, 192)] * 3


def cr(ci, co, s=1, k=3):
    """Conv with bias (BatchNorm folded) + ReLU."""
    return nn.Sequential(nn.Conv2d(ci, co, k, s, k // 2), nn.ReLU(inplace=True))


class FoldedShapeNet(nn.Module):
    """train_shapes.ShapeNet with its BatchNorms folded, as the file holds it."""

    def __init__(self, nc=len(ts.DET_LABELS)):
        super().__init__()
        self.s8 = nn.Sequential(cr(3, 16, 2), cr(16, 32, 2), cr(32, 32), cr(32, 48, 2), cr(48, 48))
        self.s16 = nn.Sequential(cr(48, 64, 2), cr(64, 64))
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.fuse = nn.Sequential(cr(48 + 64, 64, 1, 1), cr(64, 64))
        self.head = nn.Conv2d(64, 4 + nc, 1)

    def forward(self, x):
        a = self.s8(x)
        b = self.up(self.s16(a))
        return self.head(self.fuse(torch.cat((a, b), 1)))


class DynExport(nn.Module):
    """The YOLOv8-layout export head of train_shapes.ShapeDetExport with the
    cell centres made from the grid's own size."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        r = self.net(x)
        gy = torch.arange(r.shape[2], dtype=torch.float32) + 0.5
        gx = torch.arange(r.shape[3], dtype=torch.float32) + 0.5
        yy, xx = torch.meshgrid(gy, gx, indexing="ij")
        centres = torch.stack((xx.reshape(-1), yy.reshape(-1)))[None]
        r = r.flatten(2)
        xy = (centres + r[:, 0:2]) * float(ts.STRIDE)
        wh = torch.exp(r[:, 2:4]) * float(ts.STRIDE)
        return torch.cat((xy, wh, torch.sigmoid(r[:, 4:])), 1)


def load_weights(net, path):
    """Copies the Conv weights of the ONNX file, in graph order, into net."""
    m = onnx.load(path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    mods = [c for c in net.modules() if isinstance(c, nn.Conv2d)]
    if len(convs) != len(mods):
        sys.exit(f"gen_shapes_dyn: {path} has {len(convs)} convolutions, the network {len(mods)}")
    for n, c in zip(convs, mods):
        w, b = inits[n.input[1]], inits[n.input[2]]
        if tuple(w.shape) != tuple(c.weight.shape):
            sys.exit(f"gen_shapes_dyn: {n.name}: weight {w.shape}, want {tuple(c.weight.shape)}")
        c.weight.data = torch.from_numpy(w.copy())
        c.bias.data = torch.from_numpy(b.copy())


def rel_l2(a, b):
    return float(np.sqrt(((a.astype(np.float64) - b) ** 2).sum() / max((b.astype(np.float64) ** 2).sum(), 1e-300)))


def letterbox_rect(img, size=ts.SIZE, stride=NET_STRIDE):
    """Ultralytics LetterBox(auto=True), as glint's rect letterbox does."""
    h, w, _ = img.shape
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = (size - nw) % stride / 2, (size - nh) % stride / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    oh = nh + top + int(round(dh + 0.1))
    ow = nw + left + int(round(dw + 0.1))
    out = np.full((oh, ow, 3), ts.PAD, dtype=np.uint8)
    out[top:top + nh, left:left + nw] = ts.resize_bilinear(img, nh, nw)
    return out


def write_case(d, model, x):
    os.makedirs(d, exist_ok=True)
    with torch.no_grad():
        y = model(x).numpy()
    ts.write_tensor(os.path.join(d, "input_0.pb"), x.numpy(), "images")
    ts.write_tensor(os.path.join(d, "output_0.pb"), y, "output0")
    return list(x.shape), list(y.shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--pictures", default=os.path.join(REPO, "tests", "data", "shapes_rect"))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    src = os.path.join(args.out, "shapes")
    net = FoldedShapeNet().eval()
    load_weights(net, os.path.join(src, "model.onnx"))
    model = DynExport(net).eval()
    # the rebuilt network answers as the committed file does
    x = onnx.numpy_helper.to_array(onnx.load_tensor(os.path.join(src, "test_data_set_0", "input_0.pb")))
    want = onnx.numpy_helper.to_array(onnx.load_tensor(os.path.join(src, "test_data_set_0", "output_0.pb")))
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    err = rel_l2(got, want)
    print(f"rebuilt from {src}/model.onnx: rel L2 {err:.3g} against its test_data_set_0")
    if err > 1e-5:
        sys.exit("gen_shapes_dyn: the rebuilt network differs from models/shapes")

    # pictures with truth
    rng = np.random.default_rng(SEED)
    os.makedirs(args.pictures, exist_ok=True)
    truth = {"about": "Non-square synthetic pictures drawn by tools/gen_shapes_dyn.py with "
                      f"tools/train_shapes.py's scene generator (seed {SEED}), for rect "
                      "inference tests. Boxes in picture pixels (x1 y1 x2 y2), labelled as "
                      "models/shapes labels them.", "images": {}}
    pictures = []
    for i, (h, w) in enumerate(RECT_SIZES):
        img, objs = ts.draw_scene(rng, h, w, force_red=(i % 2 == 0))
        name = f"rect_{i:02d}.png"
        ts.write_png(os.path.join(args.pictures, name), img)
        truth["images"][name] = {"width": w, "height": h, **ts.truth_of(objs)}
        pictures.append(img)
    with open(os.path.join(args.pictures, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")

    out_dir = os.path.join(args.out, "shapes_dyn")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    x0 = ts.to_tensor([letterbox_rect(pictures[0])])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*prim::Constant.*")
        torch.onnx.export(model, x0, path, opset_version=13, do_constant_folding=True,
                          input_names=["images"], output_names=["output0"],
                          dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"},
                                        "output0": {0: "batch", 2: "anchors"}})
    m = onnx.load(path)
    del m.metadata_props[:]
    for k, v in {"description": "glint shapes detector (models/shapes) exported with free "
                                "height and width by tools/gen_shapes_dyn.py",
                 "task": "detect", "stride": str(NET_STRIDE), "imgsz": f"[{ts.SIZE}, {ts.SIZE}]",
                 "names": "{0: 'red_disc', 1: 'other_disc', 2: 'square'}"}.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)
    sets = []
    sq = ts.to_tensor([ts.letterbox(pictures[1])[0]])
    for i, xi in enumerate([x0, sq]):
        sets.append(write_case(os.path.join(out_dir, f"test_data_set_{i}"), model, xi))
    conf = open(os.path.join(src, "model.yaml")).read().splitlines()
    keep = [ln for ln in conf if not ln.startswith("#") and not ln.startswith("name:")
            and not ln.startswith("precision:")]
    with open(os.path.join(out_dir, "model.yaml"), "w") as f:
        f.write("# models/shapes exported with free height and width (tools/gen_shapes_dyn.py):\n"
                "# served with rect letterboxing, the tensor padded to a multiple of 16.\n"
                "name: shapes_dyn\n" + "\n".join(keep) + "\n")
    ref = {"name": "shapes_dyn", "from": "models/shapes/model.onnx",
           "rebuilt_rel_l2": err, "net_stride": NET_STRIDE,
           "ops": sorted({n.op_type for n in m.graph.node}),
           "test_data_sets": [{"input_shape": a, "output_shape": b} for a, b in sets],
           "versions": {"torch": torch.__version__, "onnx": onnx.__version__}}
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    for (a, b) in sets:
        print(f"  case {a} -> {b}")
    print(f"wrote {out_dir} and {len(pictures)} pictures in {args.pictures}")


if __name__ == "__main__":
    main()
