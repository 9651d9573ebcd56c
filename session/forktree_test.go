package session_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// newForkManager makes a manager on the backend be, with checkpoints on
// and its fork trees in the folder it returns.
func newForkManager(t *testing.T, be sandbox.Backend) (*session.ConversationManager, string) {
	t.Helper()
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cks, err := checkpoint.Open(filepath.Join(t.TempDir(), "checkpoints"), checkpoint.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	trees := filepath.Join(t.TempDir(), "fork-trees")
	m, err := session.New(session.Options{Store: store, Sandboxes: be, Checkpoints: cks, CheckpointsDefault: true, ForkTreesDir: trees})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, info := range all(m) {
			m.Delete(ctx, info.ID)
		}
		m.Close(ctx)
		cks.Close()
		store.Close()
	})
	return m, trees
}

// run runs a command in a conversation's sandbox and returns its output.
func run(t *testing.T, a *session.AgentSession, cmd string) string {
	t.Helper()
	res, err := a.Bash(context.Background(), session.BashRequest{Command: cmd})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%s: %v %+v", cmd, err, res)
	}
	return strings.TrimSpace(res.Stdout)
}

// checkpointed stores the observation of a terminal call, which takes a
// checkpoint of the files, and returns it.
func checkpointed(t *testing.T, a *session.AgentSession) *event.Observation {
	t.Helper()
	o := &event.Observation{ToolName: event.ToolTerminal, ToolCallID: "call", ActionID: "action", Observation: &event.ThinkObservation{}}
	o.Source = event.SourceEnvironment
	if err := a.Append(o); err != nil {
		t.Fatal(err)
	}
	return o
}

// names lists a folder's entries; none for a missing folder.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// workspaceMount returns the file system type /workspace is mounted as (the top one)
// in a conversation's sandbox, "" when it is no mount of its own.
func workspaceMount(t *testing.T, a *session.AgentSession) string {
	t.Helper()
	return run(t, a, "awk '$2 == \"/workspace\" {m = $3} END {print m}' /proc/mounts")
}

