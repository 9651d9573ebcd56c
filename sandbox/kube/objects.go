package kube

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// Labels and annotations. The label keys are the Docker backend's, so
// tools that look for GoHands sandboxes find both kinds.
const (
	labelSandbox  = "gohands.sandbox"      // "1" on every Pod, Secret and PVC
	labelServer   = "gohands.server"       // labelValue(Options.ServerID)
	labelOwner    = "gohands.conversation" // labelValue(owner), "" in the pool
	labelID       = "gohands.id"           // the sandbox's id: the name of its Pod and Secret
	labelInstance = "gohands.instance"     // the Manager that created it
	labelPool     = "gohands.pool"         // "1" when created for the warm pool
	labelVolume   = "gohands.volume"       // "1" on a workspace claim
	// annotationOwner keeps the owner key as given (a label value is at
	// most 63 characters of a narrow alphabet).
	annotationOwner = "gohands.owner"
	// annotationPod, on the Secret, is the Pod the sandbox runs as, in
	// JSON: a stopped sandbox has no Pod, and its next start (by this
	// server or the next) makes it again from this.
	annotationPod = "gohands.pod"
)

// Names inside a Pod.
const (
	containerName = "sandbox"
	installerName = "agent-install"
	volumeWS      = "workspace"
	// agentInImage is where the agent image keeps the binary.
	agentInImage = "/runtime-agent"
	// sharedAgent is where the agent-install container puts the agent:
	// the Pod's /dev/shm, which every container of a Pod shares (it is the
	// Pod's IPC namespace's) and which is no volume (see buildPod).
	sharedAgent = "/dev/shm/.gohands/runtime-agent"
)

// launcher is the sandbox container's command: the image's sh waits for
// the agent-install container's copy of the agent (complete when it is
// there: the copy is renamed into place), copies it to sandbox.AgentPath
// (/dev/shm is mounted noexec), frees /dev/shm of it, and becomes the
// agent (handOver). It waits at most about a minute (6,000 sleeps of
// 10 ms, or of 1 s where sleep takes whole seconds only). What goes wrong
// is said on stderr, which the start's error quotes.
const launcher = `s=` + sharedAgent + `; d=` + sandbox.AgentDir + `; a=` + sandbox.AgentPath + `; i=0
while [ ! -f "$s" ]; do
  i=$((i+1))
  if [ "$i" -gt 6000 ]; then
    echo "gohands: the runtime-agent did not appear in $s: the agent-install container failed, or this runtime does not share /dev/shm between a Pod's containers" >&2
    exit 125
  fi
  sleep 0.01 2>/dev/null || sleep 1
done
mkdir -p "$d" && cp "$s" "$a.new" && chmod 755 "$a.new" && mv -f "$a.new" "$a" || {
  echo "gohands: cannot install the runtime-agent at $a (the image needs mkdir, cp, chmod and mv, and a writable $d)" >&2
  exit 126
}
rm -f "$s"
` + handOver

// carriedLauncher is the command of a sandbox container whose image
// carries the agent (Options.ImagesWithAgent): no copy to wait for.
const carriedLauncher = `a=` + sandbox.AgentPath + `
[ -x "$a" ] || {
  echo "gohands: the image has no runtime-agent at $a, though the server is configured to take it as carrying one (images with agent)" >&2
  exit 127
}
` + handOver

// handOver ends both launchers: the shell becomes the agent at $a (exec:
// the agent is PID 1). The agent's token comes in the environment (from
// the Secret); it is handed to the agent on a pipe (fd 3, a
// here-document) and left out of the agent's environment, which any
// process of the sandbox could read in /proc/1/environ. The agent would
// otherwise do the same by executing itself a second time (see
// cmd/runtime-agent): one Go start less.
const handOver = `t=$` + agentapi.TokenEnv + `
unset ` + agentapi.TokenEnv + `
exec "$a" --token-fd 3 "$@" 3<<GOHANDS_TOKEN
$t
GOHANDS_TOKEN
`

// launcherShell runs the launcher.
const launcherShell = "/bin/sh"

// capabilities are the Docker backend's set (see sandbox/docker): what
// the runtime-agent, running as root, needs to start and manage the
// user's shells. Everything else is dropped and privilege escalation is
// off.
var capabilities = []corev1.Capability{"CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "NET_BIND_SERVICE"}

// labelValue returns v when it is a valid label value, otherwise a digest
// of it that is one, so any owner key or server id can be selected on.
func labelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256-" + hex.EncodeToString(sum[:])[:48]
}

// serverSelector selects this server's sandbox objects.
func (m *Manager) serverSelector() labels.Set {
	return labels.Set{labelSandbox: "1", labelServer: labelValue(m.opts.ServerID)}
}

