package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
)

// backgroundPrefix names the terminals of background commands.
const backgroundPrefix = "bg-"

// Act records a tool action the user asked for directly (the V0 protocol's
// run, read and write), runs it in the sandbox and records the
// observation. Failures of the tool itself (a missing file, a command that
// exits non-zero) are observations; only a sandbox that cannot be reached
// or a storage failure is an error.
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
	switch x := action.(type) {
	case *event.ThinkAction:
		o := &event.ThinkObservation{}
		o.Content = event.Text("Your thought has been logged.")
		obs = o
	case *event.FinishAction:
		o := &event.FinishObservation{}
		o.Content = event.Text(x.Message)
		obs = o
	case *event.UnknownAction:
		if x.RawKind == "RecallAction" {
			q, _ := x.Fields["query"].(string)
			obs = a.recall(q)
			break
		}
		obs = errorObservation(action, "the "+x.RawKind+" action cannot run here")
	default:
		if ex, ok := a.m.opts.Loop.(Executor); ok && exec == nil {
			obs = ex.Execute(ctx, a, action)
			break
		}
		err = a.WithSandbox(ctx, func(cl *agentapi.Client) error {
			var err error
			if exec != nil {
				obs, err = exec(cl)
			} else {
				obs, err = Execute(ctx, cl, action)
			}
			return err
		})
	}
	if err != nil {
		// Say what happened in the stream too, so that clients watching
		// it see the action end.
		obs = errorObservation(action, err.Error())
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
		o := terminalObservation(command, r)
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

// Execute runs one tool action in a sandbox through its agent and returns
// the observation. It runs the terminal and file_editor tools; the
// agent's other tools are the controller's. A tool failure is an observation with
// is_error; the error return is for an agent that cannot be reached.
func Execute(ctx context.Context, cl *agentapi.Client, action event.ToolAction) (event.ToolObservation, error) {
	switch act := action.(type) {
	case *event.TerminalAction:
		if act.Reset {
			if err := cl.ResetTerminal(ctx, agentapi.DefaultTerminal); err != nil && agentapi.StatusOf(err) != 404 {
				return nil, err
			}
			if act.Command == "" {
				code := 0
				return &event.TerminalObservation{ToolOutput: event.ToolOutput{Content: event.Text("The terminal was reset.")},
					ExitCode: &code, Metadata: event.TerminalMetadata{ExitCode: 0, PID: -1}}, nil
			}
		}
		req := agentapi.ExecRequest{Command: act.Command, IsInput: act.IsInput}
		if act.Timeout != nil && *act.Timeout > 0 {
			req.HardTimeout = *act.Timeout
			req.Timeout = *act.Timeout
		}
		r, err := cl.Exec(ctx, agentapi.DefaultTerminal, req)
		if err != nil {
			if st := agentapi.StatusOf(err); st >= 400 && st < 500 {
				return errorObservation(action, err.Error()), nil
			}
			return nil, err
		}
		return terminalObservation(act.Command, r), nil
	case *event.FileEditorAction:
		r, err := cl.Edit(ctx, agentapi.EditRequest{Command: act.Command, Path: act.Path, FileText: act.FileText,
			ViewRange: act.ViewRange, OldStr: act.OldStr, NewStr: act.NewStr, InsertLine: act.InsertLine})
		if err != nil {
			if st := agentapi.StatusOf(err); st >= 400 && st < 500 {
				o := &event.FileEditorObservation{Command: act.Command, Path: act.Path}
				o.Content, o.IsError = event.Text(agentDetail(err)), true
				return o, nil
			}
			return nil, err
		}
		o := &event.FileEditorObservation{Command: r.Command, Path: r.Path, PrevExist: r.PrevExist,
			OldContent: r.OldContent, NewContent: r.NewContent}
		o.Content = event.Text(r.Output)
		if r.ImageURL != "" {
			o.Content = append(o.Content, event.Content{Type: event.ContentImage, ImageURLs: []string{r.ImageURL}})
		}
		return o, nil
	}
	return errorObservation(action, fmt.Sprintf("the %s action cannot run here", action.Kind())), nil
}

// terminalObservation turns an agent's exec result into an observation.
func terminalObservation(command string, r agentapi.ExecResult) *event.TerminalObservation {
	code := r.ExitCode
	text := r.Output
	if r.Message != "" {
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += "[" + r.Message + "]"
	}
	o := &event.TerminalObservation{Command: command, ExitCode: &code, Timeout: r.TimedOut,
		Metadata: event.TerminalMetadata{ExitCode: code, PID: r.PID, WorkingDir: r.WorkingDir}}
	if r.FullOutputPath != "" {
		o.FullOutputSaveDir = r.FullOutputPath
	}
	o.Content = event.Text(text)
	return o
}

// errorObservation is the observation of an action that failed before its
// tool could answer.
func errorObservation(action event.ToolAction, msg string) event.ToolObservation {
	switch act := action.(type) {
	case *event.TerminalAction:
		code := -1
		o := &event.TerminalObservation{Command: act.Command, ExitCode: &code,
			Metadata: event.TerminalMetadata{ExitCode: -1, PID: -1}}
		o.Content, o.IsError = event.Text(msg), true
		return o
	case *event.FileEditorAction:
		o := &event.FileEditorObservation{Command: act.Command, Path: act.Path}
		o.Content, o.IsError = event.Text(msg), true
		return o
	}
	o := &event.ThinkObservation{}
	o.Content, o.IsError = event.Text(msg), true
	return o
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
