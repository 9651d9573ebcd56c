#!/usr/bin/env bash
# Builds the binaries of the single-node Kubernetes cluster the Kubernetes backend's tests run
# against: kube-apiserver, kube-controller-manager, kube-scheduler and kubelet (kubectl on
# request) from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, all from the Go module
# proxy at pinned releases, plus the static pause program in scripts/kube/pause.
#
# Nothing is vendored into the clone: each upstream module is built through a small wrapper module
# generated in a temporary folder. The binaries are static and land in a versioned cache folder
# outside the clone, ${GOHANDS_KUBE_CACHE:-$HOME/.cache/gohands/kube}/<version>/bin; a binary
# already there is not built again, so a warm run costs nothing. Each binary is built into a
# temporary folder beside the cache and renamed into place, so an interrupted build leaves no
# half-written binary behind. A lock keeps two concurrent runs from building the same thing.
#
# Usage: scripts/kube/build.sh            build what is missing, print the bin folder last
#        scripts/kube/build.sh --bin-dir  print the bin folder only
set -euo pipefail

K8S_VERSION=v1.37.2
K8S_STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.7.0

here=$(cd "$(dirname "$0")" && pwd)
cache=${GOHANDS_KUBE_CACHE:-$HOME/.cache/gohands/kube}
bin=$cache/$K8S_VERSION/bin

if [ "${1:-}" = "--bin-dir" ]; then
  echo "$bin"
  exit 0
fi

k8s_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
# kubectl is for people, not for the tests (they use client-go): built only when asked for, with
# GOHANDS_KUBE_KUBECTL=1.
if [ "${GOHANDS_KUBE_KUBECTL:-0}" = 1 ]; then
  k8s_cmds+=(kubectl)
fi
all=("${k8s_cmds[@]}" etcd pause)

missing() {
  local name
  for name in "$@"; do
    [ -x "$bin/$name" ] || echo "$name"
  done
}

if [ -z "$(missing "${all[@]}")" ]; then
  echo "kube build: all binaries present in $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$cache" "$bin"
exec 9>"$cache/.build.lock"
flock -n 9 || echo "kube build: waiting for another build to finish" >&2
flock 9

log() { echo "kube build: $(date -u +%H:%M:%S) $*" >&2; }

tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"

export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"
# Go's default toolchain switching must not fetch another Go: the go lines below are satisfied by
# the Go this machine has, or the build fails clearly.
export GOTOOLCHAIN=local

# install NAME: moves a freshly built binary into the cache (a rename on the same file system).
install_bin() {
  chmod 0755 "$tmp/out/$1"
  mv -f "$tmp/out/$1" "$bin/$1"
}

total_start=$(date +%s)

# --- Kubernetes -------------------------------------------------------------------------------
todo=$(missing "${k8s_cmds[@]}")
if [ -n "$todo" ]; then
  w=$tmp/k8s
  mkdir -p "$w"
  log "fetching k8s.io/kubernetes $K8S_VERSION's go.mod"
  upstream_mod=$(GOFLAGS='' go mod download -json "k8s.io/kubernetes@$K8S_VERSION")
  gomod=$(printf '%s\n' "$upstream_mod" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  commit=$(printf '%s\n' "$upstream_mod" | sed -n 's/^[[:space:]]*"Hash": "\(.*\)",*$/\1/p' | head -n1)
  vtime=$(printf '%s\n' "$upstream_mod" | sed -n 's/^[[:space:]]*"Time": "\(.*\)",*$/\1/p' | head -n1)
  [ -f "$gomod" ] || { echo "kube build: no go.mod for k8s.io/kubernetes $K8S_VERSION" >&2; exit 1; }

  # The wrapper module: upstream's require block (so that the same versions are chosen), a
  # require of k8s.io/kubernetes itself, and its staging modules taken from the proxy at their
  # matching release instead of upstream's ./staging folders.
  {
    echo "module gohands.local/kubebuild"
    echo
    sed -n 's/^go \(.*\)$/go \1/p' "$gomod"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    awk '/^require \($/,/^\)$/' "$gomod"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*$#\t\1 => \1 '"$K8S_STAGING_VERSION"'#p' "$gomod"
    echo ")"
  } >"$w/go.mod"
  cat >"$w/tools.go" <<'EOF'
//go:build tools

// Package kubebuild only names the commands this module builds.
package kubebuild
EOF

  major=${K8S_VERSION#v}; major=${major%%.*}
  minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
    [ -n "$commit" ] && ldflags+=" -X $pkg.gitCommit=$commit"
    [ -n "$vtime" ] && ldflags+=" -X $pkg.buildDate=$vtime"
  done

  # kube-apiserver first: it is the longest, and the others reuse most of what it compiles.
  for name in $todo; do
    start=$(date +%s)
    log "building $name $K8S_VERSION"
    (cd "$w" && go build -trimpath -ldflags "$ldflags" -o "$tmp/out/$name" "k8s.io/kubernetes/cmd/$name")
    install_bin "$name"
    log "built $name in $(($(date +%s) - start)) s"
  done
fi

# --- etcd -------------------------------------------------------------------------------------
if [ -n "$(missing etcd)" ]; then
  w=$tmp/etcd
  mkdir -p "$w"
  start=$(date +%s)
  log "building etcd $ETCD_VERSION"
  # etcd's server module points its sibling modules at ../ folders; a wrapper that requires it
  # takes them from the proxy at the same release instead.
  cat >"$w/go.mod" <<EOF
module gohands.local/etcdbuild

go 1.26

require (
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
	go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
EOF
  (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$tmp/out/etcd" go.etcd.io/etcd/server/v3)
  install_bin etcd
  log "built etcd in $(($(date +%s) - start)) s"
fi

# --- pause ------------------------------------------------------------------------------------
if [ -n "$(missing pause)" ]; then
  start=$(date +%s)
  log "building pause"
  (cd "$here/pause" && GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" -o "$tmp/out/pause" .)
  install_bin pause
  log "built pause in $(($(date +%s) - start)) s"
fi

log "done in $(($(date +%s) - total_start)) s"
echo "$bin"
