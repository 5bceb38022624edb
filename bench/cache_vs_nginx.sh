#!/usr/bin/env bash
# cache_vs_nginx.sh — glint serve's cached-answer path against nginx
# returning a fixed body: both get the same POST (a photograph) from wrk on
# loopback with the same connections; nginx (one worker, like glint's one
# event loop) answers with the very bytes glint's cache returns. Rounds are
# interleaved; prints requests/s of each, the medians and glint/nginx
# (target >= 0.6). Needs wrk and nginx (scripts/install-deps.sh --bench).
#
#   bench/cache_vs_nginx.sh [--rounds 3] [--seconds 10] [--connections 32] [--image F]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rounds=3 seconds=10 conns=32 image=tests/data/dog.jpg
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
    esac
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "cache_vs_nginx: nginx is missing (scripts/install-deps.sh --bench)"; exit 1; }
command -v wrk >/dev/null || { echo "cache_vs_nginx: wrk is missing"; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx workers drop root: they must read the answer file
spid= npid=
trap 'kill $spid $npid 2>/dev/null || true; rm -rf "$tmp"' EXIT

build/glint serve --models models --model yolov8n --listen 127.0.0.1:0 --ready-file "$tmp/ready" \
    2>"$tmp/serve.log" &
spid=$!
for _ in $(seq 1 600); do [ -f "$tmp/ready" ] && break; sleep 0.05; done
gport=$(cut -d: -f2 "$tmp/ready")
gurl="http://127.0.0.1:$gport/v1/models/yolov8n/detect"
curl -s --data-binary @"$image" "$gurl" -o "$tmp/answer.json" # fills the cache
curl -s -D "$tmp/hdr" --data-binary @"$image" "$gurl" -o /dev/null
grep -qi 'server-timing: cache' "$tmp/hdr" || { echo "cache_vs_nginx: no cache hit"; exit 1; }

nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/nginx/logs" "$tmp/nginx/tmp"
cp "$tmp/answer.json" "$tmp/nginx/answer.json"
cat >"$tmp/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/tmp;
  client_max_body_size 50m;
  client_body_buffer_size 1m;
  server {
    listen 127.0.0.1:$nport;
    keepalive_requests 10000000;
    # the static module refuses POST with 405: answer the file all the same
    location / { default_type application/json; root $tmp/nginx; error_page 405 =200 \$uri; }
  }
}
NGINX
"$nginx" -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" -e "$tmp/nginx/logs/error.log" &
npid=$!
nurl="http://127.0.0.1:$nport/answer.json"
for _ in $(seq 50); do curl -sf --data-binary @"$image" "$nurl" -o /dev/null && break; sleep 0.1; done
cmp -s <(curl -s --data-binary @"$image" "$nurl") "$tmp/answer.json" ||
    { echo "cache_vs_nginx: nginx does not return glint's answer"; exit 1; }

run() { IMAGES="$image" wrk -t1 -c"$conns" -d"${seconds}s" -s bench/wrk_post.lua "$1" | grep -o 'rps=[0-9.]*' | cut -d= -f2; }
g=() n=()
for r in $(seq 1 "$rounds"); do
    a=$(run "$gurl")
    b=$(run "$nurl")
    printf 'round %d: glint (cache hit) %.0f req/s | nginx %.0f req/s | ratio %.3f\n' "$r" "$a" "$b" "$(echo "$a / $b" | bc -l)"
    g+=("$a") n+=("$b")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mg=$(median "${g[@]}") mn=$(median "${n[@]}")
printf 'median: glint %.0f req/s, nginx %.0f req/s, glint/nginx %.3f (target >= 0.6); %d connections, body %s (%d bytes), answer %d bytes\n' \
    "$mg" "$mn" "$(echo "$mg / $mn" | bc -l)" "$conns" "$image" "$(stat -c %s "$image")" "$(stat -c %s "$tmp/answer.json")"
