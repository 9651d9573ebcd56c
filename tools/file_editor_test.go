package tools_test

import (
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

func TestFileEditor(t *testing.T) {
	ws := newWorkspace()
	o := call(t, ws, event.ToolFileEditor, map[string]any{"command": "create", "path": "/workspace/a.txt", "file_text": "one\ntwo\n"}).(*event.FileEditorObservation)
	if o.IsError || o.PrevExist || o.NewContent == nil || *o.NewContent != "one\ntwo\n" {
		t.Errorf("create: %+v %q", o, text(o))
	}
	o = call(t, ws, event.ToolFileEditor, map[string]any{"command": "str_replace", "path": "/workspace/a.txt", "old_str": "two", "new_str": "three"}).(*event.FileEditorObservation)
	if o.IsError || o.OldContent == nil || *o.OldContent != "one\ntwo\n" || *o.NewContent != "one\nthree\n" {
		t.Errorf("str_replace: %+v %q", o, text(o))
	}
	// The agent's 4xx is the tool's error, in the agent's own words.
	o = call(t, ws, event.ToolFileEditor, map[string]any{"command": "view", "path": "/workspace/missing"}).(*event.FileEditorObservation)
	if !o.IsError || text(o) != "/workspace/missing: no such file or directory" || o.Path != "/workspace/missing" || o.Command != "view" {
		t.Errorf("view missing: %+v %q", o, text(o))
	}
	f := tools.Failed(&event.FileEditorAction{Command: "view", Path: "/x"}, "down").(*event.FileEditorObservation)
	if !f.IsError || f.Path != "/x" || text(f) != "down" {
		t.Errorf("Failed: %+v", f)
	}
	ft, old := "new", "old"
	if got := strings.Join(tools.Texts(&event.FileEditorAction{Path: "/p", FileText: &ft, OldStr: &old}), "|"); got != "/p|new|old|" {
		t.Errorf("Texts = %q", got)
	}
}

func TestFileEditorDecode(t *testing.T) {
	tool, _ := tools.Lookup(event.ToolFileEditor)
	for _, args := range []string{`{"command":"delete","path":"/a"}`, `{"command":"view"}`, `[1]`} {
		if _, err := tool.Decode([]byte(args)); err == nil {
			t.Errorf("Decode(%s): no error", args)
		}
	}
}
