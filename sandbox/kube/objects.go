package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
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
	initName      = "agent-install"
	volumeAgent   = "gohands-agent"
	volumeWS      = "workspace"
	// agentInImage is where the agent image keeps the binary.
	agentInImage = "/runtime-agent"
)

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

// claimName is the name of sandbox id's workspace claim.
func claimName(id string) string { return id + "-workspace" }

// buildPod returns the Pod of sandbox id: the user's image, with the
// runtime-agent as its command.
//
// The agent comes from an init container of the agent image, which copies
// the static binary into an emptyDir the sandbox container mounts
// read-only at sandbox.AgentDir. So any image runs unchanged (no rebuild,
// no registry push of a derived image), the agent is the one this server
// was built with (the agent image's tag), and nothing of the node's or
// the server's filesystem is mounted: the server may run anywhere, the Pod
// on any node. An image volume would skip the copy, but it is a feature
// gate most clusters lack yet; the copy of a 10 MB binary costs the init
// container's start and little else.
func (m *Manager) buildPod(id, owner string, pooled bool, r resolved) *corev1.Pod {
	o := m.opts
	no, yes := false, true
	root := int64(0)
	grace := int64(o.StopTimeout.Seconds())
	if grace < 1 {
		grace = 1
	}
	listen := "tcp://0.0.0.0:" + strconv.Itoa(AgentPort)
	mounts := []corev1.VolumeMount{
		{Name: volumeAgent, MountPath: sandbox.AgentDir, ReadOnly: true},
	}
	volumes := []corev1.Volume{
		{Name: volumeAgent, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	covered := false
	for _, mt := range r.mounts {
		covered = covered || mt.Target == r.workdir
	}
	if !covered {
		ws := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		if o.StorageClass != "" {
			ws = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(id)}}
		}
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
			InitContainers: []corev1.Container{{
				Name:            initName,
				Image:           o.AgentImage,
				ImagePullPolicy: o.PullPolicy,
				Command:         []string{agentInImage, "--install", sandbox.AgentPath},
				VolumeMounts:    []corev1.VolumeMount{{Name: volumeAgent, MountPath: sandbox.AgentDir}},
				SecurityContext: &corev1.SecurityContext{
					RunAsUser:                &root,
					AllowPrivilegeEscalation: &no,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					ReadOnlyRootFilesystem:   &yes,
				},
			}},
			Containers: []corev1.Container{{
				Name:            containerName,
				Image:           r.image,
				ImagePullPolicy: o.PullPolicy,
				Command: []string{sandbox.AgentPath,
					"--listen", listen,
					"--user-id", strconv.Itoa(o.UserID),
					"--group-id", strconv.Itoa(o.GroupID),
					"--workdir", r.workdir,
				},
				WorkingDir: r.workdir,
				// The token and the sandbox's variables come from its
				// Secret, not the Pod spec, which more people may read.
				EnvFrom:      []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: id}}}},
				Ports:        []corev1.ContainerPort{{Name: "agent", ContainerPort: AgentPort, Protocol: corev1.ProtocolTCP}},
				Resources:    res,
				VolumeMounts: mounts,
				SecurityContext: &corev1.SecurityContext{
					RunAsUser:                &root,
					AllowPrivilegeEscalation: &no,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: capabilities},
				},
			}},
			Volumes: volumes,
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

// buildClaim returns the workspace claim of sandbox id.
func (m *Manager) buildClaim(pod *corev1.Pod) *corev1.PersistentVolumeClaim {
	sc := m.opts.StorageClass
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        claimName(pod.Name),
			Namespace:   pod.Namespace,
			Labels:      maps.Clone(pod.Labels),
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

// usesClaim reports whether pod mounts its own workspace claim.
func usesClaim(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volumeWS && v.PersistentVolumeClaim != nil {
			return true
		}
	}
	return false
}
