package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gohands/gohands/sandbox"
)

// overlayDirs makes the folders of a copy-on-write volume under dir, the
// lower one holding base.txt, and returns the volume.
func overlayDirs(t *testing.T, dir, name string) sandbox.OverlayVolume {
	t.Helper()
	v := sandbox.OverlayVolume{Name: name, Owner: "conv", Target: sandbox.WorkspaceDir,
		Lower: filepath.Join(dir, "lower"), Upper: filepath.Join(dir, "up"), Work: filepath.Join(dir, "work")}
	for _, d := range []string{v.Lower, v.Upper, v.Work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(v.Lower, "base.txt"), []byte("base"), 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

// overlaySpec is the spec of a fork whose workspace is v.
func overlaySpec(v sandbox.OverlayVolume) sandbox.Spec {
	return sandbox.Spec{WorkingDir: v.Target, AddMounts: []sandbox.Mount{{Source: v.Name, Target: v.Target, Volume: true}}}
}

// waitForkPool waits until n sandboxes wait in m's fork pool.
func waitForkPool(t *testing.T, m *Manager, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for m.ForkPoolReady() < n {
		if time.Now().After(deadline) {
			t.Fatalf("fork pool: %d ready after a minute, want %d", m.ForkPoolReady(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mounted reports whether path is a mount point of this namespace.
func mounted(t *testing.T, path string) bool {
	t.Helper()
	ok, err := isMountPoint(path)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestForkPool takes a sandbox of the fork pool for a copy-on-write
// workspace: the pool fills from the first ask on; the overlay mounted on
// the running sandbox's slot shows the lower folder, also to a relative
// path in the first terminal; writes land in the upper folder, the lower
// one unchanged; the sandbox (root) can neither unmount nor mount over
// it; a spec the pool does not serve is refused with ErrNoOverlay; and
// the removal of the sandbox unmounts and removes its slot.
func TestForkPool(t *testing.T) {
	slots := filepath.Join(t.TempDir(), "slots")
	m := newManager(t, func(o *Options) {
		o.PoolSize, o.ForkPoolSize, o.SlotDir = 0, 1, slots
	})
	needForkPool(t, m)
	ctx := testCtx(t)
	v := overlayDirs(t, t.TempDir(), "gohands-cow-test-"+randomHex(6))
	if m.ForkPoolReady() != 0 {
		t.Fatal("the fork pool filled before any fork asked for it")
	}
	if _, err := m.StartOverlay(ctx, "fork-0", overlaySpec(v), v); !errors.Is(err, sandbox.ErrNoOverlay) {
		t.Fatalf("StartOverlay on an empty pool: %v, want ErrNoOverlay", err)
	}
	waitForkPool(t, m, 1)
	other := overlaySpec(v)
	other.Env = map[string]string{"A": "1"}
	if _, err := m.StartOverlay(ctx, "fork-1", other, v); !errors.Is(err, sandbox.ErrNoOverlay) {
		t.Fatalf("StartOverlay of a spec with its own environment: %v, want ErrNoOverlay", err)
	}
	bad := v
	bad.Lower += ",upperdir=/etc"
	if _, err := m.StartOverlay(ctx, "fork-1", overlaySpec(bad), bad); !errors.Is(err, sandbox.ErrNoOverlay) {
		t.Fatalf("StartOverlay with a folder the options cannot carry: %v, want ErrNoOverlay", err)
	}
	sb, err := m.StartOverlay(ctx, "fork-1", overlaySpec(v), v)
	if err != nil {
		t.Fatal(err)
	}
	s := sb.(*Sandbox)
	t.Cleanup(func() { s.Remove(context.Background()) })
	if h := s.Handle(); h.Owner != "fork-1" || h.Volume != "" || !h.Disposable {
		t.Errorf("handle %+v: want owner fork-1, no volume, disposable", h)
	}
	if got := run(t, s, "cat base.txt && echo && echo new > new.txt && cat /workspace/new.txt").Output; strings.Join(strings.Fields(got), " ") != "base new" {
		t.Errorf("the workspace through the slot: %q", got)
	}
	if _, err := os.Stat(filepath.Join(v.Upper, "new.txt")); err != nil {
		t.Errorf("the sandbox's write is not in the upper folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(v.Lower, "new.txt")); !os.IsNotExist(err) {
		t.Errorf("the sandbox's write reached the lower folder: %v", err)
	}
	res := run(t, s, "umount /workspace; umount -l /workspace; mount -t tmpfs x /workspace; cat /workspace/base.txt")
	if lastOf(res.Output) != "base" {
		t.Errorf("the sandbox undid its workspace's mount: %q", res.Output)
	}
	slot := s.slot
	if slot == "" || !mounted(t, filepath.Join(slot, "ws")) {
		t.Fatalf("slot %q: not mounted", slot)
	}
	if err := s.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(slot); !os.IsNotExist(err) {
		t.Errorf("slot %s left after the removal: %v", slot, err)
	}
	if _, err := os.Stat(filepath.Join(v.Upper, "new.txt")); err != nil {
		t.Errorf("the upper folder lost the fork's write: %v", err)
	}
}

// needForkPool skips a test when this host gives no fork pool (the
// tests are not root), except in CI, where that fails.
func needForkPool(t *testing.T, m *Manager) {
	t.Helper()
	if m.slotsOn() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no fork pool: the tests must run as root on a local engine")
	}
	t.Skip("no fork pool on this host (the tests are not root, or cannot mount)")
}

// lastOf returns the last line of s, trimmed.
func lastOf(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// TestForkPoolStaleSlots: a slot whose container went while no Manager
// ran (a killed server) is unmounted and removed by the next Manager on
// the same folder; List names the owner a taken slot records; and a
// Manager that closes with no slot left unmounts the slot folder.
func TestForkPoolStaleSlots(t *testing.T) {
	slots := filepath.Join(t.TempDir(), "slots")
	serverID := "test-" + strings.ToLower(randomHex(4))
	edit := func(o *Options) {
		o.ServerID, o.PoolSize, o.ForkPoolSize, o.SlotDir = serverID, 0, 1, slots
	}
	m := newManager(t, edit)
	needForkPool(t, m)
	ctx := testCtx(t)
	v := overlayDirs(t, t.TempDir(), "gohands-cow-test-"+randomHex(6))
	m.StartOverlay(ctx, "fork-0", overlaySpec(v), v) // fills the pool
	waitForkPool(t, m, 1)
	sb, err := m.StartOverlay(ctx, "fork-1", overlaySpec(v), v)
	if err != nil {
		t.Fatal(err)
	}
	s := sb.(*Sandbox)
	slot := s.slot
	m.Release(s.Handle()) // as a server that stops: the sandbox stays
	m2 := newManager(t, edit)
	hs, err := m2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range hs {
		if h.ID == s.id {
			found = h.Owner == "fork-1"
		}
	}
	if !found {
		t.Errorf("List: %+v, want the taken slot sandbox with owner fork-1", hs)
	}
	if !mounted(t, filepath.Join(slot, "ws")) {
		t.Fatal("the slot of a sandbox still there was unmounted")
	}
	// The container goes behind the Managers' backs.
	if err := env.engine.ContainerRemove(ctx, s.id, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	m3 := newManager(t, edit)
	if _, err := os.Stat(slot); !os.IsNotExist(err) {
		t.Errorf("stale slot %s left by a new Manager: %v", slot, err)
	}
	for _, m := range []*Manager{m2, m, m3} {
		if err := m.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if mounted(t, slots) {
		t.Errorf("slot folder %s still mounted after the last Manager closed with no slot", slots)
	}
}
