#!/usr/bin/env bash
# int8_vs_f32.sh — glint int8 against glint f32 and ONNX Runtime f32 on one
# model folder, side by side, in one run (issue 7's speed bar: int8 >= 2.5x
# glint f32 images/s at batch 1 and 4, 2 threads).
#
# For each batch size it interleaves N rounds of three fresh processes, each
# timed for S seconds: `glint perf --precision int8` (DIR/model.int8.onnx),
# `glint perf --precision f32` (DIR/model.onnx) and bench/ort_perf.js on
# DIR/model.onnx. Every run is tagged with the CPU the rest of the machine
# used meanwhile (in cores, from /proc/stat) so that disturbed runs show.
# It prints images/s per run, then per batch the medians and the median of
# the per-round ratios int8/f32 and int8/ORT (a round's three runs see the
# same drift of a noisy VM, so ratios within a round are the figure to
# trust). Raw runs go to bench/out/int8_vs_f32-<date>.tsv.
#
#   bench/int8_vs_f32.sh [--dir models/yolov8n] [--threads 2] [--rounds 5]
#                        [--seconds 5] [--batches "1 4"] [--glint build/glint]
#                        [--glint-args "--instances 2"] [--no-ort] [--bf16]
#
# --bf16 adds `glint perf --precision bf16` (the float model with bf16
# convolutions) to each round, and its ratio to glint f32.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/int8_vs_f32.sh [options]
  --dir DIR        model folder with model.onnx and model.int8.onnx (default models/yolov8n)
  --threads T      threads for every runtime (default 2)
  --rounds N       interleaved rounds per batch size (default 5)
  --seconds S      timed seconds per run (default 5)
  --batches "B..." batch sizes (default "1 4")
  --glint PATH     glint binary (default build/glint)
  --glint-args ".." extra arguments for both glint perf runs (e.g. "--instances 2"
                   with --threads 1: one single-threaded instance per core, as serve runs)
  --no-ort         glint int8 and f32 only
  --bf16           also glint bf16 (float model, bf16 convolutions)
EOF
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

dir=models/yolov8n
threads=2
rounds=5
seconds=5
batches="1 4"
glint=build/glint
glint_args=""
ort=1
precisions="int8 f32"

die() { echo "int8_vs_f32: $*" >&2; exit 2; }
is_uint() { [[ $1 =~ ^[1-9][0-9]{0,5}$ ]]; }

while (($#)); do
    case $1 in
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --threads) threads=${2:-}; is_uint "$threads" || die "--threads wants a positive integer"; shift 2 ;;
    --rounds) rounds=${2:-}; is_uint "$rounds" || die "--rounds wants a positive integer"; shift 2 ;;
    --seconds) seconds=${2:-}; [[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds wants a number"; shift 2 ;;
    --batches) batches=${2:?--batches needs a value}; shift 2 ;;
    --glint) glint=${2:?--glint needs a value}; shift 2 ;;
    --glint-args) glint_args=${2-}; shift 2 ;;
    --no-ort) ort=0; shift ;;
    --bf16) precisions="int8 f32 bf16"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
    esac
done
for b in $batches; do is_uint "$b" || die "--batches wants positive integers, got '$b'"; done
[[ -f $dir/model.onnx && -f $dir/model.int8.onnx ]] ||
    die "$dir needs model.onnx and model.int8.onnx (glint quantize --model $dir ...)"
[[ -x $glint ]] || die "$glint not found: build it first"
if ((ort)) && [[ ! -d bench/node_modules/onnxruntime-node ]]; then
    echo "installing onnxruntime-node into bench/node_modules ..."
    (cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >/dev/null) ||
        die "npm install in bench/ failed"
fi

# busy jiffies of the whole machine
busy() {
    local _cpu u n s _i _w q sq _rest
    read -r _cpu u n s _i _w q sq _rest </proc/stat
    echo $((u + n + s + q + sq))
}

