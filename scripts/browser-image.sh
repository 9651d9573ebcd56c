#!/usr/bin/env bash
# Builds the GoHands browser image without a registry: Debian's chromium
# package on the local sandbox image (see scripts/sandbox-image.sh), from
# deploy/browser.Dockerfile. apt fetches from the Debian mirror.
#
#   scripts/browser-image.sh [IMAGE] [BASE]
#       (defaults gohands/browser:bookworm on gohands/sandbox:bookworm)
#
# Idempotent: does nothing when IMAGE already exists.
set -euo pipefail

image=${1:-gohands/browser:bookworm}
base=${2:-gohands/sandbox:bookworm}
here=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)

log() { printf 'browser-image: %s\n' "$*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image already exists, nothing to do"
  exit 0
fi
if ! docker image inspect "$base" >/dev/null 2>&1; then
  bash "$here/scripts/sandbox-image.sh" "$base"
fi
log "building $image on $base (apt-get install chromium)"
# Only the Dockerfile is sent: the build copies nothing from the context.
docker build -q --build-arg "BASE=$base" -t "$image" - <"$here/deploy/browser.Dockerfile" >/dev/null
log "built $image in $(( $(date +%s) - start ))s"
