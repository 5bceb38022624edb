#!/usr/bin/env bash
# edge_iq.sh — image queries per second through the Groundlight edge API
# (POST /device-api/v1/image-queries) on the trained binary detector
# ("Is there a red disc?", models/red_disc), offline (no upstream), driven by
# `glint bench ramp` the way the original's multiple_client_throughput_test.py
# runs: clients join one per step, each closed-loop at R requests/s; a step is
# steady if it achieves >= 95% of R x clients with >= 99% success; the answer
# is the max steady RPS. Bodies: the darknet photographs (camera-size JPEGs)
# and the drawn test scenes, sent as image/jpeg like the SDK does.
#
#   bench/edge_iq.sh [--max-clients 10] [--step-seconds 30] [--rps-per-client 10]
#                    [--serve-args "..."] [--escalate]
#                    [--rate R[,R2,...] [--connections 64] [--duration 15]]
# The original's defaults are 10 clients, 30 s steps, 10 requests/s per client.
# --escalate makes every answer unconfident (threshold 1.0) with a second
# glint serve as the upstream: each query is committed to the outbox (fsync)
# and delivered, which measures the escalation path.
# --rate switches to `glint bench rate` (open loop, latency from the intended
# send time): the steady rate and p99 at a fixed offered load, the figure
# issue 14's throughput target is stated in.
# Results: bench/out/edge_iq-<date>/ (summary.json, report.html).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
clients=10 step=30 rps=10 serve_args="" glint=build/glint escalate=0
rate="" connections=64 duration=15
while [ $# -gt 0 ]; do
    case $1 in
    --max-clients) clients=$2; shift 2 ;;
    --step-seconds) step=$2; shift 2 ;;
    --rps-per-client) rps=$2; shift 2 ;;
    --serve-args) serve_args=$2; shift 2 ;;
    --glint) glint=$2; shift 2 ;;
    --escalate) escalate=1; shift ;;
    --rate) rate=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
    esac
done
[ -x "$glint" ] || { echo "edge_iq: build $glint first (make build)"; exit 1; }
tmp=$(mktemp -d)
spid= upid=
trap '[ -n "$spid" ] && kill -TERM $spid 2>/dev/null; [ -n "$upid" ] && kill -TERM $upid 2>/dev/null; rm -rf "$tmp"' EXIT
det=det_2bTqCredDiscBinary000000000
detector="detectors:
  - detector_id: $det
    model: red_disc
    query: Is there a red disc?
    mode: BINARY"
threshold=0.9 upstream=""
if [ $escalate = 1 ]; then
    printf '%s\n' "$detector" > "$tmp/up.yaml"
    "$glint" serve --models models --model red_disc --listen 127.0.0.1:0 --cache-mb 0 \
        --edge-config "$tmp/up.yaml" --state-dir "$tmp/upstate" --ready-file "$tmp/upready" \
        2> >(sed 's/^/[upstream] /' >&2) &
    upid=$!
    for _ in $(seq 1 600); do [ -f "$tmp/upready" ] && break; sleep 0.05; done
    threshold=1.0 upstream="  upstream_endpoint: http://$(cat "$tmp/upready")"
fi
cat > "$tmp/edge.yaml" <<YAML
global_config:
  refresh_rate: 60
  outbox_max_pending: 1000000
$upstream
$detector
    confidence_threshold: $threshold
YAML
mkdir "$tmp/images"
cp tests/data/dog.jpg tests/data/horses.jpg tests/data/person.jpg tests/data/shapes/*.png "$tmp/images/"
# shellcheck disable=SC2086
"$glint" serve --models models --model red_disc --listen 127.0.0.1:0 --cache-mb 0 \
    --edge-config "$tmp/edge.yaml" --state-dir "$tmp/state" --ready-file "$tmp/ready" \
    $serve_args 2> >(sed 's/^/[serve] /' >&2) &
spid=$!
for _ in $(seq 1 600); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
[ -f "$tmp/ready" ] || { echo "edge_iq: glint serve did not start"; exit 1; }
port=$(cut -d: -f2 "$tmp/ready")
out=bench/out/edge_iq-$(date +%Y%m%d-%H%M%S)
mkdir -p bench/out
url="http://127.0.0.1:$port/device-api/v1/image-queries?detector_id=$det"
if [ -n "$rate" ]; then
    "$glint" bench rate --url "$url" --image "$tmp/images" --content-type image/jpeg \
        --header "x-api-token: edge_bench_token" --rate "$rate" --connections "$connections" \
        --duration "$duration" --health "http://127.0.0.1:$port/health" --out "$out"
else
    "$glint" bench ramp --url "$url" \
        --image "$tmp/images" --content-type image/jpeg --header "x-api-token: edge_bench_token" \
        --max-clients "$clients" --step-size 1 --time-between-ramp "$step" \
        --requests-per-second "$rps" --health "http://127.0.0.1:$port/health" --out "$out"
fi
if [ $escalate = 1 ]; then
    sleep 2
    curl -s "http://127.0.0.1:$port/metrics" | grep -E '^glint_edge_(outbox|escalations_unconfident)' || true
fi
kill -TERM $spid
wait $spid || true
spid=
echo "edge_iq: report in $out/report.html"
