#!/bin/sh
# No silent fall back to a reference kernel on the hot path: in the
# per-layer profile (`glint perf --profile`) of each transformer-era model,
# every convolution (and transposed convolution), matmul, layer
# normalization, GELU and softmax runs on an optimised kernel (oneDNN's or
# glint's own), never "ref". The OCR pair runs at its own sizes.
#
# usage: hot_kernels.sh GLINT SOURCE_DIR
set -u
GLINT=$1 SRC=$2
pass=0 fails=0
for entry in vit_tiny convnext_atto yolov8n yolo11n ocr_det:640x480 ocr_rec:320x48; do
    m=${entry%%:*}
    size=${entry#"$m"}
    size=${size#:}
    out=$("$GLINT" perf --model "$SRC/models/$m" --threads 1 --seconds 0.01 --profile \
        ${size:+--size "$size"} 2>&1)
    bad=$(printf '%s\n' "$out" | awk 'NR > 9 && $3 == "ref" &&
        $2 ~ /^(Conv|ConvTranspose|GlintMatMul|MatMul|Gemm|LayerNormalization|Gelu|Softmax|GlintQConv)$/ { print $1, $2 }')
    steps=$(printf '%s\n' "$out" | awk 'NR > 9' | wc -l)
    if [ "$steps" -lt 5 ]; then
        echo "FAIL $m: no profile"; printf '%s\n' "$out" | head -20; fails=$((fails + 1))
    elif [ -n "$bad" ]; then
        echo "FAIL $m: on the reference kernel:"; echo "$bad"; fails=$((fails + 1))
    else
        echo "ok   $m: $steps steps, the heavy ones on optimised kernels"; pass=$((pass + 1))
    fi
done
echo "$pass passed, $fails failed"
