#!/usr/bin/env bash
# overload.sh — glint serve at several times its capacity, with and without
# the latency budget (--max-queue-ms), in one run: first the capacity (closed
# loop, glint bench concurrency 4), then for each budget an open-loop glint
# bench rate at --factor x capacity with --connections connections; from each
# run's requests.csv: admitted (200) p50/p99, refused (503) p50/p99/max, the
# achieved rates, and the server's RSS before and after (its /health).
#
#   bench/overload.sh [--model yolov8n] [--verb detect] [--image tests/data/dog.jpg]
#                     [--factor 5] [--rate R (instead of factor x capacity)]
#                     [--duration 20] [--connections 512] [--budgets "500 0"]
#                     [--serve-args "--precision f32"] [--glint build/glint]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
model=yolov8n verb=detect image=tests/data/dog.jpg factor=5 rate="" duration=20 conns=512
budgets="500 0" serve_args="--precision f32" glint=build/glint
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2; shift 2 ;;
    --verb) verb=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --factor) factor=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --budgets) budgets=$2; shift 2 ;;
    --serve-args) serve_args=$2; shift 2 ;;
    --glint) glint=$2; shift 2 ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
    esac
done
out=$(mktemp -d /tmp/glint-overload.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
pid=""

start() { # budget tag
    local ready=$out/ready.$2
    # shellcheck disable=SC2086
    "$glint" serve --models models --model "$model" --listen 127.0.0.1:0 --cache-mb 0 \
        --max-queue-ms "$1" --max-connections 4096 --ready-file "$ready" $serve_args \
        2>"$out/serve.$2.log" &
    pid=$!
    for _ in $(seq 600); do [ -s "$ready" ] && break; sleep 0.1; done
    [ -s "$ready" ] || { cat "$out/serve.$2.log"; exit 1; }
    url=http://$(cat "$ready")
    for _ in 1 2 3; do curl -sf -o /dev/null --data-binary "@$image" "$url/v1/models/$model/$verb"; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
rss_mb() { curl -sf "$url/health" | /usr/bin/python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["rss_bytes"] / 1e6))'; }

start 0 capacity
"$glint" bench concurrency --url "$url/v1/models/$model/$verb" --image "$image" --concurrency 4 \
    --window 1000 --min-windows 3 --max-windows 6 --quiet --no-request-log --out "$out/cap" >/dev/null
stop
cap=$(/usr/bin/python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["achieved_rps"])' "$out/cap/summary.json")
[ -n "$rate" ] || rate=$(/usr/bin/python3 -c "print(round($cap * $factor))")
echo "overload: $model $verb, capacity $cap req/s (closed loop, 4 in flight); offered $rate req/s open loop for $duration s, $conns connections"
printf '%-10s %9s %9s %11s %11s %9s %11s %11s %11s %9s %9s\n' max_queue_ms offered ok_rps "ok p50 ms" "ok p99 ms" refused "503 p50 ms" "503 p99 ms" "503 max ms" "RSS MB" "RSS+ MB"
for b in $budgets; do
    start "$b" "b$b"
    before=$(rss_mb)
    "$glint" bench rate --url "$url/v1/models/$model/$verb" --image "$image" --rate "$rate" \
        --duration "$duration" --connections "$conns" --timeout 30 --quiet --out "$out/r$b" \
        >/dev/null 2>&1 || true
    after=$(rss_mb)
    stop
    /usr/bin/python3 - "$out/r$b/requests.csv" "$b" "$rate" "$duration" "$before" "$after" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))] if v else float("nan")
ok = [int(r["latency_us"]) / 1e3 for r in rows if r["status"] == "200"]
no = [int(r["latency_us"]) / 1e3 for r in rows if r["status"] == "503"]
# over the run's own span: admitted requests may be answered after the last send
dur = (max(int(r["end_us"]) for r in rows) - min(int(r["start_us"]) for r in rows)) / 1e6
print("%-12s %9s %9.1f %11.0f %11.0f %9d %11.2f %11.2f %11.2f %9s %9.1f" % (
    sys.argv[2], sys.argv[3], len(ok) / dur, pct(ok, 50), pct(ok, 99), len(no), pct(no, 50),
    pct(no, 99), max(no) if no else float("nan"), sys.argv[5],
    float(sys.argv[6]) - float(sys.argv[5])))
other = len(rows) - len(ok) - len(no)
if other:
    print("  (%d requests neither 200 nor 503)" % other)
PY
done
echo "latencies from the intended send time (open loop, coordinated omission corrected); 503 = refused"
