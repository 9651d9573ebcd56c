#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, for the Kubernetes backend's tests: its own
# containerd (beside Docker's, which is left alone), etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and a kubelet, from the binaries scripts/kube/build.sh builds. No systemd: every
# daemon runs in a session of its own, its PID recorded, and is stopped by that PID.
#
# Usage: scripts/kube/cluster.sh up       build what is missing, start the cluster (or reuse the
#                                         running one), import the images (again when Docker's
#                                         copy changed), wait for a Ready node
#        scripts/kube/cluster.sh down     stop everything, leave no process, mount, bridge or
#                                         firewall chain behind, wipe the state
#        scripts/kube/cluster.sh status   say what runs; exit 0 only when the cluster is usable
#        scripts/kube/cluster.sh env      print KUBECONFIG=<the admin kubeconfig>
#        scripts/kube/cluster.sh load IMAGE...   import Docker images into the running cluster
#
# Settings (environment):
#   GOHANDS_KUBE_STATE   state folder (default $HOME/.local/state/gohands/kube)
#   GOHANDS_KUBE_CACHE   binary cache (see build.sh)
#   GOHANDS_KUBE_IMAGES  Docker images imported at `up` (default gohands/sandbox:bookworm); pods
#                        use them with imagePullPolicy: Never (or IfNotPresent), as there is no
#                        registry
#   GOHANDS_KUBE_OPTIONAL_IMAGES  imported at `up` when Docker has them (default
#                        gohands/runtime-agent:local, the Kubernetes backend's agent image); after
#                        rebuilding one, `load` it again
#
# Why it is shaped so (each was needed on these machines):
#   - containerd has restrict_oom_score_adj on, as the VM takes CAP_SYS_RESOURCE from every
#     process and runc fails every Pod otherwise; cgroupfs, as there is no systemd; cgroup v1 is
#     allowed in the kubelet's configuration.
#   - The node's address is a bridge of its own (not loopback): kubelet address, the API server's
#     advertised address and the Pods' gateway. No NAT rules: Pods reach the node and each other.
#   - The kubelet rewrites the host firewall every minute and cannot be told not to; it runs with
#     a PATH where no iptables is found.
#   - The controller manager uses a service account per controller, or the node keeps its
#     not-ready taint.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${GOHANDS_KUBE_STATE:-$HOME/.local/state/gohands/kube}
images=${GOHANDS_KUBE_IMAGES:-gohands/sandbox:bookworm}
optional_images=${GOHANDS_KUBE_OPTIONAL_IMAGES:-gohands/runtime-agent:local}

node=gohands-node
bridge=gohandskube0
net=10.244.0
node_ip=$net.1
pod_cidr=$net.0/24
service_cidr=10.96.0.0/24
service_ip=10.96.0.1
apiserver_port=6443
etcd_port=23790
etcd_peer_port=23800
pause_image=gohands.local/kube-pause:1

pki=$state/pki
run=$state/run
logs=$state/logs
ctrd=$state/containerd
ctrd_sock=$ctrd/containerd.sock
kubeconfig=$state/admin.kubeconfig
daemons=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() { echo "kube cluster: $(date -u +%H:%M:%S) $*" >&2; }
die() { echo "kube cluster: $*" >&2; exit 1; }

ctr_k8s() { ctr --address "$ctrd_sock" --namespace k8s.io "$@"; }

# --- processes --------------------------------------------------------------------------------

# pid_of NAME: the recorded PID of a daemon, printed only when that process still runs the
# binary it was started from (a recycled PID is not ours).
pid_of() {
  local f=$run/$1.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$state" || return 1
  echo "$pid"
}

