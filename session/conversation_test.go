package session_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/sandbox/sandboxtest"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// TestWholeConversation runs a conversation from its first message to
// finished through the conversation manager and the real controller, on
// the in-memory sandbox backend (a runtime-agent in the test process, no
// container engine), with a scripted model that calls every tool once or
// more. The stored events hold each tool's observation, and the files the
// agent made are in the workspace afterwards.
func TestWholeConversation(t *testing.T) {
	work := t.TempDir()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>Release notes</title></head><body><p>The release colour is teal.</p></body></html>`)
	}))
	defer page.Close()
	patch := "*** Begin Patch\n*** Update File: notes.txt\n@@\n ALPHA\n-beta\n+BETA\n*** Add File: added.txt\n+from the patch\n*** End Patch\n"
	calls := []llmtest.Call{
		{Name: "think", Args: `{"thought":"first plan the work"}`},
		{Name: "task_tracker", Args: `{"command":"plan","task_list":[{"title":"write notes","status":"in_progress"},{"title":"read the page","status":"todo"}]}`},
		{Name: "file_editor", Args: fmt.Sprintf(`{"command":"create","path":%q,"file_text":"alpha\nbeta\n"}`, filepath.Join(work, "notes.txt"))},
		{Name: "file_editor", Args: fmt.Sprintf(`{"command":"str_replace","path":%q,"old_str":"alpha","new_str":"ALPHA"}`, filepath.Join(work, "notes.txt"))},
		{Name: "file_editor", Args: fmt.Sprintf(`{"command":"view","path":%q}`, filepath.Join(work, "notes.txt"))},
		{Name: "terminal", Args: `{"command":"echo made-by-terminal > term.txt && pwd"}`},
		{Name: "glob", Args: `{"pattern":"*.txt"}`},
		{Name: "grep", Args: `{"pattern":"made-by"}`},
		{Name: "apply_patch", Args: fmt.Sprintf(`{"patch":%q}`, patch)},
		{Name: "browser", Args: fmt.Sprintf(`{"url":%q}`, page.URL)},
		{Name: "task_tracker", Args: `{"command":"view"}`},
		{Name: "finish", Args: `{"message":"notes written and the page read"}`},
	}
	var steps []llmtest.Step
	for _, c := range calls {
		steps = append(steps, llmtest.Reply{ToolCalls: []llmtest.Call{c}})
	}
	model := llmtest.New(t, steps...)

	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	be := sandboxtest.New(t)
	be.Engine().SetWorkspace(work)
	m, err := session.New(session.Options{Store: store, Sandboxes: be, Loop: controller.New(controller.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.Close(ctx)
		store.Close()
	})
	a, _, err := m.Create(context.Background(), session.CreateRequest{
		Agent:          &session.Agent{LLM: session.LLM{Model: "openai/test-model", APIKey: "test-key", BaseURL: model.URL() + "/v1"}},
		Workspace:      &session.Workspace{WorkingDir: work},
		InitialMessage: &session.MessageRequest{Role: "user", Content: event.Text("write the notes and read the page")},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for a.Running() || a.Status() == session.StatusRunning || a.Status() == session.StatusIdle {
		if time.Now().After(deadline) {
			t.Fatalf("conversation still %s after 2 minutes", a.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	evs, err := a.EventsAfter(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st != session.StatusFinished {
		t.Fatalf("status %s, want finished; events: %s", st, describe(evs))
	}
	if n := model.Remaining(); n != 0 {
		t.Errorf("%d scripted answers left", n)
	}
	if n := be.Engine().Starts(); n != 1 {
		t.Errorf("%d sandboxes started, want 1", n)
	}

	// Each call's observation, in order, by the tool that made it.
	var obs []*event.Observation
	for _, e := range evs {
		if o, ok := e.(*event.Observation); ok {
			obs = append(obs, o)
		}
	}
	if len(obs) != len(calls) {
		t.Fatalf("%d observations for %d calls: %s", len(obs), len(calls), describe(evs))
	}
	want := []struct {
		kind     string
		contains []string
	}{
		{"ThinkObservation", []string{"Your thought has been logged."}},
		{"TaskTrackerObservation", []string{"write notes", "read the page"}},
		{"FileEditorObservation", []string{filepath.Join(work, "notes.txt")}},
		{"FileEditorObservation", []string{"ALPHA"}},
		{"FileEditorObservation", []string{"ALPHA", "beta"}},
		{"TerminalObservation", []string{work}},
		{"GlobObservation", []string{"notes.txt", "term.txt"}},
		{"GrepObservation", []string{"term.txt"}},
		{"ApplyPatchObservation", []string{"notes.txt", "added.txt"}},
		{"BrowserObservation", []string{"The release colour is teal."}},
		{"TaskTrackerObservation", []string{"write notes", "read the page"}},
		{"FinishObservation", []string{"notes written and the page read"}},
	}
	for i, w := range want {
		o := obs[i]
		text := o.Observation.Output().Content.Text()
		if o.Observation.Kind() != w.kind || o.ToolName != calls[i].Name {
			t.Errorf("observation %d: %s of %s, want %s of %s", i, o.Observation.Kind(), o.ToolName, w.kind, calls[i].Name)
		}
		if o.Observation.Output().IsError {
			t.Errorf("observation %d (%s) is an error: %s", i, calls[i].Name, text)
		}
		for _, s := range w.contains {
			if !strings.Contains(text, s) {
				t.Errorf("observation %d (%s) %q does not hold %q", i, calls[i].Name, text, s)
			}
		}
	}

	// What the tools wrote is in the workspace.
	files := map[string]string{
		"notes.txt": "ALPHA\nBETA\n",
		"term.txt":  "made-by-terminal\n",
		"added.txt": "from the patch\n",
	}
	for name, content := range files {
		got, err := os.ReadFile(filepath.Join(work, name))
		if err != nil || string(got) != content {
			t.Errorf("%s: %q, %v; want %q", name, got, err, content)
		}
	}
}

// describe lists events by kind, with the text of observations, for
// failure messages.
func describe(evs []event.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s", e.Kind())
		switch x := e.(type) {
		case *event.Observation:
			fmt.Fprintf(&b, " %s: %.200q", x.Observation.Kind(), x.Observation.Output().Content.Text())
		case *event.ConversationError:
			fmt.Fprintf(&b, " %s: %s", x.Code, x.Detail)
		}
	}
	return b.String()
}