// TestForkWorkspaceCopyOnWrite forks a conversation three times at once:
// each fork's workspace is an overlay view of one base folder, made once;
// a file written in one fork is in neither the base, the original nor
// the other forks; a fork of a fork has its parent's files; deleting the
// forks removes their volumes, folders and the bases.
func TestForkWorkspaceCopyOnWrite(t *testing.T) {
	be := dockertest.Manager(t, func(o *docker.Options) { o.PoolSize = 0 })
	m, trees := newForkManager(t, be)
	ctx := context.Background()
	a, _, err := m.Create(ctx, session.CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, a, "mkdir -p /workspace/src && echo base > /workspace/src/base.txt && chown -R 1000:1000 /workspace/src")
	at := checkpointed(t, a)
	infos, err := a.Fork(ctx, session.ForkRequest{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, filepath.Join(trees, "bases")); len(got) != 1 {
		t.Fatalf("bases: %v, want one for the three forks", got)
	}
	base := filepath.Join(trees, "bases", names(t, filepath.Join(trees, "bases"))[0])
	if got := names(t, filepath.Join(trees, "forks")); len(got) != 3 {
		t.Fatalf("fork folders: %v, want three", got)
	}
	forks := make([]*session.AgentSession, len(infos))
	for i, info := range infos {
		if forks[i], err = m.Get(info.ID); err != nil {
			t.Fatal(err)
		}
		if got := workspaceMount(t, forks[i]); got != "overlay" {
			t.Errorf("fork %d: /workspace is mounted as %q, want overlay", i, got)
		}
		if got := run(t, forks[i], "cat /workspace/src/base.txt; stat -c %u /workspace/src/base.txt"); got != "base\n1000" {
			t.Errorf("fork %d: base.txt and its owner: %q", i, got)
		}
	}
	run(t, forks[0], "echo mine > /workspace/src/mine.txt && echo more >> /workspace/src/base.txt && ln -s /etc /workspace/src/escape")
	if _, err := os.Lstat(filepath.Join(base, "src", "mine.txt")); !os.IsNotExist(err) {
		t.Errorf("the fork's new file is in the base: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "src", "base.txt")); string(b) != "base\n" {
		t.Errorf("the base's base.txt: %q, want it unchanged", b)
	}
	if got := run(t, a, "ls /workspace/src | tr '\\n' ' '"); got != "base.txt" {
		t.Errorf("original's workspace: %q, want base.txt alone", got)
	}
	if got := run(t, forks[1], "ls /workspace/src | tr '\\n' ' '; cat /workspace/src/base.txt"); got != "base.txt base" {
		t.Errorf("second fork's workspace: %q, want base.txt alone, unchanged", got)
	}
	// A rewind of a fork restores its overlay workspace through the agent.
	run(t, forks[2], "echo later > /workspace/src/later.txt && echo changed > /workspace/src/base.txt")
	checkpointed(t, forks[2])
	if _, err := forks[2].Navigate(ctx, at.ID); err != nil {
		t.Fatal(err)
	}
	if got := run(t, forks[2], "ls /workspace/src | tr '\\n' ' '; cat /workspace/src/base.txt"); got != "base.txt base" {
		t.Errorf("third fork rewound: %q, want base.txt alone, as it was", got)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "src", "base.txt")); string(b) != "base\n" {
		t.Errorf("the base's base.txt after the rewind of a fork: %q", b)
	}
	// A fork of a fork: its files as they are now, on a base of its own.
	ff, err := forks[0].Fork(ctx, session.ForkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	fa, err := m.Get(ff[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, fa, "cat /workspace/src/mine.txt /workspace/src/base.txt; readlink /workspace/src/escape"); got != "mine\nbase\nmore\n/etc" {
		t.Errorf("fork of the fork: %q", got)
	}
	if got := workspaceMount(t, fa); got != "overlay" {
		t.Errorf("fork of the fork: /workspace is mounted as %q, want overlay", got)
	}
	if got := names(t, filepath.Join(trees, "bases")); len(got) != 2 {
		t.Errorf("bases: %v, want two", got)
	}
	// Deleting the forks removes their volumes and folders, and the
	// bases once no fork uses them.
	ids := append([]string{ff[0].ID}, infos[0].ID, infos[1].ID, infos[2].ID)
	for i, id := range ids {
		if err := m.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			// A delete answers once the store has it; what the fork
			// leaves goes in the background.
			// The fork's folder goes before the base it used.
			waitTrees(t, "the first base to go", func() bool {
				return len(names(t, filepath.Join(trees, "forks"))) == 2 && len(names(t, filepath.Join(trees, "bases"))) <= 1
			})
			if got := names(t, filepath.Join(trees, "bases")); len(got) != 1 {
				t.Errorf("bases after two deletions: %v, want the one the two forks left use", got)
			}
		}
	}
	waitTrees(t, "the fork folders and then their bases to go", func() bool {
		return len(names(t, filepath.Join(trees, "forks"))) == 0 && len(names(t, filepath.Join(trees, "bases"))) == 0
	})
	if got := names(t, filepath.Join(trees, "bases")); len(got) != 0 {
		t.Errorf("bases left: %v", got)
	}
	for _, id := range ids {
		vols, err := dockertest.Engine().VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "gohands.overlay-owner="+id))})
		if err != nil {
			t.Fatal(err)
		}
		if len(vols.Volumes) != 0 {
			t.Errorf("volumes of fork %s left: %d", id, len(vols.Volumes))
		}
	}
}

// plainBackend hides every optional interface of a backend.
type plainBackend struct{ sandbox.Backend }

// unmountable makes copy-on-write volumes the kernel cannot mount (their
// lower folder is missing), and counts them.
type unmountable struct {
	*docker.Manager
	made atomic.Int32
}

func (u *unmountable) CreateOverlayVolume(ctx context.Context, v sandbox.OverlayVolume) error {
	u.made.Add(1)
	v.Lower += "-missing"
	return u.Manager.CreateOverlayVolume(ctx, v)
}

// TestForkWorkspaceRestoredWhole forks on a backend without copy-on-write
// volumes, and on one whose volumes the engine cannot mount: the agent
// restores the whole workspace, once the first mount failed no fork
// tries again, and nothing is left in the fork trees.
func TestForkWorkspaceRestoredWhole(t *testing.T) {
	dm := dockertest.Manager(t, func(o *docker.Options) { o.PoolSize = 0 })
	broken := &unmountable{Manager: dm}
	for _, tc := range []struct {
		name string
		be   sandbox.Backend
	}{{"no overlay volumes", plainBackend{dm}}, {"overlay not mountable", broken}} {
		t.Run(tc.name, func(t *testing.T) {
			m, trees := newForkManager(t, tc.be)
			ctx := context.Background()
			a, _, err := m.Create(ctx, session.CreateRequest{})
			if err != nil {
				t.Fatal(err)
			}
			run(t, a, "echo base > /workspace/base.txt")
			checkpointed(t, a)
			for round := range 2 {
				infos, err := a.Fork(ctx, session.ForkRequest{})
				if err != nil {
					t.Fatal(err)
				}
				f, err := m.Get(infos[0].ID)
				if err != nil {
					t.Fatal(err)
				}
				if got := run(t, f, "cat /workspace/base.txt"); got != "base" {
					t.Errorf("round %d: fork's base.txt: %q", round, got)
				}
				if got := workspaceMount(t, f); got == "overlay" {
					t.Errorf("round %d: /workspace is mounted as overlay, want the fork's plain workspace", round)
				}
				if got := names(t, filepath.Join(trees, "forks")); len(got) != 0 {
					t.Errorf("round %d: fork folders: %v, want none", round, got)
				}
			}
			if got := names(t, filepath.Join(trees, "bases")); len(got) != 0 {
				t.Errorf("bases: %v, want none", got)
			}
		})
	}
	if n := broken.made.Load(); n != 1 {
		t.Errorf("volumes made on the backend that cannot mount them: %d, want 1 (the first fork's)", n)
	}
}

