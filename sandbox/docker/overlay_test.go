package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/volume"

	"github.com/gohands/gohands/sandbox"
)

// TestOverlayVolume mounts a copy-on-write volume in a sandbox: it shows
// the lower folder, writes go to the upper one, and its removal leaves
// the folders. Volumes another made, targets a default mount holds and
// folders the mount options cannot carry are refused.
func TestOverlayVolume(t *testing.T) {
	data := "gohands-test-data-" + randomHex(4)
	m := newManager(t, func(o *Options) {
		o.PoolSize = 0
		o.Mounts = []sandbox.Mount{{Source: data, Target: "/data", Volume: true}}
	})
	ctx := testCtx(t)
	t.Cleanup(func() { env.engine.VolumeRemove(context.Background(), data, true) })
	dir := t.TempDir()
	lower, upper, work := filepath.Join(dir, "lower"), filepath.Join(dir, "up"), filepath.Join(dir, "work")
	for _, d := range []string{lower, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "base.txt"), []byte("base"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := "gohands-cow-test-" + randomHex(6)
	v := sandbox.OverlayVolume{Name: name, Owner: "conv", Target: "/workspace", Lower: lower, Upper: upper, Work: work}
	for _, bad := range []sandbox.OverlayVolume{
		{Name: name, Owner: "conv", Target: "/data/sub", Lower: lower, Upper: upper, Work: work},
		{Name: name, Owner: "conv", Target: "/workspace", Lower: lower + ",upperdir=/etc", Upper: upper, Work: work},
		{Name: name, Owner: "conv", Target: "/workspace", Lower: "relative", Upper: upper, Work: work},
	} {
		if err := m.CreateOverlayVolume(ctx, bad); !errors.Is(err, sandbox.ErrNoOverlay) {
			t.Errorf("%+v: %v, want ErrNoOverlay", bad, err)
		}
	}
	if err := m.CreateOverlayVolume(ctx, v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.engine.VolumeRemove(ctx, name, true) })
	s := start(t, m, sandbox.Spec{AddMounts: []sandbox.Mount{{Source: name, Target: "/workspace", Volume: true}}})
	if got := run(t, s, "cat /workspace/base.txt && echo new > /workspace/new.txt").Output; strings.TrimSpace(got) != "base" {
		t.Errorf("base.txt through the volume: %q", got)
	}
	if _, err := os.Stat(filepath.Join(upper, "new.txt")); err != nil {
		t.Errorf("the sandbox's write is not in the upper folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lower, "new.txt")); !os.IsNotExist(err) {
		t.Errorf("the sandbox's write reached the lower folder: %v", err)
	}
	if err := m.RemoveOverlayVolume(ctx, name); err == nil {
		t.Error("a volume in use was removed")
	}
	if err := s.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveOverlayVolume(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := env.engine.VolumeInspect(ctx, name); err == nil {
		t.Error("the volume is still there")
	}
	if err := m.RemoveOverlayVolume(ctx, name); err != nil {
		t.Errorf("removing a volume that is gone: %v", err)
	}
	// A volume of that kind's name that this server did not make stays.
	foreign := "gohands-cow-test-" + randomHex(6)
	if _, err := env.engine.VolumeCreate(ctx, volume.CreateOptions{Name: foreign}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.engine.VolumeRemove(ctx, foreign, true) })
	if err := m.RemoveOverlayVolume(ctx, foreign); err == nil {
		t.Error("another's volume was removed without a word")
	}
	if _, err := env.engine.VolumeInspect(ctx, foreign); err != nil {
		t.Errorf("another's volume is gone: %v", err)
	}
}
