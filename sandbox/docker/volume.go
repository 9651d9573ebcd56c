package docker

import (
	"context"
	"fmt"
	"maps"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/gohands/gohands/sandbox"
)

// Workspace volumes. A sandbox started with a Spec.WorkingDir that no mount
// covers keeps that folder on a named volume of its own, so that the
// workspace outlives the container: the owner's next sandbox mounts the
// same volume (Spec.Volume). The volume carries the labels of a sandbox
// (server, owner at creation, instance) and gohands.volume=1; the
// container names it in gohands.workspace.
const (
	labelVolume = "gohands.volume" // "1" on every workspace volume
	// labelWorkspace is on containers started with a working dir: the
	// name of the volume holding it, or workspaceOnMount.
	labelWorkspace   = "gohands.workspace"
	workspaceOnMount = "-" // a mount covers the working dir
)

// covered reports whether one of mounts holds dir (is it or a parent).
func covered(mounts []sandbox.Mount, dir string) bool {
	for _, m := range mounts {
		if dir == m.Target || len(dir) > len(m.Target) && dir[:len(m.Target)] == m.Target && dir[len(m.Target)] == '/' {
			return true
		}
	}
	return false
}

// newVolumeName names a new workspace volume.
func newVolumeName() string { return "gohands-ws-" + randomHex(8) }

// volumeLabels are the labels of a new workspace volume of owner.
func (m *Manager) volumeLabels(owner string) map[string]string {
	labels := maps.Clone(m.opts.Labels)
	if labels == nil {
		labels = make(map[string]string)
	}
	maps.Copy(labels, map[string]string{
		labelVolume:   "1",
		labelServer:   m.opts.ServerID,
		labelOwner:    owner,
		labelInstance: m.instance,
	})
	return labels
}

// workspaceVolume gives the sandbox s the volume of its workspace: name
// when given (made again, empty, if it is gone), else a new one. It
// reports whether it made one.
func (m *Manager) workspaceVolume(ctx context.Context, owner, name string) (vol string, made bool, err error) {
	if name != "" {
		v, err := m.engine.VolumeInspect(ctx, name)
		switch {
		case err == nil:
			if v.Labels[labelVolume] != "1" || v.Labels[labelServer] != m.opts.ServerID {
				return "", false, fmt.Errorf("workspace volume %s: not a volume of server %s", name, m.opts.ServerID)
			}
			return name, false, nil
		case !isGone(err):
			return "", false, fmt.Errorf("workspace volume %s: %w", name, engineErr(m.engine, err))
		}
		// Without this the engine would make it at the mount, unlabelled:
		// nothing would ever remove it.
		m.log.WarnContext(ctx, "workspace volume gone; making it again, empty", "volume", name, "owner", owner)
	} else {
		name = newVolumeName()
	}
	if _, err := m.engine.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: m.volumeLabels(owner)}); err != nil {
		return "", false, fmt.Errorf("create workspace volume: %w", engineErr(m.engine, err))
	}
	return name, true, nil
}

// removeVolume removes a workspace volume of this server; a volume that
// is gone is not an error, one of another server's is refused.
func (m *Manager) removeVolume(ctx context.Context, name string) error {
	v, err := m.engine.VolumeInspect(ctx, name)
	if isGone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove workspace volume %s: %w", name, engineErr(m.engine, err))
	}
	if v.Labels[labelVolume] != "1" || v.Labels[labelServer] != m.opts.ServerID {
		return fmt.Errorf("remove workspace volume %s: not a volume of server %s", name, m.opts.ServerID)
	}
	if err := m.engine.VolumeRemove(ctx, name, false); err != nil && !isGone(err) {
		return fmt.Errorf("remove workspace volume %s: %w", name, engineErr(m.engine, err))
	}
	m.log.InfoContext(ctx, "workspace volume removed", "volume", name)
	return nil
}

// orphanVolumes lists this server's workspace volumes that no container
// names (mounted lists those that do) and this Manager neither made nor
// uses, as handles with no ID.
func (m *Manager) orphanVolumes(ctx context.Context, mounted map[string]bool) ([]sandbox.Handle, error) {
	f := filters.NewArgs(
		filters.Arg("label", labelVolume+"=1"),
		filters.Arg("label", labelServer+"="+m.opts.ServerID),
	)
	list, err := m.engine.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list workspace volumes: %w", engineErr(m.engine, err))
	}
	for _, s := range m.reg.All() {
		if s.volume != "" {
			mounted[s.volume] = true
		}
	}
	var out []sandbox.Handle
	for _, v := range list.Volumes {
		if v == nil || mounted[v.Name] || v.Labels[labelInstance] == m.instance {
			continue
		}
		out = append(out, sandbox.Handle{Owner: v.Labels[labelOwner], Volume: v.Name, Disposable: true})
	}
	return out, nil
}
