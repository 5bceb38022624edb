#!/usr/bin/env bash
# engine_vs_ort.sh — glint's engine against ONNX Runtime, side by side, on
# this machine, in one run; plus the lone-convolution ceiling from conv_peak.
#
# For each batch size (default 1 and 4) it interleaves N rounds (default 3)
# of `build/glint perf` and `bench/ort_perf.js`, each a fresh process timed
# for S seconds (default 10), so both see the same drift in a noisy VM; then
# prints the median images/s of each, glint/ORT, glint's GFLOP/s against
# conv_peak's, and glint's cold load time and peak RSS when reported.
# Results also go to bench/out/engine_vs_ort-<date>.json.
#
# Builds nothing except conv_peak (with gcc, if build/conv_peak is missing),
# and installs onnxruntime-node into bench/node_modules if it is missing.
# Without build/glint it still measures ORT and conv_peak and says so.
#
#   bench/engine_vs_ort.sh [--model M] [--threads T] [--rounds N] [--seconds S]
#                          [--batches "1 4"] [--size WxH] [--glint-args "..."]
# shellcheck disable=SC2016 # the node -e snippets hold JS template literals
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/engine_vs_ort.sh [options]
  --model M          ONNX model (default models/yolov8n/model.onnx)
  --threads T        threads for every runtime (default 2)
  --rounds N         interleaved rounds per batch size (default 3)
  --seconds S        timed seconds per run (default 10)
  --batches "B..."   batch sizes (default "1 4")
  --peak-seconds S   seconds per conv_peak run (default 3)
  --glint-args "..." extra arguments for `glint perf` (e.g. "--precision int8")
  --size WxH         input width x height of a model whose H and W are free (both runtimes)
  --glint PATH       glint binary (default build/glint)
  --quiet-wait S     before each run, wait up to S seconds for a second in which
                     other processes use < 0.1 core (default 0: don't wait)
  --retries N        rerun a run that other processes disturbed up to N times
                     (default 0); on a shared machine try --quiet-wait 120 --retries 2
EOF
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

model=models/yolov8n/model.onnx
threads=2
rounds=3
seconds=10
batches="1 4"
peak_seconds=3
glint_args=""
size=""
glint=build/glint
conv_peak=build/conv_peak
quiet_wait=0
retries=0
noisy=0

is_uint() { [[ $1 =~ ^[1-9][0-9]{0,5}$ ]]; }
is_num() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
die() { echo "engine_vs_ort: $*" >&2; exit 2; }

while (($#)); do
    case $1 in
    --model) model=${2:?--model needs a value}; shift 2 ;;
    --threads) threads=${2:-}; is_uint "$threads" || die "--threads wants a positive integer"; shift 2 ;;
    --rounds) rounds=${2:-}; is_uint "$rounds" || die "--rounds wants a positive integer"; shift 2 ;;
    --seconds) seconds=${2:-}; is_num "$seconds" || die "--seconds wants a number"; shift 2 ;;
    --peak-seconds) peak_seconds=${2:-}; is_num "$peak_seconds" || die "--peak-seconds wants a number"; shift 2 ;;
    --batches) batches=${2:?--batches needs a value}; shift 2 ;;
    --glint-args) glint_args=${2-}; shift 2 ;;
    --size) size=${2:-}; [[ $size =~ ^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$ ]] || die "--size wants WxH"; shift 2 ;;
    --glint) glint=${2:?--glint needs a value}; shift 2 ;;
    --quiet-wait) quiet_wait=${2:-}; [[ $quiet_wait =~ ^[0-9]{1,5}$ ]] || die "--quiet-wait wants whole seconds"; shift 2 ;;
    --retries) retries=${2:-}; [[ $retries =~ ^[0-9]{1,2}$ ]] || die "--retries wants 0..99"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
    esac
done
for b in $batches; do is_uint "$b" || die "--batches wants positive integers, got '$b'"; done
[[ -f $model ]] || die "model not found: $model"
command -v node >/dev/null || die "node is needed (ONNX Runtime runs under it, and it parses the JSON)"

