#!/usr/bin/env bash
# grpc_vs_http.sh — KServe v2 inference over gRPC against the same over HTTP
# with binary tensors, on one `glint serve` (both listeners, cache off),
# driven by Triton's own load generator, perf_analyzer (-i grpc, -i http;
# its HTTP client sends binary tensor data), interleaved for N rounds in one
# run so both see the same machine. Prints each round's infer/s and p99,
# the medians and grpc/http (target >= 1.0). Results also go to
# bench/out/grpc_vs_http-<date>.json.
#
# perf_analyzer runs until three windows agree within --stability percent (default 25;
# at most 20 windows).
#
#   bench/grpc_vs_http.sh [--model yolov8n] [--rounds 3] [--ms 4000]
#                         [--concurrency 2] [--serve-args "..."] [--streaming] [--stability 25]
# perf_analyzer is not packaged by Debian: build it from Triton's public sources
# with ../shared/tools/build_triton_client.sh and point PERF_ANALYZER at it
# (default /tmp/triton/install/bin/perf_analyzer; its libraries are found in ../lib).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
model=yolov8n rounds=3 ms=4000 conc=2 serve_args="" stream="" glint=build/glint stab=25
pa=${PERF_ANALYZER:-/tmp/triton/install/bin/perf_analyzer}
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --ms) ms=$2; shift 2 ;;
    --concurrency) conc=$2; shift 2 ;;
    --serve-args) serve_args=$2; shift 2 ;;
    --streaming) stream=--streaming; shift ;;
    --stability) stab=$2; shift 2 ;;
    --glint) glint=$2; shift 2 ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
    esac
done
[ -x "$pa" ] || { echo "grpc_vs_http: no perf_analyzer at $pa (see the header)"; exit 1; }
[ -x "$glint" ] || { echo "grpc_vs_http: build $glint first (make build)"; exit 1; }
export LD_LIBRARY_PATH="$(dirname "$pa")/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
tmp=$(mktemp -d)
trap 'kill $spid 2>/dev/null || true; rm -rf "$tmp"' EXIT
# a free port for gRPC
gport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
"$glint" serve --models models --model "$model" --listen 127.0.0.1:0 --grpc-listen "$gport" \
    --cache-mb 0 --ready-file "$tmp/ready" $serve_args 2>"$tmp/serve.log" &
spid=$!
for _ in $(seq 1 600); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
[ -f "$tmp/ready" ] || { cat "$tmp/serve.log"; exit 1; }
hport=$(cut -d: -f2 "$tmp/ready")

# one perf_analyzer measurement: "infer_per_s p99_us"
measure() {
    local proto=$1 url=$2 extra=$3 out
    # shellcheck disable=SC2086
    out=$(cd "$tmp" && "$pa" -m "$model" -u "$url" -i "$proto" $extra --concurrency-range "$conc" \
        --measurement-interval "$ms" --percentile 99 -s "$stab" -r 20 2>&1) || { echo "$out" >&2; return 1; }
    echo "$(echo "$out" | grep -o "throughput: [0-9.]*" | tail -1 | cut -d' ' -f2)" \
         "$(echo "$out" | grep -o "latency [0-9]*" | tail -1 | cut -d' ' -f2)"
}
measure grpc "127.0.0.1:$gport" "$stream" >/dev/null # warm up both
measure http "127.0.0.1:$hport" "" >/dev/null
g_ips=() h_ips=() rows=()
for r in $(seq 1 "$rounds"); do
    read -r h hp99 < <(measure http "127.0.0.1:$hport" "")
    read -r g gp99 < <(measure grpc "127.0.0.1:$gport" "$stream")
    ratio=$(awk -v g="$g" -v h="$h" 'BEGIN{printf "%.2f", g/h}')
    printf "round %d: http %.1f infer/s (p99 %d us)  grpc%s %.1f infer/s (p99 %d us)  grpc/http %s\n" \
        "$r" "$h" "$hp99" "${stream:+ streaming}" "$g" "$gp99" "$ratio"
    h_ips+=("$h") g_ips+=("$g")
    rows+=("{\"round\":$r,\"http\":$h,\"http_p99_us\":$hp99,\"grpc\":$g,\"grpc_p99_us\":$gp99}")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
mh=$(median "${h_ips[@]}") mg=$(median "${g_ips[@]}")
ratio=$(awk -v g="$mg" -v h="$mh" 'BEGIN{printf "%.2f", g/h}')
echo "median: http $mh infer/s, grpc $mg infer/s, grpc/http $ratio (target >= 1.0)"
mkdir -p bench/out
out="bench/out/grpc_vs_http-$(date +%Y%m%d-%H%M%S).json"
printf '{"model":"%s","concurrency":%s,"streaming":%s,"rounds":[%s],"median_http":%s,"median_grpc":%s,"ratio":%s}\n' \
    "$model" "$conc" "$([ -n "$stream" ] && echo true || echo false)" "$(IFS=,; echo "${rows[*]}")" \
    "$mh" "$mg" "$ratio" >"$out"
echo "wrote $out"
