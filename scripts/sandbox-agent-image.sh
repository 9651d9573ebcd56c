#!/usr/bin/env bash
# Builds a sandbox image that carries the runtime-agent at
# /opt/gohands/runtime-agent: the base image plus one small layer. The
# Kubernetes backend starts such an image (listed in
# SANDBOX_IMAGES_WITH_AGENT) as a Pod of one container, as fast as a bare
# Pod of it; any image can be made one this way.
#
#   scripts/sandbox-agent-image.sh BINARY BASE [IMAGE]   (default gohands/sandbox-agent:local)
#
# The image is rebuilt every time: it must hold the binary just built.
set -euo pipefail

bin=${1:?usage: sandbox-agent-image.sh BINARY BASE [IMAGE]}
base=${2:?usage: sandbox-agent-image.sh BINARY BASE [IMAGE]}
image=${3:-gohands/sandbox-agent:local}
docker image inspect "$base" >/dev/null 2>&1 || {
  echo "sandbox-agent-image: Docker has no image $base (make sandbox-image builds the default one)" >&2
  exit 1
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/runtime-agent"
chmod 755 "$dir/runtime-agent"
cat >"$dir/Dockerfile" <<DOCKERFILE
FROM $base
COPY runtime-agent /opt/gohands/runtime-agent
DOCKERFILE
docker build -q -t "$image" "$dir" >/dev/null
echo "sandbox-agent-image: built $image" >&2
