#!/usr/bin/env bash
# The container image, for real (make container-test; scripts/container.sh test
# builds the image first). Usage: tests/deploy/test_container.sh [IMAGE]
#  1. cold start: `podman run` to /v2/health/ready answering 200, printed;
#  2. it runs as uid 10001 with a read-only root, state writable, HEALTHCHECK passes;
#  3. a photo (detect, classify) and a Groundlight image query are answered as the
#     host binary (build/glint serve, same models, same flags) answers them;
#  4. a short glint bench (host binary) against it: no errors;
#  5. SIGTERM (podman stop) while requests are in flight: every one is answered,
#     the server drains and exits 0;
#  6. --cpus 1 and --cpuset-cpus 0: /health says 1 usable CPU, and the models
#     size their instances x threads to it;
#  7. camera streams (FFmpeg in the image): H.264/H.265 files, RTSP and MJPEG cameras,
#     answers over MQTT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${1:-${GLINT_IMAGE:-localhost/glint:latest}}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/deploy/podman/containers.conf}
RUNTIME=${GLINT_OCI_RUNTIME:-/usr/sbin/runc}
GLINT=$root/build/glint
PY=/usr/bin/python3
DETECTOR=det_2bTqCredDiscBinary000000000
tmp=$(mktemp -d)
names=()
host_pid=
cams=()
cleanup() {
    [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null
    [ ${#cams[@]} -gt 0 ] && kill "${cams[@]}" 2>/dev/null
    for n in "${names[@]}"; do podman rm -f -v "$n" >/dev/null 2>&1 || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test_container: FAIL: $*" >&2; exit 1; }
ok() { echo "test_container: ok: $*"; }
[ -x "$GLINT" ] || fail "$GLINT is not built (make build)"
podman image exists "$IMAGE" || fail "no image $IMAGE (scripts/container.sh build)"

# start NAME [PODMAN-RUN-ARGS...] [-- SERVE-FLAGS...]: runs the image detached on a
# free loopback port; sets $port.
start() {
    local name=glint-test-$$-$1 pargs=() gargs=()
    shift
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; gargs=("$@"); break; fi
        pargs+=("$1"); shift
    done
    names+=("$name")
    podman run -d --name "$name" --runtime "$RUNTIME" --read-only -p 127.0.0.1::8080 -p 127.0.0.1::8001 \
        "${pargs[@]}" "$IMAGE" "${gargs[@]}" >/dev/null 2>"$tmp/run.err" ||
        { cat "$tmp/run.err" >&2; fail "podman run $name"; }
    port=$(podman port "$name" 8080/tcp | sed 's/.*://')
    gport=$(podman port "$name" 8001/tcp | sed 's/.*://')
    cname=$name
}

# wait_ready URL SECONDS: polls every 10 ms; fails with the container's log.
wait_ready() {
    local deadline=$((SECONDS + $2))
    until curl -sf -o /dev/null "$1/v2/health/ready"; do
        if [ $SECONDS -ge $deadline ] || ! podman container exists "$cname" ||
            [ "$(podman inspect --format '{{.State.Running}}' "$cname")" != true ]; then
            podman logs "$cname" >&2 || true
            fail "$cname not ready at $1 within $2 s"
        fi
        sleep 0.01
    done
}

# same JSON answers, without the fields that differ from run to run
strip_json() {
    $PY -c '
import json, sys
VARY = {"id", "created_at", "timings_ms"}
def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items() if k not in VARY}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v
print(json.dumps(clean(json.load(sys.stdin)), sort_keys=True))'
}

# f32: the host answers with the same precision whatever auto would time; no
# cache: the bench measures inference; no latency budget: the drain below keeps
# 6 requests in flight, which the default budget may refuse on a slow machine.
FLAGS=(--precision f32 --edge-config /etc/glint/edge-config.yaml --cache-mb 0 --max-queue-ms 0)

# 1. cold start
t0=$(date +%s%N)
start main -- "${FLAGS[@]}"
url=http://127.0.0.1:$port
wait_ready "$url" 60
cold_ms=$((($(date +%s%N) - t0) / 1000000))
server_ms=$(curl -sf "$url/health" | $PY -c 'import json,sys; print(round(json.load(sys.stdin)["cold_start_ms"]))')
ok "cold start: podman run to ready in $cold_ms ms (the server's own start: $server_ms ms)"

# 2. non-root, read-only root, writable state, health check
uid=$(podman exec "$cname" id -u)
[ "$uid" = 10001 ] || fail "runs as uid $uid, not 10001"
[ "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$cname")" = true ] ||
    fail "root filesystem is not read-only"
if podman exec "$cname" sh -c 'echo x > /usr/bin/x' 2>/dev/null; then
    fail "wrote to /usr/bin in a read-only root"
fi
podman exec "$cname" sh -c 'echo x > /var/lib/glint/probe && rm /var/lib/glint/probe' ||
    fail "state directory /var/lib/glint is not writable"
podman healthcheck run "$cname" >/dev/null 2>&1 || fail "HEALTHCHECK (glint probe) failed"
ok "uid 10001, read-only root, /var/lib/glint writable, health check passes"

# 2b. KServe v2 over gRPC on the image's port 8001, with a real gRPC client (python3-grpcio;
# the messages are hand-encoded: ServerLive is empty, ModelReady is field 1, the name)
$PY - "$gport" <<'PYEOF' || fail "gRPC on port 8001"
import grpc, sys
ch = grpc.insecure_channel("127.0.0.1:" + sys.argv[1])
def call(method, body):
    f = ch.unary_unary("/inference.GRPCInferenceService/" + method,
                       request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return f(body, timeout=30)
assert call("ServerLive", b"") == b"\x08\x01", "ServerLive"
assert call("ModelReady", b"\x0a\x07yolov8n") == b"\x08\x01", "ModelReady yolov8n"
PYEOF
ok "gRPC (KServe v2) on port 8001: ServerLive, ModelReady yolov8n"

# 3. answers as the host binary's
"$GLINT" serve --models "$root/models" --model yolov8n --model red_disc --model shapes \
    --edge-config "$root/deploy/edge-config.yaml" --state-dir "$tmp/state" \
    --precision f32 --cache-mb 0 --listen 127.0.0.1:0 --ready-file "$tmp/host.addr" \
    2>"$tmp/host.log" &
host_pid=$!
for _ in $(seq 600); do [ -s "$tmp/host.addr" ] && break; sleep 0.05; done
[ -s "$tmp/host.addr" ] || { cat "$tmp/host.log" >&2; fail "host glint serve did not start"; }
hurl=http://$(cat "$tmp/host.addr")
compare() { # label path content-type image
    local a b
    a=$(curl -sf -X POST -H "Content-Type: $3" --data-binary "@$4" "$url$2" | strip_json) ||
        fail "$1: container request failed"
    b=$(curl -sf -X POST -H "Content-Type: $3" --data-binary "@$4" "$hurl$2" | strip_json) ||
        fail "$1: host request failed"
    [ "$a" = "$b" ] || { printf "container: %.300s\nhost:      %.300s\n" "$a" "$b" >&2; fail "$1 differs"; }
    [ ${#a} -gt 40 ] || fail "$1: empty answer $a"
}
compare "yolov8n detect" /v1/models/yolov8n/detect image/jpeg "$root/tests/data/dog.jpg"
compare "red_disc classify" /v1/models/red_disc/classify image/jpeg "$root/tests/data/horses.jpg"
compare "shapes detect" /v1/models/shapes/detect image/png "$root/tests/data/dog_192x144.png"
compare "image query" "/device-api/v1/image-queries?detector_id=$DETECTOR" image/jpeg \
    "$root/tests/data/person.jpg"
kill "$host_pid"
wait "$host_pid" 2>/dev/null || true
host_pid=
ok "detect, classify and a Groundlight image query answered as the host binary answers"

# 4. a short bench
"$GLINT" bench concurrency --url "$url/v1/models/yolov8n/detect" --image "$root/tests/data/dog.jpg" \
    --concurrency 2 --window 500 --min-windows 2 --max-windows 4 --duration 6 --quiet \
    --out "$tmp/bench" --sla 'errors<0.1%' >"$tmp/bench.txt" 2>&1 ||
    { cat "$tmp/bench.txt" >&2; fail "glint bench against the container"; }
ok "glint bench at concurrency 2, no errors: $(grep -m1 '^achieved' "$tmp/bench.txt")"

# 5. drain: SIGTERM with requests in flight. The signal goes straight to the
# server's host pid the moment two are seen in flight: `podman stop` takes long
# enough to start that a fast CPU has answered all six before it signals.
pid=$(podman inspect --format '{{.State.Pid}}' "$cname")
for i in $(seq 12); do
    curl -s -o "$tmp/drain.$i" -w '%{http_code}' -X POST -H 'Content-Type: image/jpeg' \
        --data-binary "@$root/tests/data/horses.jpg" "$url/v1/models/yolov8n/detect" \
        >"$tmp/drain.$i.code" &
done
deadline=$(($(date +%s) + 30))
# (a bare curl and a pattern: a Python per poll was slow enough to miss the moment)
until [[ "$(curl -sf "$url/health")" =~ \"in_flight\":([2-9]|[1-9][0-9]) ]]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "never two requests in flight within 30 s of sending twelve"
    sleep 0.002
done
kill -TERM "$pid"
podman stop -t 40 "$cname" >/dev/null 2>"$tmp/stop.err" || { cat "$tmp/stop.err" >&2; fail "podman stop"; }
wait
# every request the server held at SIGTERM is answered 200; one that reached it
# after the signal is refused 503 (draining); none is lost
ok200=0
for i in $(seq 12); do
    case "$(cat "$tmp/drain.$i.code")" in
    200) ok200=$((ok200 + 1)) ;;
    503) ;;
    *) fail "request $i got $(cat "$tmp/drain.$i.code") across SIGTERM" ;;
    esac
done
code=$(podman inspect --format '{{.State.ExitCode}}' "$cname")
held=$(podman logs "$cname" 2>&1 | sed -n 's/.*draining \([0-9]*\) request.*/\1/p' | head -1)
[ -n "$held" ] && [ "$held" -ge 1 ] || { podman logs "$cname" >&2; fail "no drain in the log"; }
[ "$ok200" -ge "$held" ] || fail "$held requests held at SIGTERM, only $ok200 answered 200"
[ "$code" = 0 ] || { podman logs "$cname" >&2; fail "exit code $code after SIGTERM"; }
ok "SIGTERM with $held requests in flight: $ok200 of 12 answered 200, the rest 503, drained, exit 0"

# 6. CPU limits
for limit in "--cpus 1" "--cpuset-cpus 0"; do
    # shellcheck disable=SC2086
    start "cpu$(echo "$limit" | tr -dc a-z)" $limit -- --model yolov8n
    url=http://127.0.0.1:$port
    wait_ready "$url" 60
    curl -sf "$url/health" | $PY -c '
import json, sys
h = json.load(sys.stdin)
c = h.get("cpus") or sys.exit("no cpus in /health: %s" % h)
if c["usable"] != 1: sys.exit("usable %s, not 1: %s" % (c["usable"], c))
m = [m for m in h["models"] if m["name"] == "yolov8n"][0]
if m["instances"] * m["threads"] != 1: sys.exit("yolov8n runs %s x %s threads" % (m["instances"], m["threads"]))
print("limit:", c.get("limit"))' >"$tmp/cpus.txt" 2>&1 || { cat "$tmp/cpus.txt" >&2; fail "$limit: $(cat "$tmp/cpus.txt")"; }
    ok "$limit: 1 usable CPU, yolov8n 1 instance x 1 thread ($(cat "$tmp/cpus.txt"))"
    podman stop -t 10 "$cname" >/dev/null 2>&1
done
# 7. camera streams in the image (its FFmpeg is built in): H.264 and H.265 files, an RTSP
# camera (GStreamer's RTSP server) and an HTTP MJPEG camera on the host's loopback
# (--network host), answers over MQTT to a mosquitto broker there
$PY "$root/tests/streams/clips.py" "$tmp/clips" >/dev/null || fail "making the test clips"
chmod -R a+rX "$tmp/clips"
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
camera() { # NAME COMMAND...: starts a test camera, sets $cam_url from its READY line
    local n=$1
    shift
    "$@" >"$tmp/$n.out" 2>"$tmp/$n.err" &
    cams+=($!)
    for _ in $(seq 300); do grep -q '^READY' "$tmp/$n.out" && break; sleep 0.05; done
    cam_url=$(sed -n 's/^READY //p' "$tmp/$n.out")
    [ -n "$cam_url" ] || { cat "$tmp/$n.err" >&2; fail "$n camera did not start"; }
}
camera rtsp $PY "$root/tests/streams/rtsp_server.py" "$tmp/clips/disc_then_none_h264.mkv" --port 0
rtsp_url=$cam_url
camera mjpeg $PY "$root/tests/streams/mjpeg_server.py" --clip "$tmp/clips/disc_then_none_mjpeg.avi" \
    --port 0
mjpeg_url=$cam_url
qport=$(free_port)
mosquitto -p "$qport" >"$tmp/mosquitto.log" 2>&1 &
cams+=($!)
sport=$(free_port)
{
    echo "mqtt: mqtt://127.0.0.1:$qport"
    echo "streams:"
    echo "  - {id: h264-file, url: 'file:///clips/disc_then_none_h264.mkv', model: red_disc, fps: 5}"
    echo "  - {id: h265-file, url: 'file:///clips/disc_then_none_h265.mkv', model: red_disc, fps: 5}"
    echo "  - {id: rtsp, url: '$rtsp_url', model: red_disc, fps: 5}"
    echo "  - {id: mjpeg, url: '$mjpeg_url', model: red_disc, fps: 5}"
} >"$tmp/streams.yaml"
chmod a+r "$tmp/streams.yaml"
sleep 0.5 # the broker listening
timeout 60 mosquitto_sub -h 127.0.0.1 -p "$qport" -t 'glint/#' -v -C 40 -W 50 >"$tmp/mqtt.txt" 2>&1 &
sub_pid=$!
cname=glint-test-$$-streams
names+=("$cname")
podman run -d --name "$cname" --runtime "$RUNTIME" --read-only --network host \
    -v "$tmp/clips:/clips:ro" -v "$tmp/streams.yaml:/etc/glint/streams.yaml:ro" "$IMAGE" \
    --listen "127.0.0.1:$sport" --grpc-listen 127.0.0.1:0 --model red_disc \
    --streams /etc/glint/streams.yaml >/dev/null 2>"$tmp/run.err" ||
    { cat "$tmp/run.err" >&2; fail "podman run with --streams"; }
wait_ready "http://127.0.0.1:$sport" 60
deadline=$((SECONDS + 40))
until curl -sf "http://127.0.0.1:$sport/v1/streams" | $PY -c '
import json, sys
s = {x["id"]: x for x in json.load(sys.stdin)["streams"]}
ok = len(s) == 4 and all(x["state"] == "playing" and x["frames"]["published"] >= 5 for x in s.values())
sys.exit(0 if ok else 1)'; do
    if [ $SECONDS -ge $deadline ]; then
        curl -s "http://127.0.0.1:$sport/v1/streams" >&2
        podman logs "$cname" >&2
        fail "the image's streams did not all play and answer within 40 s"
    fi
    sleep 0.5
done
wait "$sub_pid" || true
for t in glint/h264-file/red_disc glint/h265-file/red_disc glint/rtsp/red_disc glint/mjpeg/red_disc; do
    grep -q "^$t {" "$tmp/mqtt.txt" || { cat "$tmp/mqtt.txt" >&2; fail "no MQTT answer on $t"; }
done
labels=$(sed 's/^[^ ]* //' "$tmp/mqtt.txt" | $PY -c '
import json, sys
print(" ".join(sorted({json.loads(l)["classes"][0]["label"] for l in sys.stdin if l.strip()})))')
[ "$labels" = "NO YES" ] || fail "the streams' answers say '$labels', not both YES and NO"
podman stop -t 10 "$cname" >/dev/null 2>&1
ok "streams in the image: H.264 and H.265 files, RTSP and HTTP MJPEG cameras play; answers (YES and NO) over MQTT"

echo "test_container: all passed"
