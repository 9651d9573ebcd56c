package controller_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dockertest.Cleanup()
	os.Exit(code)
}

// fixture is a conversation manager run by a Controller against a
// scripted model.
type fixture struct {
	t     testing.TB
	model *llmtest.Server
	m     *session.ConversationManager
	state string // the bbolt file
}

type setup struct {
	sandboxes     bool // start real sandboxes
	model         string
	contextWindow int
	hooks         []security.Hook // the server's
	mounts        []sandbox.Mount // into every sandbox
	checkpoints   bool            // checkpoint the sandboxes' files
}

func newFixture(t testing.TB, s setup, steps ...llmtest.Step) *fixture {
	t.Helper()
	model := llmtest.New(t, steps...)
	var sbs sandbox.Backend
	if s.sandboxes {
		sbs = dockertest.Manager(t, func(o *docker.Options) { o.PoolSize, o.Mounts = 0, s.mounts })
	}
	state := filepath.Join(t.TempDir(), "state.db")
	store, err := storage.Open(state, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctl := controller.New(controller.Options{Hooks: s.hooks, NewClient: func(cfg llm.Config) (llm.Client, error) {
		cfg.MaxRetries = 1
		cfg.RetryMinWait = time.Millisecond
		cfg.Timeout = 20 * time.Second
		cfg.ContextWindow = s.contextWindow
		return llm.New(cfg)
	}})
	name, base := "openai/test-model", model.URL()+"/v1"
	if s.model != "" {
		name, base = s.model, model.URL()
	}
	opts := session.Options{Store: store, Sandboxes: sbs, Loop: ctl,
		Defaults: session.Defaults{LLM: session.LLM{Model: name, APIKey: "test-key", BaseURL: base}}}
	if s.checkpoints {
		cks, err := checkpoint.Open(filepath.Join(t.TempDir(), "checkpoints"), checkpoint.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cks.Close() })
		opts.Checkpoints, opts.CheckpointsDefault = cks, true
		opts.ForkTreesDir = filepath.Join(t.TempDir(), "fork-trees")
	}
	m, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.Close(ctx)
		store.Close()
	})
	return &fixture{t: t, model: model, m: m, state: state}
}

