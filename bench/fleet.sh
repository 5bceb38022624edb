#!/usr/bin/env bash
# fleet.sh — glint as a fleet on loopback: N replicas of `glint serve` behind
# HAProxy (deploy/haproxy/glint.cfg: active health checks of
# /v2/health/ready, retries of what a draining or dead replica could not
# answer), driven by `glint bench rate` (open loop, paced, bounded) while
# replicas are taken down. Scenarios, each its own bench run:
#   rolling   every replica in turn gets SIGTERM (it drains: readiness 503,
#             in-flight answered, exit), is started again on its port and is
#             ready before the next goes; the client sends no retries
#   kill9     one replica is killed with SIGKILL under load and restarted; a
#             client without retries, then one with --retries 2
# Prints, per scenario, requests sent / answered 200 / failed and the status
# codes, and writes bench/out/fleet-<date>.json. Exit 1 if a scenario that
# must lose nothing (rolling; kill9 with retries) failed a request.
#
#   bench/fleet.sh [--replicas 3] [--model red_disc] [--image tests/data/horses.jpg]
#                  [--rate 40] [--seconds 20] [--scenarios "rolling kill9"]
# Needs Debian's haproxy (scripts/install-deps.sh --bench). FLEET_HAPROXY_CFG names another
# HAProxy config (e.g. one without retries, to see what they save).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
replicas=3 model=red_disc image=tests/data/horses.jpg rate=40 seconds=20 scenarios="rolling kill9"
glint=$root/build/glint cfg=${FLEET_HAPROXY_CFG:-deploy/haproxy/glint.cfg}
while [ $# -gt 0 ]; do
    case $1 in
    --replicas) replicas=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
    esac
done
[ "$replicas" -eq 3 ] || { echo "fleet: deploy/haproxy/glint.cfg names 3 replicas"; exit 2; }
command -v haproxy >/dev/null || { echo "fleet: haproxy is missing (scripts/install-deps.sh --bench)"; exit 1; }
[ -x "$glint" ] || { echo "fleet: build $glint first (make build)"; exit 1; }
task=$(grep -m1 '^task:' "models/$model/model.yaml" | awk '{print $2}')
tmp=$(mktemp -d)
pids=() ports=() hpid=
cleanup() {
    for p in "${pids[@]}" $hpid; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_replica I: glint serve on ports[I] (its log in $tmp/rI.log); returns once ready
start_replica() {
    local i=$1
    rm -f "$tmp/r$i.ready"
    "$glint" serve --models models --model "$model" --listen "127.0.0.1:${ports[$i]}" \
        --cache-mb 0 --workers 1 --ready-file "$tmp/r$i.ready" \
        --state-dir "$tmp/state$i" 2>>"$tmp/r$i.log" &
    pids[$i]=$!
    for _ in $(seq 1 1200); do [ -f "$tmp/r$i.ready" ] && return 0; sleep 0.05; done
    echo "fleet: replica $i did not start"; tail -5 "$tmp/r$i.log"; exit 1
}

for i in $(seq 0 $((replicas - 1))); do
    ports[$i]=$(free_port)
    start_replica "$i"
done
front=127.0.0.1:$(free_port)
GLINT_FRONT=$front GLINT_R1=127.0.0.1:${ports[0]} GLINT_R2=127.0.0.1:${ports[1]} \
    GLINT_R3=127.0.0.1:${ports[2]} haproxy -db -f "$cfg" >"$tmp/haproxy.log" 2>&1 &
hpid=$!
url="http://$front/v1/models/$model/$task"
for _ in $(seq 1 200); do curl -sf -o /dev/null -X POST --data-binary "@$image" "$url" && break; sleep 0.05; done

# bench NAME [ARGS...]: a paced run in the background; bench_wait collects it
bench() {
    local name=$1
    shift
    "$glint" bench rate --url "$url" --image "$image" --rate "$rate" --duration "$seconds" \
        --connections 8 --timeout 10 --quiet --no-request-log --health off \
        --out "$tmp/bench-$name" "$@" >"$tmp/bench-$name.txt" 2>&1 &
    bpid=$!
}
# the scenario's line and JSON object
report() {
    local name=$1 must=$2
    python3 - "$tmp/bench-$name/summary.json" "$name" "$must" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
r = j["requests"]
codes = j.get("status_codes") or {}
print("%-22s sent %5d  ok %5d  failed %3d  retried %3d  codes %s  p99 %.1f ms" % (
    sys.argv[2], r["sent"], r["ok"], r["failed"], r.get("retries", 0),
    json.dumps(codes, sort_keys=True), j["metrics"]["p99_ms"] or 0), file=sys.stderr)
print(json.dumps({"scenario": sys.argv[2], "must_lose_nothing": sys.argv[3] == "1",
                  "sent": r["sent"], "ok": r["ok"], "failed": r["failed"],
                  "retries": r.get("retries", 0), "status_codes": codes,
                  "p99_ms": j["metrics"]["p99_ms"]}))
PYEOF
}
wait_up() { # haproxy has had time to see a restarted replica (rise 2 x 200 ms)
    sleep 0.8
}

results=() bad=0
for sc in $scenarios; do
    case $sc in
    rolling)
        bench rolling
        sleep 2
        for i in $(seq 0 $((replicas - 1))); do
            kill -TERM "${pids[$i]}"
            wait "${pids[$i]}" || true
            start_replica "$i"
            wait_up
        done
        wait "$bpid" || true
        results+=("$(report rolling 1 2>>"$tmp/lines")")
        echo "  held at SIGTERM: $(grep -ho 'draining [0-9]* request' "$tmp"/r*.log | awk '{printf "%s ", $2}')" >>"$tmp/lines"
        ;;
    kill9)
        for retries in 0 2; do
            bench "kill9-retries$retries" --retries "$retries" --retry-backoff 20
            sleep 2
            held=$(curl -s "http://127.0.0.1:${ports[0]}/health" |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["in_flight"])' 2>/dev/null || echo "?")
            kill -9 "${pids[0]}"
            wait "${pids[0]}" 2>/dev/null || true
            sleep 1
            start_replica 0
            wait_up
            wait "$bpid" || true
            must=$([ "$retries" -gt 0 ] && echo 1 || echo 0)
            results+=("$(report "kill9-retries$retries" "$must" 2>>"$tmp/lines")")
            echo "  in flight on the killed replica just before SIGKILL: $held" >>"$tmp/lines"
        done
        ;;
    *) echo "fleet: unknown scenario $sc"; exit 2 ;;
    esac
done
cat "$tmp/lines"
for r in "${results[@]}"; do
    echo "$r" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(1 if r["must_lose_nothing"] and (r["failed"] or r["ok"] != r["sent"]) else 0)' || bad=1
done
mkdir -p bench/out
out="bench/out/fleet-$(date +%Y%m%d-%H%M%S).json"
printf '{"replicas":%d,"model":"%s","rate":%s,"seconds":%s,"scenarios":[%s]}\n' "$replicas" \
    "$model" "$rate" "$seconds" "$(IFS=,; echo "${results[*]}")" >"$out"
echo "wrote $out"
[ $bad -eq 0 ] || { echo "fleet: a scenario that must lose nothing failed requests"; tail -20 "$tmp/haproxy.log"; exit 1; }
