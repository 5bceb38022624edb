#!/usr/bin/env bash
# serve_vs_perf.sh — what HTTP, decoding and queueing cost: images/s of
# `glint serve` driven at saturation with real photographs (wrk, closed loop,
# C connections, cache off) against `glint perf` on the same model and
# threads, interleaved for N rounds in one run so both see the same machine.
# Prints each round, the medians and serve/perf (target >= 0.9), plus the
# server's cold start and RSS. Results also go to bench/out/serve_vs_perf-<date>.json.
#
#   bench/serve_vs_perf.sh [--model yolov8n] [--rounds 3] [--seconds 15]
#                          [--connections 4] [--serve-args "..."] [--perf-args "..."]
#                          [--threads T (perf's threads per instance; default nproc)]
# perf_file=model.int8.onnx in the environment measures that file of the model (with
# --serve-args "--precision int8").
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
threads=$(nproc) model=yolov8n rounds=3 seconds=15 conns=4 serve_args="" perf_args="" glint=build/glint
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --serve-args) serve_args=$2; shift 2 ;;
    --perf-args) perf_args=$2; shift 2 ;;
    --glint) glint=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "serve_vs_perf: wrk is missing (apt-get install wrk)"; exit 1; }
[ -x "$glint" ] || { echo "serve_vs_perf: build $glint first (make build)"; exit 1; }
images="$root/tests/data/dog.jpg $root/tests/data/horses.jpg $root/tests/data/person.jpg"
tmp=$(mktemp -d)
trap 'kill $spid 2>/dev/null || true; rm -rf "$tmp"' EXIT
spid=
task=$(grep -m1 '^task:' "models/$model/model.yaml" | awk '{print $2}')

perf_ips=() serve_ips=() rows=()
for r in $(seq 1 "$rounds"); do
    # shellcheck disable=SC2086
    p=$("$glint" perf --model "models/$model/${perf_file:-model.onnx}" --threads "$threads" \
        --seconds "$seconds" --json $perf_args 2>/dev/null | grep -o '"images_per_s":[0-9.]*' | cut -d: -f2)
    rm -f "$tmp/ready"
    # shellcheck disable=SC2086
    "$glint" serve --models models --model "$model" --listen 127.0.0.1:0 --cache-mb 0 \
        --ready-file "$tmp/ready" $serve_args 2>"$tmp/serve.log" &
    spid=$!
    for _ in $(seq 1 600); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
    port=$(cut -d: -f2 "$tmp/ready")
    url="http://127.0.0.1:$port/v1/models/$model/$task"
    IMAGES="$images" wrk -t1 -c2 -d2s -s bench/wrk_post.lua "$url" >/dev/null # warm caches
    out=$(IMAGES="$images" wrk -t1 -c"$conns" -d"${seconds}s" --timeout 10s -s bench/wrk_post.lua "$url")
    health=$(curl -s "http://127.0.0.1:$port/health")
    kill -TERM $spid; wait $spid || true
    spid=
    s=$(echo "$out" | grep -o 'rps=[0-9.]*' | cut -d= -f2)
    p50=$(echo "$out" | grep -o 'p50_ms=[0-9.]*' | cut -d= -f2)
    p99=$(echo "$out" | grep -o 'p99_ms=[0-9.]*' | cut -d= -f2)
    errs=$(echo "$out" | grep -o 'errors=[0-9]*' | cut -d= -f2)
    cold=$(echo "$health" | grep -o '"cold_start_ms":[0-9.]*' | cut -d: -f2)
    rss=$(echo "$health" | grep -o '"rss_bytes":[0-9]*' | cut -d: -f2)
    printf 'round %d: perf %.2f img/s | serve %.2f req/s (p50 %s ms, p99 %s ms, errors %s) | ratio %.3f | cold start %.0f ms, RSS %d MB\n' \
        "$r" "$p" "$s" "$p50" "$p99" "$errs" "$(echo "$s / $p" | bc -l)" "$cold" "$((rss / 1048576))"
    perf_ips+=("$p") serve_ips+=("$s")
    rows+=("{\"round\":$r,\"perf_ips\":$p,\"serve_rps\":$s,\"p50_ms\":$p50,\"p99_ms\":$p99,\"errors\":$errs,\"cold_start_ms\":$cold,\"rss_bytes\":$rss}")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mp=$(median "${perf_ips[@]}")
ms=$(median "${serve_ips[@]}")
ratio=$(echo "$ms / $mp" | bc -l)
printf 'median: perf %.2f img/s, serve %.2f req/s, serve/perf %.3f (target >= 0.9), %s threads, %s connections\n' \
    "$mp" "$ms" "$ratio" "$threads" "$conns"
mkdir -p bench/out
out=bench/out/serve_vs_perf-$(date +%Y%m%d-%H%M%S).json
printf '{"model":"%s","threads":%s,"connections":%s,"seconds":%s,"serve_args":"%s","median_perf_ips":%s,"median_serve_rps":%s,"ratio":%.4f,"rounds":[%s]}\n' \
    "$model" "$threads" "$conns" "$seconds" "$serve_args" "$mp" "$ms" "$ratio" "$(IFS=,; echo "${rows[*]}")" >"$out"
echo "wrote $out"
