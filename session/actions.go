package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

// backgroundPrefix names the terminals of background commands.
const backgroundPrefix = "bg-"

// Act records a tool action the user asked for directly (the V0 protocol's
// run, read, browse, think and finish), runs it with its tool and records
// the observation. Failures of the tool itself (a missing file, a command that
// exits non-zero) and a sandbox that cannot be reached are observations;
// only a storage failure is an error. (Write, RunBackground and Kill
// return the sandbox's error too.)
func (a *AgentSession) Act(ctx context.Context, action event.ToolAction, toolName string) (*event.Observation, error) {
	return a.act(ctx, action, toolName, nil)
}

// Write writes a whole file, replacing what was there (the V0 protocol's
// write), recorded as a file_editor create.
func (a *AgentSession) Write(ctx context.Context, path, content string) (*event.Observation, error) {
	action := &event.FileEditorAction{Command: event.EditorCreate, Path: path, FileText: &content}
	return a.act(ctx, action, event.ToolFileEditor, func(cl *agentapi.Client) (event.ToolObservation, error) {
		o := &event.FileEditorObservation{Command: event.EditorCreate, Path: path}
		prev, err := cl.Stat(ctx, path)
		o.PrevExist = err == nil && prev.Type != ""
		if _, err := cl.WriteFile(ctx, path, content); err != nil {
			if st := agentapi.StatusOf(err); st >= 400 && st < 500 {
				o.Content, o.IsError = event.Text(agentDetail(err)), true
				return o, nil
			}
			return nil, err
		}
		o.NewContent = &content
		o.Content = event.Text(fmt.Sprintf("File written: %s (%d bytes)", path, len(content)))
		return o, nil
	})
}

func (a *AgentSession) act(ctx context.Context, action event.ToolAction, toolName string,
	exec func(*agentapi.Client) (event.ToolObservation, error)) (*event.Observation, error) {
	act := &event.Action{Action: action, ToolName: toolName, ToolCallID: "user-" + event.NewID()[:12],
		SecurityRisk: event.RiskUnknown}
	act.Source = event.SourceUser
	if err := a.Append(act); err != nil {
		return nil, err
	}
	var obs event.ToolObservation
	var err error
	if exec == nil {
		// As in a run of the agent: a sandbox that cannot be reached is
		// the action's observation, not the caller's error.
		if obs, err = tools.RunTool(ctx, a.ToolWorkspace(), toolName, action); err != nil {
			obs, err = tools.CouldNotRun(action, err), nil
		}
	} else {
		err = a.WithSandbox(ctx, func(cl *agentapi.Client) error {
			var err error
			obs, err = exec(cl)
			return err
		})
	}
	if err != nil {
		// Say what happened in the stream too, so that clients watching
		// it see the action end.
		obs = tools.Failed(action, err.Error())
	}
	o := &event.Observation{Observation: obs, ActionID: act.ID, ToolName: toolName, ToolCallID: act.ToolCallID}
	o.Source = event.SourceEnvironment
	if aerr := a.Append(o); aerr != nil {
		return nil, aerr
	}
	return o, err
}

// RunBackground starts a command in a terminal of its own and returns at
// once (the V0 protocol's run with background). The observation's
// command_id is the number Kill takes.
func (a *AgentSession) RunBackground(ctx context.Context, command string) (*event.Observation, error) {
	n := a.nextBackgroundID()
	name := backgroundPrefix + strconv.Itoa(n)
	return a.act(ctx, &event.TerminalAction{Command: command}, event.ToolTerminal, func(cl *agentapi.Client) (event.ToolObservation, error) {
		if _, err := cl.CreateTerminal(ctx, name, a.Settings().Workspace.WorkingDir); err != nil {
			return nil, sandboxCallError("open a terminal", err)
		}
		// A short no-output timeout: the call comes back with what the
		// command printed at first while it goes on running.
		r, err := cl.Exec(ctx, name, agentapi.ExecRequest{Command: command, Timeout: 0.5})
		if err != nil {
			return nil, sandboxCallError("start command", err)
		}
		o := tools.TerminalObservation(command, r)
		o.Metadata.PID = n
		if r.ExitCode == -1 {
			o.Content = event.Text(r.Output + fmt.Sprintf("\n[running in the background as command %d; stop it with kill]", n))
		}
		return o, nil
	})
}

// Kill stops a background command started by RunBackground.
func (a *AgentSession) Kill(ctx context.Context, id string) (*event.Observation, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, backgroundPrefix))
	if err != nil {
		return nil, invalid("id: %q is not the id of a background command", id)
	}
	return a.act(ctx, &event.TerminalAction{Command: "C-c", IsInput: true}, event.ToolTerminal, func(cl *agentapi.Client) (event.ToolObservation, error) {
		err := cl.CloseTerminal(ctx, backgroundPrefix+strconv.Itoa(n))
		if agentapi.StatusOf(err) == 404 {
			return nil, &Error{Kind: KindNotFound, Detail: fmt.Sprintf("no background command %d", n), Err: ErrNotFound}
		}
		if err != nil {
			return nil, sandboxCallError("kill", err)
		}
		code := -1
		return &event.TerminalObservation{ToolOutput: event.ToolOutput{Content: event.Text(fmt.Sprintf("command %d killed", n))},
			Command: fmt.Sprintf("kill %d", n), ExitCode: &code, Metadata: event.TerminalMetadata{ExitCode: -1, PID: n}}, nil
	})
}

// agentDetail returns the agent's own words for an error, without the
// client's prefix.
func agentDetail(err error) string {
	var he *agentapi.HTTPError
	if errors.As(err, &he) {
		return he.Detail
	}
	return err.Error()
}
