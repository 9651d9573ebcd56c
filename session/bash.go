package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
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

// BashError says a command started with start_bash_command failed
// before it could end (its sandbox could not run it).
type BashError struct {
	Kind      string     `json:"kind"` // "BashError"
	ID        string     `json:"id"`
	Timestamp event.Time `json:"timestamp"`
	CommandID string     `json:"command_id,omitempty"`
	Code      string     `json:"code"`
	Detail    string     `json:"detail"`
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
	cmd, err := a.bashSite().begin(req)
	if err != nil {
		return BashResult{}, err
	}
	return a.bashSite().run(ctx, cmd, req.Command)
}

// StartBash publishes the command's BashCommand event and runs it in the
// background: its output and end come as bash events (a failure as a
// BashError).
func (a *AgentSession) StartBash(req BashRequest) (BashCommand, error) {
	return a.bashSite().start(req)
}

// bashSite is the conversation's: its sandbox, its bash events, its
// secrets hidden.
func (a *AgentSession) bashSite() bashSite {
	return bashSite{m: a.m, hub: a.bash, masker: a.masker(), secrets: a.secretValues(),
		workdir: a.Settings().Workspace.WorkingDir, withSandbox: a.WithSandbox}
}

// bashSite is where a command of the bash routes runs and where its
// events go: a conversation's, or a shared workspace sandbox's.
type bashSite struct {
	m           *ConversationManager
	hub         *bashHub
	masker      *security.Masker
	secrets     []string
	workdir     string // where a command without cwd runs
	withSandbox func(ctx context.Context, fn func(*agentapi.Client) error) error
}

// begin checks req and publishes its BashCommand event.
func (s bashSite) begin(req BashRequest) (BashCommand, error) {
	if req.Command == "" {
		return BashCommand{}, invalid("command: missing")
	}
	timeout := defaultBashTimeout
	if req.Timeout != nil {
		if *req.Timeout <= 0 {
			return BashCommand{}, invalid("timeout: %v is not positive", *req.Timeout)
		}
		timeout = *req.Timeout
	}
	cwd := req.Cwd
	if cwd == "" {
		cwd = s.workdir
	}
	cmd := BashCommand{Kind: "BashCommand", ID: event.NewID(), Timestamp: event.TimeOf(s.m.now()),
		Command: req.Command, Cwd: cwd, Timeout: timeout}
	if raw, err := json.Marshal(cmd); err == nil {
		s.hub.publish(s.masker.MaskJSON(raw))
	}
	return cmd, nil
}

// start begins req and runs it in the background, until it ends or the
// manager closes.
func (s bashSite) start(req BashRequest) (BashCommand, error) {
	cmd, err := s.begin(req)
	if err != nil {
		return cmd, err
	}
	m := s.m
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if _, err := s.run(m.ctx, cmd, req.Command); err != nil {
			s.publish(BashError{Kind: "BashError", ID: event.NewID(), Timestamp: event.TimeOf(m.now()),
				CommandID: cmd.ID, Code: errorCode(err), Detail: s.masker.Mask(err.Error())})
		}
	}()
	return cmd, nil
}

// run runs cmd, begun, and publishes its output.
func (s bashSite) run(ctx context.Context, cmd BashCommand, command string) (BashResult, error) {
	cwd, timeout, masker := cmd.Cwd, cmd.Timeout, s.masker
	res := BashResult{CommandID: cmd.ID}
	order := 0
	output := func(stdout string, exitCode *int) {
		s.publish(BashOutput{Kind: "BashOutput", ID: event.NewID(), Timestamp: event.TimeOf(s.m.now()),
			CommandID: cmd.ID, Order: order, ExitCode: exitCode, Stdout: stdout})
		order++
	}
	// The output goes out masked and bounded: what the events hold of one
	// command is at most the bound (and two notes), whatever it prints.
	masked := newStreamMasker(masker, s.secrets)
	bounded := newBashOutput(s.m.opts.BashOutputMaxBytes)
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
	err := s.withSandbox(ctx, func(cl *agentapi.Client) error {
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
		r, err := cl.ExecStream(ctx, name, agentapi.ExecRequest{Command: command, Timeout: timeout, HardTimeout: timeout}, stream)
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

// publish keeps a bash event and sends it to the bash subscribers. Its
// text was masked by the caller.
func (s bashSite) publish(v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.hub.publish(raw)
}

// errorCode names the kind of a failed command's error, for BashError.
func errorCode(err error) string {
	var se *Error
	if errors.As(err, &se) {
		switch se.Kind {
		case KindInvalid, KindRejected:
			return "BadRequest"
		case KindRefused:
			return "Refused"
		case KindUnavailable:
			return "SandboxUnavailable"
		}
	}
	return "SandboxError"
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

// publishBash keeps a bash event of the conversation and sends it to the
// bash subscribers. Its text was masked by the caller.
func (a *AgentSession) publishBash(v any) {
	bashSite{hub: a.bash}.publish(v)
}