# start NAME BINARY ARGS...: runs a daemon in a session of its own, its output to a log file.
start() {
  local name=$1
  shift
  # Without the command lock (fd 8), which a daemon would otherwise hold for as long as it runs.
  setsid "$@" </dev/null >"$logs/$name.log" 2>&1 8>&- &
  echo $! >"$run/$name.pid"
}

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# stop NAME: SIGTERM, then SIGKILL after 20 s.
stop() {
  local pid
  pid=$(pid_of "$1") || { rm -f "$run/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "$1 ($pid) did not stop on SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$run/$1.pid"
}

# wait_for WHAT SECONDS COMMAND...: runs COMMAND every half second until it succeeds.
wait_for() {
  local what=$1 secs=$2
  local deadline=$((SECONDS + secs))
  shift 2
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  die "$what not ready after $secs s (logs in $logs)"
}

# --- packages ---------------------------------------------------------------------------------

install_packages() {
  local need=()
  command -v containerd >/dev/null 2>&1 || need+=(containerd)
  command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  command -v jq >/dev/null 2>&1 || need+=(jq)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# --- certificates -----------------------------------------------------------------------------

# cert NAME SUBJECT USAGE [SANS]: an EC key and a certificate signed by the cluster's CA.
cert() {
  local name=$1 subj=$2 usage=$3 sans=${4:-}
  local ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
  [ -n "$sans" ] && ext+="
subjectAltName=$sans"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile <(echo "$ext") -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr"
}

make_pki() {
  mkdir -p "$pki"
  chmod 0700 "$pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=gohands-test-cluster-ca" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$pki/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:$node_ip,IP:$service_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  cert kubelet "/O=system:nodes/CN=system:node:$node" serverAuth,clientAuth "IP:$node_ip,DNS:$node"
  cert admin "/O=system:masters/CN=gohands-admin" clientAuth
  cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  cert scheduler "/CN=system:kube-scheduler" clientAuth
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
  openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

# kubeconfig FILE CERTNAME: a kubeconfig with the certificates embedded, so that it can be copied.
write_kubeconfig() {
  local file=$1 name=$2
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gohands-test
  cluster:
    server: https://$node_ip:$apiserver_port
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$pki/$name.crt")
    client-key-data: $(base64 -w0 "$pki/$name.key")
contexts:
- name: gohands-test
  context:
    cluster: gohands-test
    user: $name
current-context: gohands-test
EOF
  chmod 0600 "$file"
}

# --- network ----------------------------------------------------------------------------------

make_bridge() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  ip addr replace "$node_ip/24" dev "$bridge"
  ip link set "$bridge" up
  # Docker's FORWARD policy is DROP and bridged packets pass through iptables here
  # (bridge-nf-call-iptables): Pods on the bridge may talk to each other.
  if ! iptables -C FORWARD -i "$bridge" -o "$bridge" -m comment --comment gohands-kube -j ACCEPT 2>/dev/null; then
    iptables -I FORWARD -i "$bridge" -o "$bridge" -m comment --comment gohands-kube -j ACCEPT
  fi
  mkdir -p "$state/cni/net.d"
  cat >"$state/cni/net.d/10-gohands.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "gohands-test",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
        "dataDir": "$state/cni/ipam"
      }
    },
    {"type": "loopback"}
  ]
}
EOF
}

remove_network() {
  local link
  # Veths the bridge plugin left (their Pods' namespaces are gone with containerd's state).
  for link in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link delete "$link" 2>/dev/null || true
  done
  ip link delete "$bridge" 2>/dev/null || true
  while iptables -D FORWARD -i "$bridge" -o "$bridge" -m comment --comment gohands-kube -j ACCEPT 2>/dev/null; do :; done
}

# remove_kube_chains: the kubelet's firewall chains (KUBE-FIREWALL and the like), should a
# kubelet have found an iptables after all.
remove_kube_chains() {
  local ipt table rule rules chain chains
  for ipt in iptables ip6tables iptables-legacy ip6tables-legacy; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    for table in filter nat mangle; do
      "$ipt" -t "$table" -S >/dev/null 2>&1 || continue
      rules=$("$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -vE '^-A KUBE-' || true)
      while read -r rule; do
        # shellcheck disable=SC2086
        [ -n "$rule" ] && "$ipt" -t "$table" ${rule/-A/-D} 2>/dev/null || true
      done <<<"$rules"
      chains=$("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}')
      for chain in $chains; do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $chains; do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# --- images -----------------------------------------------------------------------------------

# pause_archive FILE: a docker-save archive of an image holding only the static pause program.
pause_archive() {
  local out=$1 dir layer_sha config_sha
  dir=$(mktemp -d)
  mkdir -p "$dir/root" "$dir/img"
  cp "$bin/pause" "$dir/root/pause"
  tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir/root" -cf "$dir/layer.tar" pause
  layer_sha=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
  mkdir -p "$dir/img/$layer_sha"
  mv "$dir/layer.tar" "$dir/img/$layer_sha/layer.tar"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$layer_sha" >"$dir/config.json"
  config_sha=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
  mv "$dir/config.json" "$dir/img/$config_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
    "$config_sha" "$pause_image" "$layer_sha" >"$dir/img/manifest.json"
  tar -C "$dir/img" -cf "$out" .
  rm -rf "$dir"
}

# full_ref IMAGE: the name containerd gives a Docker image reference (docker.io/library/...).
full_ref() {
  local ref=$1 first=${1%%/*}
  if [ "$first" = "$ref" ]; then
    ref=docker.io/library/$ref
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
    ref=docker.io/$ref
  fi
  [[ ${ref##*/} == *[:@]* ]] || ref=$ref:latest
  echo "$ref"
}

# load_images IMAGE...: imports Docker images into the cluster's containerd, unless it has them
# already (the same image ID under the same name).
load_images() {
  local image id have start
  have=$(ctr_k8s images ls -q)
  for image in "$@"; do
    id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) || die "Docker has no image $image (build it first)"
    if grep -qxF "$id" <<<"$have" && grep -qxF "$(full_ref "$image")" <<<"$have"; then
      continue
    fi
    start=$(date +%s)
    docker save "$image" | ctr_k8s images import - >/dev/null
    log "imported $image in $(($(date +%s) - start)) s"
  done
}

