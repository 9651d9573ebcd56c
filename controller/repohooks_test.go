package controller_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/session"
)

// hostRunner runs the agent's programs with the host's sh, standing in
// for a sandbox whose workspace is a temporary folder.
func hostRunner(req agentapi.RunRequest) (agentapi.RunResult, error) {
	cmd := exec.Command(req.Args[0], req.Args[1:]...)
	cmd.Dir = req.Dir
	cmd.Stdin = strings.NewReader(req.Stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := agentapi.RunResult{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.ExitCode = ee.ExitCode()
	} else if err != nil {
		return res, err
	}
	return res, nil
}

func userSays(c *conversation, text string) {
	m := &event.Message{LLMMessage: event.LLMMessage{Role: "user", Content: event.Text(text)}}
	m.Source = event.SourceUser
	c.Append(m)
}

// TestRepositoryHooksAcrossTurns: a skill is brought in once however
// often its word comes back; a PostToolUse hook's additionalContext
// reaches the model with the result; a UserPromptSubmit hook that blocks
// a message keeps it from the model.
func TestRepositoryHooksAcrossTurns(t *testing.T) {
	root := t.TempDir()
	repoFile(t, root, ".openhands/skills/db/SKILL.md", "---\nname: db\ndescription: The database\ntriggers: [postgres]\n---\nDB-SKILL-TEXT\n")
	repoFile(t, root, ".openhands/hooks.json", `{"hooks": {
	  "PostToolUse": [{"matcher": "/term.*/", "hooks": [{"command": "echo '{\"additionalContext\": \"CONTEXT-FROM-HOOK\"}'"}]}],
	  "UserPromptSubmit": [{"hooks": [{"command": "if grep -q forbidden; then echo '{\"decision\": \"deny\", \"reason\": \"not that\"}'; fi"}]}]}}`)
	model := llmtest.New(t,
		call("terminal", `{"command":"ls"}`),
		llmtest.Reply{Text: "first turn done"},
		llmtest.Reply{Text: "second turn done"},
	)
	conv := newConversation(model, "Look at postgres, please.")
	conv.settings.Workspace.WorkingDir = root
	conv.agent.Runner = hostRunner
	ctl := newController()
	run := func() {
		t.Helper()
		if out, err := ctl.RunConversation(context.Background(), conv, false); err != nil || out.Kind != session.Finished {
			t.Fatalf("RunConversation = %+v, %v", out, err)
		}
	}
	run()
	userSays(conv, "More on postgres.")
	run()
	userSays(conv, "Do the forbidden thing.")
	run()

	reqs := model.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model requests, want 3 (the blocked message reaches no model)", len(reqs))
	}
	if n := strings.Count(string(reqs[2].Raw), "DB-SKILL-TEXT"); n != 1 {
		t.Errorf("the skill's text is in the last request %d times, want once", n)
	}
	if !strings.Contains(string(reqs[1].Raw), "CONTEXT-FROM-HOOK") {
		t.Error("the PostToolUse hook's context did not reach the model")
	}
	evs := conv.all()
	if n := len(ofKind[*event.SkillActivated](evs)); n != 1 {
		t.Errorf("%d SkillActivated events, want 1", n)
	}
	var blocked []*event.HookExecution
	for _, h := range ofKind[*event.HookExecution](evs) {
		if h.Blocked {
			blocked = append(blocked, h)
		}
	}
	if len(blocked) != 1 || blocked[0].HookEventType != "UserPromptSubmit" || blocked[0].Reason != "not that" || blocked[0].MessageID == "" {
		t.Errorf("blocked hook runs: %+v", blocked)
	}
}
