#!/usr/bin/env bash
# capacity.sh — the inputs and the check of docs/scale.md's capacity model (an
# M/G/c queue, bench/capacity_model.py), measured on loopback:
#   service   one replica pinned to core 0 (taskset -c 0, 1 instance x 1 thread,
#             1 decode worker), glint bench pinned to core 1, closed loop at
#             concurrency 1 for --service-seconds: mean, p50, p90, p99 and the
#             coefficient of variation of the per-request latency (requests.csv)
#   capacity  the same replica, closed loop at concurrency 2, 3, 4: the most
#             requests/s it answered = one core's capacity mu
#   fleet     N = 1, 2, 3 replicas (replica i on core i mod 2) behind HAProxy
#             (deploy/haproxy/glint.cfg, its servers beyond N removed); glint
#             bench rate with Poisson arrivals at 50% and 80% of the predicted
#             capacity min(N, 2) x mu for --seconds each, then a closed loop at
#             concurrency 2N (the most it answers). HAProxy and glint bench are
#             not pinned: they share the 2 cores with the replicas, and the CPU
#             seconds of every process (/proc/PID/stat; the generator's from the
#             shell's `time`) and of the machine (/proc/stat) are recorded per run
#   redis     redis-server pinned to core 1, redis-benchmark on core 0: GET and SET
#             of the answer's size, and EVAL of glint's GCRA script
#             (src/serve/core/fleet.c), unpipelined and 16 deep
# Prints each measurement beside the model's prediction and writes
# bench/out/capacity-<date>.json. Replicas run with --cache-mb 0 (every request
# runs the model) and --max-queue-ms 0 --max-queue 100000 (no admission by
# latency budget: the queue the model describes, unshed). About 5 minutes with
# the defaults (more with --quiet-wait and --retries on a busy machine).
#
#   bench/capacity.sh [--model yolov8n] [--image tests/data/dog.jpg] [--precision int8]
#                     [--seconds 20] [--service-seconds 15] [--fleet "1 2 3"]
#                     [--loads "0.5 0.8"] [--seed 1] [--no-redis] [--glint build/glint]
#   --fleet ""       only the service time and one core's capacity
#                     [--quiet-wait S] [--retries N] [--haproxy-env 'VAR=VALUE ...']
#                     [--haproxy-cfg deploy/haproxy/glint.cfg]
#   --quiet-wait S   before each measured run, wait up to S s for a second in which
#                    other processes use < 0.1 core (default 0: don't wait)
#   --retries N      rerun a run during which other processes used > 0.15 core, up
#                    to N times (default 0); the JSON lists the tries discarded
#   --haproxy-env    environment for HAProxy, e.g. glibc's malloc tunables
#                    (docs/scale.md: the shipped config's 1 MB buffers)
#   --haproxy-cfg    another HAProxy config with servers r1..r3 (GLINT_FRONT,
#                    GLINT_R1..R3), e.g. one with a smaller tune.bufsize
# Needs Debian's haproxy, taskset (util-linux) and, for the Redis part,
# redis-server and redis-benchmark (scripts/install-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
model=yolov8n image=tests/data/dog.jpg precision=int8 seconds=20 service_seconds=15
fleet="1 2 3" loads="0.5 0.8" seed=1 use_redis=1 glint_src=$root/build/glint
quiet_wait=0 retries=0 haproxy_env="" haproxy_cfg=deploy/haproxy/glint.cfg
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --service-seconds) service_seconds=$2; shift 2 ;;
    --fleet) fleet=$2; shift 2 ;;
    --loads) loads=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --no-redis) use_redis=0; shift ;;
    --glint) glint_src=$2; shift 2 ;;
    --quiet-wait) quiet_wait=$2; shift 2 ;;
    --retries) retries=$2; shift 2 ;;
    --haproxy-env) haproxy_env=$2; shift 2 ;;
    --haproxy-cfg) haproxy_cfg=$2; shift 2 ;;
    *) sed -n '2,42p' "$0"; exit 2 ;;
    esac
done
for n in $fleet; do
    case $n in 1 | 2 | 3) ;; *) echo "capacity: --fleet takes 1, 2 or 3 (glint.cfg names 3 servers)"; exit 2 ;; esac
