#!/usr/bin/env bash
# serve_ramp.sh — `glint serve` end to end from camera-size JPEGs: each
# precision in turn (default f32 then int8, same run, same machine) serves
# the model (cache off) while `glint bench ramp` adds closed-loop clients,
# each at R requests/s; prints each run's max steady RPS with the p99 of
# that step, and the int8/f32 ratio. Bodies: the darknet photographs of
# tests/data and tests/data/calib resized to 1280x720 JPEG (quality 90) with
# Pillow, as a camera would send them.
#
#   bench/serve_ramp.sh [--model "yolov8n [yolov8n_dyn]"] [--precisions "f32 int8"]
#                       [--max-clients 16] [--rps-per-client 5] [--step-seconds 5]
#                       [--serve-args "--instances 2 --threads 1"]
#                       [--client-start sync|spread]
# --client-start spread starts each joining client at a random phase of its
# period (independent cameras); sync (default) sends at once, so with steps
# a multiple of the period every client fires in phase (the worst case).
# Besides max steady RPS it prints the highest steady step whose p99 is at
# most 150 ms. Two models (e.g. "yolov8n yolov8n_dyn": the square letterbox
# against rect inference of the free-size export) run in turn for each
# precision and the second's max steady RPS is given over the first's.
# --rounds N repeats that N times, the order of the two models reversed every
# other round (A B, B A, ...: the machine drifts and the first run of a
# session pays for cold caches), and prints each round's ratio and their
# median.
# Results: bench/out/serve_ramp-<date>-<model>-<precision>[-r<round>]/
# (summary.json, steps.csv, report.html).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
model=yolov8n precs="f32 int8" clients=16 rps=5 step=5 serve_args="--instances 2 --threads 1"
client_start=sync
glint=build/glint
rounds=1
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2; shift 2 ;;
    --precisions) precs=$2; shift 2 ;;
    --max-clients) clients=$2; shift 2 ;;
    --rps-per-client) rps=$2; shift 2 ;;
    --step-seconds) step=$2; shift 2 ;;
    --serve-args) serve_args=$2; shift 2 ;;
    --client-start) client_start=$2; shift 2 ;;
    --glint) glint=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) sed -n '2,25p' "$0"; exit 2 ;;
    esac
done
[ -x "$glint" ] || { echo "serve_ramp: build $glint first (make build)"; exit 1; }
/usr/bin/python3 -c 'import PIL' 2>/dev/null || { echo "serve_ramp: needs python3-pil (scripts/install-deps.sh --bench)"; exit 1; }
tmp=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill -TERM $spid 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/camera"
/usr/bin/python3 - "$tmp/camera" tests/data/*.jpg tests/data/calib/*.jpg <<'PY'
import os, sys
from PIL import Image
out = sys.argv[1]
for p in sys.argv[2:]:
    im = Image.open(p).convert("RGB").resize((1280, 720), Image.BICUBIC)
    im.save(os.path.join(out, os.path.basename(p)), quality=90)
PY
stamp=$(date +%Y%m%d-%H%M%S)
declare -A best
models=$model
reversed=$(echo "$models" | awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "") }')
for r in $(seq 1 "$rounds"); do
order=$models
[ $((r % 2)) -eq 0 ] && order=$reversed
tag=
[ "$rounds" -gt 1 ] && tag=-r$r
for p in $precs; do
for model in $order; do
    rm -f "$tmp/ready"
    # shellcheck disable=SC2086
    "$glint" serve --models models --model "$model" --precision "$p" --listen 127.0.0.1:0 \
        --cache-mb 0 --ready-file "$tmp/ready" $serve_args 2> >(sed "s/^/[serve $p] /" >&2) &
    spid=$!
    for _ in $(seq 1 1200); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
    [ -f "$tmp/ready" ] || { echo "serve_ramp: glint serve ($p) did not start"; exit 1; }
    port=$(cut -d: -f2 "$tmp/ready")
    task=$(grep -m1 '^task:' "models/$model/model.yaml" | awk '{print $2}')
    out=bench/out/serve_ramp-$stamp-$model-$p$tag
    mkdir -p bench/out
    "$glint" bench ramp --url "http://127.0.0.1:$port/v1/models/$model/$task" \
        --image "$tmp/camera" --max-clients "$clients" --step-size 1 \
        --time-between-ramp "$step" --requests-per-second "$rps" --client-start "$client_start" \
        --out "$out" --quiet | tee "$tmp/$model-$p$tag.txt"
    # the highest steady step with p99 <= 150 ms (steps.csv: offered_rps, steady, p99_ms)
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $col["steady"] == 1 && $col["p99_ms"] <= 150 && $col["offered_rps"] > best {
            best = $col["offered_rps"]; p99 = $col["p99_ms"] }
        END { printf "p99 <= 150 ms up to %s req/s (p99 %s ms)\n", best + 0, p99 + 0 }' \
        "$out/steps.csv" | tee -a "$tmp/$model-$p$tag.txt"
    best[$model-$p$tag]=$(sed -n 's/^MAX STEADY RPS: \([0-9.]*\).*/\1/p' "$tmp/$model-$p$tag.txt")
    kill -TERM $spid
    wait $spid || true
    spid=
done
done
done
echo
for r in $(seq 1 "$rounds"); do
    tag=
    [ "$rounds" -gt 1 ] && tag=-r$r
    for model in $models; do
        for p in $precs; do
            echo "serve_ramp: $model $p$tag: $(grep '^MAX STEADY RPS' "$tmp/$model-$p$tag.txt"); $(grep '^p99 <= 150' "$tmp/$model-$p$tag.txt")"
        done
        if [ -n "${best[$model-f32$tag]:-}" ] && [ -n "${best[$model-int8$tag]:-}" ]; then
            awk -v a="${best[$model-int8$tag]}" -v b="${best[$model-f32$tag]}" -v m="$model$tag" 'BEGIN { if (b > 0) printf "serve_ramp: %s int8 / f32 max steady RPS = %.2f\n", m, a / b }'
        fi
    done
done
set -- $models
if [ $# -eq 2 ]; then
    for p in $precs; do
        ratios=
        for r in $(seq 1 "$rounds"); do
            tag=
            [ "$rounds" -gt 1 ] && tag=-r$r
            ratios="$ratios $(awk -v a="${best[$2-$p$tag]:-0}" -v b="${best[$1-$p$tag]:-0}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
        done
        echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk -v p="$p" -v m1="$1" -v m2="$2" -v all="$ratios" \
            '{ v[NR] = $1 } END { printf "serve_ramp: %s: %s / %s max steady RPS = %.2f (median of rounds:%s)\n", p, m2, m1, NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, all }'
    done
fi
