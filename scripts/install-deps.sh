#!/usr/bin/env bash
# Installs the Debian 12 packages glint needs to build and test.
# Usage: scripts/install-deps.sh [--models] [--bench] [--container]
#   --models adds python3-torch (and PIL) for tools/; --bench adds nginx-light, jq and python3-pil for
#   the peer comparisons under bench/ (not needed by make test or make demo); --container
#   adds podman, runc and mmdebstrap for the image (scripts/container.sh, make container-test)
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format cppcheck python3
      libdnnl-dev protobuf-c-compiler libprotobuf-c-dev libonnx-dev libonnx-testdata
      libturbojpeg0-dev libspng-dev libjansson-dev libyaml-dev libcmocka-dev
      libh2o-evloop-dev libnghttp2-dev libhiredis-dev redis-server haproxy libssl-dev libcurl4-openssl-dev libsqlite3-dev chromium wrk
      python3-yaml python3-kubernetes python3-grpcio python3-protobuf protobuf-compiler
      # camera streams: FFmpeg's libraries (RTSP, HTTP MJPEG, files) and libmosquitto (MQTT)
      # for glint serve; tests/streams: ffmpeg clips, GStreamer's RTSP server (python3-gi),
      # the mosquitto broker and clients; python3-pil: serve/pipeline cuts crops as a reference
      libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libmosquitto-dev
      ffmpeg mosquitto mosquitto-clients python3-paho-mqtt python3-pil python3-gi gir1.2-gst-rtsp-server-1.0
      gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      gstreamer1.0-plugins-bad)
# kubectl renders deploy/k8s (tests/deploy/validate_k8s.py): Debian's kubernetes-client
# (kubectl 1.20, kustomize v2.0.3) unless a kubectl is already there (a newer one, or
# Google Cloud's `kubectl` package, which Debian's conflicts with)
command -v kubectl >/dev/null 2>&1 || pkgs+=(kubernetes-client)
for arg in "$@"; do
  case $arg in
  --models) pkgs+=(python3-torch python3-torchvision python3-onnx python3-numpy python3-pil python3-opencv python3-pyclipper fonts-dejavu-core) ;;
  --bench) pkgs+=(nginx-light jq python3-pil) ;;
  --container) pkgs+=(podman runc catatonit mmdebstrap uidmap slirp4netns fuse-overlayfs curl) ;;
  *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
