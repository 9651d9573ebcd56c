package session_test

import (
	"context"
	"fmt"
	"path/filepath"
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
	m *session.ConversationManager
	a *session.AgentSession
}

func newBenchConversation(b *testing.B) benchConversation {
	b.Helper()
	store, err := storage.Open(filepath.Join(b.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cks, err := checkpoint.Open(filepath.Join(b.TempDir(), "checkpoints"), checkpoint.Options{})
	if err != nil {
		b.Fatal(err)
	}
	sbs := dockertest.Manager(b, func(o *docker.Options) { o.PoolSize = 0 })
	m, err := session.New(session.Options{Store: store, Sandboxes: sbs, Checkpoints: cks, CheckpointsDefault: true})
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
	return benchConversation{m: m, a: a}
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

// BenchmarkStep compares a step (three files edited in a 50 MB tree)
// with and without the checkpoint after it, in the same run.
func BenchmarkStep(b *testing.B) {
	c := newBenchConversation(b)
	for _, bc := range []struct {
		name string
		tool string
	}{{"without_checkpoint", event.ToolThink}, {"with_checkpoint", event.ToolTerminal}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bash(b, c.a, edit)
				step(b, c.a, bc.tool)
			}
		})
	}
}

// BenchmarkFork times a fork of a conversation with a 50 MB workspace to
// a ready, restored sandbox, against a bare engine commit of its container
// plus a copy of its workspace, in the same run; K=4 forks against one;
// and a rewind (and the move back) against a fork.
func BenchmarkFork(b *testing.B) {
	c := newBenchConversation(b)
	ctx := context.Background()
	at := step(b, c.a, event.ToolTerminal)
	bash(b, c.a, edit)
	step(b, c.a, event.ToolTerminal)
	forkAndDrop := func(b *testing.B, count int) {
		infos, err := c.a.Fork(ctx, session.ForkRequest{FromEventID: at.ID, Count: count})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, info := range infos {
			if err := c.m.Delete(ctx, info.ID); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.Run("fork", func(b *testing.B) {
		for b.Loop() {
			forkAndDrop(b, 1)
		}
	})
	b.Run("fork_k4", func(b *testing.B) {
		for b.Loop() {
			forkAndDrop(b, 4)
		}
	})
	b.Run("commit_and_copy", func(b *testing.B) {
		engine := dockertest.Engine()
		ctr := c.a.Info().Sandbox.ID
		for i := 0; b.Loop(); i++ {
			res, err := engine.ContainerCommit(ctx, ctr, container.CommitOptions{Reference: fmt.Sprintf("gohands-bench:%d", i), Pause: false})
			if err != nil {
				b.Fatal(err)
			}
			bash(b, c.a, "rm -rf /tmp/ws-copy && cp -a /workspace /tmp/ws-copy")
			b.StopTimer()
			if _, err := engine.ImageRemove(ctx, res.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
				b.Fatal(err)
			}
			bash(b, c.a, "rm -rf /tmp/ws-copy")
			b.StartTimer()
		}
	})
	b.Run("rewind_and_back", func(b *testing.B) {
		for b.Loop() {
			leaf := *c.a.Info().LeafEventID
			if _, err := c.a.Navigate(ctx, at.ID); err != nil {
				b.Fatal(err)
			}
			if _, err := c.a.Navigate(ctx, leaf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