// ServerSelector is the label selector of every Pod, Secret and claim
// the backend makes for a server id (as kubectl get -l takes it).
func ServerSelector(serverID string) string {
	return labels.Set{labelSandbox: "1", labelServer: labelValue(serverID)}.String()
}

// objectLabels are the labels of each object of sandbox id.
func (m *Manager) objectLabels(id, owner string, pooled bool) map[string]string {
	l := maps.Clone(m.opts.Labels)
	if l == nil {
		l = make(map[string]string)
	}
	maps.Copy(l, map[string]string{
		labelSandbox:  "1",
		labelServer:   labelValue(m.opts.ServerID),
		labelOwner:    labelValue(owner),
		labelID:       id,
		labelInstance: m.instance,
	})
	if owner == "" {
		l[labelOwner] = ""
	}
	if pooled {
		l[labelPool] = "1"
	}
	return l
}

// claimName is the name of the workspace claim made for sandbox id. The
// claim outlives the sandbox: the owner's next sandbox mounts it again
// (Spec.Volume), whatever its own id.
func claimName(id string) string { return id + "-workspace" }

// buildPod returns the Pod of sandbox id: the user's image, with the
// runtime-agent as its command.
//
// The agent gets in without a rebuild of the image and without a volume.
// The Pod has two containers, started one after the other in one pass of
// the kubelet: agent-install, from the agent image (the static binary on
// scratch: the agent is the one this server was built with), copies the
// binary into the Pod's /dev/shm and stays asleep; the sandbox container
// runs launcher, which waits for that copy, puts it in its own filesystem
// and execs it. Nothing of the node's or the server's filesystem is
// mounted, so the server may run anywhere and the Pod on any node.
//
// Why not an init container and an emptyDir, as before: measured on the
// test cluster (BENCHMARKS.md), that start took 3.7 times a bare Pod's
// create -> Running. The kubelet notices an init container's end only at
// its next pod-lifecycle relist (every second; the evented one needs
// containerd 1.7), and only then starts the sandbox container; and any
// volume makes the kubelet's first pass wait for the mount, which it
// checks every 300 ms. With two plain containers and no volume the Pod
// goes Running in one pass, as a bare Pod of the image does, plus the
// small container's start. An image volume would avoid the copy but needs
// containerd 2.1.
//
// An image that carries the agent already (Options.ImagesWithAgent)
// needs none of this: its Pod is the sandbox container alone, whose
// launcher only hands the token over and execs the agent.
//
// The workspace is therefore the container's own filesystem (gone with
// the Pod, as an emptyDir would be), unless Options.StorageClass gives it
// a claim or a mount covers it. The sandbox image needs /bin/sh (it needs
// bash anyway to run commands) and cp; one without sh fails to start with
// an error saying so.
func (m *Manager) buildPod(id, owner string, pooled bool, r resolved) *corev1.Pod {
	o := m.opts
	no, yes := false, true
	root := int64(0)
	grace := int64(o.StopTimeout.Seconds())
	if grace < 1 {
		grace = 1
	}
	listen := "tcp://0.0.0.0:" + strconv.Itoa(AgentPort)
	var (
		mounts  []corev1.VolumeMount
		volumes []corev1.Volume
	)
	if !r.covered && o.StorageClass != "" {
		ws := corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: cmp.Or(r.volume, claimName(id))}}
		volumes = append(volumes, corev1.Volume{Name: volumeWS, VolumeSource: ws})
		mounts = append(mounts, corev1.VolumeMount{Name: volumeWS, MountPath: r.workdir})
	}
	for i, mt := range r.mounts {
		name := "claim-" + strconv.Itoa(i)
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: mt.Source, ReadOnly: mt.ReadOnly}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: mt.Target, ReadOnly: mt.ReadOnly})
	}
	res := corev1.ResourceRequirements{}
	if r.limits.Memory > 0 || r.limits.NanoCPUs > 0 {
		res.Limits = corev1.ResourceList{}
		if r.limits.Memory > 0 {
			res.Limits[corev1.ResourceMemory] = *resource.NewQuantity(r.limits.Memory, resource.BinarySI)
		}
		if r.limits.NanoCPUs > 0 {
			res.Limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(max(r.limits.NanoCPUs/1e6, 1), resource.DecimalSI)
		}
	}
	carried := slices.Contains(o.ImagesWithAgent, r.image)
	script := launcher
	if carried {
		script = carriedLauncher
	}
	containers := []corev1.Container{{
		Name:            containerName,
		Image:           r.image,
		ImagePullPolicy: o.PullPolicy,
		Command: []string{launcherShell, "-c", script, "gohands-launcher",
			"--listen", listen,
			"--user-id", strconv.Itoa(o.UserID),
			"--group-id", strconv.Itoa(o.GroupID),
			"--workdir", r.workdir,
		},
		// The token and the sandbox's variables come from its Secret, not
		// the Pod spec, which more people may read. The launcher hands
		// the token to the agent on a pipe, out of the agent's
		// environment (handOver).
		EnvFrom:      []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: id}}}},
		Ports:        []corev1.ContainerPort{{Name: "agent", ContainerPort: AgentPort, Protocol: corev1.ProtocolTCP}},
		Resources:    res,
		VolumeMounts: mounts,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                &root,
			AllowPrivilegeEscalation: &no,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: capabilities},
		},
	}}
	if !carried {
		// First: the kubelet starts a Pod's containers in order, so the
		// copy is usually there before the launcher looks. An image that
		// carries the agent has nothing to install: its sandbox container
		// alone starts as fast as a bare Pod of it.
		containers = append([]corev1.Container{{
			Name:            installerName,
			Image:           o.AgentImage,
			ImagePullPolicy: o.PullPolicy,
			Command:         []string{agentInImage, "--install", sharedAgent, "--stay"},
			SecurityContext: &corev1.SecurityContext{
				RunAsUser:                &root,
				AllowPrivilegeEscalation: &no,
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				ReadOnlyRootFilesystem:   &yes,
			},
		}}, containers...)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        id,
			Namespace:   o.Namespace,
			Labels:      m.objectLabels(id, owner, pooled),
			Annotations: map[string]string{annotationOwner: owner},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			TerminationGracePeriodSeconds: &grace,
			Containers:                    containers,
			Volumes:                       volumes,
		},
	}
	if o.RuntimeClass != "" {
		rc := o.RuntimeClass
		pod.Spec.RuntimeClassName = &rc
	}
	return pod
}