done
command -v haproxy >/dev/null || { echo "capacity: haproxy is missing (scripts/install-deps.sh)"; exit 1; }
command -v taskset >/dev/null || { echo "capacity: taskset is missing (util-linux)"; exit 1; }
[ "$(nproc --all)" -ge 2 ] || { echo "capacity: needs 2 cores"; exit 1; }
if [ $use_redis -eq 1 ] && ! command -v redis-benchmark >/dev/null; then
    echo "capacity: redis-benchmark is missing: skipping the Redis part"
    use_redis=0
fi
[ -x "$glint_src" ] || { echo "capacity: build $glint_src first (make build)"; exit 1; }
task=$(grep -m1 '^task:' "models/$model/model.yaml" | awk '{print $2}')
tmp=$(mktemp -d)
# a copy: the build may be replaced while this runs
cp "$glint_src" "$tmp/glint"
glint=$tmp/glint
pids=() ports=() hpid='' rpid=''
cleanup() {
    for p in "${pids[@]}" $hpid $rpid; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
: >"$tmp/tries"
: >"$tmp/disturbed"
# other.py RUN: cores the rest of the machine used during RUN (from its snapshots)
cat >"$tmp/other.py" <<'PYEOF'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
def snap(p):
    d = {}
    for line in open(p):
        f = line.split()
        if f[0] == "cpu":
            v = list(map(int, f[1:9]))
            d["busy"] = sum(v) - v[3] - v[4]
        elif f[0] == "time":
            d["time"] = float(f[1])
        elif f[0] != "lastpid":
            d[f[0]] = int(f[1])
    return d
a, b = snap(sys.argv[1] + ".before"), snap(sys.argv[1] + ".after")
ours = sum(b[k] - a.get(k, 0) for k in b if k not in ("busy", "time") and not k.startswith("pid:"))
gen = sum(map(float, open(sys.argv[1] + ".time").read().split()[-2:])) * hz
print("%.3f" % max(0.0, (b["busy"] - a["busy"] - ours - gen) / hz / (b["time"] - a["time"])))
PYEOF
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# start_replica I CORE: glint serve pinned to CORE on ports[I]; returns once ready
start_replica() {
    local i=$1 core=$2
    ports[$i]=$(free_port)
    rm -f "$tmp/r$i.ready"
    taskset -c "$core" "$glint" serve --models models --model "$model" --precision "$precision" \
        --listen "127.0.0.1:${ports[$i]}" --ready-file "$tmp/r$i.ready" --cache-mb 0 \
        --instances 1 --threads 1 --workers 1 --max-queue-ms 0 --max-queue 100000 \
        --state-dir "$tmp/state$i" 2>>"$tmp/r$i.log" &
    pids[$i]=$!
    for _ in $(seq 1 1200); do [ -f "$tmp/r$i.ready" ] && return 0; sleep 0.05; done
    echo "capacity: replica $i did not start"; tail -5 "$tmp/r$i.log"; exit 1
}
stop_all() {
    for p in "${pids[@]}" $hpid; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}" $hpid; do wait "$p" 2>/dev/null || true; done
    pids=() ports=() hpid=''
}
# snap FILE: the machine's CPU line, the CPU ticks of every fleet process, and
# of every other process (as "pid:PID:NAME TICKS": who else used the cores)
snap() {
    {
        head -1 /proc/stat
        date +%s.%N | sed 's/^/time /'
        echo "lastpid $(cat /proc/sys/kernel/ns_last_pid)"
        for i in "${!pids[@]}"; do
            echo "r$i $(awk '{print $14 + $15}' "/proc/${pids[$i]}/stat" 2>/dev/null || echo 0)"
        done
        [ -z "$hpid" ] || echo "haproxy $(awk '{print $14 + $15}' "/proc/$hpid/stat" 2>/dev/null || echo 0)"
        python3 -c 'import os, sys
ours = set(sys.argv[1:])
for p in os.listdir("/proc"):
    if not p.isdigit() or p in ours:
        continue
    try:
        s = open("/proc/%s/stat" % p).read()
    except OSError:
        continue
    f = s[s.rindex(")") + 2:].split()
    name = s[s.index("(") + 1:s.rindex(")")].replace(" ", "_")
    print("pid:%s:%s %d" % (p, name, int(f[11]) + int(f[12])))' "${pids[@]}" $hpid $$
    } >"$1"
}
# busy_ticks: CPU ticks the machine spent busy (all but idle and iowait)
busy_ticks() { awk 'NR == 1 {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# wait_quiet: with --quiet-wait, until a second in which everything but the
# (idle) fleet uses < 0.1 core, or the wait runs out
wait_quiet() {
    [ "$quiet_wait" -gt 0 ] || return 0
    local deadline=$(($(date +%s) + quiet_wait)) a b
    while :; do
        a=$(busy_ticks); sleep 1; b=$(busy_ticks)
        [ $((b - a)) -lt $((hz / 10)) ] && return 0
        [ "$(date +%s)" -lt "$deadline" ] || { log "still busy after ${quiet_wait} s of waiting; running anyway"; return 0; }
    done
}
# run NAME CMD...: a load generator run between two snapshots (its own CPU
# seconds from the shell's time); again, up to --retries times, while other
# processes used > 0.15 core; earlier tries are kept as NAME.tryK
run() {
    local name=$1 try other
    shift
    for ((try = 0; ; try++)); do
        wait_quiet
        rm -rf "${tmp:?}/$name"
        snap "$tmp/$name.before"
        local TIMEFORMAT='%U %S'
        { time "$@" >"$tmp/$name.txt" 2>&1 || true; } 2>"$tmp/$name.time"
        snap "$tmp/$name.after"
        [ -f "$tmp/$name/summary.json" ] || { echo "capacity: run $name wrote no summary"; tail -5 "$tmp/$name.txt"; exit 1; }
        other=$(python3 "$tmp/other.py" "$tmp/$name")
        if [ "$try" -ge "$retries" ] || python3 -c "import sys; sys.exit(0 if $other <= 0.15 else 1)"; then
            break
        fi
        log "  disturbed: other processes used $other cores; again ($((try + 1)) of $retries)"
        for f in "" .before .after .time .txt; do mv "$tmp/$name$f" "$tmp/$name.try$try$f"; done
        echo "$name $try $other" >>"$tmp/disturbed"
    done
    echo "$name $try $other" >>"$tmp/tries"
}
url_of() { echo "http://$1/v1/models/$model/$task"; }

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); model $model $precision, image $image"
snap "$tmp/start.snap"

