package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
	"github.com/gohands/gohands/storage"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// create makes a conversation, which starts no sandbox, and uses its
// sandbox once, which starts one.
func create(t *testing.T, m *ConversationManager, be *sandboxtest.Backend) *AgentSession {
	t.Helper()
	a, _, err := m.Create(testCtx(t), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if s := be.Engine().Lookup(a.ID()); s != nil {
		t.Fatalf("a sandbox %s started at create", s.Handle().ID)
	}
	useSandbox(t, a)
	waitUntil(t, "the sandbox to start", func() bool {
		s := be.Engine().Lookup(a.ID())
		return s != nil && s.Status() == sandbox.StatusRunning
	})
	return a
}

// useSandbox makes one call to the conversation's agent.
func useSandbox(t *testing.T, a *AgentSession) {
	t.Helper()
	cl, done, err := a.Sandbox(testCtx(t))
	if err != nil {
		t.Fatalf("Sandbox: %v", err)
	}
	defer done()
	if err := cl.Health(testCtx(t)); err != nil {
		t.Fatalf("agent health: %v", err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sandboxEvents returns the messages of a conversation's sandbox events.
func sandboxEvents(t *testing.T, store *storage.Store, id string) []string {
	t.Helper()
	evs, _, err := store.Events(id, storage.EventQuery{Kinds: []event.Kind{event.KindSandboxStatus}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		s := e.(*event.SandboxStatus)
		out = append(out, string(s.Status)+": "+s.Message)
	}
	return out
}

// TestDeadSandboxReplaced: a sandbox that dies is replaced on next use by
// a fresh one, with an event saying so.
func TestDeadSandboxReplaced(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m := newManagerOn(t, store, Options{Sandboxes: be})
	a := create(t, m, be)
	first := be.Engine().Lookup(a.ID())
	first.Kill()

	useSandbox(t, a)
	if n := be.Engine().Starts(); n != 2 {
		t.Errorf("%d sandboxes started, want 2 (the first and its replacement)", n)
	}
	second := be.Engine().Lookup(a.ID())
	if second == nil || second == first || second.Status() != sandbox.StatusRunning {
		t.Fatalf("the replacement: %+v", second)
	}
	if first.Status() != sandbox.StatusRemoved {
		t.Errorf("the dead sandbox is %s, want removed", first.Status())
	}
	evs := strings.Join(sandboxEvents(t, store, a.ID()), "\n")
	if !strings.Contains(evs, "error: the sandbox stopped unexpectedly") || !strings.Contains(evs, "starting a new one with the same workspace") {
		t.Errorf("sandbox events do not say the sandbox died and was replaced:\n%s", evs)
	}
	if got := a.Info().Sandbox; got.ID != second.Handle().ID || got.Status != "running" {
		t.Errorf("Info().Sandbox = %+v, want the replacement running", got)
	}
	recs, _ := store.Sandboxes()
	if len(recs) != 1 || recs[0].ContainerID != second.Handle().ID {
		t.Errorf("saved handles %+v, want the replacement's", recs)
	}
}

// TestFailedStartThenStart: a sandbox that cannot start says so in an
// event and as an error; the next use tries again.
func TestFailedStartThenStart(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m := newManagerOn(t, store, Options{Sandboxes: be})
	be.Engine().FailStarts(1)
	a, _, err := m.Create(testCtx(t), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, _, err := a.Sandbox(testCtx(t)); !errors.As(err, &e) || e.Kind != KindUnavailable {
		t.Fatalf("first use with a start that fails: %v, want KindUnavailable", err)
	}
	if evs := strings.Join(sandboxEvents(t, store, a.ID()), "\n"); !strings.Contains(evs, "could not start") {
		t.Errorf("sandbox events do not say the start failed:\n%s", evs)
	}
	useSandbox(t, a)
	if n := be.Engine().Starts(); n != 1 {
		t.Errorf("%d sandboxes started, want 1", n)
	}
}

// TestRecoverAfterRestart: a new manager on the same store and engine
// recovers the sandbox the first one saved, with its workspace, and
// starts none.
func TestRecoverAfterRestart(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m1, err := New(Options{Store: store, Sandboxes: be})
	if err != nil {
		t.Fatal(err)
	}
	a := create(t, m1, be)
	sb := be.Engine().Lookup(a.ID())
	if err := os.WriteFile(filepath.Join(sb.Workspace(), "kept"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m1.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}

	be2 := be.Reopen()
	m2 := newManagerOn(t, store, Options{Sandboxes: be2})
	if err := m2.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := be.Engine().Recovers(); n != 1 {
		t.Errorf("%d recoveries, want 1", n)
	}
	a2, err := m2.Get(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := a2.Info().Sandbox; got.ID != sb.Handle().ID || got.Status != "running" {
		t.Errorf("after the restart Info().Sandbox = %+v, want %s running", got, sb.Handle().ID)
	}
	useSandbox(t, a2)
	if n := be.Engine().Starts(); n != 1 {
		t.Errorf("%d sandboxes started, want 1: the first one recovered", n)
	}
	if b, err := os.ReadFile(filepath.Join(be.Engine().Lookup(a.ID()).Workspace(), "kept")); err != nil || string(b) != "kept" {
		t.Errorf("workspace after the restart: %q %v", b, err)
	}

	// Recovered on first use too, when the restore did not run.
	m2.Close(testCtx(t))
	be3 := be.Reopen()
	m3 := newManagerOn(t, store, Options{Sandboxes: be3})
	a3, err := m3.Get(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	useSandbox(t, a3)
	if n, r := be.Engine().Starts(), be.Engine().Recovers(); n != 1 || r != 2 {
		t.Errorf("%d starts and %d recoveries, want 1 and 2", n, r)
	}
}

// TestIdleStopAndEvict: one idle clock removes the sandbox of an idle
// conversation, never while it is in use, keeping its workspace, and
// later drops the conversation from memory; the next use loads it and
// starts a new sandbox on the same workspace, saying that the changes
// outside it were dropped (no checkpoints).
func TestIdleStopAndEvict(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m := newManagerOn(t, store, Options{Sandboxes: be, IdleTimeout: 100 * time.Millisecond, EvictAfter: 400 * time.Millisecond})
	a := create(t, m, be)
	sb := be.Engine().Lookup(a.ID())

	// A call in progress keeps the conversation busy.
	_, done, err := a.Sandbox(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	m.mu.Lock()
	loaded := m.convs[a.ID()] == a
	m.mu.Unlock()
	if st := sb.Status(); st != sandbox.StatusRunning || !loaded {
		t.Fatalf("while in use: sandbox %s, loaded %v; want running and loaded", st, loaded)
	}
	if err := os.WriteFile(filepath.Join(sb.Workspace(), "kept"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	done()

	waitUntil(t, "the idle removal", func() bool { return sb.Status() == sandbox.StatusRemoved })
	// The record is updated just after the removal: wait for it, then
	// check it kept the volume.
	waitUntil(t, "the record without its container", func() bool {
		recs, _ := store.Sandboxes()
		return len(recs) == 1 && recs[0].ContainerID == ""
	})
	if recs, _ := store.Sandboxes(); len(recs) != 1 || recs[0].Volume != sb.Handle().Volume {
		t.Errorf("records after the idle removal %+v, want the volume %s and no container", recs, sb.Handle().Volume)
	}
	waitUntil(t, "the eviction", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.convs[a.ID()] == nil
	})
	if n := be.Held(); n != 0 {
		t.Errorf("the backend holds %d sandboxes after the eviction, want 0", n)
	}

	again, err := m.Get(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if again == a {
		t.Fatal("Get returned the evicted session")
	}
	useSandbox(t, again)
	next := be.Engine().Lookup(a.ID())
	if n := be.Engine().Starts(); n != 2 || next == nil || next.Handle().Volume != sb.Handle().Volume {
		t.Fatalf("%d sandboxes started, the next %+v; want a second on volume %s", n, next, sb.Handle().Volume)
	}
	if b, err := os.ReadFile(filepath.Join(next.Workspace(), "kept")); err != nil || string(b) != "kept" {
		t.Errorf("workspace of the next sandbox: %q %v", b, err)
	}
	if evs := strings.Join(sandboxEvents(t, store, a.ID()), "\n"); !strings.Contains(evs, "were dropped") {
		t.Errorf("no event says the changes outside the workspace were dropped:\n%s", evs)
	}
}

// TestMemoryBoundedByLiveConversations: conversations that were touched
// once and left idle do not stay in memory.
func TestMemoryBoundedByLiveConversations(t *testing.T) {
	be := sandboxtest.New(t)
	m := newManagerOn(t, openStore(t), Options{Sandboxes: be, EvictAfter: 50 * time.Millisecond})
	for range 10 {
		create(t, m, be)
	}
	waitUntil(t, "every idle conversation to be evicted", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.convs) == 0
	})
	if n := be.Running(); n != 0 {
		t.Errorf("%d sandboxes still run after the evictions", n)
	}
}

// TestRestoreReapsOrphans: Restore recovers the saved sandboxes and
// removes the others of the server.
func TestRestoreReapsOrphans(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m1, err := New(Options{Store: store, Sandboxes: be})
	if err != nil {
		t.Fatal(err)
	}
	a := create(t, m1, be)
	m1.Close(testCtx(t))
	orphan := be.Engine().Leave("nobody")

	m2 := newManagerOn(t, store, Options{Sandboxes: be.Reopen()})
	if err := m2.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if orphan.Status() != sandbox.StatusRemoved || be.Engine().Lookup("nobody") != nil {
		t.Errorf("the orphan is %s, want removed", orphan.Status())
	}
	if s := be.Engine().Lookup(a.ID()); s == nil || s.Status() != sandbox.StatusRunning {
		t.Errorf("the conversation's sandbox: %+v, want it kept running", s)
	}
}

// TestRestoreEngineAway: with the engine away, Restore says so and tries
// again in the background; a conversation's use fails with
// KindUnavailable meanwhile, and works once the engine is back.
func TestRestoreEngineAway(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m1, err := New(Options{Store: store, Sandboxes: be})
	if err != nil {
		t.Fatal(err)
	}
	a := create(t, m1, be)
	m1.Close(testCtx(t))
	orphan := be.Engine().Leave("nobody")
	be.Engine().SetDown(true)

	m2 := newManagerOn(t, store, Options{Sandboxes: be.Reopen()})
	if err := m2.Restore(testCtx(t)); !errors.Is(err, sandbox.ErrEngineDown) {
		t.Fatalf("Restore with the engine away: %v, want ErrEngineDown", err)
	}
	a2, err := m2.Get(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = a2.Sandbox(testCtx(t))
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable {
		t.Fatalf("Sandbox with the engine away: %v, want KindUnavailable", err)
	}
	if orphan.Status() == sandbox.StatusRemoved {
		t.Fatal("the orphan was removed with the engine away")
	}

	be.Engine().SetDown(false)
	waitUntil(t, "the orphan to be removed once the engine is back", func() bool {
		return orphan.Status() == sandbox.StatusRemoved
	})
	useSandbox(t, a2)
	if n := be.Engine().Starts(); n != 2 { // the conversation's and the orphan
		t.Errorf("%d sandboxes started, want 2: the conversation's recovered", n)
	}
}

// TestVanishedSandboxReplaced: a sandbox removed behind the server's back
// is replaced on next use, and its conversation says the old one is gone.
func TestVanishedSandboxReplaced(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m := newManagerOn(t, store, Options{Sandboxes: be})
	a := create(t, m, be)
	first := be.Engine().Lookup(a.ID())
	first.Vanish()
	waitUntil(t, "the removal's event", func() bool {
		return strings.Contains(strings.Join(sandboxEvents(t, store, a.ID()), "\n"), "removed: the sandbox was removed")
	})
	useSandbox(t, a)
	if s := be.Engine().Lookup(a.ID()); s == nil || s == first || be.Engine().Starts() != 2 {
		t.Errorf("after the removal: %+v, %d starts; want a second sandbox", s, be.Engine().Starts())
	}
}

// TestFakeSandboxRunsCommands: the in-memory backend's sandboxes have a
// working runtime-agent: a command runs in the sandbox's workspace, and
// what it writes is there after an idle stop and the next use.
func TestFakeSandboxRunsCommands(t *testing.T) {
	be := sandboxtest.New(t)
	m := newManagerOn(t, openStore(t), Options{Sandboxes: be})
	a := create(t, m, be)
	var res agentapi.ExecResult
	err := a.WithSandbox(testCtx(t), func(cl *agentapi.Client) (err error) {
		res, err = cl.Exec(testCtx(t), "main", agentapi.ExecRequest{Command: "echo hello > greeting && cat greeting"})
		return err
	})
	if err != nil || res.ExitCode != 0 || !strings.Contains(res.Output, "hello") {
		t.Fatalf("exec: %+v %v", res, err)
	}
	sb := be.Engine().Lookup(a.ID())
	if !a.sb.stopIdle(testCtx(t)) || sb.Status() != sandbox.StatusRemoved {
		t.Fatalf("the idle removal left the sandbox %s", sb.Status())
	}
	err = a.WithSandbox(testCtx(t), func(cl *agentapi.Client) (err error) {
		res, err = cl.Exec(testCtx(t), "main", agentapi.ExecRequest{Command: "cat " + filepath.Join(sb.Workspace(), "greeting")})
		return err
	})
	if err != nil || !strings.Contains(res.Output, "hello") {
		t.Fatalf("after the restart: %+v %v", res, err)
	}
}

// TestRestoreReapsOrphanVolumes: Restore keeps the workspace volume of a
// conversation whose idle sandbox was removed, and removes a volume no
// conversation names.
func TestRestoreReapsOrphanVolumes(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m1, err := New(Options{Store: store, Sandboxes: be})
	if err != nil {
		t.Fatal(err)
	}
	kept := create(t, m1, be)
	if !kept.sb.stopIdle(testCtx(t)) {
		t.Fatal("the idle sandbox was not removed")
	}
	gone := create(t, m1, be)
	orphan := be.Engine().Lookup(gone.ID()).Handle().Volume
	if err := store.DeleteSandbox(gone.ID()); err != nil {
		t.Fatal(err)
	}
	m1.Close(testCtx(t))
	if len(be.Engine().Volumes()) != 2 {
		t.Fatalf("volumes %v, want two", be.Engine().Volumes())
	}

	m2 := newManagerOn(t, store, Options{Sandboxes: be.Reopen()})
	if err := m2.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	recs, _ := store.Sandboxes()
	vols := be.Engine().Volumes()
	if len(recs) != 1 || len(vols) != 1 || vols[0] != recs[0].Volume || vols[0] == orphan {
		t.Errorf("after Restore: volumes %v, records %+v; want only the idle conversation's", vols, recs)
	}
	if be.Engine().Lookup(gone.ID()) != nil {
		t.Error("the sandbox no record names is left")
	}
}
