package tools_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
	"github.com/google/go-cmp/cmp"
)

func TestTerminal(t *testing.T) {
	ws := newWorkspace()
	var got []agentapi.ExecRequest
	ws.agent.Shell = func(term string, req agentapi.ExecRequest) (agentapi.ExecResult, error) {
		if term != agentapi.DefaultTerminal {
			t.Errorf("terminal %q, want the default one", term)
		}
		got = append(got, req)
		switch req.Command {
		case "bad":
			return agentapi.ExecResult{}, &agentapi.HTTPError{Status: http.StatusConflict, Detail: "busy"}
		case "slow":
			return agentapi.ExecResult{Output: "part", ExitCode: -1, PID: 7, WorkingDir: "/w", Message: "still running"}, nil
		}
		return agentapi.ExecResult{Output: "hello\n", PID: 7, WorkingDir: "/w", FullOutputPath: "/tmp/out"}, nil
	}

	o := call(t, ws, event.ToolTerminal, map[string]any{"command": "echo hello", "timeout": 5, "security_risk": "LOW"}).(*event.TerminalObservation)
	if text(o) != "hello\n" || *o.ExitCode != 0 || o.Metadata.PID != 7 || o.Metadata.WorkingDir != "/w" || o.FullOutputSaveDir != "/tmp/out" {
		t.Errorf("echo: %+v", o)
	}
	if diff := cmp.Diff(got[0], agentapi.ExecRequest{Command: "echo hello", Timeout: 5, HardTimeout: 5}); diff != "" {
		t.Errorf("exec request (-got +want):\n%s", diff)
	}
	o = call(t, ws, event.ToolTerminal, map[string]any{"command": "slow"}).(*event.TerminalObservation)
	if text(o) != "part\n[still running]" || *o.ExitCode != -1 {
		t.Errorf("slow: %q, exit %d", text(o), *o.ExitCode)
	}
	// The agent refusing a command is the tool failing, not the sandbox.
	o = call(t, ws, event.ToolTerminal, map[string]any{"command": "bad"}).(*event.TerminalObservation)
	if !o.IsError || !strings.Contains(text(o), "busy") || *o.ExitCode != -1 || o.Command != "bad" {
		t.Errorf("bad: %+v %q", o, text(o))
	}
	o = call(t, ws, event.ToolTerminal, map[string]any{"command": "", "reset": true}).(*event.TerminalObservation)
	if text(o) != "The terminal was reset." || len(ws.agent.Resets()) != 1 || len(got) != 3 {
		t.Errorf("reset: %q, resets %v, %d execs", text(o), ws.agent.Resets(), len(got))
	}

	// A sandbox that cannot be reached is an error, and Failed says so in
	// the terminal's own observation.
	ws.down = errors.New("connection refused")
	act := &event.TerminalAction{Command: "ls"}
	if _, err := tools.Run(context.Background(), ws, act); err == nil {
		t.Fatal("run on a dead sandbox: no error")
	}
	f := tools.Failed(act, "gone").(*event.TerminalObservation)
	if !f.IsError || text(f) != "gone" || f.Command != "ls" || *f.ExitCode != -1 || f.Metadata.PID != -1 {
		t.Errorf("Failed: %+v", f)
	}
	if diff := cmp.Diff(tools.Texts(act), []string{"ls"}); diff != "" {
		t.Errorf("Texts (-got +want):\n%s", diff)
	}
}

func TestTerminalDecode(t *testing.T) {
	tool, _ := tools.Lookup(event.ToolTerminal)
	if _, err := tool.Decode([]byte(`{"command":"ls","colour":true}`)); err == nil {
		t.Error("unknown argument accepted")
	}
	act, err := tool.Decode(nil)
	if err != nil || act.(*event.TerminalAction).Command != "" {
		t.Errorf("no arguments: %v, %v; want an empty command (wait for output)", act, err)
	}
}
