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
#   redis     the fleet's Redis (replicas run with --redis) is killed with
#             SIGKILL under load and restarted on its port 3 s later; the client
#             sends no retries; the replicas' /health says when they are back
#   swap      the replicas share a splits file (--splits) routing the name
#             `fleet` to two versions of the model (v1 100, v2 0); under load
#             the file is rewritten to v1 0, v2 100: the time until every
#             replica serves v2, failed requests (0 expected), and the
#             versions of 40 answers to distinct clients after it (v2 only)
#   autoscale offered load low -> high -> low (a third of --seconds each, at
#             rate/4, rate, rate/4) while glint_inference_pending_request_count (the
#             HorizontalPodAutoscaler's metric, deploy/k8s/overlays/fleet) is
#             read from every replica each 0.5 s: its per-replica average per
#             second of the run
# Prints, per scenario, requests sent / answered 200 / failed and the status
# codes, and writes bench/out/fleet-<date>.json. Exit 1 if a scenario that
# must lose nothing (rolling; kill9 with retries) failed a request.
#
#   bench/fleet.sh [--replicas 3] [--model red_disc] [--image tests/data/horses.jpg]
#                  [--rate 40] [--seconds 20] [--scenarios "rolling kill9 redis swap autoscale"]
#                  [--no-redis]
# Needs Debian's haproxy and redis-server (scripts/install-deps.sh).
# bench/fleet_outbox.py does kill -9 with escalations (the edge API, an upstream). FLEET_HAPROXY_CFG names another
# HAProxy config (e.g. one without retries, to see what they save).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
replicas=3 model=red_disc image=tests/data/horses.jpg rate=40 seconds=20
scenarios="rolling kill9 redis swap autoscale" use_redis=1
glint=$root/build/glint cfg=${FLEET_HAPROXY_CFG:-deploy/haproxy/glint.cfg}
while [ $# -gt 0 ]; do
    case $1 in
    --replicas) replicas=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --no-redis) use_redis=0; shift ;;
    *) sed -n '2,28p' "$0"; exit 2 ;;
    esac
done
[ "$replicas" -eq 3 ] || { echo "fleet: deploy/haproxy/glint.cfg names 3 replicas"; exit 2; }
command -v haproxy >/dev/null || { echo "fleet: haproxy is missing (scripts/install-deps.sh)"; exit 1; }
[ $use_redis -eq 0 ] || command -v redis-server >/dev/null ||
    { echo "fleet: redis-server is missing (scripts/install-deps.sh)"; exit 1; }
