#!/usr/bin/env bash
# Builds the default GoHands sandbox image without a registry: a minimal Debian
# rootfs made with debootstrap, loaded with `docker import`.
#
#   scripts/sandbox-image.sh [IMAGE]      (default gohands/sandbox:bookworm)
#
# Idempotent: does nothing when IMAGE already exists. The rootfs tarball is
# cached under $SANDBOX_IMAGE_CACHE (default ~/.cache/gohands) so a second
# import (e.g. after `docker image rm`) skips debootstrap.
#
# Environment:
#   SANDBOX_IMAGE_CACHE   cache dir for the rootfs tarball
#   SANDBOX_SUITE         Debian suite (default bookworm)
#   SANDBOX_MIRROR        Debian mirror (default: the one this machine's apt uses)
#   SANDBOX_PACKAGES      packages to include (comma-separated)
set -euo pipefail

image=${1:-gohands/sandbox:bookworm}
suite=${SANDBOX_SUITE:-bookworm}
packages=${SANDBOX_PACKAGES:-bash,coreutils,git,python3,curl,procps,ca-certificates}
cache=${SANDBOX_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gohands}
start=$(date +%s)

log() { printf 'sandbox-image: %s\n' "$*" >&2; }
elapsed() { echo "$(( $(date +%s) - start ))s"; }

if ! command -v docker >/dev/null 2>&1; then
  log "docker CLI not found"; exit 1
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image already exists, nothing to do"
  exit 0
fi

# The mirror this machine's apt already reaches (deb822 or one-line sources).
detect_mirror() {
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | awk '{for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' \
          | grep -E '/debian/?$' | head -n1 || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
mirror=${SANDBOX_MIRROR:-$(detect_mirror)}

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    log "debootstrap needs root (run as root or install sudo)"; exit 1
  fi
fi

mkdir -p "$cache"
tarball="$cache/rootfs-${suite}-$(echo "$packages" | md5sum | cut -c1-8).tar"

if [ ! -s "$tarball" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap with apt-get"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  root=$(mktemp -d "${TMPDIR:-/tmp}/gohands-rootfs.XXXXXX")
  trap '"${sudo_cmd[@]}" rm -rf "$root"' EXIT
  log "debootstrap $suite from $mirror into $root (packages: $packages)"
  "${sudo_cmd[@]}" debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
    | while IFS= read -r line; do printf '  %s\n' "$line" >&2; done
  log "debootstrap done after $(elapsed); cleaning caches"
  "${sudo_cmd[@]}" rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
    "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/tmp/* "$root"/var/tmp/*
  # Docker provides these at run time.
  "${sudo_cmd[@]}" rm -f "$root"/etc/hostname "$root"/etc/resolv.conf
  "${sudo_cmd[@]}" tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  log "rootfs cached at $tarball ($(du -h "$tarball" | cut -f1))"
else
  log "reusing cached rootfs $tarball"
fi

log "importing into $image"
docker import \
  --change 'CMD ["/bin/bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
  --message "gohands sandbox: debootstrap $suite minbase" \
  "$tarball" "$image" >/dev/null
log "built $image in $(elapsed)"
