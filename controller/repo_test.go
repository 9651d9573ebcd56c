package controller_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/session"
)

// repoFile writes a file of the workspace folder the test mounts.
func repoFile(t *testing.T, root, rel, text string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRepositoryGuidanceSkillsAndHooks runs a conversation in a real
// sandbox whose workspace has an AGENTS.md, a skill with a trigger word
// and a hooks file: the model is given the guidance, the user's word
// brings the skill's text, and a PreToolUse hook (run in the sandbox)
// blocks a push, the model seeing why, while a harmless command runs.
func TestRepositoryGuidanceSkillsAndHooks(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	repoFile(t, root, "AGENTS.md", "Run the tests with make check. GUIDANCE-7f3a\n")
	repoFile(t, root, "docs/AGENTS.md", "Docs are in British English. NESTED-91c2\n")
	repoFile(t, root, ".agents/skills/release/SKILL.md",
		"---\nname: release\ndescription: How this project cuts a release\ntriggers:\n  - release\n---\nTag vX.Y.Z, then push the tag. SKILL-BODY-5d1e\n")
	repoFile(t, root, ".agents/skills/lint/SKILL.md", "---\nname: lint\ndescription: Linting rules\n---\nLINT-BODY-0a9b\n")
	repoFile(t, root, ".openhands/hooks/no-push.sh",
		"#!/bin/sh\n# The hook's input is on stdin; it runs inside the sandbox.\nif grep -q 'git push'; then echo \"pushing is not allowed from $(cat /etc/hostname >/dev/null; echo the sandbox)\" >&2; exit 2; fi\nexit 0\n")
	repoFile(t, root, ".openhands/hooks.json",
		`{"PreToolUse": [{"matcher": "terminal", "hooks": [{"type": "command", "command": "sh .openhands/hooks/no-push.sh", "timeout": 20}]}]}`)

	f := newFixture(t, setup{sandboxes: true, mounts: []sandbox.Mount{{Source: root, Target: "/workspace"}}},
		call("terminal", `{"command":"git push origin main"}`),
		call("terminal", `{"command":"echo ran-it"}`),
		call("finish", `{"message":"done"}`),
	)
	a := f.start("Please prepare the release.", session.CreateRequest{})
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s, want finished; error: %+v", st, lastError(allEvents(t, a)))
	}
	reqs := f.model.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model requests, want 3", len(reqs))
	}
	first := string(reqs[0].Raw)
	for _, want := range []string{"GUIDANCE-7f3a", "NESTED-91c2", "(for docs/)", "lint: Linting rules", "SKILL-BODY-5d1e"} {
		if !strings.Contains(first, want) {
			t.Errorf("the first model request lacks %q", want)
		}
	}
	if strings.Contains(first, "LINT-BODY-0a9b") {
		t.Error("the first request holds the text of a skill without a trigger, which is read on demand")
	}
	if !strings.Contains(string(reqs[1].Raw), "pushing is not allowed from the sandbox") {
		t.Errorf("the model was not told why the push was blocked: %s", reqs[1].Raw)
	}
	evs := allEvents(t, a)
	if sa := ofKind[*event.SkillActivated](evs); len(sa) != 1 || len(sa[0].Skills) != 1 || sa[0].Skills[0] != "release" {
		t.Errorf("SkillActivated events: %+v", sa)
	}
	hx := ofKind[*event.HookExecution](evs)
	if len(hx) != 2 || !hx[0].Blocked || hx[0].ExitCode != 2 || hx[1].Blocked || !hx[1].Success || hx[0].Source != event.SourceHook {
		t.Fatalf("HookExecution events: %+v", hx)
	}
	if hx[0].HookInput["tool_name"] != "terminal" || hx[0].HookEventType != "PreToolUse" {
		t.Errorf("hook input %v", hx[0].HookInput)
	}
	rej := ofKind[*event.UserReject](evs)
	if len(rej) != 1 || rej[0].RejectionSource != "hook" || !strings.Contains(rej[0].RejectionReason, "pushing is not allowed") {
		t.Errorf("rejections: %+v", rej)
	}
	obs := ofKind[*event.Observation](evs)
	if len(obs) != 2 || !strings.Contains(obs[0].Observation.Output().Content.Text(), "ran-it") {
		t.Errorf("observations: %d", len(obs))
	}
}
