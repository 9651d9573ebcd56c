package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/gohands/gohands/sandbox"
)

var _ sandbox.ChangeLister = (*Sandbox)(nil)

// unsnapshotted are the prefixes of paths a container's diff lists that
// are not the sandbox's own work: the kernel's and the engine's files,
// GoHands' agent and its run folder, and /tmp, where the agent keeps the
// cut output of commands.
var unsnapshotted = []string{"/proc", "/sys", "/dev", "/run", "/tmp", sandbox.AgentDir,
	"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/.dockerenv"}

// ChangedPaths lists the paths of the container's own layer that were
// added, changed or deleted since it was made (the engine's diff), less
// those of unsnapshotted. Mounted volumes and folders are not in a diff.
func (s *Sandbox) ChangedPaths(ctx context.Context) ([]string, error) {
	changes, err := s.m.engine.ContainerDiff(ctx, s.id)
	if err != nil {
		return nil, fmt.Errorf("changed paths of sandbox %s: %w", s.name, engineErr(s.m.engine, err))
	}
	out := make([]string, 0, len(changes))
	for _, c := range changes {
		if !snapshotted(c.Path) {
			continue
		}
		out = append(out, c.Path)
	}
	return out, nil
}

// snapshotted reports whether a changed path is the sandbox's own work.
func snapshotted(p string) bool {
	for _, pre := range unsnapshotted {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return false
		}
	}
	return p != "/" && strings.HasPrefix(p, "/")
}
