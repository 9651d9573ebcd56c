package tools_test

import (
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
	"github.com/google/go-cmp/cmp"
)

func TestGrep(t *testing.T) {
	ws := newWorkspace()
	ws.agent.Put("/workspace/main.go", "package main\nfunc main() {}\n")
	ws.agent.Put("/workspace/x.py", "def main(): pass\n")
	ws.agent.Put("/workspace/y.go", "package y\n")

	o := call(t, ws, event.ToolGrep, map[string]any{"pattern": "main\\(", "include": "*.go"}).(*event.GrepObservation)
	if diff := cmp.Diff(o.Matches, []string{"/workspace/main.go"}); diff != "" {
		t.Errorf("matches (-got +want):\n%s", diff)
	}
	if o.IncludePattern != "*.go" || o.SearchPath != "/workspace" || text(o) != "1 files in /workspace match \"main\\\\(\":\n/workspace/main.go" {
		t.Errorf("grep: %+v %q", o, text(o))
	}
	// A bad expression is the agent's 400: the tool's error, not the sandbox's.
	o = call(t, ws, event.ToolGrep, map[string]any{"pattern": "("}).(*event.GrepObservation)
	if !o.IsError || o.Matches == nil {
		t.Errorf("bad pattern: %+v %q", o, text(o))
	}
	o = call(t, ws, event.ToolGrep, map[string]any{"pattern": "nothing"}).(*event.GrepObservation)
	if o.IsError || text(o) != `No files in /workspace match "nothing".` {
		t.Errorf("no match: %q", text(o))
	}
	if got := tools.Texts(&event.GrepAction{Pattern: "p", Path: "/d", Include: "*.c"}); !cmp.Equal(got, []string{"p", "/d", "*.c"}) {
		t.Errorf("Texts = %q", got)
	}
}
