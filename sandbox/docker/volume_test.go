package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/sandbox"
)

// TestWorkspaceVolume follows a workspace volume: a warm pool sandbox has
// one at /workspace, handed over with the sandbox; the owner keeps it when
// the container goes, and a new sandbox on it finds the workspace (not the
// container's own changes); a server's next Manager lists it once no
// container names it, and Destroy removes it. A pool sandbox handed to a
// Spec without a working dir takes its volume with it.
func TestWorkspaceVolume(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.PoolSize = 1 })
	ctx := testCtx(t)
	waitFor(t, 2*time.Minute, "the pool to fill", func() bool { return m.PoolSize() == 1 })

	owner := "conv-" + randomHex(4)
	s, err := m.start(ctx, owner, sandbox.Spec{WorkingDir: sandbox.WorkspaceDir})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handle()
	if !s.pooled || h.Volume == "" || !h.Disposable {
		t.Fatalf("pooled=%v handle %+v: want a pool sandbox with its workspace volume", s.pooled, h)
	}
	v, err := env.engine.VolumeInspect(ctx, h.Volume)
	if err != nil || v.Labels[labelServer] != m.opts.ServerID || v.Labels[labelVolume] != "1" {
		t.Fatalf("volume %s: %v labels %v", h.Volume, err, v.Labels)
	}
	run(t, s, "echo kept > /workspace/f && mkdir -p /opt/tool && echo gone > /opt/tool/bin")
	if err := s.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.engine.VolumeInspect(ctx, h.Volume); err != nil {
		t.Fatalf("workspace volume removed with the container: %v", err)
	}

	again, err := m.start(ctx, owner, sandbox.Spec{WorkingDir: sandbox.WorkspaceDir, Volume: h.Volume})
	if err != nil {
		t.Fatal(err)
	}
	if again.pooled || again.Handle().Volume != h.Volume {
		t.Fatalf("pooled=%v volume %q, want a new sandbox on %s", again.pooled, again.Handle().Volume, h.Volume)
	}
	res := run(t, again, "cat /workspace/f; ls /opt/tool/bin 2>&1")
	if !strings.Contains(res.Output, "kept") || !strings.Contains(res.Output, "No such file") {
		t.Errorf("new sandbox on the volume: %q, want the workspace file and not the container's own", res.Output)
	}
	if err := again.Remove(ctx); err != nil {
		t.Fatal(err)
	}

	// Another server neither lists nor removes it.
	other := newManager(t, nil)
	list, err := other.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.Volume == h.Volume {
			t.Errorf("another server lists the volume %s", h.Volume)
		}
	}
	if err := other.Destroy(ctx, sandbox.Handle{Volume: h.Volume}); err == nil {
		t.Error("another server's Destroy of the volume did not fail")
	}
	if _, err := env.engine.VolumeInspect(ctx, h.Volume); err != nil {
		t.Fatalf("the volume after another server's Destroy: %v", err)
	}

	// The server's next Manager sees the volume no container names.
	opts := m.opts
	next, err := New(env.engine, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close(context.Background())
	list, err = next.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range list {
		if l.Volume == h.Volume {
			found = l.ID == ""
		}
		if l.ID == "" && l.Volume != h.Volume && !strings.HasPrefix(l.Volume, "gohands-ws-") {
			t.Errorf("listed volume %q is no workspace volume", l.Volume)
		}
	}
	if !found {
		t.Fatalf("List %+v lacks the volume %s as a handle with no ID", list, h.Volume)
	}
	if err := next.Destroy(ctx, sandbox.Handle{Volume: h.Volume}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.engine.VolumeInspect(ctx, h.Volume); !isGone(err) {
		t.Errorf("volume after Destroy: %v", err)
	}

	// A pool sandbox for a Spec with no working dir: its volume goes
	// with it.
	waitFor(t, 2*time.Minute, "the pool to refill", func() bool { return m.PoolSize() == 1 })
	plain := start(t, m, sandbox.Spec{})
	if !plain.pooled || plain.Handle().Volume != "" || plain.Handle().Disposable {
		t.Fatalf("pooled=%v handle %+v", plain.pooled, plain.Handle())
	}
	vol := plain.volume
	if err := plain.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.engine.VolumeInspect(ctx, vol); !isGone(err) {
		t.Errorf("volume %s of a pool sandbox whose owner asked for none kept: %v", vol, err)
	}
}
