#!/usr/bin/env bash
# serve_ab.sh — two glint builds serving the same model, measured in one
# interleaved run (A B, B A, A B, ...) with glint bench concurrency (closed
# loop, fixed requests in flight): each round's achieved RPS and p50, then
# the medians and the median of the per-round B/A ratios. For checking that
# a change to glint serve costs nothing end to end on a noisy machine.
#
#   bench/serve_ab.sh --a OLD/glint --b build/glint [--model red_disc] [--verb classify]
#                     [--image tests/data/dog.jpg] [--rounds 6] [--concurrency 8]
#                     [--serve-args "--precision f32"] [--a-args ARGS] [--b-args ARGS]
# --a-args/--b-args are added to one side's serve flags: the same binary
# twice with two settings (e.g. --a-args "--solo-threads 0").
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
a="" b=build/glint model=red_disc verb=classify image=tests/data/dog.jpg rounds=6 conc=8
serve_args="--precision f32" a_args="" b_args=""
while [ $# -gt 0 ]; do
    case $1 in
    --a) a=$2; shift 2 ;;
    --b) b=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --verb) verb=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --concurrency) conc=$2; shift 2 ;;
    --serve-args) serve_args=$2; shift 2 ;;
    --a-args) a_args=$2; shift 2 ;;
    --b-args) b_args=$2; shift 2 ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done
[ -x "$a" ] && [ -x "$b" ] || { echo "serve_ab: --a and --b must be glint binaries"; exit 2; }
out=$(mktemp -d /tmp/glint-serve-ab.XXXXXX)
trap 'rm -rf "$out"' EXIT

# one measurement: serve with binary $1 and extra flags $3, print "rps p50_ms"
measure() {
    local bin=$1 tag=$2 extra=$3 ready=$out/ready.$2
    # shellcheck disable=SC2086
    "$bin" serve --models models --model "$model" --listen 127.0.0.1:0 --cache-mb 0 \
        --ready-file "$ready" $serve_args $extra 2>"$out/serve.$tag.log" &
    local pid=$!
    for _ in $(seq 300); do [ -s "$ready" ] && break; sleep 0.1; done
    [ -s "$ready" ] || { echo "serve_ab: $bin did not start" >&2; cat "$out/serve.$tag.log" >&2; exit 1; }
    local addr
    addr=$(cat "$ready")
    "$b" bench concurrency --url "http://$addr/v1/models/$model/$verb" --image "$image" \
        --concurrency "$conc:$conc" --window 2000 --min-windows 3 --max-windows 4 --quiet \
        --no-request-log --health off --out "$out/bench.$tag" >/dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" || true
    rm -f "$ready"
    /usr/bin/python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['steps'][-1]; print('%.1f %.2f' % (s['achieved_rps'], s['p50_ms']))" \
        "$out/bench.$tag/summary.json"
}

printf "%-6s %10s %10s %10s %10s %8s\n" round "A rps" "A p50 ms" "B rps" "B p50 ms" "B/A"
ratios=() as=() bs=()
for r in $(seq "$rounds"); do
    if [ $((r % 2)) = 1 ]; then ra=$(measure "$a" "a$r" "$a_args"); rb=$(measure "$b" "b$r" "$b_args");
    else rb=$(measure "$b" "b$r" "$b_args"); ra=$(measure "$a" "a$r" "$a_args"); fi
    read -r arps ap50 <<<"$ra"
    read -r brps bp50 <<<"$rb"
    ratio=$(/usr/bin/python3 -c "print('%.3f' % ($brps / $arps))")
    printf "%-6s %10s %10s %10s %10s %8s\n" "$r" "$arps" "$ap50" "$brps" "$bp50" "$ratio"
    ratios+=("$ratio") as+=("$arps") bs+=("$brps")
done
/usr/bin/python3 - "${as[*]}" "${bs[*]}" "${ratios[*]}" <<'PY'
import statistics, sys
a, b, r = ([float(x) for x in s.split()] for s in sys.argv[1:4])
print("median RPS: A %.1f, B %.1f; median of per-round B/A: %.3f (min %.3f, max %.3f)"
      % (statistics.median(a), statistics.median(b), statistics.median(r), min(r), max(r)))
PY
