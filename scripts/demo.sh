#!/usr/bin/env bash
# The main job: serve the default model and measure it. Starts `glint serve`
# on the model repository (YOLOv8n, response cache off so that every request
# runs the model), ramps `glint bench` clients against it with real
# photographs, prints the max steady RPS and where the report is, and stops
# the server.
#
#   scripts/demo.sh [--max-clients N] [--step-seconds S] [--rps-per-client R]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
clients=12 step=5 rps=2
while [ $# -gt 0 ]; do
    case $1 in
    --max-clients) clients=$2; shift 2 ;;
    --step-seconds) step=$2; shift 2 ;;
    --rps-per-client) rps=$2; shift 2 ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
    esac
done
glint=build/glint
tmp=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill -TERM $spid 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/photos"
cp tests/data/dog.jpg tests/data/horses.jpg tests/data/person.jpg "$tmp/photos/"
"$glint" serve --models models --model yolov8n --listen 127.0.0.1:0 --cache-mb 0 \
    --ready-file "$tmp/ready" 2> >(sed 's/^/[serve] /' >&2) &
spid=$!
for _ in $(seq 1 600); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
[ -f "$tmp/ready" ] || { echo "demo: glint serve did not start"; exit 1; }
port=$(cut -d: -f2 "$tmp/ready")
out=bench/out/demo-$(date +%Y%m%d-%H%M%S)
mkdir -p bench/out
"$glint" bench ramp --url "http://127.0.0.1:$port/v1/models/yolov8n/detect" \
    --image "$tmp/photos" --max-clients "$clients" --step-size 1 \
    --time-between-ramp "$step" --requests-per-second "$rps" --out "$out"
kill -TERM $spid
wait $spid || true
spid=
echo "report: $out/report.html (summary: $out/summary.json)"
