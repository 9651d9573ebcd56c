package session

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
)

// BashRequest runs one command in the conversation's sandbox (the REST
// route execute_bash_command).
type BashRequest struct {
	Command string `json:"command"`
	// Cwd is where the command runs; the workspace when empty.
	Cwd string `json:"cwd,omitempty"`
	// Timeout, in seconds, interrupts the command (default 300).
	Timeout *float64 `json:"timeout,omitempty"`
}

// BashResult is what the command did. The terminal merges the command's
// stderr into its stdout.
type BashResult struct {
	CommandID string `json:"command_id"`
	ExitCode  int    `json:"exit_code"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	TimedOut  bool   `json:"timed_out,omitempty"`
	// FullOutputPath names the file in the sandbox that holds the whole
	// output when Stdout was cut (it says so, in the middle).
	FullOutputPath string `json:"full_output_path,omitempty"`
}

// BashCommand and BashOutput are the events of /sockets/bash-events.
type BashCommand struct {
	Kind      string     `json:"kind"` // "BashCommand"
	ID        string     `json:"id"`
	Timestamp event.Time `json:"timestamp"`
	Command   string     `json:"command"`
	Cwd       string     `json:"cwd,omitempty"`
	Timeout   float64    `json:"timeout"`
}

// BashOutput is a chunk of a command's output; the last one carries the
// exit code.
type BashOutput struct {
	Kind      string     `json:"kind"` // "BashOutput"
	ID        string     `json:"id"`
	Timestamp event.Time `json:"timestamp"`
	CommandID string     `json:"command_id"`
	Order     int        `json:"order"`
	ExitCode  *int       `json:"exit_code"`
	Stdout    string     `json:"stdout"`
	Stderr    string     `json:"stderr"`
}

// defaultBashTimeout is the hard timeout of a REST command.
const defaultBashTimeout = 300.0

// terminalCallTimeout bounds the opening and closing of a command's
// terminal, which its caller's context does not.
const terminalCallTimeout = 30 * time.Second

// Bash runs a command in a terminal of its own, so that concurrent
// requests do not wait on each other and the agent's shell is untouched.
// Its output is published as bash events as it arrives, with the
// conversation's secrets hidden, up to Options.BashOutputMaxBytes (see
// bashOutput); the answer is the agent's, cut past 30,000 characters
// with the whole kept in the sandbox's file at FullOutputPath.
func (a *AgentSession) Bash(ctx context.Context, req BashRequest) (BashResult, error) {
	if req.Command == "" {
		return BashResult{}, invalid("command: missing")
	}
	timeout := defaultBashTimeout
	if req.Timeout != nil {
		if *req.Timeout <= 0 {
			return BashResult{}, invalid("timeout: %v is not positive", *req.Timeout)
		}
		timeout = *req.Timeout
	}
	cwd := req.Cwd
	if cwd == "" {
		cwd = a.Settings().Workspace.WorkingDir
	}
	cmd := BashCommand{Kind: "BashCommand", ID: event.NewID(), Timestamp: event.TimeOf(a.m.now()),
		Command: req.Command, Cwd: cwd, Timeout: timeout}
	masker := a.masker()
	if raw, err := json.Marshal(cmd); err == nil {
		a.bash.publish(masker.MaskJSON(raw))
	}
	res := BashResult{CommandID: cmd.ID}
	order := 0
	output := func(stdout string, exitCode *int) {
		a.publishBash(BashOutput{Kind: "BashOutput", ID: event.NewID(), Timestamp: event.TimeOf(a.m.now()),
			CommandID: cmd.ID, Order: order, ExitCode: exitCode, Stdout: stdout})
		order++
	}
	// The output goes out masked and bounded: what the events hold of one
	// command is at most the bound (and two notes), whatever it prints.
	masked := newStreamMasker(masker, a.secretValues())
	bounded := newBashOutput(a.m.opts.BashOutputMaxBytes)
	emit := func(text string) {
		now, note := bounded.add(text)
		if now != "" {
			output(now, nil)
		}
		if note != "" {
			output(note, nil)
		}
	}
	stream := func(chunk string) { emit(masked.add(chunk)) }
	err := a.WithSandbox(ctx, func(cl *agentapi.Client) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The terminal is made and closed whatever becomes of ctx: a
		// create cancelled in flight may still be carried out by the
		// agent, and would hold one of its terminals for good.
		name := "api-" + cmd.ID[:12]
		uncancelled := func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.WithoutCancel(ctx), terminalCallTimeout)
		}
		cctx, cancel := uncancelled()
		_, err := cl.CreateTerminal(cctx, name, cwd)
		cancel()
		if err != nil {
			return sandboxCallError("open a terminal in "+cwd, err)
		}
		defer func() {
			cctx, cancel := uncancelled()
			cl.CloseTerminal(cctx, name)
			cancel()
		}()
		r, err := cl.ExecStream(ctx, name, agentapi.ExecRequest{Command: req.Command, Timeout: timeout, HardTimeout: timeout}, stream)
		if err != nil {
			return sandboxCallError("run command", err)
		}
		res.ExitCode, res.TimedOut = r.ExitCode, r.TimedOut
		res.Stdout, res.FullOutputPath = masker.Mask(r.Output), masker.Mask(r.FullOutputPath)
		return nil
	})
	if err != nil {
		return res, err
	}
	emit(masked.flush())
	code := res.ExitCode
	output(bounded.end(res.FullOutputPath, res.Stdout), &code)
	return res, nil
}

// SubscribeBash replays the recent bash events to sub and keeps it live.
func (a *AgentSession) SubscribeBash(sub Subscriber) (detach func(), err error) {
	return a.bash.attach(sub)
}

// BashEvents returns a page of the conversation's recent bash events,
// oldest first: up to limit of them from the one pageID names ("" for the
// oldest kept), and the id of the next page ("" after the last). A
// conversation keeps its last 1000 bash events, at most eight times
// Options.BashOutputMaxBytes of them; older ones are dropped.
func (a *AgentSession) BashEvents(pageID string, limit int) ([]json.RawMessage, string, error) {
	if limit < 1 {
		return nil, "", invalid("limit: %d is less than 1", limit)
	}
	return a.bash.page(pageID, limit)
}

// publishBash keeps a bash event and sends it to the bash subscribers.
// Its text was masked by the caller.
func (a *AgentSession) publishBash(v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	a.bash.publish(raw)
}

// sandboxCallError turns an error of the agent into one for the caller:
// the agent's refusals (its 4xx answers) are KindRefused, wrapping the
// answer so the server can answer as the agent did; anything else is the
// sandbox failing.
func sandboxCallError(what string, err error) error {
	if st := agentapi.StatusOf(err); st >= 400 && st < 500 {
		return &Error{Kind: KindRefused, Detail: fmt.Sprintf("%s: %v", what, err), Err: err}
	}
	return sandboxError(fmt.Errorf("%s: %w", what, err))
}
