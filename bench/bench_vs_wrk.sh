#!/usr/bin/env bash
# bench_vs_wrk.sh — is `glint bench` an honest load generator? The same
# endpoint driven by wrk and by glint bench, interleaved, in one run.
#
# Closed loop: `wrk -t1 -cC` against `glint bench concurrency --concurrency C
# --threads 1` for S seconds each, N rounds alternating; medians of requests/s,
# p50 and p99. Open loop (wrk2 semantics): `glint bench rate` at a fraction of
# wrk's rate must achieve it, with latency counted from the intended send
# times; when a `wrk2` binary is installed it runs at the same rate too.
#
# The endpoint is nginx serving a fixed 17-byte body from a temporary config
# (its own pid, log and port), unless --url names another server (e.g. a
# running `glint serve`). Verdicts printed:
#   throughput  glint/wrk >= 0.80   (the issue: one bench thread drives at least
#                                    80% of the rate wrk drives with one thread)
#   agreement   |glint - wrk| / wrk <= 10% for requests/s and p50 (p99 shown)
#   rate        achieved within 10% of offered
# Exit 1 when the throughput verdict fails, 2 on a usage or setup error.
# Results also go to bench/out/bench_vs_wrk-<date>.json.
#
#   bench/bench_vs_wrk.sh [--glint PATH] [--url URL] [--connections C]
#                         [--seconds S] [--rounds N] [--rate-fraction F]
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: bench/bench_vs_wrk.sh [options]
  --glint PATH        glint binary (default build/glint)
  --url URL           endpoint to drive (default: a private nginx on 127.0.0.1)
  --connections C     connections / requests in flight (default 32)
  --seconds S         seconds per run (default 5)
  --rounds N          interleaved rounds (default 3)
  --rate-fraction F   open-loop rate as a fraction of wrk's rate (default 0.5)
USAGE
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
glint=$root/build/glint
url=""
conns=32
seconds=5
rounds=3
fraction=0.5
die() { echo "bench_vs_wrk: $*" >&2; exit 2; }
is_uint() { [[ $1 =~ ^[1-9][0-9]{0,4}$ ]]; }

while (($#)); do
    case $1 in
    --glint) glint=${2:?--glint needs a value}; shift 2 ;;
    --url) url=${2:?--url needs a value}; shift 2 ;;
    --connections) conns=${2:-}; is_uint "$conns" || die "--connections wants a positive integer"; shift 2 ;;
    --seconds) seconds=${2:-}; is_uint "$seconds" || die "--seconds wants whole seconds"; shift 2 ;;
    --rounds) rounds=${2:-}; is_uint "$rounds" || die "--rounds wants a positive integer"; shift 2 ;;
    --rate-fraction) fraction=${2:-}; [[ $fraction =~ ^0?\.[0-9]+$ ]] || die "--rate-fraction wants 0..1"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
    esac
done
[[ -x $glint ]] || die "glint not found at $glint (build it, or pass --glint)"
command -v wrk >/dev/null || die "wrk is needed (apt install wrk)"
command -v jq >/dev/null || die "jq is needed (apt install jq)"

work=$(mktemp -d /tmp/bench_vs_wrk.XXXXXX)
nginx_pid=""
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    if [[ -n $nginx_pid ]]; then
        kill "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [[ -z $url ]]; then
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    [[ -x $nginx ]] || die "nginx is needed for the default endpoint (apt install nginx-light), or pass --url"
    port=$(free_port)
    mkdir -p "$work/nginx/logs"
    cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$port;
    keepalive_requests 10000000;
    location / { default_type text/plain; return 200 "hello from nginx\n"; }
  }
}
NGINX
    "$nginx" -c "$work/nginx/nginx.conf" -p "$work/nginx" -e "$work/nginx/logs/error.log" &
    nginx_pid=$!
    url="http://127.0.0.1:$port/"
    for _ in $(seq 50); do
        curl -sf "$url" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -sf "$url" >/dev/null || die "nginx did not start (see $work/nginx/logs/error.log)"
fi

# wrk's "50%  417.00us" -> milliseconds
wrk_ms() {
    awk -v q="$1%" '$1 == q {
        v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
        printf "%.4f", v }'
}

median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "endpoint $url; $conns connections, ${seconds}s per run, $rounds rounds; glint $glint"
printf '%-6s %-6s %12s %10s %10s\n' round tool "requests/s" "p50 ms" "p99 ms"
: >"$work/wrk.txt"
: >"$work/glint.txt"
for r in $(seq "$rounds"); do
    out=$(wrk -t1 -c"$conns" -d"${seconds}s" --latency "$url")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(wrk_ms 50 <<<"$out")
    p99=$(wrk_ms 99 <<<"$out")
    echo "$rps $p50 $p99" >>"$work/wrk.txt"
    printf '%-6s %-6s %12.1f %10.3f %10.3f\n' "$r" wrk "$rps" "$p50" "$p99"

    "$glint" bench concurrency --url "$url" --concurrency "$conns" --threads 1 \
        --window 1000 --min-windows "$seconds" --max-windows "$seconds" \
        --no-request-log --quiet --health off --out "$work/glint$r" >/dev/null
    read -r rps p50 p99 < <(jq -r '"\(.achieved_rps) \(.latency_ms.p50) \(.latency_ms.p99)"' "$work/glint$r/summary.json")
    echo "$rps $p50 $p99" >>"$work/glint.txt"
    printf '%-6s %-6s %12.1f %10.3f %10.3f\n' "$r" glint "$rps" "$p50" "$p99"
