package controller_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentapi/agentapitest"
	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/tools"
)

// conversation is a controller.Conversation in memory: events in a
// slice, tools run against an in-memory agent. It needs no store and no
// sandbox.
type conversation struct {
	settings session.Settings
	agent    *agentapitest.Agent
	mcp      tools.MCPServers // nil: no MCP servers

	mu     sync.Mutex
	events []event.Event
	shown  []event.Event // broadcast, not stored
	cost   float64
	// skillMCP are the MCP servers of the skills the last run loaded.
	skillMCP []session.SkillMCP
}

var _ controller.Conversation = (*conversation)(nil)

func newConversation(model *llmtest.Server, task string) *conversation {
	c := &conversation{agent: agentapitest.NewAgent(), settings: session.Settings{
		Agent:         session.Agent{LLM: session.LLM{Model: "openai/test-model", APIKey: "test-key", BaseURL: model.URL() + "/v1"}},
		Workspace:     session.Workspace{WorkingDir: "/workspace"},
		MaxIterations: 20, StuckDetection: true,
		ConfirmationPolicy: session.ConfirmationPolicy{Kind: session.NeverConfirm},
	}}
	m := &event.Message{LLMMessage: event.LLMMessage{Role: "user", Content: event.Text(task)}}
	m.Source = event.SourceUser
	c.Append(m)
	return c
}

func (c *conversation) ID() string                 { return "conv-1" }
func (c *conversation) Settings() session.Settings { return c.settings }

