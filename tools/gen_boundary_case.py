#!/usr/bin/python3
"""A second reference case for a classifier whose committed case is
saturated (its softmax barely moves for another picture, so a broken early
layer would still pass at 1e-4): the input is the committed case's picture
blended with the same picture without its red channel (R := G), the blend
chosen by bisection so that class 0 scores --target; the expected output is
ONNX Runtime's (onnxruntime-node, graph optimisations off), not glint's.

usage: tools/gen_boundary_case.py MODEL_DIR [--target 0.7] [--ort-dir DIR]
  --ort-dir  a folder with node_modules/onnxruntime-node (install it with
             `cd DIR && cp bench/package*.json . && ONNXRUNTIME_NODE_INSTALL=skip npm install`)
Writes MODEL_DIR/test_data_set_1/{input_0,output_0}.pb.
Needs Debian's python3-onnx and python3-numpy, and node.
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--target", type=float, default=0.7)
    ap.add_argument("--ort-dir", default=os.path.join(ROOT, "bench"))
    a = ap.parse_args()
    src = os.path.join(a.model_dir, "test_data_set_0")
    t_in = onnx.load_tensor(os.path.join(src, "input_0.pb"))
    t_out = onnx.load_tensor(os.path.join(src, "output_0.pb"))
    x0 = numpy_helper.to_array(t_in).astype(np.float32)
    y0 = numpy_helper.to_array(t_out)
    x1 = x0.copy()
    x1[:, 0] = x0[:, 1]  # no red
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, OPT="disabled", NODE_PATH=os.path.join(a.ort_dir, "node_modules"))

    def ort(x):
        x.astype(np.float32).tofile(os.path.join(tmp, "in.raw"))
        subprocess.run(["node", os.path.join(ROOT, "bench", "ort_run.js"),
                        os.path.join(a.model_dir, "model.onnx"), os.path.join(tmp, "in.raw"),
                        os.path.join(tmp, "out.raw")] + [str(v) for v in x.shape],
                       check=True, capture_output=True, env=env)
        return np.fromfile(os.path.join(tmp, "out.raw"), dtype=np.float32)

    p0, p1 = ort(x0)[0], ort(x1)[0]
    if not (p0 > a.target > p1 or p0 < a.target < p1):
        raise SystemExit(f"class 0 scores {p0} and {p1} at the ends: {a.target} is not between")
    lo, hi = 0.0, 1.0
    for _ in range(20):
        mid = (lo + hi) / 2
        p = ort((1 - mid) * x0 + mid * x1)[0]
        if (p > a.target) == (p0 > a.target):
            lo = mid
        else:
            hi = mid
    alpha = (lo + hi) / 2
    xb = ((1 - alpha) * x0 + alpha * x1).astype(np.float32)
    yb = ort(xb).reshape(y0.shape).astype(np.float32)
    out = os.path.join(a.model_dir, "test_data_set_1")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(xb, t_in.name).SerializeToString())
    with open(os.path.join(out, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(yb, t_out.name).SerializeToString())
    print(f"{out}: blend {alpha:.6f} of the no-red picture, ONNX Runtime output {yb.ravel()}")


if __name__ == "__main__":
    main()
