package sandbox

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// WorkspaceDir is where a sandbox's workspace lives and the agent's default
// working directory. A mount whose target is WorkspaceDir is the workspace.
const WorkspaceDir = "/workspace"

// Paths inside every sandbox that belong to GoHands; user mounts may not
// cover them.
const (
	// AgentDir holds the runtime-agent binary (AgentPath).
	AgentDir  = "/opt/gohands"
	AgentPath = AgentDir + "/runtime-agent"
	// RunDir holds the agent's Unix socket (SocketName), when it has one.
	RunDir     = "/run/gohands"
	SocketName = "agent.sock"
)

// Mount is one entry of SANDBOX_VOLUMES: a host folder (bind mount) or a
// named Docker volume, mounted at Target inside the sandbox.
type Mount struct {
	// Source is an absolute host path, or a volume name when Volume is set.
	Source string
	// Target is the absolute path inside the container.
	Target string
	// ReadOnly mounts the source read-only (mode "ro").
	ReadOnly bool
	// Volume marks Source as a named Docker volume rather than a host path.
	Volume bool
}

// String formats m in the SANDBOX_VOLUMES syntax; ParseVolumes reads it back.
func (m Mount) String() string {
	src := m.Source
	if m.Volume {
		src = "volume:" + src
	}
	mode := "rw"
	if m.ReadOnly {
		mode = "ro"
	}
	return src + ":" + m.Target + ":" + mode
}

// ErrBadVolume is wrapped by every error ParseVolumes returns.
var ErrBadVolume = errors.New("bad volume spec")

// volumeName is Docker's rule for named volumes.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ParseVolumes parses SANDBOX_VOLUMES: comma-separated entries of the form
// host:container[:mode], mode "rw" (default) or "ro". A host part that is
// not an absolute path, or that starts with "volume:", names a Docker
// volume. Empty entries are ignored. A bad entry is refused with an error
// that quotes it.
func ParseVolumes(spec string) ([]Mount, error) {
	var mounts []Mount
	seen := make(map[string]string)
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		m, err := parseVolume(entry)
		if err != nil {
			return nil, fmt.Errorf("sandbox volume %q: %w", entry, err)
		}
		if prev, ok := seen[m.Target]; ok {
			return nil, fmt.Errorf("sandbox volume %q: target %s already mounted by %q: %w", entry, m.Target, prev, ErrBadVolume)
		}
		seen[m.Target] = entry
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// Check refuses a mount built in code that ParseVolumes would refuse.
func (m Mount) Check() error {
	if _, err := parseVolume(m.String()); err != nil {
		return fmt.Errorf("sandbox volume %q: %w", m.String(), err)
	}
	return nil
}

func parseVolume(entry string) (Mount, error) {
	var m Mount
	rest := entry
	if after, ok := strings.CutPrefix(rest, "volume:"); ok {
		m.Volume = true
		rest = after
	}
	parts := strings.Split(rest, ":")
	switch len(parts) {
	case 2:
	case 3:
		switch strings.ToLower(parts[2]) {
		case "rw":
		case "ro":
			m.ReadOnly = true
		default:
			return Mount{}, fmt.Errorf("mode %q is neither rw nor ro: %w", parts[2], ErrBadVolume)
		}
	default:
		return Mount{}, fmt.Errorf("want host:container[:mode]: %w", ErrBadVolume)
	}
	src, dst := parts[0], parts[1]
	switch {
	case src == "":
		return Mount{}, fmt.Errorf("empty host part: %w", ErrBadVolume)
	case !m.Volume && strings.HasPrefix(src, "/"):
		m.Source = path.Clean(src)
	default:
		if !volumeName.MatchString(src) {
			return Mount{}, fmt.Errorf("host part %q is neither an absolute path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+): %w", src, ErrBadVolume)
		}
		m.Volume = true
		m.Source = src
	}
	if !strings.HasPrefix(dst, "/") {
		return Mount{}, fmt.Errorf("container path %q is not absolute: %w", dst, ErrBadVolume)
	}
	dst = path.Clean(dst)
	if dst == "/" {
		return Mount{}, fmt.Errorf("cannot mount over the container's root: %w", ErrBadVolume)
	}
	for _, reserved := range []string{AgentDir, RunDir} {
		if dst == reserved || strings.HasPrefix(dst, reserved+"/") || strings.HasPrefix(reserved, dst+"/") {
			return Mount{}, fmt.Errorf("container path %s overlaps %s, which GoHands uses: %w", dst, reserved, ErrBadVolume)
		}
	}
	m.Target = dst
	return m, nil
}

// Mounts combines SANDBOX_VOLUMES and the older WORKSPACE_BASE (a host
// folder mounted read-write on /workspace) into one list. Either may be
// empty; both naming a workspace is refused.
func Mounts(sandboxVolumes, workspaceBase string) ([]Mount, error) {
	mounts, err := ParseVolumes(sandboxVolumes)
	if err != nil {
		return nil, err
	}
	if workspaceBase == "" {
		return mounts, nil
	}
	if !strings.HasPrefix(workspaceBase, "/") {
		return nil, fmt.Errorf("WORKSPACE_BASE %q is not an absolute path: %w", workspaceBase, ErrBadVolume)
	}
	if ws, ok := Workspace(mounts); ok {
		return nil, fmt.Errorf("WORKSPACE_BASE %q and SANDBOX_VOLUMES entry %q both mount %s: %w", workspaceBase, ws.String(), WorkspaceDir, ErrBadVolume)
	}
	return append(mounts, Mount{Source: path.Clean(workspaceBase), Target: WorkspaceDir}), nil
}

// Workspace returns the mount on /workspace, if any.
func Workspace(mounts []Mount) (Mount, bool) {
	for _, m := range mounts {
		if m.Target == WorkspaceDir {
			return m, true
		}
	}
	return Mount{}, false
}