# --- prerequisites -----------------------------------------------------------
if [[ ! -d bench/node_modules/onnxruntime-node ]]; then
    echo "installing onnxruntime-node into bench/node_modules ..."
    (cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >/dev/null) ||
        die "npm install in bench/ failed"
fi

if [[ ! -x $conv_peak ]]; then
    echo "building $conv_peak with gcc ..."
    mkdir -p "$(dirname "$conv_peak")"
    gcc -O2 -std=c17 bench/conv_peak.c -o "$conv_peak" -ldnnl -fopenmp ||
        echo "engine_vs_ort: could not build conv_peak; the peak column will be empty" >&2
fi

have_glint=1
if [[ ! -x $glint ]]; then
    have_glint=0
    echo "engine_vs_ort: $glint not found — build it first (make build);" \
         "measuring ONNX Runtime and conv_peak only" >&2
fi

stamp=$(date +%Y-%m-%dT%H%M%S)
mkdir -p bench/out
out=bench/out/engine_vs_ort-$stamp.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runs=$work/runs.jsonl
: >"$runs"

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
load=$(cut -d' ' -f1 /proc/loadavg)
echo "model $model, $threads thread(s), batches $batches, $rounds round(s) x ${seconds} s; CPU ${cpu:-?}; load $load"
if node -e "process.exit(+process.argv[1] > 0.5 ? 0 : 1)" "$load"; then
    echo "engine_vs_ort: warning: load average $load — something else is running; figures will be noisy" >&2
fi

clk_tck=$(getconf CLK_TCK)
# cpu_jiffies — "busy steal" jiffies of the whole machine from /proc/stat.
cpu_jiffies() {
    local _cpu u n s _i _w q sq st _rest
    read -r _cpu u n s _i _w q sq st _rest </proc/stat
    echo "$((u + n + s + q + sq)) $st"
}

# wait_quiet — with --quiet-wait, waits until other processes leave the CPU
# alone for one second (< 0.1 core), or the wait runs out.
wait_quiet() {
    local deadline a b
    deadline=$(($(date +%s) + quiet_wait))
    while :; do
        b=$(cpu_jiffies)
        sleep 1
        a=$(cpu_jiffies)
        awk -v a="${a% *}" -v b="${b% *}" -v hz="$clk_tck" 'BEGIN { exit !((a - b) / hz < 0.1) }' &&
            return 0
        if (($(date +%s) >= deadline)); then
            echo "  (still busy after ${quiet_wait} s of waiting; running anyway)" >&2
            return 0
        fi
    done
}