// start creates a conversation with a task and runs it.
func (f *fixture) start(task string, req session.CreateRequest) *session.AgentSession {
	f.t.Helper()
	req.InitialMessage = &session.MessageRequest{Role: "user", Content: event.Text(task)}
	a, _, err := f.m.Create(context.Background(), req)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// wait waits until the conversation stops running and returns its status.
func wait(t *testing.T, a *session.AgentSession) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if !a.Running() && a.Status() != session.StatusRunning {
			return a.Status()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("conversation still %s after 2 minutes", a.Status())
	return ""
}

func allEvents(t *testing.T, a *session.AgentSession) []event.Event {
	t.Helper()
	evs, _, err := a.Events(session.EventQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func ofKind[T event.Event](evs []event.Event) []T {
	var out []T
	for _, e := range evs {
		if x, ok := e.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func lastError(evs []event.Event) *event.ConversationError {
	errs := ofKind[*event.ConversationError](evs)
	if len(errs) == 0 {
		return nil
	}
	return errs[len(errs)-1]
}

func call(name, args string) llmtest.Reply {
	return llmtest.Reply{ToolCalls: []llmtest.Call{{Name: name, Args: args}}}
}

func TestHelloInTheSandbox(t *testing.T) {
	for _, model := range []string{"", "anthropic/claude-test"} {
		t.Run("model="+model, func(t *testing.T) {
			f := newFixture(t, setup{sandboxes: true, model: model},
				llmtest.Reply{Text: "I will write the script.", ToolCalls: []llmtest.Call{{Name: "file_editor",
					Args: `{"command":"create","path":"/workspace/hello.sh","file_text":"#!/bin/bash\necho hello\n"}`}}},
				call("terminal", `{"command":"bash /workspace/hello.sh"}`),
				call("finish", `{"message":"hello.sh prints hello"}`),
			)
			a := f.start("write a bash script that prints hello", session.CreateRequest{})
			if st := wait(t, a); st != session.StatusFinished {
				t.Fatalf("status %s, want finished; error: %+v", st, lastError(allEvents(t, a)))
			}
			evs := allEvents(t, a)
			if len(ofKind[*event.SystemPrompt](evs)) != 1 {
				t.Error("no SystemPromptEvent")
			}
			acts := ofKind[*event.Action](evs)
			obs := ofKind[*event.Observation](evs)
			if len(acts) != 3 || len(obs) != 3 {
				t.Fatalf("%d actions, %d observations; want 3 and 3", len(acts), len(obs))
			}
			if acts[0].Thought.Text() != "I will write the script." {
				t.Errorf("thought = %q", acts[0].Thought.Text())
			}
			term, ok := obs[1].Observation.(*event.TerminalObservation)
			if !ok || strings.TrimSpace(term.Content.Text()) != "hello" || term.ExitCode == nil || *term.ExitCode != 0 {
				t.Fatalf("terminal observation = %#v, want hello with exit code 0", obs[1].Observation)
			}
			if obs[1].ActionID != acts[1].ID || obs[1].ToolCallID != acts[1].ToolCallID {
				t.Error("the observation does not name its action")
			}
			// The model was shown the tool result of each call.
			reqs := f.model.Requests()
			if len(reqs) != 3 {
				t.Fatalf("%d model requests, want 3", len(reqs))
			}
			if !strings.Contains(string(reqs[2].Raw), "hello") {
				t.Errorf("the third request does not carry the command's output: %s", reqs[2].Raw)
			}
			if len(reqs[0].Tools()) < 5 {
				t.Errorf("the model was offered %d tools", len(reqs[0].Tools()))
			}
			if info := a.Info(); info.Metrics.AccumulatedTokenUsage.PromptTokens == 0 {
				t.Errorf("no token usage recorded: %+v", info.Metrics)
			}
		})
	}
}

func TestBadArgumentsAreShownToTheModel(t *testing.T) {
	f := newFixture(t, setup{},
		call("think", `{"thought": 5}`),
		call("nosuchtool", `{}`),
		call("think", `not json`),
		call("think", `{"thought":"fixed"}`),
		call("finish", `{"message":"done"}`),
	)
	a := f.start("think", session.CreateRequest{})
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s, want finished; %+v", st, lastError(allEvents(t, a)))
	}
	evs := allEvents(t, a)
	errs := ofKind[*event.AgentError](evs)
	if len(errs) != 3 {
		t.Fatalf("%d agent errors, want 3", len(errs))
	}
	if !strings.Contains(errs[1].Error, "no tool") {
		t.Errorf("unknown tool error = %q", errs[1].Error)
	}
	// The model saw each error as the result of its call.
	reqs := f.model.Requests()
	if !strings.Contains(string(reqs[1].Raw), "was not run") {
		t.Errorf("the second request does not show the argument error: %s", reqs[1].Raw)
	}
}

func TestMaxIterations(t *testing.T) {
	f := newFixture(t, setup{})
	f.model.SetDefault(call("think", `{"thought":"again"}`))
	a := f.start("loop", session.CreateRequest{MaxIterations: ptr(3), StuckDetection: ptr(false)})
	if st := wait(t, a); st != session.StatusError {
		t.Fatalf("status %s, want error", st)
	}
	e := lastError(allEvents(t, a))
	if e == nil || e.Code != "MaxIterationsReached" {
		t.Fatalf("error event = %+v, want MaxIterationsReached", e)
	}
	if n := len(f.model.Requests()); n != 3 {
		t.Errorf("%d model calls, want 3", n)
	}
}

func TestStuck(t *testing.T) {
	f := newFixture(t, setup{})
	f.model.SetDefault(call("think", `{"thought":"same"}`))
	a := f.start("loop", session.CreateRequest{})
	if st := wait(t, a); st != session.StatusStuck {
		t.Fatalf("status %s, want stuck", st)
	}
	if e := lastError(allEvents(t, a)); e == nil || e.Code != "AgentStuck" {
		t.Fatalf("error event = %+v, want AgentStuck", e)
	}
}

func TestModelFailureEndsInError(t *testing.T) {
	f := newFixture(t, setup{}, llmtest.Fail{Status: 500}, llmtest.Fail{Status: 500}, llmtest.Fail{Status: 500})
	a := f.start("fail", session.CreateRequest{})
	if st := wait(t, a); st != session.StatusError {
		t.Fatalf("status %s, want error", st)
	}
	if e := lastError(allEvents(t, a)); e == nil || e.Code != "LLMError" {
		t.Fatalf("error event = %+v, want LLMError", e)
	}
}

func TestPauseResumeAndMessageWhileRunning(t *testing.T) {
	f := newFixture(t, setup{},
		call("think", `{"thought":"one"}`),
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "think", Args: `{"thought":"two"}`}}, Delay: 500 * time.Millisecond},
		call("think", `{"thought":"three"}`),
		call("finish", `{"message":"done"}`),
	)
	ctx := context.Background()
	a := f.start("count", session.CreateRequest{})
	// While the second step waits on the model, the user writes.
	deadline := time.Now().Add(30 * time.Second)
	for len(f.model.Requests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := a.SendMessage(ctx, session.MessageRequest{Content: event.Text("also count to three")}); err != nil {
		t.Fatal(err)
	}
	if err := a.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, a); st != session.StatusPaused {
		t.Fatalf("status %s after pause, want paused", st)
	}
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s after resume, want finished", st)
	}
	reqs := f.model.Requests()
	if !strings.Contains(string(reqs[len(reqs)-1].Raw), "also count to three") {
		t.Error("the message sent while running is not in the model's context")
	}
	if len(ofKind[*event.Pause](allEvents(t, a))) != 1 {
		t.Error("no PauseEvent")
	}
}