// buildSecret returns the Secret of sandbox id: the agent's token and the
// sandbox's environment, and the Pod to make at each start.
func (m *Manager) buildSecret(pod *corev1.Pod, token string, env map[string]string) (*corev1.Secret, error) {
	data := make(map[string][]byte, len(env)+1)
	for k, v := range env {
		data[k] = []byte(v)
	}
	data[agentapi.TokenEnv] = []byte(token) // the token is ours to set
	tmpl, err := podTemplate(pod)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        pod.Name,
			Namespace:   pod.Namespace,
			Labels:      maps.Clone(pod.Labels),
			Annotations: map[string]string{annotationOwner: pod.Annotations[annotationOwner], annotationPod: tmpl},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}, nil
}

// podTemplate is the annotation that records pod.
func podTemplate(pod *corev1.Pod) (string, error) {
	b, err := json.Marshal(pod)
	if err != nil {
		return "", fmt.Errorf("record sandbox pod %s: %w", pod.Name, err)
	}
	return string(b), nil
}

// buildClaim returns the workspace claim name of the sandbox pod runs.
// It carries the server's labels, the owner's and gohands.volume, but not
// the sandbox's id: it is the owner's workspace, not the sandbox's.
func (m *Manager) buildClaim(name string, pod *corev1.Pod) *corev1.PersistentVolumeClaim {
	sc := m.opts.StorageClass
	labels := maps.Clone(pod.Labels)
	delete(labels, labelID)
	delete(labels, labelPool)
	labels[labelVolume] = "1"
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   pod.Namespace,
			Labels:      labels,
			Annotations: map[string]string{annotationOwner: pod.Annotations[annotationOwner]},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &sc,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: m.opts.StorageSize},
			},
		},
	}
}

// sandboxContainer returns the sandbox container of pod (the user's
// image), or nil.
func sandboxContainer(pod *corev1.Pod) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == containerName {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// imageOf returns the image of pod's sandbox container.
func imageOf(pod *corev1.Pod) string {
	if c := sandboxContainer(pod); c != nil {
		return c.Image
	}
	return ""
}

// workspaceOf says where the workspace of the sandbox pod runs lives: in
// the claim it names, on a mount of the user's (no workspace of its own),
// or in the sandbox container's own filesystem (or, in Pods of older
// servers, an emptyDir), gone with the Pod (not disposable).
func workspaceOf(pod *corev1.Pod) (claim string, disposable bool) {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volumeWS && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName, true
		}
	}
	c := sandboxContainer(pod)
	if c == nil {
		return "", false
	}
	workdir := ""
	args := append(append([]string(nil), c.Command...), c.Args...)
	for i, a := range args[:max(len(args)-1, 0)] {
		if a == "--workdir" {
			workdir = args[i+1]
		}
	}
	var mounts []sandbox.Mount
	for _, mt := range c.VolumeMounts {
		if mt.Name != volumeWS {
			mounts = append(mounts, sandbox.Mount{Target: mt.MountPath})
		}
	}
	return "", workdir != "" && covered(mounts, workdir)
}
