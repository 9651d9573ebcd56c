package docker

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/gohands/gohands/sandbox"
)

// AgentPort is the runtime-agent's TCP port inside the container.
const AgentPort = 7000

// Transport is how the server reaches a sandbox's runtime-agent.
type Transport string

// Transports.
const (
	// TransportAuto is the Unix socket when the engine is local and TCP for
	// a remote engine. The socket is reachable only by the server's user
	// (its folder is 0700), where a published port is open to every local
	// process, and it starts faster: publishing a port costs the engine a
	// docker-proxy process and iptables rules, 25-200 ms a start on Docker
	// 20.10 here and seconds under load (BENCHMARKS-sandbox.md).
	TransportAuto Transport = ""
	// TransportTCP publishes the agent's port on 127.0.0.1, on a port the
	// engine picks. Sandboxes with network "none" use the Unix socket anyway.
	TransportTCP Transport = "tcp"
	// TransportUnix has the agent listen on a Unix socket in a per-sandbox
	// host folder bind-mounted at /run/gohands. Needs a local engine.
	TransportUnix Transport = "unix"
)

// Inject is how the runtime-agent binary gets into the container.
type Inject string

// Inject modes.
const (
	// InjectAuto binds when the engine is local (a unix:// DOCKER_HOST) and copies otherwise.
	InjectAuto Inject = ""
	// InjectBind bind-mounts the host binary read-only. Needs a local engine.
	InjectBind Inject = "bind"
	// InjectCopy copies the binary into the created container before start.
	InjectCopy Inject = "copy"
)

// Options configure a Manager. Start from DefaultOptions.
type Options struct {
	// ServerID labels every container (gohands.server) so this server can
	// find, re-adopt and reap its own sandboxes. Required.
	ServerID string
	// Image is the default sandbox image (SANDBOX_BASE_IMAGE).
	Image string
	// AgentBinary is the host path of the static runtime-agent. Required.
	AgentBinary string
	// UserID and GroupID are the uid and gid commands run as inside the
	// sandbox (SANDBOX_USER_ID); 0 is root. DefaultOptions sets the server's own.
	UserID, GroupID int
	// Mounts are mounted into every sandbox unless a Spec brings its own
	// (SANDBOX_VOLUMES, WORKSPACE_BASE; see Mounts).
	Mounts []sandbox.Mount
	// Env is added to every sandbox's environment.
	Env map[string]string
	// Labels are added to every container (on top of the gohands.* ones).
	Labels map[string]string
	// Limits are the default limits; a Spec may override them.
	Limits sandbox.Limits
	// Transport and Inject: see their constants.
	Transport Transport
	Inject    Inject
	// RunDir is the host folder holding per-sandbox run folders (Unix
	// sockets). Default: $TMPDIR/gohands-run.
	RunDir string
	// StartTimeout bounds create-to-healthy. Default 60s.
	StartTimeout time.Duration
	// StopTimeout is how long a stop waits after SIGTERM before SIGKILL. Default 2s.
	StopTimeout time.Duration
	// PoolSize is the number of pre-started sandboxes of the default Spec
	// kept ready. 0 disables the warm pool.
	PoolSize int
	// ForkPoolSize is the number of running sandboxes of the default
	// Spec kept for forks whose workspace is a copy-on-write overlay
	// (StartOverlay), which then start no container; filled from the
	// first StartOverlay on. 0 disables it; it needs SlotDir, a local
	// engine and a root server.
	ForkPoolSize int
	// SlotDir is the host folder under which the fork pool's workspaces
	// are mounted (see slots.go). The Manager makes it, 0700, and binds
	// it on itself as a shared mount.
	SlotDir string
	// Browser configures the browsers started beside sandboxes.
	Browser BrowserOptions
}