# run_measured KIND BATCH ROUND CMD... — runs CMD with a time limit; leaves in
# $work/record the last JSON line of its stdout, tagged with the run and the
# noise it saw (or the error), and sets `noisy` to 1 when others disturbed it.
run_measured() {
    local kind=$1 batch=$2 round=$3
    shift 3
    local limit
    limit=$(node -e "console.log(Math.ceil(+process.argv[1] * 3 + 120))" "$seconds")
    local rc=0 before after t0 t1 cpu_s
    before=$(cpu_jiffies)
    t0=$(date +%s.%N)
    { TIMEFORMAT='%3U %3S'; time timeout "$limit" "$@" >"$work/stdout" 2>"$work/stderr" || rc=$?; } 2>"$work/time"
    t1=$(date +%s.%N)
    after=$(cpu_jiffies)
    cpu_s=$(tail -n 1 "$work/time")
    # CPU the rest of the machine used meanwhile, in cores (0 = quiet), and
    # the hypervisor's steal: both say how far to trust this run.
    local noise
    noise=$(node -e 'const [b, a, t0, t1, cpu, hz] = process.argv.slice(1);
        const [bb, bs] = b.split(" ").map(Number), [ab, as] = a.split(" ").map(Number);
        const [u, s] = cpu.split(" ").map(Number), wall = t1 - t0;
        const other = Math.max(0, (ab - bb) / hz - u - s) / wall;
        console.log(`{"other_cores":${other.toFixed(3)},"steal_cores":${((as - bs) / hz / wall).toFixed(3)}}`)' \
        "$before" "$after" "$t0" "$t1" "$cpu_s" "$clk_tck" 2>/dev/null || echo '{}')
    local line
    line=$(grep '^{' "$work/stdout" | tail -n 1 || true)
    if ((rc != 0)) || [[ -z $line ]]; then
        local msg
        msg=$(tail -n 3 "$work/stderr" | tr '\n\t' '  ' | cut -c1-300)
        ((rc == 124)) && msg="timed out after $limit s; $msg"
        echo "  $kind batch $batch round $round failed (exit $rc): $msg" >&2
        node -e 'const [kind, batch, round, error] = process.argv.slice(1);
                 console.log(JSON.stringify({ kind, batch: +batch, round: +round, error }))' \
            "$kind" "$batch" "$round" "exit $rc: $msg" >"$work/record"
        noisy=0
        return 0
    fi
    printf '{"kind":"%s","batch":%d,"round":%d,"noise":%s,"data":%s}\n' \
        "$kind" "$batch" "$round" "$noise" "$line" >"$work/record"
    noisy=0
    [[ $noise =~ \"other_cores\":([0-9.]+) ]] &&
        awk -v x="${BASH_REMATCH[1]}" 'BEGIN { exit !(x > 0.1) }' && noisy=1
    node -e 'const [line, kind, batch, round, noise] = process.argv.slice(1);
             const d = JSON.parse(line), f = (x, n) => (typeof x === "number" ? x.toFixed(n) : "?");
             const parts = [];
             if (d.images_per_s !== undefined) parts.push(`${f(d.images_per_s, 2)} images/s`);
             if (d.latency_ms_p50 !== undefined) parts.push(`p50 ${f(d.latency_ms_p50, 2)} ms`);
             if (d.gflops !== undefined) parts.push(`${f(d.gflops, 1)} ${d.dtype === "int8" ? "GOP" : "GFLOP"}/s`);
             if (d.impl) parts.push(d.impl);
             const n = JSON.parse(noise);
             if (n.other_cores > 0.1) parts.push(`NOISY: other processes used ${n.other_cores} cores`);
             console.log(`  ${kind.padEnd(9)} batch ${batch} round ${round}: ${parts.join(", ")}`)' \
        "$line" "$kind" "$batch" "$round" "$noise" || true
}

# run_one KIND BATCH ROUND CMD... — run_measured, after waiting for quiet and
# again while disturbed (up to --retries); appends the last record to $runs.
run_one() {
    local try
    for ((try = 0; ; try++)); do
        ((quiet_wait > 0)) && wait_quiet
        run_measured "$@"
        ((noisy && try < retries)) || break
        echo "  (disturbed; retry $((try + 1)) of $retries)" >&2
    done
    cat "$work/record" >>"$runs"
}

# --- the interleaved runs ----------------------------------------------------
for batch in $batches; do
    for ((r = 1; r <= rounds; r++)); do
        if ((have_glint)); then
            # shellcheck disable=SC2086 # glint_args is a list of words on purpose
            run_one glint "$batch" "$r" "$glint" perf --model "$model" --batch "$batch" \
                --threads "$threads" --seconds "$seconds" --json ${size:+--size "$size"} $glint_args
        fi
        run_one ort "$batch" "$r" node bench/ort_perf.js --model "$model" --batch "$batch" \
            --threads "$threads" --seconds "$seconds" --json \
            ${size:+--shape "$batch,3,${size#*x},${size%x*}"}
    done
done

# The ceiling, interleaved the same way (short runs; one per round).
if [[ -x $conv_peak ]]; then
    for ((r = 1; r <= rounds; r++)); do
        for dt in f32 int8; do
            run_one "peak_$dt" 1 "$r" "$conv_peak" --threads "$threads" --seconds "$peak_seconds" \
                --dtype "$dt" --json
        done
    done
fi

# --- the report ----------------------------------------------------------------
node bench/engine_vs_ort_report.js "$runs" "$out" "$model" "$threads" "$rounds" "$seconds" \
    "${cpu:-unknown}" "$stamp" "$have_glint" "$load"
echo "written: $out"