# ---- 1, 2: one replica on core 0, the generator on core 1 ----
start_replica 0 0
url=$(url_of "127.0.0.1:${ports[0]}")
b=(bench concurrency --url "$url" --image "$image" --window 1000 --timeout 10 --quiet)
taskset -c 1 "$glint" "${b[@]}" --concurrency 1 --min-windows 2 --max-windows 2 --no-request-log \
    --health off --out "$tmp/warm" >/dev/null 2>&1 || true
log "service time: concurrency 1 for ${service_seconds} s"
run service taskset -c 1 "$glint" "${b[@]}" --concurrency 1 --min-windows "$service_seconds" \
    --max-windows "$service_seconds" --out "$tmp/service"
log "capacity: concurrency 2..4"
run capacity taskset -c 1 "$glint" "${b[@]}" --concurrency 2:4:1 --min-windows 4 --max-windows 6 \
    --no-request-log --out "$tmp/capacity"
stop_all
mu=$(python3 -c "import json; print(round(max(s['achieved_rps'] for s in json.load(open('$tmp/capacity/summary.json'))['steps']), 2))")
log "one core: ${mu} req/s"

# ---- 3: fleets behind HAProxy ----
: >"$tmp/fleet.runs"
k=0
for n in $fleet; do
    cfg=$tmp/haproxy-$n.cfg
    if [ "$n" -lt 3 ]; then
        sed -E "/^[[:space:]]*server r[$((n + 1))-3] /d" "$haproxy_cfg" >"$cfg"
    else
        cp "$haproxy_cfg" "$cfg"
    fi
    env_r=()
    for i in $(seq 0 $((n - 1))); do
        start_replica "$i" $((i % 2))
        env_r+=("GLINT_R$((i + 1))=127.0.0.1:${ports[$i]}")
    done
    front=127.0.0.1:$(free_port)
    # shellcheck disable=SC2086 # --haproxy-env is a list of VAR=VALUE words
    env GLINT_FRONT="$front" "${env_r[@]}" $haproxy_env haproxy -db -f "$cfg" >"$tmp/haproxy-$n.log" 2>&1 &
    hpid=$!
    url=$(url_of "$front")
    for _ in $(seq 1 200); do curl -sf -o /dev/null -X POST --data-binary "@$image" "$url" && break; sleep 0.05; done
    sleep 1 # every server through its first checks (rise 2 x 200 ms)
    "$glint" bench concurrency --url "$url" --image "$image" --concurrency "$n" --window 1000 \
        --min-windows 1 --max-windows 1 --quiet --no-request-log --health off \
        --out "$tmp/warm-$n" >/dev/null 2>&1 || true
    # HAProxy's CPU with no traffic (health checks only), over 3 s
    snap "$tmp/idle-$n.before"; sleep 3; snap "$tmp/idle-$n.after"
    cap=$(python3 -c "print(min($n, 2) * $mu)")
    name=fleet-$n-c1
    log "N=$n: closed loop at concurrency 1 (the service time through HAProxy)"
    run "$name" "$glint" bench concurrency --url "$url" --image "$image" --concurrency 1 \
        --window 1000 --min-windows 5 --max-windows 5 --timeout 10 --quiet --health off --out "$tmp/$name"
    echo "$name $n c1 - -" >>"$tmp/fleet.runs"
    for load in $loads; do
        rate=$(python3 -c "print(round($load * $cap, 1))")
        k=$((k + 1))
        name=fleet-$n-open-$load
        log "N=$n: Poisson arrivals at $rate req/s ($load x $cap) for $seconds s"
        run "$name" "$glint" bench rate --url "$url" --image "$image" --rate "$rate" \
            --arrival poisson --seed $((seed * 100 + k)) --duration "$seconds" --connections 64 \
            --timeout 10 --quiet --no-request-log --health off --out "$tmp/$name"
        echo "$name $n open $load $rate" >>"$tmp/fleet.runs"
    done
    name=fleet-$n-closed
    log "N=$n: closed loop at concurrency $((2 * n))"
    run "$name" "$glint" bench concurrency --url "$url" --image "$image" --concurrency $((2 * n)) \
        --window 1000 --min-windows 5 --max-windows 8 --timeout 10 --quiet --no-request-log \
        --health off --out "$tmp/$name"
    echo "$name $n closed - -" >>"$tmp/fleet.runs"
    stop_all