[ -x "$glint" ] || { echo "fleet: build $glint first (make build)"; exit 1; }
task=$(grep -m1 '^task:' "models/$model/model.yaml" | awk '{print $2}')
tmp=$(mktemp -d)
pids=() ports=() hpid= rpid= redis_args=()
cleanup() {
    for p in "${pids[@]}" $hpid $rpid; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_replica I: glint serve on ports[I] (its log in $tmp/rI.log); returns once ready
start_replica() {
    local i=$1
    rm -f "$tmp/r$i.ready"
    "$glint" serve --models "$tmp/models" --model "$model" --model "${model}_v1" \
        --model "${model}_v2" --splits "$tmp/splits.yaml" --listen "127.0.0.1:${ports[$i]}" \
        --cache-mb 0 --workers 1 --ready-file "$tmp/r$i.ready" "${redis_args[@]}" \
        --state-dir "$tmp/state$i" 2>>"$tmp/r$i.log" &
    pids[$i]=$!
    for _ in $(seq 1 1200); do [ -f "$tmp/r$i.ready" ] && return 0; sleep 0.05; done
    echo "fleet: replica $i did not start"; tail -5 "$tmp/r$i.log"; exit 1
}

# the repository: the model, and two "versions" of it for the swap scenario
mkdir -p "$tmp/models"
for v in "" _v1 _v2; do ln -s "$root/models/$model" "$tmp/models/$model$v"; done
printf 'fleet:\n  versions: {%s_v1: 100, %s_v2: 0}\n' "$model" "$model" >"$tmp/splits.yaml"
start_redis() {
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        >>"$tmp/redis.log" 2>&1 &
    rpid=$!
    for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "fleet: redis-server did not start"; tail -5 "$tmp/redis.log"; exit 1
}
if [ $use_redis -eq 1 ]; then
    redis_port=$(free_port)
    start_redis
    # a limit no client here reaches: every request is checked in Redis all the same
    redis_args=(--redis "redis://127.0.0.1:$redis_port" --rate-limit 10000)
fi
for i in $(seq 0 $((replicas - 1))); do
    ports[$i]=$(free_port)
    start_replica "$i"
done
front=127.0.0.1:$(free_port)
# glibc keeps HAProxy's 1 MB buffers (deploy/haproxy/glint.cfg, docs/scale.md)
MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TOP_PAD_=67108864 \
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
# wait_all PATH PYEXPR: seconds until PYEXPR (j: the JSON at PATH) is true on every
# replica, from the call ("?" after 20 s); one python process polls them all
wait_all() {
    python3 - "$(date +%s.%N)" "$1" "$2" "${ports[@]}" <<'PYEOF'
import json, sys, time, urllib.request
t0, path, expr, ports = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
def ok(p):
    try:
        j = json.load(urllib.request.urlopen("http://127.0.0.1:%s%s" % (p, path), timeout=2))
        return eval(expr)
    except Exception:
        return False
while time.time() - t0 < 20:
    if all(ok(p) for p in ports):
        print("%.2f" % (time.time() - t0))
        sys.exit(0)
    time.sleep(0.02)
print("?")
PYEOF
}
# health_field I PYEXPR: a value of replica I's /health (j is the JSON), or ?
health_field() {
    curl -s --max-time 2 "http://127.0.0.1:${ports[$1]}/health" |
        python3 -c "import json,sys; j=json.load(sys.stdin); print($2)" 2>/dev/null || echo "?"
}
# pending: glint_inference_pending_request_count summed over the models of each replica
pending() {
    local out=""
    for i in $(seq 0 $((replicas - 1))); do
        out+="$(curl -s --max-time 2 "http://127.0.0.1:${ports[$i]}/metrics" |
            awk '/^glint_inference_pending_request_count/ {s += $2} END {print s + 0}') "
    done
    echo "$out"
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
    redis)
        [ $use_redis -eq 1 ] || { echo "fleet: the redis scenario needs Redis (drop --no-redis)"; exit 2; }
        bench redis
        sleep 3
        kill -9 "$rpid"
        wait "$rpid" 2>/dev/null || true
        sleep 3
        start_redis
        back=$(wait_all /health 'j["redis"]["up"]')
        wait "$bpid" || true
        results+=("$(report redis 1 2>>"$tmp/lines")")
        local_checks=$(for i in $(seq 0 $((replicas - 1))); do health_field "$i" '"%d/%d/%d" % (j["redis"]["rate_checks"], j["redis"]["rate_checks_local"], j["redis"]["failures"])'; done | tr '\n' ' ')
        echo "  every replica connected again ${back} s after Redis came back; rate checks in Redis/decided locally/link failures per replica: $local_checks" >>"$tmp/lines"
        ;;
    swap)
        url_main=$url
        url="http://$front/v1/models/fleet/$task"
        bench swap
        sleep $(( seconds / 3 ))
        printf 'fleet:\n  versions: {%s_v1: 0, %s_v2: 100}\n' "$model" "$model" >"$tmp/splits.yaml.new"
        mv "$tmp/splits.yaml.new" "$tmp/splits.yaml"
        swapped=$(wait_all /v1/splits '[x for x in j["splits"] if x["name"] == "fleet"][0]["versions"][0]["weight"] == 0')
        wait "$bpid" || true
        results+=("$(report swap 1 2>>"$tmp/lines")")
        old=0
        for c in $(seq 1 40); do
            v=$(curl -s -X POST -H "x-api-token: client-$c" --data-binary "@$image" "$url?cache=0" |
                python3 -c 'import json,sys; print(json.load(sys.stdin).get("version"))' 2>/dev/null)
            [ "$v" = "${model}_v2" ] || old=$((old + 1))
        done
        echo "  every replica served ${model}_v2 $swapped s after the file changed; answers not from ${model}_v2 after it: $old of 40" >>"$tmp/lines"
        [ "$old" -eq 0 ] && [ "$swapped" != "?" ] || bad=1
        url=$url_main
        ;;
    autoscale)
        third=$(( (seconds + 2) / 3 ))
        low=$(python3 -c "print(max(1, $rate / 4))")
        ( for r in "$low" "$rate" "$low"; do
            "$glint" bench rate --url "$url" --image "$image" --rate "$r" --duration "$third" \
                --connections 16 --timeout 10 --quiet --no-request-log --health off \
                --out "$tmp/bench-autoscale-$r-$RANDOM" >/dev/null 2>&1 || true
          done ) &
        apid=$!
        t0=$(date +%s.%N)
        : >"$tmp/pending"
        while kill -0 "$apid" 2>/dev/null; do
            echo "$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}") $(pending)" >>"$tmp/pending"
            sleep 0.5
        done
        wait "$apid" || true
        python3 - "$tmp/pending" "$third" "$low" "$rate" "$replicas" >>"$tmp/lines" <<'PYEOF'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
third, low, high, n = float(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
print("autoscale: glint_inference_pending_request_count, average per replica (the HPA targets 3)")
phase = lambda t: low if t < third or t >= 2 * third else high
by_s = {}
for r in rows:
    by_s.setdefault(int(r[0]), []).append(sum(r[1:1 + n]) / n)
print("  second: " + " ".join("%d" % s for s in sorted(by_s)))
print("  offered:" + " ".join("%s" % phase(s) for s in sorted(by_s)))
print("  pending:" + " ".join("%.1f" % (sum(v) / len(v)) for s, v in sorted(by_s.items())))
for name, lo, hi in (("low", 0, third), ("high", third, 2 * third), ("low again", 2 * third, 9e9)):
    v = [sum(r[1:1 + n]) / n for r in rows if lo + 1 <= r[0] < hi]
    if v:
        print("  %-9s mean %.2f max %.2f" % (name, sum(v) / len(v), max(v)))
PYEOF
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