func TestCondensation(t *testing.T) {
	f := newFixture(t, setup{contextWindow: 1200})
	var steps []llmtest.Step
	for i := range 14 {
		// Text too, so that whichever request is the condenser's gets a
		// summary.
		steps = append(steps, llmtest.Reply{Text: "progress note " + string(rune('a'+i)), ToolCalls: []llmtest.Call{
			{Name: "think", Args: `{"thought":"step ` + strings.Repeat("x", 200) + string(rune('a'+i)) + `"}`}}})
	}
	f.model.Add(steps...)
	f.model.SetDefault(call("finish", `{"message":"done"}`))
	a := f.start("work long", session.CreateRequest{StuckDetection: ptr(false)})
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s, want finished; %+v", st, lastError(allEvents(t, a)))
	}
	evs := allEvents(t, a)
	sums := ofKind[*event.CondensationSummary](evs)
	if len(sums) == 0 {
		t.Fatal("no CondensationSummaryEvent")
	}
	conds := ofKind[*event.Condensation](evs)
	if len(conds) == 0 || len(conds[0].ForgottenEventIDs) == 0 {
		t.Fatal("no Condensation with forgotten events")
	}
	// The last request carries the summary and not the forgotten steps.
	reqs := f.model.Requests()
	last := string(reqs[len(reqs)-1].Raw)
	if !strings.Contains(last, "Summary of the earlier part") {
		t.Error("the summary is not in the model's context")
	}
	if strings.Contains(last, `step `+strings.Repeat("x", 200)+"a") {
		t.Error("a forgotten step is still in the model's context")
	}
	if !strings.Contains(last, "work long") {
		t.Error("the task was condensed away")
	}
}

func TestAskAndTitle(t *testing.T) {
	f := newFixture(t, setup{}, llmtest.Reply{Text: "done, nothing else"})
	a := f.start("please fix the flaky test in ci", session.CreateRequest{})
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s", st)
	}
	n := len(allEvents(t, a))
	f.model.Add(llmtest.Reply{Text: "It answered once."}, llmtest.Reply{Text: "\"Fix flaky CI test.\""})
	ctx := context.Background()
	answer, err := a.Ask(ctx, "what did you do?")
	if err != nil || answer != "It answered once." {
		t.Fatalf("Ask = %q, %v", answer, err)
	}
	title, err := a.GenerateTitle(ctx, 40)
	if err != nil || title != "Fix flaky CI test" {
		t.Fatalf("GenerateTitle = %q, %v", title, err)
	}
	if got := len(allEvents(t, a)); got != n {
		t.Errorf("ask_agent and generate_title added %d events", got-n)
	}
	reqs := f.model.Requests()
	if !strings.Contains(string(reqs[1].Raw), "what did you do?") {
		t.Error("the question was not asked")
	}
}

func ptr[T any](v T) *T { return &v }

func TestApplyPatchInTheSandbox(t *testing.T) {
	add := "*** Begin Patch\n*** Add File: notes/todo.txt\n+one\n+two\n*** End Patch"
	update := "*** Begin Patch\n*** Update File: /workspace/notes/todo.txt\n@@\n one\n-two\n+three\n*** End Patch"
	bad := "*** Begin Patch\n*** Update File: notes/todo.txt\n@@\n-nothing like this\n+x\n*** End Patch"
	args := func(p string) string { b, _ := json.Marshal(map[string]string{"patch": p}); return string(b) }
	f := newFixture(t, setup{sandboxes: true},
		call("apply_patch", args(add)),
		call("apply_patch", args(update)),
		call("apply_patch", args(bad)),
		call("terminal", `{"command":"cat /workspace/notes/todo.txt"}`),
		call("finish", `{"message":"done"}`),
	)
	a := f.start("keep notes", session.CreateRequest{})
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s; %+v", st, lastError(allEvents(t, a)))
	}
	obs := ofKind[*event.Observation](allEvents(t, a))
	if len(obs) != 5 {
		t.Fatalf("%d observations, want 5", len(obs))
	}
	for i, want := range []string{"A notes/todo.txt", "M /workspace/notes/todo.txt"} {
		o, ok := obs[i].Observation.(*event.ApplyPatchObservation)
		if !ok || o.IsError || !strings.Contains(o.Content.Text(), want) {
			t.Errorf("patch %d: %#v, want a success naming %s", i, obs[i].Observation, want)
		}
	}
	if o := obs[2].Observation.Output(); !o.IsError || !strings.Contains(o.Content.Text(), "does not apply") {
		t.Errorf("conflicting patch: %+v, want an error saying it does not apply", o)
	}
	if got := obs[3].Observation.Output().Content.Text(); got != "one\nthree" {
		t.Errorf("file after the patches = %q, want one, three", got)
	}
}
