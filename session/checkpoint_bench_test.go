package session_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// benchConversation is a conversation with a real sandbox holding a 50 MB
// tree (500 files of 100 kB) in its workspace, checkpointed once.
type benchConversation struct {
	m   *session.ConversationManager
	a   *session.AgentSession
	cks *checkpoint.Store
	sbs *docker.Manager
}

func newBenchConversation(b *testing.B) benchConversation {
	return newBenchConversationPool(b, 0)
}

// newBenchConversationPool is newBenchConversation with a fork pool of
// forkPool sandboxes (0: none).
func newBenchConversationPool(b *testing.B, forkPool int) benchConversation {
	b.Helper()
	store, err := storage.Open(filepath.Join(b.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cks, err := checkpoint.Open(filepath.Join(b.TempDir(), "checkpoints"), checkpoint.Options{})
	if err != nil {
		b.Fatal(err)
	}
	sbs := dockertest.Manager(b, func(o *docker.Options) {
		o.PoolSize = 0
		if forkPool > 0 {
			o.ForkPoolSize, o.SlotDir = forkPool, filepath.Join(b.TempDir(), "slots")
		}
	})
	m, err := session.New(session.Options{Store: store, Sandboxes: sbs, Checkpoints: cks, CheckpointsDefault: true,
		ForkTreesDir: filepath.Join(b.TempDir(), "fork-trees")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		m.Close(ctx)
		for _, info := range all(m) {
			m.Delete(ctx, info.ID)
		}
		cks.Close()
		store.Close()
	})
	a, _, err := m.Create(context.Background(), session.CreateRequest{})
	if err != nil {
		b.Fatal(err)
	}
	bash(b, a, "mkdir -p /workspace/src && for i in $(seq 1 500); do head -c 100000 /dev/urandom > /workspace/src/f$i; done; du -sm /workspace/src")
	step(b, a, event.ToolTerminal)
	return benchConversation{m: m, a: a, cks: cks, sbs: sbs}
}

func all(m *session.ConversationManager) []session.Info {
	infos, _, _ := m.Search(session.ConversationQuery{Limit: 100})
	return infos
}

func bash(b *testing.B, a *session.AgentSession, cmd string) string {
	b.Helper()
	res, err := a.Bash(context.Background(), session.BashRequest{Command: cmd})
	if err != nil || res.ExitCode != 0 {
		b.Fatalf("%s: %v %+v", cmd, err, res)
	}
	return res.Stdout
}

// step stores the observation of a tool call, as the agent loop does; for
// a tool that may change files, a checkpoint is taken before it returns.
func step(b *testing.B, a *session.AgentSession, tool string) *event.Observation {
	b.Helper()
	o := &event.Observation{ToolName: tool, ToolCallID: "call", ActionID: "action", Observation: &event.ThinkObservation{}}
	o.Source = event.SourceEnvironment
	if err := a.Append(o); err != nil {
		b.Fatal(err)
	}
	return o
}

// edit is a typical step: three files of the tree changed.
const edit = "for i in 1 2 3; do echo $RANDOM$RANDOM >> /workspace/src/f$i; done"

// p50 returns the median of ds, in milliseconds.
func p50(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

// timed runs fn and returns how long it took.
func timed(fn func()) time.Duration {
	t := time.Now()
	fn()
	return time.Since(t)
}

// BenchmarkCheckpointStep compares a step (three files edited in a 50 MB
// tree, its observation stored) with and without the checkpoint after it,
// alternating in the same run, and reports the disk a checkpoint takes.
func BenchmarkCheckpointStep(b *testing.B) {
	c := newBenchConversation(b)
	var without, with []time.Duration
	var bytes int64
	for b.Loop() {
		without = append(without, timed(func() {
			bash(b, c.a, edit)
			step(b, c.a, event.ToolThink)
		}))
		with = append(with, timed(func() {
			bash(b, c.a, edit)
			step(b, c.a, event.ToolTerminal)
		}))
		cks := c.cks.List(c.a.ID())
		bytes += cks[len(cks)-1].Bytes
	}
	b.ReportMetric(p50(without), "step-p50-ms")
	b.ReportMetric(p50(with), "checkpointed-step-p50-ms")
	b.ReportMetric(p50(with)-p50(without), "added-p50-ms")
	b.ReportMetric(float64(bytes)/float64(len(with)), "disk-B/checkpoint")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkForkCost times, in the same run: a fork of a conversation with
// a 50 MB workspace to a ready, restored sandbox; a bare engine commit of
// its container plus a copy of its workspace; four forks at once; and a
// rewind to the event forked from (and the move back, not timed). It
// runs twice: with a fork pool of 4 sandboxes (fork-pool; each timed
// fork waits for the pool to be full first, so that it measures a warm
// pool, and pool-warm-% says how many found it so) and without
// (no-pool: every fork starts its own container).
func BenchmarkForkCost(b *testing.B) {
	b.Run("fork-pool", func(b *testing.B) { benchForkCost(b, 4) })
	b.Run("no-pool", func(b *testing.B) { benchForkCost(b, 0) })
}

func benchForkCost(b *testing.B, pool int) {
	c := newBenchConversationPool(b, pool)
	ctx := context.Background()
	at := step(b, c.a, event.ToolTerminal)
	bash(b, c.a, edit)
	step(b, c.a, event.ToolTerminal)
	engine := dockertest.Engine()
	ctr := c.a.Info().Sandbox.ID
	fork := func(count int) []session.Info {
		infos, err := c.a.Fork(ctx, session.ForkRequest{FromEventID: at.ID, Count: count})
		if err != nil {
			b.Fatal(err)
		}
		return infos
	}
	drop := func(infos []session.Info) {
		for _, info := range infos {
			if err := c.m.Delete(ctx, info.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	warm, forks := 0, 0
	// waitPool waits (untimed) for the fork pool to be full again.
	waitPool := func() {
		if pool == 0 {
			return
		}
		deadline := time.Now().Add(2 * time.Minute)
		for c.sbs.ForkPoolReady() < pool && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		forks++
		if c.sbs.ForkPoolReady() >= pool {
			warm++
		}
	}
	if pool > 0 {
		drop(fork(1)) // the first fork has the pool filled
	}
	var one, four, base, rewind []time.Duration
	for i := 0; b.Loop(); i++ {
		var infos []session.Info
		waitPool()
		one = append(one, timed(func() { infos = fork(1) }))
		drop(infos)
		waitPool()
		four = append(four, timed(func() { infos = fork(4) }))
		drop(infos)
		waitPool() // no refill inside the times below either
		var img string
		base = append(base, timed(func() {
			res, err := engine.ContainerCommit(ctx, ctr, container.CommitOptions{Reference: fmt.Sprintf("gohands-bench:%d", i)})
			if err != nil {
				b.Fatal(err)
			}
			img = res.ID
			bash(b, c.a, "cp -a /workspace /tmp/ws-copy")
		}))
		if _, err := engine.ImageRemove(ctx, img, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			b.Fatal(err)
		}
		bash(b, c.a, "rm -rf /tmp/ws-copy")
		leaf := *c.a.Info().LeafEventID
		rewind = append(rewind, timed(func() {
			if _, err := c.a.Navigate(ctx, at.ID); err != nil {
				b.Fatal(err)
			}
		}))
		if _, err := c.a.Navigate(ctx, leaf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(p50(one), "fork-p50-ms")
	b.ReportMetric(p50(base), "commit+copy-p50-ms")
	b.ReportMetric(p50(four), "fork-k4-p50-ms")
	b.ReportMetric(p50(rewind), "rewind-p50-ms")
	b.ReportMetric(p50(one)/p50(base), "x-commit+copy")
	b.ReportMetric(p50(four)/p50(one), "k4-x-fork")
	b.ReportMetric(p50(rewind)/p50(one), "rewind-x-fork")
	if forks > 0 {
		b.ReportMetric(float64(100*warm)/float64(forks), "pool-warm-%")
	}
	b.ReportMetric(0, "ns/op")
}
