#!/usr/bin/env bash
# Builds the runtime-agent image a Kubernetes sandbox's init container
# copies the agent from: the static binary alone, FROM scratch (no
# registry needed to build it).
#
#   scripts/agent-image.sh BINARY [IMAGE]   (default gohands/runtime-agent:local)
#
# The image is rebuilt every time: it must hold the binary just built.
set -euo pipefail

bin=${1:?usage: agent-image.sh BINARY [IMAGE]}
image=${2:-gohands/runtime-agent:local}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/runtime-agent"
cat >"$dir/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY runtime-agent /runtime-agent
ENTRYPOINT ["/runtime-agent"]
DOCKERFILE
docker build -q -t "$image" "$dir" >/dev/null
echo "agent-image: built $image" >&2
