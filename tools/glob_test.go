package tools_test

import (
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
	"github.com/google/go-cmp/cmp"
)

func TestGlob(t *testing.T) {
	ws := newWorkspace()
	ws.agent.Put("/workspace/main.go", "package main\n")
	ws.agent.Put("/workspace/pkg/a.go", "package pkg\n")
	ws.agent.Put("/workspace/README", "hi\n")
	ws.agent.Put("/elsewhere/b.go", "package b\n")

	o := call(t, ws, event.ToolGlob, map[string]any{"pattern": "**/*.go"}).(*event.GlobObservation)
	if diff := cmp.Diff(o.Files, []string{"/workspace/main.go", "/workspace/pkg/a.go"}); diff != "" {
		t.Errorf("files (-got +want):\n%s", diff)
	}
	if o.SearchPath != "/workspace" || text(o) != "2 files match \"**/*.go\" in /workspace, newest first:\n/workspace/main.go\n/workspace/pkg/a.go" {
		t.Errorf("glob: %+v %q", o, text(o))
	}
	o = call(t, ws, event.ToolGlob, map[string]any{"pattern": "*.py", "path": "/elsewhere"}).(*event.GlobObservation)
	if o.Files == nil || len(o.Files) != 0 || text(o) != `No files match "*.py" in /elsewhere.` {
		t.Errorf("no match: %#v %q", o.Files, text(o))
	}
	tool, _ := tools.Lookup(event.ToolGlob)
	if _, err := tool.Decode([]byte(`{}`)); err == nil {
		t.Error("glob without a pattern decoded")
	}
	f := tools.Failed(&event.GlobAction{Pattern: "*"}, "down").(*event.GlobObservation)
	if !f.IsError || f.Pattern != "*" || f.Files == nil {
		t.Errorf("Failed: %#v", f)
	}
}
