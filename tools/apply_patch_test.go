package tools_test

import (
	"strings"

	"github.com/gohands/gohands/agentapi"
	"testing"

	"github.com/gohands/gohands/event"
)

func TestApplyPatch(t *testing.T) {
	ws := newWorkspace()
	ws.agent.Put("/workspace/a.txt", "one\ntwo\nthree\n")
	p := "*** Begin Patch\n*** Update File: a.txt\n@@\n one\n-two\n+TWO\n three\n*** Add File: b.txt\n+new\n*** End Patch\n"
	o := call(t, ws, event.ToolApplyPatch, map[string]any{"patch": p}).(*event.ApplyPatchObservation)
	if o.IsError {
		t.Fatalf("patch failed: %q", text(o))
	}
	for path, want := range map[string]string{"/workspace/a.txt": "one\nTWO\nthree\n", "/workspace/b.txt": "new\n"} {
		got, err := ws.agent.ReadFile(t.Context(), path, 0, -1)
		if err != nil || got.Content != want {
			t.Errorf("%s = %q, %v; want %q", path, got.Content, err, want)
		}
	}
	if len(o.Commit.Changes) != 2 || o.Commit.Changes["a.txt"].Type != "update" {
		t.Errorf("commit: %+v", o.Commit)
	}

	// A patch that does not apply changes nothing and tells the model why.
	bad := "*** Begin Patch\n*** Update File: a.txt\n@@\n-nothing like this\n+x\n*** End Patch\n"
	o = call(t, ws, event.ToolApplyPatch, map[string]any{"patch": bad}).(*event.ApplyPatchObservation)
	if !o.IsError || !strings.HasPrefix(text(o), "The patch does not apply") {
		t.Errorf("bad patch: %q", text(o))
	}
	o = call(t, ws, event.ToolApplyPatch, map[string]any{"patch": "not a patch"}).(*event.ApplyPatchObservation)
	if !o.IsError || !strings.HasPrefix(text(o), "The patch does not parse") {
		t.Errorf("unparsable patch: %q", text(o))
	}

	// Deleting runs rm in a terminal of its own, closed afterwards.
	var rm []string
	ws.agent.Shell = func(term string, req agentapi.ExecRequest) (agentapi.ExecResult, error) {
		if !strings.HasPrefix(term, "patch-") {
			t.Errorf("rm ran in terminal %q", term)
		}
		rm = append(rm, req.Command)
		return agentapi.ExecResult{}, nil
	}
	del := "*** Begin Patch\n*** Delete File: b.txt\n*** End Patch\n"
	o = call(t, ws, event.ToolApplyPatch, map[string]any{"patch": del}).(*event.ApplyPatchObservation)
	if o.IsError || len(rm) != 1 || rm[0] != "rm -f -- '/workspace/b.txt'" || len(ws.agent.Terminals()) != 0 {
		t.Errorf("delete: %q, rm %q, terminals %q", text(o), rm, ws.agent.Terminals())
	}
}
