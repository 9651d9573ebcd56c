package sandbox

import (
	"fmt"
	"strings"
)

// Defaults.
const (
	// DefaultImage is the image `make sandbox-image` builds.
	DefaultImage = "gohands/sandbox:bookworm"
	// DefaultPidsLimit bounds the number of processes in a sandbox, so a fork
	// bomb stays inside it.
	DefaultPidsLimit = 1024
)

// Network modes.
const (
	NetworkBridge = "bridge"
	NetworkNone   = "none"
)

// Limits are a sandbox's resource limits and network mode. In a Spec, a zero
// field means "the server's default".
type Limits struct {
	// Memory in bytes (swap included); 0 = unlimited.
	Memory int64
	// NanoCPUs in units of 1e-9 CPUs (1e9 = one CPU); 0 = unlimited.
	NanoCPUs int64
	// PidsLimit is the maximum number of processes; 0 = DefaultPidsLimit, -1 = unlimited.
	PidsLimit int64
	// Network is "bridge" (default), "none", or the name of a user-defined
	// network. "host" and "container:..." are refused.
	Network string
}

// Over returns l with the non-zero fields of o on top.
func (l Limits) Over(o Limits) Limits {
	if o.Memory != 0 {
		l.Memory = o.Memory
	}
	if o.NanoCPUs != 0 {
		l.NanoCPUs = o.NanoCPUs
	}
	if o.PidsLimit != 0 {
		l.PidsLimit = o.PidsLimit
	}
	if o.Network != "" {
		l.Network = o.Network
	}
	return l
}

// Validate refuses limits no backend may apply.
func (l Limits) Validate() error {
	switch {
	case l.Memory < 0:
		return fmt.Errorf("memory limit %d is negative", l.Memory)
	case l.Memory > 0 && l.Memory < 6<<20:
		return fmt.Errorf("memory limit %d is below the engine's minimum of 6 MiB", l.Memory)
	case l.NanoCPUs < 0:
		return fmt.Errorf("CPU limit %d is negative", l.NanoCPUs)
	case l.PidsLimit < -1:
		return fmt.Errorf("pids limit %d is invalid", l.PidsLimit)
	case l.Network == "host" || strings.HasPrefix(l.Network, "container:"):
		return fmt.Errorf("network mode %q would share the host's or another container's network", l.Network)
	}
	return nil
}

// Spec is what one sandbox asks for on top of the backend's defaults.
// Zero fields take the server's defaults.
type Spec struct {
	// Image overrides the backend's default image.
	Image string
	// Limits override the backend's default limits field by field.
	Limits Limits
	// Mounts, when non-nil, replace the backend's default mounts (use an
	// empty non-nil slice for no mounts).
	Mounts []Mount
	// AddMounts are mounted on top of Mounts (or the backend's default
	// mounts): a conversation's host folder, say.
	AddMounts []Mount
	// Env is added on top of the backend's default environment.
	Env map[string]string
	// WorkingDir is the absolute path of the owner's workspace inside the
	// sandbox. When no mount covers it, the backend keeps it on a volume
	// of the owner's (Handle.Volume), so that it outlives the sandbox:
	// a new sandbox given that volume (Volume) finds the same files.
	// Empty: the workspace is wherever the image has it (in the
	// sandbox's own filesystem, gone with it).
	WorkingDir string
	// Volume is the Handle.Volume of the owner's earlier sandbox, to be
	// mounted at WorkingDir instead of a new volume. A sandbox given one
	// is always made afresh (never taken from a warm pool).
	Volume string
	// OnPull, if set, receives progress while a missing image is pulled.
	OnPull func(PullProgress)
}

// PullProgress is one progress report of an image pull, as the engine sends it.
type PullProgress struct {
	Image   string // the image being pulled
	Layer   string // layer id, "" for messages about the whole image
	Status  string // e.g. "Downloading", "Pull complete"
	Current int64  // bytes done, when known
	Total   int64  // bytes in all, when known
}