done

# ---- Redis's own ceiling ----
: >"$tmp/redis.csv"
# redis_rows PIPE: redis-benchmark's CSV (a custom command's name spans lines) as
# rows PIPE,COMMAND,rps,avg,min,p50,p95,p99,max
redis_rows() {
    python3 -c 'import csv, sys
for r in csv.reader(sys.stdin):
    if r and r[0] != "test":
        print(",".join([sys.argv[1], r[0].split()[0]] + r[1:]))' "$1"
}
if [ $use_redis -eq 1 ]; then
    rport=$(free_port)
    taskset -c 1 redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
        >"$tmp/redis.log" 2>&1 &
    rpid=$!
    for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
    # the value a cached answer is: the mean body of an answer in the service run
    vsize=$(python3 -c "import json; r = json.load(open('$tmp/service/summary.json'))['requests']; print(int(r['bytes_in'] / max(1, r['responses'])))")
    # glint's GCRA script, as src/serve/core/fleet.c sends it with EVAL
    gcra=$(python3 - src/serve/core/fleet.c <<'PYEOF'
import ast, re, sys
src = open(sys.argv[1]).read()
m = re.search(r"static const char gcra_script\[\] =(.*?);\n", src, re.S)
if m:
    print("".join(ast.literal_eval(x) for x in re.findall(r'"(?:[^"\\]|\\.)*"', m.group(1))), end="")
PYEOF
)
    [ -n "$gcra" ] || { echo "capacity: could not read the GCRA script from src/serve/core/fleet.c"; exit 1; }
    for pipe in 1 16; do
        log "redis: GET/SET of $vsize bytes and EVAL gcra, pipeline $pipe"
        taskset -c 0 redis-benchmark -p "$rport" -c 50 -n 100000 -P "$pipe" -r 100000 -d "$vsize" \
            -t set,get --csv 2>/dev/null | redis_rows "$pipe" >>"$tmp/redis.csv"
        taskset -c 0 redis-benchmark -p "$rport" -c 50 -n 100000 -P "$pipe" -r 100000 --csv \
            EVAL "$gcra" 1 'glint:rl:__rand_int__' 50000 100000 2>/dev/null | redis_rows "$pipe" >>"$tmp/redis.csv"
    done
    kill -9 "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
    rpid=''
