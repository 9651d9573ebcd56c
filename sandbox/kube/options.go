package kube

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gohands/gohands/sandbox"
)

// DefaultAgentImage is the image `make agent-image` builds: the static
// runtime-agent alone, on scratch.
const DefaultAgentImage = "gohands/runtime-agent:local"

// AgentPort is the runtime-agent's TCP port inside the Pod.
const AgentPort = 7000

// Transport is how the server reaches a sandbox's runtime-agent.
type Transport string

// Transports.
const (
	// TransportAPIServer tunnels every agent connection through the API
	// server's port-forward of the Pod (a websocket, SPDY when the server
	// refuses it). It works wherever the API server is reachable, the
	// server's own laptop included, and needs no route to the Pod network;
	// each new connection costs a stream on one tunnel per sandbox.
	TransportAPIServer Transport = "apiserver"
	// TransportPodIP dials the Pod's IP directly: the fastest, for a server
	// that runs inside the cluster network (the deploy/ manifest).
	TransportPodIP Transport = "podip"
)

// Options configure a Manager. Start from DefaultOptions.
type Options struct {
	// ServerID labels every object (gohands.server) so this server can
	// find, re-adopt and reap its own sandboxes. Required.
	ServerID string
	// Namespace holds the sandboxes' Pods, Secrets and PVCs. Default "default".
	Namespace string
	// Image is the default sandbox image: any image the cluster can run.
	Image string
	// AgentImage holds the static runtime-agent at /runtime-agent (make
	// agent-image); each Pod's agent-install container copies it into the
	// Pod's /dev/shm, where the sandbox container takes it from.
	AgentImage string
	// ImagesWithAgent are images (as Image or a Spec names them) that
	// carry this server's runtime-agent at sandbox.AgentPath, as `make
	// sandbox-agent-image` builds one: their Pods have the sandbox
	// container alone, no agent-install container, and start as fast as
	// a bare Pod of the image. The agent must be the server's build.
	ImagesWithAgent []string
	// PullPolicy of both images. Default IfNotPresent.
	PullPolicy corev1.PullPolicy
	// Transport: see its constants. Default TransportAPIServer.
	Transport Transport
	// StorageClass, when set, gives each sandbox's workspace a
	// PersistentVolumeClaim of that class (StorageSize big), which outlives
	// the Pod: a stopped sandbox keeps its files. Empty: a folder of the
	// sandbox container's filesystem, lost when the Pod goes (at Stop).
	StorageClass string
	// StorageSize is the size each workspace claim asks for. Default 10Gi.
	StorageSize resource.Quantity
	// RuntimeClass is passed through as the Pods' runtimeClassName (gVisor,
	// Kata) when set.
	RuntimeClass string
	// UserID and GroupID are the uid and gid commands run as inside the
	// sandbox; 0 is root.
	UserID, GroupID int
	// Env is added to every sandbox's environment (through its Secret).
	Env map[string]string
	// Labels are added to every object (on top of the gohands.* ones).
	Labels map[string]string
	// Limits are the default limits; a Spec may override them. Memory and
	// NanoCPUs become the container's limits (and so its requests). A
	// Pod has no pids limit of its own: the kubelet's podPidsLimit
	// applies. Network must be "bridge" (the Pod network).
	Limits sandbox.Limits
	// PendingTimeout bounds how long a Pod may stay Pending (unschedulable,
	// image being pulled) before the start fails. Default 2m.
	PendingTimeout time.Duration
	// StartTimeout bounds Running to agent healthy. Default 60s.
	StartTimeout time.Duration
	// StopTimeout is the Pod's termination grace period. Default 2s.
	StopTimeout time.Duration
	// PoolSize is the number of pre-started sandboxes of the default Spec
	// kept ready. 0 disables the warm pool.
	PoolSize int
}

// DefaultOptions returns Options with the defaults filled in. ServerID
// must still be set.
func DefaultOptions() Options {
	return Options{
		Namespace:  "default",
		Image:      sandbox.DefaultImage,
		AgentImage: DefaultAgentImage,
		PullPolicy: corev1.PullIfNotPresent,
		Transport:  TransportAPIServer,
		UserID:     os.Getuid(),
		GroupID:    os.Getgid(),
		Limits:     sandbox.Limits{Network: sandbox.NetworkBridge},
	}
}