load_optional_images() {
  local image
  for image in $optional_images; do
    if docker image inspect "$image" >/dev/null 2>&1; then
      load_images "$image"
    else
      log "no $image in Docker: not imported (scripts/kube/cluster.sh load $image once built)"
    fi
  done
}

# --- configuration ----------------------------------------------------------------------------

write_containerd_config() {
  mkdir -p "$ctrd/root" "$ctrd/state"
  cat >"$ctrd/config.toml" <<EOF
version = 2
root = "$ctrd/root"
state = "$ctrd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$ctrd_sock"

[ttrpc]
  address = "$ctrd/containerd.ttrpc.sock"

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$ctrd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
EOF
}

write_kubelet_config() {
  mkdir -p "$state/kubelet" "$state/kubelet-plugins" "$state/pod-logs"
  cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
containerRuntimeEndpoint: unix://$ctrd_sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: $state/pod-logs
volumePluginDir: $state/kubelet-plugins
# Imported images have no registry to come back from: never collect them.
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
serializeImagePulls: false
maxPods: 110
# As many processes per Pod as a Docker sandbox may have (sandbox.DefaultPidsLimit).
podPidsLimit: 1024
EOF
}

# --- up / down / status -----------------------------------------------------------------------

healthy() {
  local name
  for name in "${daemons[@]}"; do
    pid_of "$name" >/dev/null || return 1
  done
  [ -f "$kubeconfig" ] && api_get /readyz >/dev/null
}

api_get() {
  curl -sf --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://$node_ip:$apiserver_port$1"
}