fi
snap "$tmp/end.snap"

# ---- the report ----
mkdir -p bench/out
out="bench/out/capacity-$(date +%Y%m%d-%H%M%S).json"
CAP_HAPROXY_ENV=$haproxy_env CAP_HAPROXY_CFG=$haproxy_cfg CAP_RETRIES=$retries CAP_QUIET_WAIT=$quiet_wait \
    CAP_HAPROXY=$(haproxy -v | head -1 | awk '{print $3}') PYTHONDONTWRITEBYTECODE=1 \
    python3 - "$tmp" "$out" "$model" "$precision" "$image" "$seconds" "$service_seconds" <<'PYEOF'
import csv, json, math, os, sys
sys.path.insert(0, "bench")
import capacity_model as cm

tmp, out, model, precision, image, seconds, service_seconds = sys.argv[1:8]
HZ = os.sysconf("SC_CLK_TCK")

def summary(name):
    return json.load(open(os.path.join(tmp, name, "summary.json")))

def snapfile(path):
    d = {}
    for line in open(path):
        f = line.split()
        if f[0] == "cpu":
            v = list(map(int, f[1:]))
            # user nice system idle iowait irq softirq steal
            d["busy"] = (sum(v[:8]) - v[3] - v[4]) / HZ
            d["steal"] = v[7] / HZ
            d["total"] = sum(v[:8]) / HZ
        elif f[0] == "time":
            d["time"] = float(f[1])
        elif f[0] == "lastpid":
            d["lastpid"] = int(f[1])
        else:
            d[f[0]] = int(f[1]) / HZ
    return d

def cpu(name, before=None, after=None):
    """CPU seconds per process and of the machine over a run, in cores."""
    a = snapfile(before or os.path.join(tmp, name + ".before"))
    b = snapfile(after or os.path.join(tmp, name + ".after"))
    dt = b["time"] - a["time"]
    res = {"seconds": dt}
    procs = 0.0
    rep = 0.0
    others = []
    for k in b:
        if k.startswith("r") and k[1:].isdigit():
            rep += b[k] - a.get(k, 0)
        elif k.startswith("pid:") and k in a and b[k] - a[k] > 0:
            others.append((b[k] - a[k], k.split(":", 2)[2]))
    res["replicas"] = rep / dt
    res["haproxy"] = (b.get("haproxy", 0) - a.get("haproxy", 0)) / dt
    gen = 0.0
    tf = os.path.join(tmp, name + ".time") if name else None
    if tf and os.path.exists(tf):
        u, s = open(tf).read().split()[-2:]
        gen = float(u) + float(s)
    res["generator"] = gen / dt
    res["machine"] = (b["busy"] - a["busy"]) / dt
    res["steal"] = (b["steal"] - a["steal"]) / dt
    # CPU time the kernel accounted at all (busy + idle), in cores: 2 on 2 cores
    # unless the hypervisor took time it does not report as steal
    res["accounted"] = (b["total"] - a["total"]) / dt
    res["tasks_created"] = b.get("lastpid", 0) - a.get("lastpid", 0)
    res["other"] = res["machine"] - res["replicas"] - res["haproxy"] - res["generator"]
    # the long-lived processes among the others (those that came and went are
    # in "other" but not here)
    res["other_top"] = ["%s %.2f" % (n, t / dt) for t, n in sorted(others, reverse=True)[:3]]
    res["_cpu_s"] = {"replicas": rep, "haproxy": res["haproxy"] * dt, "generator": gen}
    return res

