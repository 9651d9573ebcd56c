package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
	"github.com/gohands/gohands/storage"
)

// slowDestroy holds every Destroy until its gate opens.
type slowDestroy struct {
	*sandboxtest.Backend
	gate chan struct{}
}

func (b *slowDestroy) Destroy(ctx context.Context, h sandbox.Handle) error {
	select {
	case <-b.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Backend.Destroy(ctx, h)
}

func removals(t *testing.T, store *storage.Store) []storage.Removal {
	t.Helper()
	rs, err := store.Removals()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestDeleteRemovesInBackground: Delete answers while the engine has not
// removed the sandbox yet, with the removal recorded in the store; the
// background removal then removes it and clears the record. A
// conversation made again under the same id gets a sandbox of its own
// meanwhile.
func TestDeleteRemovesInBackground(t *testing.T) {
	be := sandboxtest.New(t)
	slow := &slowDestroy{Backend: be, gate: make(chan struct{})}
	store := openStore(t)
	m := newManagerOn(t, store, Options{Sandboxes: slow})
	a := create(t, m, be)
	sb := be.Engine().Lookup(a.ID())
	if err := m.Delete(testCtx(t), a.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(a.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if st := sb.Status(); st == sandbox.StatusRemoved {
		t.Fatal("the sandbox was removed before Delete answered, with the engine's removal held")
	}
	rs := removals(t, store)
	if len(rs) != 1 || rs[0].ConversationID != a.ID() || rs[0].ContainerID != sb.Handle().ID {
		t.Fatalf("pending removals after Delete: %+v, want the sandbox %s of %s", rs, sb.Handle().ID, a.ID())
	}

	again, _, err := m.Create(testCtx(t), CreateRequest{ConversationID: a.ID()})
	if err != nil {
		t.Fatal(err)
	}
	useSandbox(t, again)

	close(slow.gate)
	waitUntil(t, "the sandbox of the deleted conversation to be removed", func() bool { return sb.Status() == sandbox.StatusRemoved })
	waitUntil(t, "the removal to be cleared", func() bool { return len(removals(t, store)) == 0 })
	if s := be.Engine().Lookup(a.ID()); s == nil || s == sb || s.Status() != sandbox.StatusRunning {
		t.Errorf("the sandbox of the conversation made again: %+v, want a new one running", s)
	}
}

// TestRemovalsLeftAtStart: what a server stopped right after a delete
// left to remove (a sandbox, a fork's host folder) is removed by the next
// manager on the store, without Restore, and its record cleared.
func TestRemovalsLeftAtStart(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	root := t.TempDir()
	m1, err := New(Options{Store: store, Sandboxes: be, HostRoots: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	a := create(t, m1, be)
	sb := be.Engine().Lookup(a.ID())
	m1.Close(testCtx(t))
	dir := filepath.Join(root, "proj.fork-x")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The delete of a killed server: stored, nothing removed yet.
	if _, err := store.DeleteConversationLeaving(a.ID(), storage.Removal{HostDir: dir}); err != nil {
		t.Fatal(err)
	}

	newManagerOn(t, store, Options{Sandboxes: be.Reopen(), HostRoots: []string{root}})
	waitUntil(t, "the sandbox left to be removed", func() bool { return sb.Status() == sandbox.StatusRemoved })
	waitUntil(t, "the removal to be cleared", func() bool { return len(removals(t, store)) == 0 })
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the fork's host folder after the removal: %v, want it gone", err)
	}
}

// slowStart holds every Start until its gate opens.
type slowStart struct {
	*sandboxtest.Backend
	gate chan struct{}
}

func (b *slowStart) Start(ctx context.Context, owner string, spec sandbox.Spec) (sandbox.Sandbox, error) {
	select {
	case <-b.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.Backend.Start(ctx, owner, spec)
}

// TestDeleteDuringStart: a delete does not wait for a start under way;
// the sandbox that start makes is removed once it ends, and no other is
// started for the deleted conversation.
func TestDeleteDuringStart(t *testing.T) {
	be := sandboxtest.New(t)
	slow := &slowStart{Backend: be, gate: make(chan struct{})}
	m := newManagerOn(t, openStore(t), Options{Sandboxes: slow})
	a, _, err := m.Create(testCtx(t), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	used := make(chan error, 1)
	go func() {
		_, done, err := a.Sandbox(testCtx(t))
		if err == nil {
			done()
		}
		used <- err
	}()
	waitUntil(t, "the start to be under way", func() bool {
		if a.sb.op.TryLock() {
			a.sb.op.Unlock()
			return false
		}
		return true
	})
	if err := m.Delete(testCtx(t), a.ID()); err != nil {
		t.Fatal(err)
	}
	close(slow.gate)
	<-used
	waitUntil(t, "the sandbox started under the delete to be removed", func() bool {
		return be.Engine().Lookup(a.ID()) == nil
	})
	if _, _, err := a.Sandbox(testCtx(t)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Sandbox of the deleted conversation: %v, want ErrNotFound", err)
	}
	if n := be.Engine().Starts(); n != 1 {
		t.Errorf("%d sandboxes started, want 1", n)
	}
}