node_ready() {
  local body
  body=$(api_get "/api/v1/nodes/$node") || return 1
  jq -e '([.status.conditions[] | select(.type == "Ready" and .status == "True")] | length == 1)
    and ((.spec.taints // []) | length == 0)' <<<"$body" >/dev/null
}

up() {
  if healthy; then
    # shellcheck disable=SC2086
    load_images $images
    load_optional_images
    log "cluster already running; KUBECONFIG=$kubeconfig"
    return 0
  fi
  if [ -d "$state" ]; then
    log "clearing what is left of an earlier cluster"
    down
  fi
  local t0
  t0=$(date +%s)
  install_packages
  bin=$(bash "$here/build.sh" | tail -n1)
  [ -x "$bin/kube-apiserver" ] || die "no binaries in $bin"
  command -v docker >/dev/null 2>&1 || die "docker is needed to import images"

  mkdir -p "$state" "$run" "$logs"
  make_pki
  write_kubeconfig "$kubeconfig" admin
  write_kubeconfig "$state/kubelet.kubeconfig" kubelet
  write_kubeconfig "$state/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$state/scheduler.kubeconfig" scheduler
  make_bridge

  write_containerd_config
  start containerd containerd --config "$ctrd/config.toml"
  wait_for containerd 60 ctr_k8s version

  # etcd and the API server while the images go in.
  start etcd "$bin/etcd" --name gohands --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "gohands=http://127.0.0.1:$etcd_peer_port" \
    --quota-backend-bytes 1073741824 --log-level warn
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address "$node_ip" --secure-port "$apiserver_port" --advertise-address "$node_ip" \
    --endpoint-reconciler-type none \
    --service-cluster-ip-range "$service_cidr" \
    --client-ca-file "$pki/ca.crt" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --allow-privileged=true --profiling=false \
    --cert-dir "$state/apiserver-certs"

  local archive
  archive=$(mktemp "$state/pause.XXXXXX.tar")
  pause_archive "$archive"
  ctr_k8s images import "$archive" >/dev/null
  rm -f "$archive"
  # shellcheck disable=SC2086
  load_images $images
  load_optional_images

  wait_for kube-apiserver 180 api_get /readyz
  log "API server ready after $(($(date +%s) - t0)) s"

  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$state/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --profiling=false
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$state/scheduler.kubeconfig" \
    --authentication-kubeconfig "$state/scheduler.kubeconfig" \
    --authorization-kubeconfig "$state/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false

  write_kubelet_config
  # No /usr/sbin or /sbin on its PATH: the kubelet finds no iptables, so it leaves the host's
  # firewall alone. Debian's /bin and /sbin are links into /usr.
  start kubelet env PATH=/usr/local/bin:/usr/bin "$bin/kubelet" \
    --config "$state/kubelet.yaml" --kubeconfig "$state/kubelet.kubeconfig" \
    --root-dir "$state/kubelet" --hostname-override "$node" --node-ip "$node_ip"

  wait_for "node $node" 180 node_ready
  wait_for "default service account" 60 api_get /api/v1/namespaces/default/serviceaccounts/default
  log "cluster up in $(($(date +%s) - t0)) s; KUBECONFIG=$kubeconfig"
}

# stop_containers: kills every container of the cluster's containerd and deletes them, so that
# their shims exit and their mounts go.
stop_containers() {
  local id
  pid_of containerd >/dev/null || return 0
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_k8s containers ls -q 2>/dev/null); do
    ctr_k8s containers delete "$id" >/dev/null 2>&1 || true
  done
}

# kill_strays: what is left once the daemons are stopped: processes in the Pods' cgroups, and
# shims or daemons whose command line names the state folder (a cluster whose PID files are gone).
kill_strays() {
  local pid f comm
  # shellcheck disable=SC2044 # cgroup paths have no spaces
  for f in $(find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -name cgroup.procs 2>/dev/null); do
    for pid in $(cat "$f" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  for pid in $(grep -l -F -- "$state" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    case "$comm" in
    containerd | containerd-shim* | etcd | kube-apiserver | kube-controller* | kube-scheduler | kubelet)
      kill -KILL "$pid" 2>/dev/null || true
      ;;
    esac
  done
  sleep 0.5
}

down() {
  local t0 name m
  t0=$(date +%s)
  [ -d "$state" ] || { remove_network; log "nothing to stop"; return 0; }
  stop kubelet
  stop_containers
  for name in kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do
    stop "$name"
  done
  kill_strays
  # Mounts under the state folder (container root file systems, Pod volumes, network
  # namespaces), deepest first.
  for _ in 1 2 3; do
    m=$(awk -v s="$state" 'index($2, s) == 1 {print $2}' /proc/self/mounts | sort -r)
    [ -n "$m" ] || break
    while read -r name; do
      umount "$name" 2>/dev/null || umount -l "$name" 2>/dev/null || true
    done <<<"$m"
  done
  # Pod cgroups the kubelet made (cgroup v1: one tree per controller).
  for m in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$m" ] && find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  # The links the kubelet keeps in a fixed folder to its containers' logs.
  find /var/log/containers -maxdepth 1 -type l -lname "$state/*" -delete 2>/dev/null || true
  remove_network
  remove_kube_chains
  rm -rf "$state"
  log "cluster down in $(($(date +%s) - t0)) s"
}

status() {
  local name pid ok=0
  for name in "${daemons[@]}"; do
    if pid=$(pid_of "$name"); then
      echo "$name: running ($pid)"
    else
      echo "$name: not running"
      ok=1
    fi
  done
  if [ -f "$kubeconfig" ] && node_ready; then
    echo "node $node: Ready"
  else
    echo "node $node: not ready"
    ok=1
  fi
  echo "KUBECONFIG=$kubeconfig"
  return $ok
}

# One command at a time: two test packages may bring the cluster up at once. The lock file lives
# beside the state folder, which `down` removes.
if [ "${1:-}" != env ]; then
  mkdir -p "$(dirname "$state")"
  exec 8>"$state.lock"
  flock -n 8 || { log "waiting for another cluster.sh to finish"; flock 8; }
fi

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
env) echo "KUBECONFIG=$kubeconfig" ;;
load)
  shift
  healthy || die "the cluster is not running (scripts/kube/cluster.sh up)"
  load_images "$@"
  ;;
*)
  echo "usage: $0 up|down|status|env|load IMAGE..." >&2
  exit 2
  ;;
esac