def latencies(name):
    """Mean, sd, CV and percentiles of a run's per-request latencies (requests.csv)."""
    lat = []
    with open(os.path.join(tmp, name, "requests.csv")) as f:
        for r in csv.DictReader(f):
            if r["outcome"] == "ok":
                lat.append(int(r["latency_us"]) / 1000.0)
    lat.sort()
    n = len(lat)
    mean = sum(lat) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in lat) / (n - 1))
    pct = lambda q: lat[min(n - 1, max(0, math.ceil(q * n) - 1))]
    return {"requests": n, "mean_ms": mean, "sd_ms": sd, "cv": sd / mean, "p50_ms": pct(0.5),
            "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": lat[-1]}

# 1. service time from the per-request log
service = latencies("service")
service.update(rps=summary("service")["achieved_rps"], cpu=cpu("service"))
n, mean, sd, lat_max = service["requests"], service["mean_ms"], service["sd_ms"], service["max_ms"]
cap = summary("capacity")
steps = [{"concurrency": s.get("level", s.get("concurrency")), "rps": s["achieved_rps"],
          "p50_ms": s.get("p50_ms"), "p99_ms": s.get("p99_ms")} for s in cap["steps"]]
mu = max(s["rps"] for s in steps)
capacity = {"steps": steps, "max_rps": mu, "cpu": cpu("capacity")}
S = 1.0 / mu
inputs = {"service_ms": S * 1000, "cv": service["cv"], "p50_service_ms": service["p50_ms"],
          "p99_service_ms": service["p99_ms"], "capacity_per_core": mu,
          "note": "service_ms = 1 / the capacity of one core (closed loop, concurrency 2-4); "
                  "cv, p50, p99: the per-request latency at concurrency 1 (requests.csv)"}

# 3. fleets; a second prediction takes the capacity the fleet showed in its
# closed loop (mu_eff = that / cores) instead of one core's
fleet_lines = [l.split() for l in open(os.path.join(tmp, "fleet.runs"))]
closed_rps = {int(n): summary(name)["achieved_rps"] for name, n, kind, _, _ in fleet_lines if kind == "closed"}
via = {int(n): latencies(name) for name, n, kind, _, _ in fleet_lines if kind == "c1"}
runs = []
for line in fleet_lines:
    name, nrep, kind, load, rate = line
    nrep = int(nrep)
    j = summary(name)
    c = min(nrep, 2)
    lat_ms = j["latency_ms"]
    r = {"name": name, "replicas": nrep, "cores": c, "kind": kind,
         "achieved_rps": j["achieved_rps"], "ok_rps": j["ok_rps"], "p50_ms": lat_ms["p50"],
         "p99_ms": lat_ms["p99"], "mean_ms": lat_ms["mean"], "responses": j["requests"]["responses"],
         "failed": j["requests"]["failed"], "unsent": j["requests"].get("unsent", 0),
         "errors": {k: v for k, v in (j.get("errors") or {}).items() if v},
         "status_codes": j.get("status_codes"), "cpu": cpu(name)}
    idle = cpu(None, os.path.join(tmp, "idle-%d.before" % nrep), os.path.join(tmp, "idle-%d.after" % nrep))
    r["haproxy_idle_cores"] = idle["haproxy"]
    resp = max(1, r["responses"])
    hap_busy = max(0.0, r["cpu"]["haproxy"] - idle["haproxy"]) * r["cpu"]["seconds"]
    r["haproxy_ms_per_request"] = hap_busy / resp * 1000
    r["generator_ms_per_request"] = r["cpu"]["_cpu_s"]["generator"] / resp * 1000
    r["replica_ms_per_request"] = r["cpu"]["_cpu_s"]["replicas"] / resp * 1000
    if kind == "open":
        lam = float(rate)
        p = cm.predict(lam, S, inputs["cv"], c, p99_s=inputs["p99_service_ms"] / 1000,
                       p50_s=inputs["p50_service_ms"] / 1000)
        r.update(load=float(load), offered_rps=lam, predicted={
            "rps": lam if p["stable"] else c * mu, "rho": p["rho"], "p_wait": p["p_wait"],
            "p50_ms": p["p50_s"] * 1000, "p99_ms": p["p99_s"] * 1000})
        if nrep in closed_rps and nrep in via:
            # the fleet's own inputs: its closed-loop capacity, and the latency
            # distribution through HAProxy at concurrency 1
            s_eff = c / closed_rps[nrep]
            v = via[nrep]
            pe = cm.predict(lam, s_eff, v["cv"], c, p99_s=v["p99_ms"] / 1000, p50_s=v["p50_ms"] / 1000)
            r["predicted_fleet_mu"] = {"mu_eff": 1 / s_eff, "cv": v["cv"], "rho": pe["rho"],
                                       "p50_ms": pe["p50_s"] * 1000, "p99_ms": pe["p99_s"] * 1000}
    elif kind == "c1":
        r.update(load=None, offered_rps=None, via_haproxy=via[nrep], predicted={
            "rps": 1000 / inputs["p50_service_ms"], "p50_ms": inputs["p50_service_ms"],
            "p99_ms": inputs["p99_service_ms"]})
    else:
        r.update(load=None, offered_rps=None, predicted={"rps": c * mu})
    runs.append(r)

