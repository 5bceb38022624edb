#!/usr/bin/env bash
# The single-box deployment: deploy/k8s/overlays/edge under `podman kube play`.
#   scripts/kube-play.sh up [HOST:]PORT   render the overlay with kubectl kustomize,
#                                         apply the podman patches below, play it
#   scripts/kube-play.sh down             stop glint with its grace period (drain),
#                                         then kube down (the claims' volumes stay)
#   scripts/kube-play.sh render [HOST:]PORT   print what `up` plays
# The patches are what podman 4.3 needs and a cluster does not: the port published
# on the host (hostPort/hostIP: kube play has no --publish), restartPolicy
# OnFailure (podman applies the pod's policy to initContainers too: under a
# Deployment's Always the seeding container is restarted after it exits 0 and
# play fails removing it), and the image $GLINT_IMAGE (localhost/glint:latest).
# podman also ignores terminationGracePeriodSeconds and preStop, and stopping the
# pod takes its network away from requests in flight: hence `down`'s order.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/deploy/podman/containers.conf}
RUNTIME=${GLINT_OCI_RUNTIME:-/usr/sbin/runc}
IMAGE=${GLINT_IMAGE:-localhost/glint:latest}
OVERLAY=${GLINT_OVERLAY:-$root/deploy/k8s/overlays/edge}
STATE=${GLINT_KUBE_STATE:-${XDG_RUNTIME_DIR:-/tmp}/glint-kube-play.yaml}
GRACE=45

render() { # [HOST:]PORT
    local hp=$1 host=0.0.0.0 port=$1
    case $hp in *:*) host=${hp%:*}; port=${hp##*:} ;; esac
    kubectl kustomize "$OVERLAY" 2>/dev/null | /usr/bin/python3 -c '
import sys, yaml
host, port, image = sys.argv[1], int(sys.argv[2]), sys.argv[3]
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
for d in docs:
    if d["kind"] != "Deployment":
        continue
    spec = d["spec"]["template"]["spec"]
    spec["restartPolicy"] = "OnFailure"
    for c in spec["containers"] + spec.get("initContainers", []):
        c["image"] = image
        for p in c.get("ports", []):
            if p["containerPort"] == 8080:
                p["hostPort"], p["hostIP"] = port, host
yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)' "$host" "$port" "$IMAGE"
}

pods() { /usr/bin/python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment":
        spec = d["spec"]["template"]["spec"]
        print(d["metadata"]["name"] + "-pod-0-" + spec["containers"][0]["name"])' "$STATE"; }

case ${1:-} in
render) render "${2:?PORT}" ;;
up)
    render "${2:?PORT}" >"$STATE"
    podman --runtime "$RUNTIME" kube play "$STATE"
    echo "kube-play: playing $STATE; scripts/kube-play.sh down stops it"
    ;;
down)
    [ -f "$STATE" ] || { echo "kube-play: nothing played ($STATE)" >&2; exit 1; }
    for c in $(pods); do podman stop -t "$GRACE" "$c" >/dev/null || true; done
    podman --runtime "$RUNTIME" kube down "$STATE"
    rm -f "$STATE"
    ;;
*) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