// waitTrees waits up to a minute for cond, which what names.
func waitTrees(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestForkWorkspaceFromForkPool forks on a backend with a fork pool of
// two: the first fork starts its own sandbox (the pool fills from then
// on); of three forks at once, two take running sandboxes of the pool,
// on whose slots their overlays are mounted, and the third starts its
// own. Every fork sees the base's files; a write stays in its fork;
// deleting the forks unmounts and removes their slots.
func TestForkWorkspaceFromForkPool(t *testing.T) {
	slots := filepath.Join(t.TempDir(), "slots")
	be := dockertest.Manager(t, func(o *docker.Options) { o.PoolSize, o.ForkPoolSize, o.SlotDir = 0, 2, slots })
	m, trees := newForkManager(t, be)
	ctx := context.Background()
	a, _, err := m.Create(ctx, session.CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, a, "mkdir -p /workspace/src && echo base > /workspace/src/base.txt")
	checkpointed(t, a)
	fromPool := func(info session.Info) bool {
		c, err := dockertest.Engine().ContainerInspect(ctx, info.Sandbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.Config.Labels["gohands.slot"] == "1"
	}
	first, err := a.Fork(ctx, session.ForkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if fromPool(first[0]) {
		t.Error("the first fork's sandbox came from a fork pool that nothing had asked to fill")
	}
	for deadline := time.Now().Add(time.Minute); be.ForkPoolReady() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			if os.Getenv("CI") == "" && os.Geteuid() != 0 {
				t.Skip("no fork pool on this host (the tests are not root)")
			}
			t.Fatalf("fork pool: %d ready after a minute, want 2", be.ForkPoolReady())
		}
	}
	infos, err := a.Fork(ctx, session.ForkRequest{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	pooled := 0
	forks := make([]*session.AgentSession, len(infos))
	for i, info := range infos {
		if fromPool(info) {
			pooled++
		}
		if forks[i], err = m.Get(info.ID); err != nil {
			t.Fatal(err)
		}
		if got := workspaceMount(t, forks[i]); got != "overlay" {
			t.Errorf("fork %d: /workspace is mounted as %q, want overlay", i, got)
		}
		if got := run(t, forks[i], "cat src/base.txt"); got != "base" {
			t.Errorf("fork %d: base.txt: %q", i, got)
		}
	}
	if pooled != 2 {
		t.Errorf("%d of three forks from the fork pool of two, want 2", pooled)
	}
	if got := len(names(t, slots)); got < 2 {
		t.Errorf("slots: %d, want the two forks' at least", got)
	}
	run(t, forks[0], "echo mine > /workspace/src/mine.txt && echo more >> /workspace/src/base.txt")
	for i, f := range []*session.AgentSession{a, forks[1], forks[2]} {
		if got := run(t, f, "ls /workspace/src | tr '\\n' ' '; cat /workspace/src/base.txt"); got != "base.txt base" {
			t.Errorf("conversation %d: %q, want base.txt alone, unchanged", i, got)
		}
	}
	for _, info := range append(first, infos...) {
		if err := m.Delete(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
	}
	waitTrees(t, "the fork folders and then their bases to go", func() bool {
		return len(names(t, filepath.Join(trees, "forks"))) == 0 && len(names(t, filepath.Join(trees, "bases"))) == 0
	})
	// What is left in the slot folder is the pool's refill: slots
	// that are not mounted.
	for _, name := range names(t, slots) {
		if b, err := os.ReadFile(filepath.Join(slots, name, "slot.json")); err == nil {
			t.Errorf("slot %s of a deleted fork left: %s", name, b)
		}
	}
}
