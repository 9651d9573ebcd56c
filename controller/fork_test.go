package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/session"
)

// seqs is a Subscriber that keeps the seqs it gets.
type seqs struct {
	mu      sync.Mutex
	got     []int64
	dropped error
}

func (s *seqs) Send(d *session.Delivery) bool {
	s.mu.Lock()
	s.got = append(s.got, d.Seq)
	s.mu.Unlock()
	return true
}
func (s *seqs) WaitRoom(context.Context) error { return nil }
func (s *seqs) Drop(err error) {
	s.mu.Lock()
	s.dropped = err
	s.mu.Unlock()
}

// lsWorkspace lists /workspace of a conversation's sandbox.
func lsWorkspace(t *testing.T, a *session.AgentSession) string {
	t.Helper()
	res, err := a.Bash(context.Background(), session.BashRequest{Command: "ls /workspace | tr '\\n' ' '"})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(res.Stdout)
}

// observationOf returns the observation of the terminal action whose
// command holds text.
func observationOf(t *testing.T, a *session.AgentSession, text string) *event.Observation {
	t.Helper()
	evs := allEvents(t, a)
	for _, act := range ofKind[*event.Action](evs) {
		ta, ok := act.Action.(*event.TerminalAction)
		if !ok || !strings.Contains(ta.Command, text) {
			continue
		}
		for _, o := range ofKind[*event.Observation](evs) {
			if o.ActionID == act.ID {
				return o
			}
		}
	}
	t.Fatalf("no observation of the command with %q", text)
	return nil
}

// TestForkAndRewindSandbox runs a conversation in a real sandbox that
// writes a.txt, then b.txt, then runs a long command. A fork from the
// event after a.txt has a.txt and not b.txt, while the original keeps
// running and ends with both; a rewind of the original to that event
// takes b.txt (and what came after) away, and a move back brings them
// back; four forks run four different next steps at once and end with
// four different files.
func TestForkAndRewindSandbox(t *testing.T) {
	f := newFixture(t, setup{sandboxes: true, checkpoints: true},
		call("terminal", `{"command":"echo A > /workspace/a.txt"}`),
		call("terminal", `{"command":"echo B > /workspace/b.txt"}`),
		call("terminal", `{"command":"sleep 4 && echo C > /workspace/c.txt"}`),
		call("finish", `{"message":"done"}`),
	)
	ctx := context.Background()
	a := f.start("write the files", session.CreateRequest{})
	sub := &seqs{}
	detach, err := a.Subscribe(ctx, sub, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	// Fork while the original runs its long command.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		acts := ofKind[*event.Action](allEvents(t, a))
		if len(acts) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the long command did not start: %d actions", len(acts))
		}
		time.Sleep(20 * time.Millisecond)
	}
	afterA := observationOf(t, a, "a.txt")
	infos, err := a.Fork(ctx, session.ForkRequest{ID: "fork-a", FromEventID: afterA.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Running() {
		t.Error("the original stopped running during the fork")
	}
	fork, err := f.m.Get(infos[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := lsWorkspace(t, fork); got != "a.txt" {
		t.Errorf("fork's workspace: %q, want a.txt alone", got)
	}
	// The copied log ends in the original's running status; the fork's
	// own log then says it is idle, so a client replaying it agrees with
	// its info.
	var lastStatus string
	for _, su := range ofKind[*event.StateUpdate](allEvents(t, fork)) {
		if su.Key == event.StateKeyExecutionStatus {
			lastStatus = strings.Trim(string(su.Value), `"`)
		}
	}
	if lastStatus != session.StatusIdle || fork.Info().ExecutionStatus != session.StatusIdle {
		t.Errorf("fork's log ends with status %q and its info says %q, want both idle", lastStatus, fork.Info().ExecutionStatus)
	}
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("original ended %s, want finished", st)
	}
	if got := lsWorkspace(t, a); got != "a.txt b.txt c.txt" {
		t.Errorf("original's workspace: %q, want a.txt b.txt c.txt", got)
	}
	// The original's subscriber got every event, the fork's time
	// included, once and in order, and is still attached.
	last := a.LastSeq()
	var got []int64
	var dropped error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		sub.mu.Lock()
		got, dropped = slices.Clone(sub.got), sub.dropped
		sub.mu.Unlock()
		if len(got) >= int(last) || dropped != nil || time.Now().After(deadline) {
			break
		}
	}
	want := make([]int64, last)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if dropped != nil || !slices.Equal(got, want) {
		t.Errorf("subscriber of the original: dropped %v, got seqs %v, want 1..%d", dropped, got, last)
	}
	if got := lsWorkspace(t, fork); got != "a.txt" {
		t.Errorf("fork's workspace after the original ended: %q, want a.txt alone", got)
	}

	// Rewind, and back.
	leaf := *a.Info().LeafEventID
	if _, err := a.Navigate(ctx, afterA.ID); err != nil {
		t.Fatal(err)
	}
	if got := lsWorkspace(t, a); got != "a.txt" {
		t.Errorf("workspace after the rewind: %q, want a.txt alone", got)
	}
	if _, err := a.Navigate(ctx, leaf); err != nil {
		t.Fatal(err)
	}
	if got := lsWorkspace(t, a); got != "a.txt b.txt c.txt" {
		t.Errorf("workspace back at the end: %q, want a.txt b.txt c.txt", got)
	}
	// Back to the first message, before any action: the workspace as the
	// sandbox started.
	first := ofKind[*event.Message](allEvents(t, a))[0]
	if _, err := a.Navigate(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if got := lsWorkspace(t, a); got != "" {
		t.Errorf("workspace at the first message: %q, want it empty", got)
	}
	if _, err := a.Navigate(ctx, leaf); err != nil {
		t.Fatal(err)
	}
	if got := lsWorkspace(t, a); got != "a.txt b.txt c.txt" {
		t.Errorf("workspace back at the end again: %q, want a.txt b.txt c.txt", got)
	}
	moves := ofKind[*event.HeadMoved](allEvents(t, a))
	if len(moves) != 4 {
		t.Errorf("%d head moves, want 4", len(moves))
	}
	for _, mv := range moves {
		if !mv.FilesRestored {
			t.Errorf("head move %+v restored no files", mv)
		}
	}

	// Four forks, four next steps at once.
	four, err := a.Fork(ctx, session.ForkRequest{FromEventID: afterA.ID, Count: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(four) != 4 {
		t.Fatalf("%d forks, want 4", len(four))
	}
	forks := make([]*session.AgentSession, 4)
	for i, info := range four {
		if forks[i], err = f.m.Get(info.ID); err != nil {
			t.Fatal(err)
		}
		model := llmtest.New(t,
			call("terminal", fmt.Sprintf(`{"command":"echo %d > /workspace/next-%d.txt"}`, i, i)),
			call("finish", `{"message":"next"}`))
		if err := forks[i].SwitchLLM(session.LLM{Model: "openai/test-model", APIKey: "test-key", BaseURL: model.URL() + "/v1"}); err != nil {
			t.Fatal(err)
		}
	}
	run := true
	var wg sync.WaitGroup
	for _, fa := range forks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := fa.SendMessage(ctx, session.MessageRequest{Content: event.Text("next step"), Run: &run}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, fa := range forks {
		if st := wait(t, fa); st != session.StatusFinished {
			t.Errorf("fork %d ended %s", i, st)
		}
		if got, want := lsWorkspace(t, fa), fmt.Sprintf("a.txt next-%d.txt", i); got != want {
			t.Errorf("fork %d's workspace: %q, want %q", i, got, want)
		}
	}
}