# Redis
redis = []
for row in csv.reader(open(os.path.join(tmp, "redis.csv"))):
    if len(row) < 3 or row[1] == "test":
        continue
    test = row[1].split()[0].upper()
    redis.append({"pipeline": int(row[0]), "command": test, "ops_per_s": float(row[2]),
                  "p50_ms": float(row[5]) if len(row) > 5 else None,
                  "p99_ms": float(row[7]) if len(row) > 7 else None})
def ops(cmd, pipe):
    v = [x["ops_per_s"] for x in redis if x["command"] == cmd and x["pipeline"] == pipe]
    return v[0] if v else None
redis_fleet = {}
for pipe in (1, 16):
    g, s, e = ops("GET", pipe), ops("SET", pipe), ops("EVAL", pipe)
    if g and s and e:
        redis_fleet[str(pipe)] = {
            "rate_limit_only": e,
            "cache_all_misses": 1 / (1 / g + 1 / s),
            "cache_and_rate_limit": 1 / (1 / g + 1 / s + 1 / e)}

whole = cpu(None, os.path.join(tmp, "start.snap"), os.path.join(tmp, "end.snap"))
tries = {l.split()[0]: int(l.split()[1]) + 1 for l in open(os.path.join(tmp, "tries"))}
disturbed = [{"run": l.split()[0], "try": int(l.split()[1]) + 1, "other_cores": float(l.split()[2])}
             for l in open(os.path.join(tmp, "disturbed"))]
for r in runs:
    r["tries"] = tries.get(r["name"], 1)
service["tries"] = tries.get("service", 1)
capacity["tries"] = tries.get("capacity", 1)
doc = {"date": os.popen("date -Iseconds").read().strip(), "model": model, "precision": precision,
       "image": image, "seconds": float(seconds), "service_seconds": float(service_seconds),
       "loadavg_end": open("/proc/loadavg").read().split()[:3],
       "machine_cpu": {"steal_cores": whole["steal"], "busy_cores": whole["machine"],
                       "seconds": whole["seconds"]},
       "haproxy": os.environ.get("CAP_HAPROXY"), "haproxy_env": os.environ.get("CAP_HAPROXY_ENV") or None,
       "haproxy_cfg": os.environ.get("CAP_HAPROXY_CFG"),
       "retries": int(os.environ.get("CAP_RETRIES", "0")), "quiet_wait_s": int(os.environ.get("CAP_QUIET_WAIT", "0")),
       "disturbed_tries_discarded": disturbed,
       "service": service, "capacity": capacity, "model_inputs": inputs, "fleet": runs,
       "redis": redis, "redis_fleet_ceiling_rps": redis_fleet}
for r in [service, capacity] + runs:
    r["cpu"].pop("_cpu_s", None)
json.dump(doc, open(out, "w"), indent=1)

print()
print("glint serve %s %s, 1 instance x 1 thread per replica; HAProxy %s, %s%s" % (
    model, precision, doc["haproxy"], doc["haproxy_cfg"], " with " + doc["haproxy_env"] if doc["haproxy_env"] else ""))
