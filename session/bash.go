package session

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/gohands/gohands/agentd"
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
// Its output is published as bash events as it arrives.
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
	a.bash.publish(cmd)
	res := BashResult{CommandID: cmd.ID}
	order := 0
	err := a.WithSandbox(ctx, func(cl *agentd.Client) error {
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
		r, err := cl.ExecStream(ctx, name, agentd.ExecRequest{Command: req.Command, Timeout: timeout, HardTimeout: timeout},
			func(chunk string) {
				a.bash.publish(BashOutput{Kind: "BashOutput", ID: event.NewID(), Timestamp: event.TimeOf(a.m.now()),
					CommandID: cmd.ID, Order: order, Stdout: chunk})
				order++
			})
		if err != nil {
			return sandboxCallError("run command", err)
		}
		res.ExitCode, res.Stdout, res.TimedOut = r.ExitCode, r.Output, r.TimedOut
		return nil
	})
	if err != nil {
		return res, err
	}
	code := res.ExitCode
	a.bash.publish(BashOutput{Kind: "BashOutput", ID: event.NewID(), Timestamp: event.TimeOf(a.m.now()),
		CommandID: cmd.ID, Order: order, ExitCode: &code})
	return res, nil
}

// SubscribeBash replays the recent bash events to sub and keeps it live.
func (a *AgentSession) SubscribeBash(sub Subscriber) (detach func(), err error) {
	return a.bash.attach(sub)
}

// BashEvents returns the recent bash events, oldest first.
func (a *AgentSession) BashEvents() []json.RawMessage { return a.bash.history() }

// sandboxCallError turns an error of the agent into one for the caller:
// the agent's 4xx answers keep their status and detail.
func sandboxCallError(what string, err error) error {
	if st := agentd.StatusOf(err); st >= 400 && st < 500 {
		return &Error{Status: st, Detail: fmt.Sprintf("%s: %v", what, err), Err: err}
	}
	return sandboxError(fmt.Errorf("%s: %w", what, err))
}

// bashHubSize is how many bash events a conversation keeps for replays.
const bashHubSize = 1000

// bashHub fans bash events out to the /sockets/bash-events subscribers.
type bashHub struct {
	mu     sync.Mutex
	events []json.RawMessage
	subs   map[Subscriber]struct{}
	closed bool
}

func newBashHub() *bashHub { return &bashHub{subs: make(map[Subscriber]struct{})} }

func (h *bashHub) publish(v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if len(h.events) == bashHubSize {
		copy(h.events, h.events[1:])
		h.events = h.events[:bashHubSize-1]
	}
	h.events = append(h.events, raw)
	d := &Delivery{Raw: raw}
	for s := range h.subs {
		if !s.Send(d) {
			delete(h.subs, s)
			go s.Drop(ErrSlowSubscriber)
		}
	}
}

func (h *bashHub) attach(sub Subscriber) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrDeleted
	}
	for _, raw := range h.events {
		if !sub.Send(&Delivery{Raw: raw}) {
			return nil, ErrSlowSubscriber
		}
	}
	h.subs[sub] = struct{}{}
	return func() {
		h.mu.Lock()
		delete(h.subs, sub)
		h.mu.Unlock()
	}, nil
}

func (h *bashHub) history() []json.RawMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]json.RawMessage(nil), h.events...)
}

func (h *bashHub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *bashHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		go s.Drop(ErrDeleted)
	}
}
