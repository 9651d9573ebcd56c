package docker

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/docker/docker/api/types/container"

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
	return ownChanges(changes), nil
}

// ownChanges keeps the snapshotted paths of a diff, less the folders
// listed as changed only because something under them changed (their
// own mode or owner rarely is, and a folder holding a mount point, such
// as /opt over the agent's folder, cannot be rewritten).
func ownChanges(changes []container.FilesystemChange) []string {
	parents := make(map[string]bool)
	for _, c := range changes {
		for p := path.Dir(c.Path); p != "/" && p != "."; p = path.Dir(p) {
			parents[p] = true
		}
	}
	out := make([]string, 0, len(changes))
	for _, c := range changes {
		if !snapshotted(c.Path) || c.Kind == container.ChangeModify && parents[c.Path] {
			continue
		}
		out = append(out, c.Path)
	}
	return out
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