print("service time (1 replica, core 0; generator on core 1; concurrency 1, %d requests, requests.csv):" % n)
print("  mean %.2f ms  sd %.2f  CV %.3f  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms  (%.1f req/s; other cores %.2f%s)" % (
    mean, sd, service["cv"], service["p50_ms"], service["p90_ms"], service["p99_ms"], lat_max, service["rps"],
    service["cpu"]["other"], "*" if service["cpu"]["other"] > 0.15 else ""))
print("one core's capacity (closed loop): " + ", ".join("c=%s %.1f" % (s["concurrency"], s["rps"]) for s in steps)
      + " req/s -> mu %.1f req/s, service time 1/mu %.2f ms (other cores %.2f%s)" % (
          mu, S * 1000, capacity["cpu"]["other"], "*" if capacity["cpu"]["other"] > 0.15 else ""))
print()
print("predicted: M/G/c with c = min(N, 2) cores of mu each; 'eff': mu_eff = the fleet's closed-loop rate / c")
print("N  run      offered  achieved   p50 ms  pred p50   p99 ms  pred p99  eff p99  fail  repl.cores  haproxy ms/req  gen ms/req  other cores")
fmt = lambda x: "-" if x is None else ("inf" if x == math.inf else "%.1f" % x)
flag = lambda x: "*" if x > 0.15 else " "
for r in runs:
    p = r["predicted"]
    e = r.get("predicted_fleet_mu", {})
    label = {"open": "%3.0f%%" % ((r["load"] or 0) * 100), "c1": "c=1", "closed": "c=%d" % (2 * r["replicas"])}[r["kind"]]
    print("%d  %-6s  %7s  %8.1f  %7.1f  %8s  %7.1f  %8s  %7s  %4d  %10.2f  %14.2f  %10.2f  %10.2f%s" % (
        r["replicas"], label, fmt(r["offered_rps"]) if r["offered_rps"] else "(%.1f)" % p["rps"],
        r["achieved_rps"], r["p50_ms"], fmt(p.get("p50_ms")), r["p99_ms"], fmt(p.get("p99_ms")),
        fmt(e.get("p99_ms")), r["failed"] + r["unsent"], r["cpu"]["replicas"], r["haproxy_ms_per_request"],
        r["generator_ms_per_request"], r["cpu"]["other"], flag(r["cpu"]["other"])))
print("(c=1: concurrency 1 through HAProxy, predicted = the service time measured directly: the difference is HAProxy's;")
print(" c=2N: closed loop, the offered column shows the predicted capacity min(N, 2) x mu in brackets)")
print("(* other processes used > 0.15 core during the run: disturbed; %d earlier tries discarded)" % len(disturbed))
for r in runs:
    if r["failed"] or r["unsent"]:
        print("  %s: failed %d %s, unsent %d" % (r["name"], r["failed"], json.dumps(r["errors"]), r["unsent"]))
for r in [dict(service, name="service"), dict(capacity, name="capacity")] + runs:
    if r["cpu"]["other"] > 0.15:
        print("  %s: other processes %.2f cores (%d tasks created on the machine meanwhile); long-lived ones among them: %s" % (
            r["name"], r["cpu"]["other"], r["cpu"]["tasks_created"], ", ".join(r["cpu"]["other_top"]) or "none"))
if redis:
    print()
    print("Redis 7 on core 1, redis-benchmark on core 0 (50 connections): ops/s")
    for pipe in (1, 16):
        print("  pipeline %2d: " % pipe + "  ".join(
            "%s %.0f" % (x["command"], x["ops_per_s"]) for x in redis if x["pipeline"] == pipe))
    for pipe, v in redis_fleet.items():
        print("  fleet requests/s Redis carries (pipeline %s): rate limits only %.0f, cache (all misses) %.0f, both %.0f" % (
            pipe, v["rate_limit_only"], v["cache_all_misses"], v["cache_and_rate_limit"]))
print()
print("machine over the whole run: %.2f cores busy, %.3f cores stolen by the hypervisor; load average at the end %s" % (
    whole["machine"], whole["steal"], " ".join(doc["loadavg_end"])))
print("wrote " + out)
PYEOF
