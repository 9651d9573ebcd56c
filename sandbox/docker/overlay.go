package docker

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/volume"

	"github.com/gohands/gohands/sandbox"
)

// labelOverlay marks the copy-on-write volumes this backend made, with
// the owner key they were made for.
const labelOverlay = "gohands.overlay-owner"

var _ sandbox.OverlayVolumes = (*Manager)(nil)

// CreateOverlayVolume makes a volume of the engine's local driver that
// mounts the kernel's overlay filesystem over v's folders when a sandbox
// uses it. The engine must share this host's filesystem, the folders be
// absolute clean paths the mount options can carry, and no default mount
// of this Manager sit at, over or under v.Target.
func (m *Manager) CreateOverlayVolume(ctx context.Context, v sandbox.OverlayVolume) error {
	if !m.local {
		return fmt.Errorf("%w: engine %s is not on this host", sandbox.ErrNoOverlay, m.engine.DaemonHost())
	}
	if err := (sandbox.Mount{Source: v.Name, Target: v.Target, Volume: true}).Check(); err != nil {
		return fmt.Errorf("%w: %w", sandbox.ErrNoOverlay, err)
	}
	for _, mt := range m.opts.Mounts {
		if within(mt.Target, v.Target) || within(v.Target, mt.Target) {
			return fmt.Errorf("%w: the default mount %s holds %s", sandbox.ErrNoOverlay, mt.String(), v.Target)
		}
	}
	for _, p := range []string{v.Lower, v.Upper, v.Work} {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsAny(p, ",:\\\n") {
			return fmt.Errorf("%w: folder %q cannot be an overlay option", sandbox.ErrNoOverlay, p)
		}
	}
	labels := maps.Clone(m.opts.Labels)
	if labels == nil {
		labels = make(map[string]string)
	}
	labels[labelServer], labels[labelOverlay] = m.opts.ServerID, v.Owner
	_, err := m.engine.VolumeCreate(ctx, volume.CreateOptions{
		Name:   v.Name,
		Driver: "local",
		DriverOpts: map[string]string{
			"type":   "overlay",
			"device": "overlay",
			"o":      "lowerdir=" + v.Lower + ",upperdir=" + v.Upper + ",workdir=" + v.Work,
		},
		Labels: labels,
	})
	if err != nil {
		return fmt.Errorf("create overlay volume %s: %w", v.Name, engineErr(m.engine, err))
	}
	return nil
}

// RemoveOverlayVolume removes a volume CreateOverlayVolume made for this
// server; any other volume of that name is left alone.
func (m *Manager) RemoveOverlayVolume(ctx context.Context, name string) error {
	vol, err := m.engine.VolumeInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect volume %s: %w", name, engineErr(m.engine, err))
	}
	if _, ok := vol.Labels[labelOverlay]; !ok || vol.Labels[labelServer] != m.opts.ServerID {
		return fmt.Errorf("volume %s is not an overlay volume of this server: left alone", name)
	}
	if err := m.engine.VolumeRemove(ctx, name, false); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", name, engineErr(m.engine, err))
	}
	return nil
}

// within reports whether p is dir or under it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
