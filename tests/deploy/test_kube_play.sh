#!/usr/bin/env bash
# The Kubernetes edge overlay on this box, for real (make container-test, after
# the image is built): `kubectl kustomize deploy/k8s/overlays/edge`, published on
# a free loopback port by scripts/kube-play.sh (with podman's patches), played:
#  1. the seeding initContainer runs, the pod comes up and /v2/health/ready answers;
#  2. the liveness probe (podman's health check) passes; uid 10001, read-only root;
#  3. a detect request and a Groundlight image query are answered through the port,
#     and the outbox database lands on the glint-state claim;
#  4. scripts/kube-play.sh down with 2 requests in flight: both are answered.
# Usage: tests/deploy/test_kube_play.sh [IMAGE]  (the overlay names localhost/glint:latest)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${1:-${GLINT_IMAGE:-localhost/glint:latest}}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/deploy/podman/containers.conf}
RUNTIME=${GLINT_OCI_RUNTIME:-/usr/sbin/runc}
PY=/usr/bin/python3
POD=glint-pod-0
CTR=$POD-glint
DETECTOR=det_2bTqCredDiscBinary000000000
tmp=$(mktemp -d)
pm() { podman --runtime "$RUNTIME" "$@"; }
cleanup() {
    pm kube down "$tmp/edge.keep.yaml" >/dev/null 2>&1 || true
    pm kube down "$tmp/edge.yaml" >/dev/null 2>&1 || true
    podman volume rm -f glint-models glint-state >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "test_kube_play: FAIL: $*" >&2
    podman logs "$CTR" 2>&1 | tail -20 >&2 || true
    exit 1
}
ok() { echo "test_kube_play: ok: $*"; }
podman image exists "$IMAGE" || fail "no image $IMAGE (scripts/container.sh build)"
command -v kubectl >/dev/null || fail "no kubectl (scripts/install-deps.sh)"

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export GLINT_IMAGE=$IMAGE GLINT_KUBE_STATE=$tmp/edge.yaml
"$root/scripts/kube-play.sh" render "127.0.0.1:$port" >"$tmp/edge.yaml"
podman volume rm -f glint-models glint-state >/dev/null 2>&1 || true
pm kube down "$tmp/edge.yaml" >/dev/null 2>&1 || true

# 1. up and ready
t0=$(date +%s%N)
"$root/scripts/kube-play.sh" up "127.0.0.1:$port" >"$tmp/play.out" 2>&1 ||
    { cat "$tmp/play.out" >&2; fail "scripts/kube-play.sh up"; }
url=http://127.0.0.1:$port
deadline=$((SECONDS + 90))
until curl -sf -o /dev/null "$url/v2/health/ready"; do
    [ $SECONDS -lt $deadline ] || fail "the pod is not ready at $url within 90 s"
    sleep 0.05
done
ok "podman kube play to ready in $((($(date +%s%N) - t0) / 1000000)) ms (initContainer seeding included)"
podman volume exists glint-models || fail "no glint-models volume"
[ "$(podman exec "$CTR" sh -c 'ls /models/yolov8n/model.onnx /models/.glint-seeded | wc -l')" = 2 ] ||
    fail "the models claim was not seeded"

# 2. probes and security
podman healthcheck run "$CTR" >/dev/null 2>&1 || fail "the liveness probe (podman health check) fails"
[ "$(podman exec "$CTR" id -u)" = 10001 ] || fail "not uid 10001"
if podman exec "$CTR" sh -c 'echo x > /usr/bin/x' 2>/dev/null; then fail "root is writable"; fi
ok "liveness health check passes; uid 10001, read-only root; models seeded on the claim"

# 3. answers through the published port
curl -sf -X POST -H 'Content-Type: image/jpeg' --data-binary "@$root/tests/data/dog.jpg" \
    "$url/v1/models/yolov8n/detect" >"$tmp/detect.json" || fail "detect request"
curl -sf -X POST -H 'Content-Type: image/jpeg' --data-binary "@$root/tests/data/horses.jpg" \
    "$url/device-api/v1/image-queries?detector_id=$DETECTOR" >"$tmp/iq.json" || fail "image query"
$PY - "$tmp/detect.json" "$tmp/iq.json" <<'PYEOF' || fail "answers: $(cat "$tmp/detect.json" "$tmp/iq.json" | head -c 600)"
import json, sys
d = json.load(open(sys.argv[1]))
q = json.load(open(sys.argv[2]))
assert d["model"] == "yolov8n" and d["width"] == 768 and len(d["detections"]) > 0, d
assert q["detector_id"] == "det_2bTqCredDiscBinary000000000" and q["id"].startswith("iq_"), q
assert q["result"]["label"] in ("YES", "NO") and q["result"]["from_edge"] is True, q
PYEOF
podman exec "$CTR" test -s /var/lib/glint/edge.db || fail "no outbox database on the state claim"
ok "detect ($($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["detections"]))' "$tmp/detect.json") boxes) and an image query ($($PY -c 'import json,sys; r=json.load(open(sys.argv[1]))["result"]; print(r["label"], r["confidence"])' "$tmp/iq.json")) answered on 127.0.0.1:$port; outbox on glint-state"

# 4. the drain: scripts/kube-play.sh down stops the glint container with the
# grace period first (podman ignores terminationGracePeriodSeconds and preStop,
# and stopping the pod takes the published port from requests in flight), then
# kube down. Three requests: the overlay runs the default latency budget (500 ms),
# which refuses more than that of YOLOv8n on a slow machine. The stop begins
# once the server counts one in flight (on a fast CPU the three take ~100 ms
# together: waiting for two at once could wait forever), within 30 s.
for i in 1 2 3; do
    curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: image/jpeg' \
        --data-binary "@$root/tests/data/person.jpg" "$url/v1/models/yolov8n/detect?cache=0" \
        >"$tmp/down.$i" &
done
deadline=$(($(date +%s) + 30))
until [ "$(curl -sf "$url/health" | $PY -c 'import json,sys; print(json.load(sys.stdin)["in_flight"])')" -ge 1 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "no request in flight within 30 s of sending three"
    sleep 0.002
done
cp "$tmp/edge.yaml" "$tmp/edge.keep.yaml"
"$root/scripts/kube-play.sh" down >"$tmp/down.out" 2>&1 || { cat "$tmp/down.out" >&2; fail "kube-play.sh down"; }
wait
for i in 1 2 3; do
    [ "$(cat "$tmp/down.$i")" = 200 ] || fail "request $i sent before the stop got $(cat "$tmp/down.$i")"
done
if podman pod exists "$POD"; then fail "the pod is still there after kube down"; fi
ok "scripts/kube-play.sh down with requests in flight: all three answered 200; the pod is gone"
echo "test_kube_play: all passed"
