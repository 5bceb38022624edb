#!/bin/sh
# A free-size export gets the graph rewrites the fixed one does (residual
# adds and activations fused into convolutions, QDQ folded into int8
# convolutions, the DFL head fused): the load-time passes read shapes from
# plans at two sizes when the height and width are free. Compares the
# per-step operator counts of `glint perf --profile` of models/yolov8n and
# models/yolov8n_dyn at 640x640 (layout reorders aside), in f32 and int8.
#
# usage: dyn_rewrites.sh GLINT SOURCE_DIR
set -u
GLINT=$1 SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
for p in f32 int8; do
    for m in yolov8n yolov8n_dyn; do
        "$GLINT" perf --precision $p --model "$SRC/models/$m" --threads 1 --seconds 0.01 --profile |
            awk 'NR > 8 && $2 != "Reorder" && $2 != "GlintQConv" { print $2 }' | sort | uniq -c >"$T/$m-$p"
    done
    if ! grep -q GlintDFL "$T/yolov8n_dyn-$p" || grep -qE "QuantizeLinear|DequantizeLinear" "$T/yolov8n_dyn-$p"; then
        echo "FAIL $p: yolov8n_dyn runs unfused steps:"; cat "$T/yolov8n_dyn-$p"; fails=$((fails + 1))
    elif ! diff "$T/yolov8n-$p" "$T/yolov8n_dyn-$p"; then
        echo "FAIL $p: yolov8n_dyn's steps differ from yolov8n's"; fails=$((fails + 1))
    else
        echo "ok   $p: the same steps ($(awk '{ n += $1 } END { print n }' "$T/yolov8n_dyn-$p") besides convolutions and reorders)"
    fi
done
[ $fails = 0 ] && echo "2 passed, 0 failed" || echo "$((2 - fails)) passed, $fails failed"
