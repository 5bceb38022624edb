#!/usr/bin/env bash
# qdq_vs_ort.sh — a model written by `glint quantize` run by glint (oneDNN
# int8 path and reference kernels) and by ONNX Runtime on the same input, as
# relative L2 errors of glint against ORT. ORT runs with its graph
# optimizations off (its reference QDQ semantics) and on. Quantized models
# agree within quantization noise, not to the last bit: a 1e-6 float
# difference moves values across QuantizeLinear rounding boundaries.
#
#   bench/qdq_vs_ort.sh [MODEL_DIR (default models/resnet18)]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
model=${1:-models/resnet18}
[ -d bench/node_modules/onnxruntime-node ] ||
    (cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >/dev/null)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/glint quantize --model "$model" --calib tests/data/calib --eval tests/data/heldout \
    --out "$tmp/model.onnx" >/dev/null || [ $? -eq 3 ]
mkdir -p "$tmp/case/test_data_set_0"
cp "$tmp/model.onnx" "$tmp/case/model.onnx"
cp "$model/test_data_set_0/input_0.pb" "$tmp/case/test_data_set_0/"
dims=$(/usr/bin/python3 - "$model/test_data_set_0/input_0.pb" "$tmp/in.raw" <<'PY'
import sys, numpy as np, onnx
from onnx import numpy_helper
a = numpy_helper.to_array(onnx.load_tensor(sys.argv[1])).astype(np.float32)
a.tofile(sys.argv[2])
print(" ".join(map(str, a.shape)))
PY
)
for opt in disabled all; do
    # shellcheck disable=SC2086
    OPT=$opt node bench/ort_run.js "$tmp/model.onnx" "$tmp/in.raw" "$tmp/out.raw" $dims >/dev/null
    /usr/bin/python3 - "$tmp/case/model.onnx" "$tmp/out.raw" "$tmp/case/test_data_set_0/output_0.pb" <<'PY'
import sys, numpy as np, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
out = m.graph.output[0]
shape = [d.dim_value or 1 for d in out.type.tensor_type.shape.dim]
o = np.fromfile(sys.argv[2], dtype=np.float32).reshape(shape)
open(sys.argv[3], "wb").write(numpy_helper.from_array(o, out.name).SerializeToString())
PY
    for backend in auto ref; do
        err=$( (build/glint check --backend $backend --rel-l2 1e-9 -v "$tmp/case" || true) | grep -o 'error [0-9.e+-]*' | cut -d' ' -f2)
        echo "$model: glint $backend vs ORT (optimizations $opt): relative L2 ${err:-0}"
    done
done
