#!/usr/bin/env bash
# soak.sh — memory under sustained load: runs `glint serve` (cache off) under
# wrk at saturation with real photographs for M minutes and samples its RSS
# from /health every S seconds. Prints the RSS after the first minute, the
# highest and the last, and the requests served; exits 1 if the last RSS is
# more than 5% above the first minute's (memory that grows with load).
#
#   bench/soak.sh [--minutes 60] [--sample-seconds 30] [--model yolov8n]
#                 [--connections 4] [--serve-args "..."]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
minutes=60 every=30 model=yolov8n conns=4 serve_args=""
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --sample-seconds) every=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --serve-args) serve_args=$2; shift 2 ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "soak: wrk is missing (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d)
spid= wpid=
trap 'kill $wpid $spid 2>/dev/null || true; rm -rf "$tmp"' EXIT
task=$(grep -m1 '^task:' "models/$model/model.yaml" | awk '{print $2}')
# shellcheck disable=SC2086
build/glint serve --models models --model "$model" --listen 127.0.0.1:0 --cache-mb 0 \
    --ready-file "$tmp/ready" $serve_args 2>"$tmp/serve.log" &
spid=$!
for _ in $(seq 1 600); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
port=$(cut -d: -f2 "$tmp/ready")
IMAGES="tests/data/dog.jpg tests/data/horses.jpg tests/data/person.jpg" \
    wrk -t1 -c"$conns" -d"$((minutes * 60))s" --timeout 10s -s bench/wrk_post.lua \
    "http://127.0.0.1:$port/v1/models/$model/$task" >"$tmp/wrk.out" &
wpid=$!
first= peak=0 last=0 t=0
while kill -0 $wpid 2>/dev/null; do
    sleep "$every"
    t=$((t + every))
    h=$(curl -s --max-time 5 "http://127.0.0.1:$port/health" || true)
    rss=$(echo "$h" | grep -o '"rss_bytes":[0-9]*' | cut -d: -f2)
    [ -n "$rss" ] || continue
    imgs=$(echo "$h" | grep -o '"images":[0-9]*' | head -1 | cut -d: -f2)
    echo "t=${t}s rss=$((rss / 1048576)) MB images=$imgs"
    [ -z "$first" ] && [ "$t" -ge 60 ] && first=$rss
    [ "$rss" -gt "$peak" ] && peak=$rss
    last=$rss
done
wait $wpid || true
grep WRK "$tmp/wrk.out" || true
first=${first:-$last}
echo "RSS after the first minute $((first / 1048576)) MB, peak $((peak / 1048576)) MB, last $((last / 1048576)) MB"
[ "$last" -le $((first + first / 20)) ] || { echo "soak: RSS grew under load"; exit 1; }