// DefaultOptions returns Options with the defaults filled in: the default
// image, the server process's uid and gid, a pids limit of 1024, bridge
// networking. ServerID and AgentBinary must still be set.
func DefaultOptions() Options {
	return Options{
		Image:   sandbox.DefaultImage,
		UserID:  os.Getuid(),
		GroupID: os.Getgid(),
		Limits:  sandbox.Limits{PidsLimit: sandbox.DefaultPidsLimit, Network: sandbox.NetworkBridge},
		Browser: BrowserOptions{}.withDefaults(),
	}
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.ServerID == "" {
		errs = append(errs, errors.New("ServerID is required"))
	}
	if o.AgentBinary == "" {
		errs = append(errs, errors.New("AgentBinary is required"))
	} else if fi, err := os.Stat(o.AgentBinary); err != nil {
		errs = append(errs, fmt.Errorf("runtime-agent binary: %w", err))
	} else if !fi.Mode().IsRegular() {
		errs = append(errs, fmt.Errorf("runtime-agent binary %s is not a regular file", o.AgentBinary))
	} else if abs, err := filepath.Abs(o.AgentBinary); err == nil {
		o.AgentBinary = abs
	}
	if o.UserID < 0 || o.GroupID < 0 {
		errs = append(errs, fmt.Errorf("user %d:%d is invalid", o.UserID, o.GroupID))
	}
	if o.Image == "" {
		o.Image = sandbox.DefaultImage
	}
	if o.Limits.PidsLimit == 0 {
		o.Limits.PidsLimit = sandbox.DefaultPidsLimit
	}
	if o.Limits.Network == "" {
		o.Limits.Network = sandbox.NetworkBridge
	}
	if err := o.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch o.Transport {
	case TransportAuto, TransportTCP, TransportUnix:
	default:
		errs = append(errs, fmt.Errorf("unknown transport %q", o.Transport))
	}
	switch o.Inject {
	case InjectAuto, InjectBind, InjectCopy:
	default:
		errs = append(errs, fmt.Errorf("unknown inject mode %q", o.Inject))
	}
	if o.RunDir == "" {
		o.RunDir = filepath.Join(os.TempDir(), "gohands-run")
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 2 * time.Second
	}
	o.Browser = o.Browser.withDefaults()
	if o.PoolSize < 0 {
		errs = append(errs, fmt.Errorf("pool size %d is negative", o.PoolSize))
	}
	if o.ForkPoolSize < 0 {
		errs = append(errs, fmt.Errorf("fork pool size %d is negative", o.ForkPoolSize))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("sandbox options: %w", errors.Join(errs...))
	}
	return o, nil
}

// resolved is a Spec merged with Options: everything a container needs.
type resolved struct {
	image     string
	limits    sandbox.Limits
	mounts    []sandbox.Mount
	env       map[string]string
	transport Transport
	// workspace is Spec.WorkingDir, cleaned; volume is set when it needs
	// a workspace volume (no mount covers it): Spec.Volume, or new for
	// a new volume.
	workspace string
	volume    string
	// disposable says the workspace lives outside the container.
	disposable bool
	// slot says the workspace is a slot of the fork pool (slots.go).
	slot bool
}

// newVolume marks a resolved spec's volume still to be made.
const newVolume = "\x00new"

// wantsVolume reports whether the sandbox gets a workspace volume.
func (r resolved) wantsVolume() bool { return r.volume != "" }

// resolve merges s into o. Options.Transport must be TCP or Unix by now.
func (o Options) resolve(s sandbox.Spec) (resolved, error) {
	r := resolved{image: o.Image, limits: o.Limits.Over(s.Limits), mounts: o.Mounts}
	if s.Image != "" {
		r.image = s.Image
	}
	if s.Mounts != nil {
		r.mounts = s.Mounts
	}
	if len(s.AddMounts) > 0 {
		r.mounts = append(slices.Clip(r.mounts), s.AddMounts...)
	}
	targets := make(map[string]bool, len(r.mounts))
	for _, m := range r.mounts {
		// Mounts built in code skip ParseVolumes; check them the same way.
		if err := m.Check(); err != nil {
			return r, err
		}
		if targets[m.Target] {
			return r, fmt.Errorf("sandbox volume %q: %s is mounted twice: %w", m.String(), m.Target, sandbox.ErrBadVolume)
		}
		targets[m.Target] = true
	}
	if err := r.limits.Validate(); err != nil {
		return r, err
	}
	r.env = maps.Clone(o.Env)
	if len(s.Env) > 0 {
		if r.env == nil {
			r.env = make(map[string]string, len(s.Env))
		}
		maps.Copy(r.env, s.Env)
	}
	if s.WorkingDir != "" {
		r.workspace = path.Clean(s.WorkingDir)
		on := sandbox.Mount{Source: "workspace", Target: r.workspace, Volume: true}
		switch {
		case covered(r.mounts, r.workspace):
			r.disposable = true
		case on.Check() == nil:
			r.volume, r.disposable = cmp.Or(s.Volume, newVolume), true
		}
	}
	r.transport = o.Transport
	if r.limits.Network == sandbox.NetworkNone {
		r.transport = TransportUnix // no network, no port to publish
	}
	return r, nil
}

// equal reports whether two resolved specs make interchangeable sandboxes
// (the warm pool serves a Spec only when it resolves to the pool's own).
func (r resolved) equal(o resolved) bool {
	return r.image == o.image && r.limits == o.limits && r.transport == o.transport &&
		slices.Equal(r.mounts, o.mounts) && maps.Equal(r.env, o.env) &&
		r.workspace == o.workspace && r.volume == o.volume
}

// servedByPool reports whether a sandbox of the warm pool (whose spec is
// pool) serves r: the same sandbox, a new workspace volume (or none) at
// the same place, or no working dir asked for at all (the owner then
// does not keep the pool sandbox's volume).
func (r resolved) servedByPool(pool resolved) bool {
	if r.workspace == "" {
		r.workspace, r.volume = pool.workspace, pool.volume
	}
	return r.equal(pool)
}
