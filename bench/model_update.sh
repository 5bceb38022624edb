#!/usr/bin/env bash
# model_update.sh — what a model update costs the clients of an edge: a glint
# serve (the hub) holds a detector's model, a second one (the edge) pulls it
# (docs/edge.md, "Model updates"), and under a steady open-loop load on the
# edge (glint bench rate) the hub publishes version 2 (red_disc with its
# labels reversed). Prints:
#   - publish -> serving: from the hub's new files to the edge's /health
#     showing version 2 (both refresh_rate 1 s: the hub notices its changed
#     files within 1 s, the edge polls the hub every 1 s);
#   - the swap pause: p50/p99/max of the requests in the 5 s before the
#     publish against those from the publish to 1 s after the swap, and
#     failed requests (must be 0);
#   - download throughput: the hub then switches the detector to resnet18
#     (a 45 MB package), whose download the edge's /health reports.
#
#   bench/model_update.sh [--rate 200] [--seconds 20] [--glint build/glint]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rate=200 seconds=20 glint=build/glint
while [ $# -gt 0 ]; do
    case $1 in
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --glint) glint=$2; shift 2 ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
    esac
done
[ -x "$glint" ] || { echo "model_update: build $glint first (make build)"; exit 1; }
py=/usr/bin/python3
tmp=$(mktemp -d)
hpid= epid=
trap '[ -n "$epid" ] && kill -TERM $epid 2>/dev/null; [ -n "$hpid" ] && kill -TERM $hpid 2>/dev/null; wait; rm -rf "$tmp"' EXIT
det=det_2bTqCredDiscBinary000000000

mkdir -p "$tmp/hub/red_disc" "$tmp/hub/resnet18" "$tmp/edge/shapes"
ln -s "$root/models/red_disc/model.onnx" "$root/models/red_disc/test_data_set_0" "$tmp/hub/red_disc/"
sed 's/precision: auto/precision: f32/' models/red_disc/model.yaml > "$tmp/hub/red_disc/model.yaml"
for f in model.onnx model.yaml labels.txt test_data_set_0; do ln -s "$root/models/resnet18/$f" "$tmp/hub/resnet18/"; done
for f in model.onnx model.yaml; do ln -s "$root/models/shapes/$f" "$tmp/edge/shapes/"; done
hub_cfg() { printf 'global_config:\n  refresh_rate: 1\ndetectors:\n  - detector_id: %s\n    model: %s\n' $det "$1" > "$tmp/hub.yaml.new"; mv "$tmp/hub.yaml.new" "$tmp/hub.yaml"; }
hub_cfg red_disc

start() { # name models config state -> pid in $pid, port in $port
    "$glint" serve --models "$2" --listen 127.0.0.1:0 --cache-mb 0 --max-queue-ms 0 \
        --edge-config "$3" --state-dir "$4" --ready-file "$tmp/$1.ready" 2> "$tmp/$1.log" &
    pid=$!
    for _ in $(seq 1 600); do [ -f "$tmp/$1.ready" ] && break; sleep 0.05; done
    [ -f "$tmp/$1.ready" ] || { echo "model_update: $1 did not start"; cat "$tmp/$1.log"; exit 1; }
    port=$(cut -d: -f2 "$tmp/$1.ready")
}
start hub "$tmp/hub" "$tmp/hub.yaml" "$tmp/hub-state"
hpid=$pid hport=$port
cat > "$tmp/edge.yaml" <<YAML
global_config:
  refresh_rate: 1
  upstream_endpoint: http://127.0.0.1:$hport
detectors:
  - detector_id: $det
    mode: BINARY
    confidence_threshold: 0.5
YAML
start edge "$tmp/edge" "$tmp/edge.yaml" "$tmp/edge-state"
epid=$pid eport=$port

field() { # the edge's /health edge.model_updates.<det>.<key>
    curl -s "http://127.0.0.1:$eport/health" | $py -c "import json,sys; print(json.load(sys.stdin)['edge']['model_updates'].get('$det', {}).get('$1', ''))"
}
wait_version() {
    for _ in $(seq 1 1200); do [ "$(field version)" = "$1" ] && return 0; sleep 0.05; done
    echo "model_update: version $1 never served"; tail -20 "$tmp/edge.log"; exit 1
}
wait_version 1

mkdir "$tmp/images"
cp tests/data/shapes/*.png "$tmp/images/"
out=bench/out/model_update-$(date +%Y%m%d-%H%M%S)
mkdir -p bench/out
t_bench=$($py -c 'import time; print(time.time())')
"$glint" bench rate --url "http://127.0.0.1:$eport/device-api/v1/image-queries?detector_id=$det" \
    --image "$tmp/images" --content-type image/png --rate "$rate" --duration "$seconds" \
    --connections 32 --quiet --out "$out" > "$tmp/bench.txt" &
bpid=$!
sleep "$((seconds / 2))"
t_pub=$($py -c 'import time; print(time.time())')
sed -i 's/labels: \[YES, NO\]/labels: [NO, YES]/' "$tmp/hub/red_disc/model.yaml"
wait_version 2
t_serve=$($py -c 'import time; print(time.time())')
wait $bpid

$py - "$out/requests.csv" "$t_bench" "$t_pub" "$t_serve" <<'PY'
import csv, sys
path, t_bench, t_pub, t_serve = sys.argv[1], *map(float, sys.argv[2:])
pub, serve = (t_pub - t_bench) * 1e6, (t_serve - t_bench) * 1e6
before, during, failed = [], [], 0
for r in csv.DictReader(open(path)):
    t, lat = float(r["intended_us"]), float(r["latency_us"]) / 1000
    if r["outcome"] != "ok":
        failed += 1
    if pub - 5e6 <= t < pub:
        before.append(lat)
    elif pub <= t <= serve + 1e6:
        during.append(lat)
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")
print("publish -> serving: %.2f s (refresh_rate 1 s)" % (t_serve - t_pub))
for name, v in (("5 s before the publish", before), ("publish .. swap + 1 s", during)):
    print("%-24s %5d requests  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms" % (name, len(v), q(v, .5), q(v, .99), max(v) if v else float("nan")))
print("failed requests in the whole run: %d" % failed)
PY

hub_cfg resnet18
wait_version 3
bytes=$(field last_download_bytes) secs=$(field last_download_s)
$py -c "print('download: %d bytes in %.3f s = %.0f MB/s (the hub on the same 2 cores, loopback)' % ($bytes, $secs, $bytes / $secs / 1e6))"
echo "bench report: $out/report.html"