// dnsLabel is what a namespace name may be.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.ServerID == "" {
		errs = append(errs, errors.New("ServerID is required"))
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if !dnsLabel.MatchString(o.Namespace) {
		errs = append(errs, fmt.Errorf("namespace %q is not a DNS label", o.Namespace))
	}
	if o.Image == "" {
		o.Image = sandbox.DefaultImage
	}
	if o.AgentImage == "" {
		o.AgentImage = DefaultAgentImage
	}
	switch o.PullPolicy {
	case "":
		o.PullPolicy = corev1.PullIfNotPresent
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("image pull policy %q is not Always, IfNotPresent or Never", o.PullPolicy))
	}
	switch o.Transport {
	case "":
		o.Transport = TransportAPIServer
	case TransportAPIServer, TransportPodIP:
	default:
		errs = append(errs, fmt.Errorf("unknown transport %q (want apiserver or podip)", o.Transport))
	}
	if o.StorageSize.IsZero() {
		o.StorageSize = resource.MustParse("10Gi")
	}
	if o.UserID < 0 || o.GroupID < 0 {
		errs = append(errs, fmt.Errorf("user %d:%d is invalid", o.UserID, o.GroupID))
	}
	if o.Limits.Network == "" {
		o.Limits.Network = sandbox.NetworkBridge
	}
	if err := checkLimits(o.Limits); err != nil {
		errs = append(errs, err)
	}
	if o.PendingTimeout <= 0 {
		o.PendingTimeout = 2 * time.Minute
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 2 * time.Second
	}
	if o.PoolSize < 0 {
		errs = append(errs, fmt.Errorf("pool size %d is negative", o.PoolSize))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("kubernetes sandbox options: %w", errors.Join(errs...))
	}
	return o, nil
}

// checkLimits refuses limits a Pod cannot have.
func checkLimits(l sandbox.Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if l.Network != sandbox.NetworkBridge {
		return fmt.Errorf("network %q: a Kubernetes sandbox is on the Pod network (bridge); restrict it with a NetworkPolicy", l.Network)
	}
	return nil
}

// resolved is a Spec merged with Options: everything a Pod needs.
type resolved struct {
	workdir string // where the workspace is mounted and terminals start
	covered bool   // a mount holds workdir: the sandbox makes no workspace of its own
	volume  string // Spec.Volume: the claim of an earlier sandbox to mount at workdir
	image   string
	limits  sandbox.Limits
	mounts  []sandbox.Mount
	env     map[string]string
}

// resolve merges s into o.
func (o Options) resolve(s sandbox.Spec) (resolved, error) {
	r := resolved{image: o.Image, limits: o.Limits.Over(s.Limits), workdir: sandbox.WorkspaceDir}
	if s.WorkingDir != "" {
		if err := (sandbox.Mount{Source: "workspace", Target: s.WorkingDir, Volume: true}).Check(); err != nil {
			return r, fmt.Errorf("working directory: %w", err)
		}
		r.workdir = path.Clean(s.WorkingDir)
	}
	if s.Image != "" {
		r.image = s.Image
	}
	if s.Mounts != nil {
		r.mounts = s.Mounts
	}
	r.mounts = append(slices.Clip(r.mounts), s.AddMounts...)
	targets := make(map[string]bool, len(r.mounts))
	for _, m := range r.mounts {
		if err := m.Check(); err != nil {
			return r, err
		}
		if !m.Volume {
			return r, fmt.Errorf("sandbox volume %q: a Kubernetes sandbox cannot mount a folder of the server's host (name a PersistentVolumeClaim as volume:NAME): %w", m.String(), sandbox.ErrBadVolume)
		}
		if targets[m.Target] {
			return r, fmt.Errorf("sandbox volume %q: %s is mounted twice: %w", m.String(), m.Target, sandbox.ErrBadVolume)
		}
		targets[m.Target] = true
	}
	if err := checkLimits(r.limits); err != nil {
		return r, err
	}
	r.covered = covered(r.mounts, r.workdir)
	if s.Volume != "" && o.StorageClass != "" && !r.covered {
		// Without a storage class the workspace is an emptyDir: there is
		// no claim to mount again.
		if errs := validation.IsDNS1123Subdomain(s.Volume); len(errs) > 0 {
			return r, fmt.Errorf("workspace volume %q is not a claim name: %s: %w", s.Volume, strings.Join(errs, "; "), sandbox.ErrBadVolume)
		}
		r.volume = s.Volume
	}
	r.env = maps.Clone(o.Env)
	if len(s.Env) > 0 {
		if r.env == nil {
			r.env = make(map[string]string, len(s.Env))
		}
		maps.Copy(r.env, s.Env)
	}
	for k := range r.env {
		if !envName.MatchString(k) {
			return r, fmt.Errorf("sandbox environment variable %q: a name is letters, digits and _ (not first a digit)", k)
		}
	}
	return r, nil
}

// covered reports whether one of mounts holds dir (is it or a parent).
func covered(mounts []sandbox.Mount, dir string) bool {
	for _, m := range mounts {
		if dir == m.Target || m.Target == "/" || strings.HasPrefix(dir, m.Target+"/") {
			return true
		}
	}
	return false
}

// envName is a variable name a Secret key and a shell both accept.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// equal reports whether two resolved specs make interchangeable sandboxes.
func (r resolved) equal(o resolved) bool {
	return r.workdir == o.workdir && r.covered == o.covered && r.volume == o.volume && r.image == o.image && r.limits == o.limits &&
		slices.Equal(r.mounts, o.mounts) && maps.Equal(r.env, o.env)
}