mkdir -p bench/out
out=bench/out/int8_vs_f32-$(date +%Y-%m-%dT%H%M%S).tsv
printf 'batch\tround\tkind\timages_per_s\tp50_ms\tother_cores\n' >"$out"
hz=$(getconf CLK_TCK)
echo "$dir, $threads thread(s) ${glint_args:+(glint: $glint_args) }batches $batches, $rounds round(s) x $seconds s;" \
    "load $(cut -d' ' -f1 /proc/loadavg)"

# run KIND BATCH ROUND CMD... — one timed run; appends its line to $out
run() {
    local kind=$1 batch=$2 round=$3 b0 b1 t0 t1 json ips p50 other self
    shift 3
    b0=$(busy)
    t0=$(date +%s.%N)
    json=$( { TIMEFORMAT='%3U %3S'; time "$@" 2>/dev/null | grep '^{' | tail -n 1; } 2>"$out.time") ||
        json=""
    t1=$(date +%s.%N)
    b1=$(busy)
    self=$(tail -n 1 "$out.time")
    ips=$(sed -n 's/.*"images_per_s":\([0-9.]*\).*/\1/p' <<<"$json")
    p50=$(sed -n 's/.*"latency_ms_p50":\([0-9.]*\).*/\1/p' <<<"$json")
    [[ -n $ips ]] || { echo "  $kind batch $batch round $round failed" >&2; return 0; }
    other=$(awk -v b0="$b0" -v b1="$b1" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v self="$self" \
        'BEGIN { split(self, s, " "); o = ((b1 - b0) / hz - s[1] - s[2]) / (t1 - t0);
                 printf "%.2f", o < 0 ? 0 : o }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$batch" "$round" "$kind" "$ips" "$p50" "$other" >>"$out"
    printf '  batch %s round %s %-10s %8.2f images/s  p50 %7.2f ms  (others: %s cores)\n' \
        "$batch" "$round" "$kind" "$ips" "${p50:-0}" "$other"
}

for batch in $batches; do
    for ((r = 1; r <= rounds; r++)); do
        for precision in $precisions; do
            # shellcheck disable=SC2086 # glint_args is a list of words on purpose
            run "glint_$precision" "$batch" "$r" "$glint" perf --model "$dir" --precision "$precision" \
                --batch "$batch" --threads "$threads" --seconds "$seconds" --json $glint_args
        done
        if ((ort)); then
            run ort_f32 "$batch" "$r" node bench/ort_perf.js --model "$dir/model.onnx" \
                --batch "$batch" --threads "$threads" --seconds "$seconds" --json
        fi
    done
done
rm -f "$out.time"

# medians per batch and kind, and of the per-round ratios
awk -F'\t' 'NR > 1 { v[$1 SUBSEP $2 SUBSEP $3] = $4; b[$1] = 1; r[$2] = 1; k[$3] = 1 }
function median(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
    for (batch in b) {
        line = sprintf("batch %s:", batch)
        split("glint_int8 glint_f32 glint_bf16 ort_f32", kinds, " ")
        for (ki = 1; ki <= 4; ki++) {
            if (!(kinds[ki] in k)) continue
            n = 0; delete a
            for (round in r) if ((batch SUBSEP round SUBSEP kinds[ki]) in v) a[++n] = v[batch SUBSEP round SUBSEP kinds[ki]]
            if (n) line = line sprintf("  %s %.2f", kinds[ki], median(a, n))
        }
        split("glint_int8 glint_int8 glint_bf16", nums, " ")
        split("glint_f32 ort_f32 glint_f32", dens, " ")
        for (di = 1; di <= 3; di++) {
            n = 0; delete a
            for (round in r) {
                x = batch SUBSEP round SUBSEP nums[di]; d = batch SUBSEP round SUBSEP dens[di]
                if ((x in v) && (d in v) && v[d] > 0) a[++n] = v[x] / v[d]
            }
            if (n) line = line sprintf("  %s/%s %.2fx", substr(nums[di], 7), dens[di], median(a, n))
        }
        print line " images/s (medians)"
    }
}' "$out" | sort
echo "written: $out"