done

col() { awk -v c="$2" '{print $c}' "$work/$1.txt" | median; }
w_rps=$(col wrk 1); w_p50=$(col wrk 2); w_p99=$(col wrk 3)
g_rps=$(col glint 1); g_p50=$(col glint 2); g_p99=$(col glint 3)

# open loop at a fraction of wrk's rate
rate=$(awk -v r="$w_rps" -v f="$fraction" 'BEGIN {printf "%.0f", r * f}')
"$glint" bench rate --url "$url" --rate "$rate" --duration "$seconds" --connections "$conns" \
    --threads 1 --no-request-log --quiet --health off --out "$work/rate" >/dev/null
read -r r_ach r_p50 r_p99 < <(jq -r '"\(.achieved_rps) \(.latency_ms.p50) \(.latency_ms.p99)"' "$work/rate/summary.json")
w2=""
if command -v wrk2 >/dev/null; then
    out=$(wrk2 -t1 -c"$conns" -d"${seconds}s" -R"$rate" --latency "$url")
    w2="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") $(wrk_ms 50 <<<"$out") $(wrk_ms 99 <<<"$out")"
fi

ratio=$(awk -v g="$g_rps" -v w="$w_rps" 'BEGIN {printf "%.3f", g / w}')
diff_pct() { awk -v g="$1" -v w="$2" 'BEGIN {d = (g - w) / w * 100; printf "%+.1f", d}'; }
within() { awk -v g="$1" -v w="$2" -v t="$3" 'BEGIN {d = (g - w) / w; if (d < 0) d = -d; print (d <= t) ? "yes" : "NO"}'; }

echo
echo "medians over $rounds rounds (closed loop, $conns in flight, 1 thread each):"
printf '  %-12s %12s %12s %9s\n' "" wrk "glint bench" "diff"
printf '  %-12s %12.1f %12.1f %8s%%\n' requests/s "$w_rps" "$g_rps" "$(diff_pct "$g_rps" "$w_rps")"
printf '  %-12s %12.3f %12.3f %8s%%\n' "p50 ms" "$w_p50" "$g_p50" "$(diff_pct "$g_p50" "$w_p50")"
printf '  %-12s %12.3f %12.3f %8s%%\n' "p99 ms" "$w_p99" "$g_p99" "$(diff_pct "$g_p99" "$w_p99")"
echo "open loop (glint bench rate, latency from intended send times): offered $rate/s, achieved $r_ach/s, p50 $r_p50 ms, p99 $r_p99 ms"
[[ -n $w2 ]] && echo "wrk2 at the same rate: requests/s, p50 ms, p99 ms = $w2"

verdict=0
tp=$(awk -v r="$ratio" 'BEGIN {print (r >= 0.8) ? "PASS" : "FAIL"}')
[[ $tp == PASS ]] || verdict=1
echo "throughput: glint/wrk = $ratio (>= 0.80 needed): $tp"
echo "agreement within 10%: requests/s $(within "$g_rps" "$w_rps" 0.10), p50 $(within "$g_p50" "$w_p50" 0.10) (p99 shown, tails are noisy on a shared VM)"
echo "rate achieved within 10% of offered: $(within "$r_ach" "$rate" 0.10)"

mkdir -p "$root/bench/out"
json=$root/bench/out/bench_vs_wrk-$(date +%Y%m%d-%H%M%S).json
jq -n --arg url "$url" --argjson conns "$conns" --argjson seconds "$seconds" --argjson rounds "$rounds" \
    --argjson w_rps "$w_rps" --argjson w_p50 "$w_p50" --argjson w_p99 "$w_p99" \
    --argjson g_rps "$g_rps" --argjson g_p50 "$g_p50" --argjson g_p99 "$g_p99" \
    --argjson ratio "$ratio" --argjson rate "$rate" --argjson r_ach "$r_ach" \
    --argjson r_p50 "$r_p50" --argjson r_p99 "$r_p99" \
    '{url: $url, connections: $conns, seconds: $seconds, rounds: $rounds,
      wrk: {rps: $w_rps, p50_ms: $w_p50, p99_ms: $w_p99},
      glint: {rps: $g_rps, p50_ms: $g_p50, p99_ms: $g_p99}, glint_over_wrk: $ratio,
      rate: {offered: $rate, achieved: $r_ach, p50_ms: $r_p50, p99_ms: $r_p99}}' >"$json"
echo "results: $json"
exit $verdict