func (c *conversation) EventsAfter(seq int64, limit int) ([]event.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []event.Event
	for _, e := range c.events {
		if e.Meta().Seq > seq && (limit <= 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (c *conversation) Append(evs ...event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range evs {
		m := e.Meta()
		m.ID, m.Seq = event.NewID(), int64(len(c.events)+1)
		c.events = append(c.events, e)
	}
	return nil
}

func (c *conversation) Broadcast(e event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shown = append(c.shown, e)
	return nil
}

func (c *conversation) AddMetrics(cost float64, _ session.TokenUsage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cost += cost
	return nil
}

func (c *conversation) ToolWorkspace() tools.Workspace { return (*convWorkspace)(c) }

func (c *conversation) SetSkillMCP(l []session.SkillMCP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skillMCP = l
}

func (c *conversation) all() []event.Event {
	evs, _ := c.EventsAfter(0, 0)
	return evs
}

// convWorkspace is the conversation as its tools see it.
type convWorkspace conversation

func (w *convWorkspace) WorkingDir() string { return w.settings.Workspace.WorkingDir }
func (w *convWorkspace) WithAgent(_ context.Context, fn func(tools.Agent) error) error {
	return fn(w.agent)
}
func (w *convWorkspace) Events() ([]event.Event, error)                { return (*conversation)(w).EventsAfter(0, 0) }
func (w *convWorkspace) MCP(context.Context) (tools.MCPServers, error) { return w.mcp, nil }
func (w *convWorkspace) Search(string, int) ([]event.Event, error) {
	return nil, errors.New("no search here")
}

func newController() *controller.Controller {
	return controller.New(controller.Options{NewClient: func(cfg llm.Config) (llm.Client, error) {
		cfg.MaxRetries = 1
		cfg.RetryMinWait = time.Millisecond
		return llm.New(cfg)
	}})
}

// TestEveryToolWithoutASandbox runs a whole conversation, a scripted
// model calling every tool, against a conversation in memory.
func TestEveryToolWithoutASandbox(t *testing.T) {
	model := llmtest.New(t,
		call("task_tracker", `{"command":"plan","task_list":[{"title":"write it","status":"in_progress"}]}`),
		call("file_editor", `{"command":"create","path":"/workspace/hello.sh","file_text":"echo hello\n"}`),
		call("terminal", `{"command":"bash hello.sh"}`),
		call("glob", `{"pattern":"*.sh"}`),
		call("grep", `{"pattern":"hello"}`),
		call("apply_patch", `{"patch":"*** Begin Patch\n*** Update File: hello.sh\n@@\n-echo hello\n+echo hi\n*** End Patch\n"}`),
		call("browser", `{"url":"https://example.com/"}`),
		call("think", `{"thought":"all done"}`),
		call("task_tracker", `{"command":"view"}`),
		call("finish", `{"message":"hello.sh says hi"}`),
	)
	conv := newConversation(model, "write hello.sh")
	conv.agent.Shell = func(_ string, req agentapi.ExecRequest) (agentapi.ExecResult, error) {
		return agentapi.ExecResult{Output: "hello\n", WorkingDir: "/workspace"}, nil
	}
	conv.agent.Pages = map[string]agentapi.BrowseResult{"https://example.com/": {Title: "Example", Content: "Example Domain"}}

	out, err := newController().RunConversation(context.Background(), conv, false)
	if err != nil || out.Kind != session.Finished {
		t.Fatalf("RunConversation = %+v, %v; want finished", out, err)
	}
	evs := conv.all()
	acts, obs := ofKind[*event.Action](evs), ofKind[*event.Observation](evs)
	if len(acts) != 10 || len(obs) != 10 {
		t.Fatalf("%d actions, %d observations; want 10 each", len(acts), len(obs))
	}
	wantKinds := []string{"TaskTrackerObservation", "FileEditorObservation", "TerminalObservation", "GlobObservation",
		"GrepObservation", "ApplyPatchObservation", "BrowserObservation", "ThinkObservation", "TaskTrackerObservation", "FinishObservation"}
	for i, o := range obs {
		if o.Observation.Kind() != wantKinds[i] || o.Observation.Output().IsError {
			t.Errorf("observation %d: %s (error %v) %q; want %s", i, o.Observation.Kind(), o.Observation.Output().IsError,
				o.Observation.Output().Content.Text(), wantKinds[i])
		}
		if o.ActionID != acts[i].ID {
			t.Errorf("observation %d answers %s, not its action %s", i, o.ActionID, acts[i].ID)
		}
	}
	if got, _ := conv.agent.ReadFile(context.Background(), "/workspace/hello.sh", 0, -1); got.Content != "echo hi\n" {
		t.Errorf("hello.sh = %q after the patch", got.Content)
	}
	if got := obs[8].Observation.Output().Content.Text(); got != "1. [~] write it" {
		t.Errorf("task list view = %q, want the plan", got)
	}
	if !strings.Contains(obs[6].Observation.Output().Content.Text(), "Example Domain") {
		t.Errorf("browser: %q", obs[6].Observation.Output().Content.Text())
	}
	if n := len(ofKind[*event.SystemPrompt](evs)); n != 1 {
		t.Errorf("%d system prompts, want 1", n)
	}
}

// TestOutcomes: a run says how it ended, and touches no status.
func TestOutcomes(t *testing.T) {
	t.Run("max iterations", func(t *testing.T) {
		model := llmtest.New(t)
		model.SetDefault(call("think", `{"thought":"again"}`))
		conv := newConversation(model, "loop")
		conv.settings.MaxIterations, conv.settings.StuckDetection = 2, false
		out, err := newController().RunConversation(context.Background(), conv, false)
		if err != nil || out.Kind != session.Failed || out.Code != "MaxIterationsReached" {
			t.Errorf("= %+v, %v; want failed with MaxIterationsReached", out, err)
		}
	})
	t.Run("stuck", func(t *testing.T) {
		model := llmtest.New(t)
		model.SetDefault(call("think", `{"thought":"same"}`))
		out, err := newController().RunConversation(context.Background(), newConversation(model, "loop"), false)
		if err != nil || out.Kind != session.Stuck || out.Code != "AgentStuck" {
			t.Errorf("= %+v, %v; want stuck", out, err)
		}
	})
	t.Run("model fails", func(t *testing.T) {
		model := llmtest.New(t, llmtest.Fail{Status: 500}, llmtest.Fail{Status: 500}, llmtest.Fail{Status: 500})
		out, err := newController().RunConversation(context.Background(), newConversation(model, "x"), false)
		if err != nil || out.Kind != session.Failed || out.Code != "LLMError" {
			t.Errorf("= %+v, %v; want failed with LLMError", out, err)
		}
	})
	t.Run("no model", func(t *testing.T) {
		conv := newConversation(llmtest.New(t), "x")
		conv.settings.Agent.LLM.Model = ""
		out, err := newController().RunConversation(context.Background(), conv, false)
		if err != nil || out.Kind != session.Failed || out.Code != "LLMConfigError" {
			t.Errorf("= %+v, %v; want failed with LLMConfigError", out, err)
		}
	})
	t.Run("paused", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		model := llmtest.New(t)
		model.SetDefault(call("think", `{"thought":"x"}`))
		out, err := newController().RunConversation(ctx, newConversation(model, "x"), false)
		if err != nil || out.Kind != session.Stopped {
			t.Errorf("= %+v, %v; want stopped", out, err)
		}
	})
	t.Run("confirmation", func(t *testing.T) {
		model := llmtest.New(t, call("terminal", `{"command":"rm -rf build"}`), call("finish", `{"message":"done"}`))
		conv := newConversation(model, "clean")
		conv.settings.ConfirmationPolicy.Kind = session.AlwaysConfirm
		ctl := newController()
		out, err := ctl.RunConversation(context.Background(), conv, false)
		if err != nil || out.Kind != session.Waiting {
			t.Fatalf("= %+v, %v; want waiting", out, err)
		}
		if n := len(ofKind[*event.Observation](conv.all())); n != 0 {
			t.Fatalf("%d observations before the user's word", n)
		}
		// Without the user's word, a new run waits again.
		if out, _ := ctl.RunConversation(context.Background(), conv, false); out.Kind != session.Waiting {
			t.Fatalf("unconfirmed rerun = %+v, want waiting", out)
		}
		conv.settings.ConfirmationPolicy.Kind = session.NeverConfirm
		out, err = ctl.RunConversation(context.Background(), conv, true)
		if err != nil || out.Kind != session.Finished {
			t.Fatalf("confirmed = %+v, %v; want finished", out, err)
		}
		obs := ofKind[*event.Observation](conv.all())
		if len(obs) != 2 || obs[0].Observation.Kind() != "TerminalObservation" {
			t.Fatalf("observations after confirmation: %d", len(obs))
		}
	})
	t.Run("rejection", func(t *testing.T) {
		model := llmtest.New(t, call("terminal", `{"command":"rm -rf /"}`))
		conv := newConversation(model, "clean")
		conv.settings.ConfirmationPolicy.Kind = session.AlwaysConfirm
		if out, _ := newController().RunConversation(context.Background(), conv, false); out.Kind != session.Waiting {
			t.Fatalf("= %+v, want waiting", out)
		}
		if err := controller.RejectPending(conv, "no"); err != nil {
			t.Fatal(err)
		}
		rej := ofKind[*event.UserReject](conv.all())
		if len(rej) != 1 || rej[0].RejectionReason != "no" {
			t.Fatalf("rejections: %+v", rej)
		}
	})
}
