#!/usr/bin/env bash
# glint's container image with Podman (deploy/Containerfile).
#   scripts/container.sh base    the Debian bookworm base image, from Debian's own
#                                packages (mmdebstrap, minbase, slimmed as
#                                debian:bookworm-slim is), imported as $GLINT_BASE
#   scripts/container.sh build   base, then the image $GLINT_IMAGE; prints its size
#                                and fails above 150 MB
#   scripts/container.sh run [PODMAN-RUN-ARGS...] [-- GLINT-SERVE-FLAGS...]
#                                serves on 127.0.0.1:${GLINT_PORT:-8080}, read-only root
#   scripts/container.sh test    build, then tests/deploy/test_container.sh
# Environment: GLINT_IMAGE (localhost/glint:latest), GLINT_BASE
# (localhost/glint-debian:bookworm-slim; set it to debian:bookworm-slim where a
# registry is reachable and the base step is skipped), GLINT_DEBIAN_MIRROR
# (http://deb.debian.org/debian), GLINT_OCI_RUNTIME (/usr/sbin/runc),
# CONTAINERS_CONF (deploy/podman/containers.conf: no default ulimits, which
# runc cannot set here).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/deploy/podman/containers.conf}
RUNTIME=${GLINT_OCI_RUNTIME:-/usr/sbin/runc}
IMAGE=${GLINT_IMAGE:-localhost/glint:latest}
BASE=${GLINT_BASE:-localhost/glint-debian:bookworm-slim}
MIRROR=${GLINT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MAX_BYTES=150000000

need() {
    local missing=()
    for c in podman "$RUNTIME" "$@"; do command -v "$c" >/dev/null || missing+=("$c"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "container.sh: missing ${missing[*]}; run scripts/install-deps.sh --container" >&2
        exit 1
    fi
}

base() {
    if podman image exists "$BASE"; then
        echo "container.sh: base $BASE present"
        return
    fi
    case $BASE in
    localhost/*) ;;
    *) echo "container.sh: pulling base $BASE"; podman pull "$BASE"; return ;;
    esac
    need mmdebstrap
    echo "container.sh: making base $BASE from $MIRROR (mmdebstrap minbase bookworm)"
    local sec=${MIRROR%/debian}/debian-security
    # The exclusions are debian:bookworm-slim's (debuerreotype --slimify):
    # no man pages, info, locales or docs but the copyright files.
    mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' --dpkgopt='path-exclude=/usr/share/linda/*' \
        bookworm - "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
        "deb $sec bookworm-security main" | podman import --quiet - "$BASE" >/dev/null
    echo "container.sh: base $BASE: $(size_mb "$BASE") MB"
}

size_mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f", $1 / 1e6}'; }

build() {
    base
    echo "container.sh: building $IMAGE from deploy/Containerfile"
    local t0=$SECONDS
    podman build --quiet --runtime "$RUNTIME" --format docker --build-arg BASE="$BASE" \
        -f "$root/deploy/Containerfile" -t "$IMAGE" "$root" >/dev/null
    local bytes
    bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
    echo "container.sh: $IMAGE: $(size_mb "$IMAGE") MB uncompressed (limit $((MAX_BYTES / 1000000)) MB), built in $((SECONDS - t0)) s"
    if [ "$bytes" -gt "$MAX_BYTES" ]; then
        echo "container.sh: the image is over $((MAX_BYTES / 1000000)) MB" >&2
        exit 1
    fi
}

run() {
    local pargs=() gargs=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; gargs=("$@"); break; fi
        pargs+=("$1"); shift
    done
    exec podman run --rm --runtime "$RUNTIME" --read-only -p "127.0.0.1:${GLINT_PORT:-8080}:8080" \
        "${pargs[@]}" "$IMAGE" "${gargs[@]}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
base) need; base ;;
build) need; build ;;
run) need; run "$@" ;;
test) need kubectl; build; "$root/tests/deploy/test_container.sh" "$IMAGE"; exec "$root/tests/deploy/test_kube_play.sh" "$IMAGE" ;;
*) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
