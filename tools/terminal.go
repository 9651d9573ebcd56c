package tools

import (
	"context"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// terminal runs bash commands in the sandbox's terminal.
type terminal struct{}

func (terminal) Spec() Spec {
	return Spec{Name: event.ToolTerminal, Kind: "TerminalTool", Actions: []string{"TerminalAction"},
		Description: "Run a bash command in the sandbox's terminal. The shell keeps its working directory, " +
			"variables and functions between calls. A command that prints nothing for a while is left running " +
			"and reported with exit code -1: call again with an empty command to wait for more output, with " +
			"is_input true to type into it (answers to prompts, or the keys C-c, C-d, C-z). Use timeout for a " +
			"hard limit in seconds. Long output is cut in the middle; the whole is saved to a file. Set reset to " +
			"start a fresh shell. Run one command at a time; chain with && when needed.",
		Parameters: schema(`{"type":"object","properties":{
			"command":{"type":"string","description":"The command line, or input for a running command."},
			"is_input":{"type":"boolean","description":"Type command into the running command instead of starting a new one."},
			"timeout":{"type":"number","description":"Hard timeout in seconds."},
			"reset":{"type":"boolean","description":"Kill the shell and its jobs and start a new one."}},
			"required":["command"]}`),
	}
}

// Decode takes any command: an empty one waits for more output of a
// running one.
func (terminal) Decode(args []byte) (event.ToolAction, error) {
	return decodeInto[event.TerminalAction](args, nil)
}

func (t terminal) Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	x := act.(*event.TerminalAction)
	return withAgent(ctx, ws, func(ag Agent) (event.ToolObservation, error) {
		if x.Reset {
			if err := ag.ResetTerminal(ctx, agentapi.DefaultTerminal); err != nil && agentapi.StatusOf(err) != 404 {
				return nil, err
			}
			if x.Command == "" {
				code := 0
				return &event.TerminalObservation{ToolOutput: event.ToolOutput{Content: event.Text("The terminal was reset.")},
					ExitCode: &code, Metadata: event.TerminalMetadata{ExitCode: 0, PID: -1}}, nil
			}
		}
		req := agentapi.ExecRequest{Command: x.Command, IsInput: x.IsInput}
		if x.Timeout != nil && *x.Timeout > 0 {
			req.HardTimeout = *x.Timeout
			req.Timeout = *x.Timeout
		}
		r, err := ag.Exec(ctx, agentapi.DefaultTerminal, req)
		if err != nil {
			if st := agentapi.StatusOf(err); st >= 400 && st < 500 {
				return t.Failed(x, err.Error()), nil
			}
			return nil, err
		}
		return TerminalObservation(x.Command, r), nil
	})
}

func (terminal) Failed(act event.ToolAction, msg string) event.ToolObservation {
	code := -1
	return fail(&event.TerminalObservation{Command: act.(*event.TerminalAction).Command, ExitCode: &code,
		Metadata: event.TerminalMetadata{ExitCode: -1, PID: -1}}, msg)
}

func (terminal) Texts(act event.ToolAction) []string {
	return []string{act.(*event.TerminalAction).Command}
}

// SecurityFields: rules see the command line's simple commands too.
func (terminal) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolTerminal, Fields: []string{"command", "is_input", "timeout", "reset"}, Command: "command"}
}

// TerminalObservation turns an agent's exec result into the observation
// of the command.
func TerminalObservation(command string, r agentapi.ExecResult) *event.TerminalObservation {
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
