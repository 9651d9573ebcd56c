package session_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// TestContainersOnlyForLiveWork runs on the engine: 300 conversations
// made with run: false start no container; 20 of them sent a command
// have 20 (beside the warm pool); once idle past the timeout none of
// them has one (removed, not stopped); and one used again finds its
// workspace file, and its file outside the workspace (an "installed
// package") when it keeps checkpoints, or a note that it was dropped when
// it does not.
func TestContainersOnlyForLiveWork(t *testing.T) {
	dockertest.Require(t)
	const (
		made, used = 300, 20
		poolSize   = 2
		idle       = time.Second // of the test's clock, moved by hand
	)
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cks, err := checkpoint.Open(filepath.Join(t.TempDir(), "checkpoints"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var serverID string
	sbs := dockertest.Manager(t, func(o *docker.Options) {
		o.PoolSize = poolSize
		serverID = o.ServerID
	})
	// The clock stands still until the test moves it: nothing is idle
	// before then, however slow the engine.
	var offset atomic.Int64
	base := time.Now()
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	m, err := session.New(session.Options{Store: store, Sandboxes: sbs, Checkpoints: cks,
		IdleTimeout: idle, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		m.Close(ctx)
		cks.Close()
		store.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	run := false
	began := time.Now()
	convs := make([]*session.AgentSession, made)
	for i := range convs {
		req := session.CreateRequest{InitialMessage: &session.MessageRequest{Role: "user", Content: event.Text("hello"), Run: &run}}
		switch i {
		case 0:
			req.Checkpoints = "on"
		case 1:
			req.Checkpoints = "off"
		}
		if convs[i], _, err = m.Create(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	owned := func() []container.Summary {
		t.Helper()
		f := filters.NewArgs(filters.Arg("label", "gohands.server="+serverID))
		list, err := dockertest.Engine().ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	t.Logf("%d creates in %s", made, time.Since(began).Round(time.Millisecond))
	if n := len(owned()); n > poolSize {
		t.Fatalf("%d containers after %d creates, want at most the pool's %d", n, made, poolSize)
	}

	began = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, used)
	sem := make(chan struct{}, 4)
	for i := range used {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := fmt.Sprintf("echo ws%d > /workspace/keep && mkdir -p /opt/tool && echo tool%d > /opt/tool/bin", i, i)
			if res, err := convs[i].Bash(ctx, session.BashRequest{Command: cmd}); err != nil || res.ExitCode != 0 {
				errs <- fmt.Errorf("conversation %d: %v %+v", i, err, res)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d first commands (4 at a time) in %s", used, time.Since(began).Round(time.Millisecond))
	ids := make(map[string]bool)
	for _, a := range convs[:used] {
		ids[a.Info().Sandbox.ID] = true
	}
	running := 0
	for _, c := range owned() {
		if ids[c.ID] && c.State == container.StateRunning {
			running++
		}
	}
	if total := len(owned()); running != used || total > used+poolSize {
		t.Fatalf("%d of the used conversations' containers run, %d containers in all; want %d, and at most %d with the pool",
			running, total, used, used+poolSize)
	}
	for _, a := range convs[used:] {
		if st := a.Info().Sandbox; st.ID != "" || st.Status != "none" {
			t.Fatalf("an unused conversation's sandbox: %+v", st)
		}
	}

	offset.Add(int64(2 * idle))
	began = time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		left := 0
		for _, c := range owned() {
			if ids[c.ID] {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d containers of idle conversations left after the idle timeout", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d idle containers removed in %s", used, time.Since(began).Round(time.Millisecond))
	for _, c := range owned() {
		if c.State == container.StateExited {
			t.Errorf("container %s stopped and kept: %s", c.ID, c.Status)
		}
	}
	if n := len(owned()); n > poolSize {
		t.Errorf("%d containers after the idle timeout, want at most the pool's %d", n, poolSize)
	}

	// With checkpoints, the file outside the workspace comes back.
	began = time.Now()
	res, err := convs[0].Bash(ctx, session.BashRequest{Command: "cat /workspace/keep /opt/tool/bin"})
	if err != nil || res.ExitCode != 0 || !strings.Contains(res.Stdout, "ws0") || !strings.Contains(res.Stdout, "tool0") {
		t.Errorf("checkpointed conversation used again: %v %+v, want its workspace file and /opt/tool/bin", err, res)
	}
	t.Logf("first command after the idle removal (new container, checkpoint restored) in %s", time.Since(began).Round(time.Millisecond))
	if msg := sandboxNote(t, convs[0]); !strings.Contains(msg, "brought back") {
		t.Errorf("note %q, want one saying the changes came back", msg)
	}
	// Without, the workspace is there and a note says the rest was dropped.
	res, err = convs[1].Bash(ctx, session.BashRequest{Command: "cat /workspace/keep; test -e /opt/tool/bin || echo no-tool"})
	if err != nil || !strings.Contains(res.Stdout, "ws1") || !strings.Contains(res.Stdout, "no-tool") {
		t.Errorf("conversation without checkpoints used again: %v %+v, want its workspace file and no /opt/tool/bin", err, res)
	}
	if msg := sandboxNote(t, convs[1]); !strings.Contains(msg, "dropped") {
		t.Errorf("note %q, want one saying the system changes were dropped", msg)
	}
}

// sandboxNote returns the message of the conversation's last
// SandboxStatusEvent.
func sandboxNote(t *testing.T, a *session.AgentSession) string {
	t.Helper()
	evs, err := a.EventsAfter(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	msg := ""
	for _, e := range evs {
		if s, ok := e.(*event.SandboxStatus); ok && s.Status == event.SandboxRunning {
			msg = s.Message
		}
	}
	return msg
}
