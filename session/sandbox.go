package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/storage"
)

// sandboxStartTimeout bounds a sandbox start made in the background.
const sandboxStartTimeout = 10 * time.Minute

// Sandbox returns the agent client of the conversation's sandbox, starting
// or restarting it if need be; call done when finished. A sandbox whose
// container died is replaced by a fresh one on the same mounts (so the
// same mounted workspace), with an event saying so.
func (a *AgentSession) Sandbox(ctx context.Context) (cl *agentapi.Client, done func(), err error) {
	cl, _, done, err = a.useSandbox(ctx)
	return cl, done, err
}

// WithSandbox runs fn with the agent client of the conversation's sandbox,
// starting the sandbox first if need be.
//
// When fn fails because the agent could not be reached, the container is
// checked at once rather than when the engine's event arrives (which may
// come after the next call): a container found dead is marked so, with
// an event, and the next call gets a fresh sandbox. A call that never
// reached the agent (its connection was refused) is made once more on the
// fresh sandbox; one that may have run is not.
func (a *AgentSession) WithSandbox(ctx context.Context, fn func(*agentapi.Client) error) error {
	for attempt := 0; ; attempt++ {
		cl, sb, done, err := a.useSandbox(ctx)
		if err != nil {
			return err
		}
		err = fn(cl)
		done()
		if err == nil || ctx.Err() != nil || !unreachable(err) || !a.diedUnder(ctx, sb) {
			return err
		}
		if attempt > 0 || !neverSent(err) {
			return err
		}
		a.log.Warn("the sandbox died before a call reached it; making the call on a fresh one", "err", err)
	}
}

// unreachable reports whether err says the agent could not be reached or
// went away mid-answer, rather than answering an error.
func unreachable(err error) bool {
	if agentapi.StatusOf(err) != 0 {
		return false
	}
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// neverSent reports whether err is a refused connection: the request
// never reached the agent.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// diedUnder asks the engine whether sb's container died, waiting a little
// for the engine to see what the broken connection already showed. It
// reports true when the sandbox is now marked exited or removed.
func (a *AgentSession) diedUnder(ctx context.Context, sb *sandbox.Sandbox) bool {
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := sb.Inspect(ctx)
		if errors.Is(err, sandbox.ErrRemoved) {
			return true
		}
		if err != nil {
			return false // the engine cannot tell
		}
		if st.Status == sandbox.StatusExited || st.Status == sandbox.StatusRemoved {
			return true
		}
		if st.Status != sandbox.StatusRunning {
			return false
		}
		if cl := sb.Client(); cl != nil {
			hctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := cl.Health(hctx)
			cancel()
			if err == nil {
				return false // the agent answers: the failure was the call's own
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// useSandbox is Sandbox, also returning the sandbox.
func (a *AgentSession) useSandbox(ctx context.Context) (cl *agentapi.Client, sb *sandbox.Sandbox, done func(), err error) {
	if a.m.opts.Sandboxes == nil {
		return nil, nil, nil, &Error{Kind: KindUnavailable, Detail: "this server runs no sandboxes", Err: ErrNoAgent}
	}
	a.mu.Lock()
	a.users++
	a.mu.Unlock()
	release := func() {
		a.mu.Lock()
		a.users--
		a.mu.Unlock()
		a.touch()
	}
	for attempt := 0; ; attempt++ {
		sb, err := a.sandbox(ctx)
		if err != nil {
			release()
			return nil, nil, nil, err
		}
		cl, sbDone, err := sb.Use(ctx)
		if err == nil {
			return cl, sb, func() { sbDone(); release() }, nil
		}
		dead := errors.Is(err, sandbox.ErrExited) || errors.Is(err, sandbox.ErrRemoved)
		if !dead || attempt > 0 {
			release()
			return nil, nil, nil, sandboxError(err)
		}
		a.log.Warn("sandbox died; starting a new one", "err", err)
		a.sandboxEvent(event.SandboxError, "the sandbox stopped unexpectedly ("+err.Error()+"); starting a new one with the same workspace", sb)
		if err := sb.Remove(ctx); err != nil && !errors.Is(err, sandbox.ErrRemoved) {
			a.log.Warn("remove dead sandbox", "err", err)
		}
		a.m.store.DeleteSandbox(a.id)
	}
}

// sandbox returns the conversation's sandbox, starting one if it has none.
func (a *AgentSession) sandbox(ctx context.Context) (*sandbox.Sandbox, error) {
	sbs := a.m.opts.Sandboxes
	if sb := sbs.Get(a.id); sb != nil && sb.Status() != sandbox.StatusRemoved {
		return sb, nil
	}
	a.sbOp.Lock()
	defer a.sbOp.Unlock()
	if sb := sbs.Get(a.id); sb != nil && sb.Status() != sandbox.StatusRemoved {
		return sb, nil
	}
	if sb, err := a.adoptRecorded(ctx); sb != nil || err != nil {
		return sb, err
	}
	if err := a.m.makeRoom(ctx, a.id); err != nil {
		return nil, err
	}
	a.mu.Lock()
	s := a.settings.Sandbox
	env := maps.Clone(a.secrets)
	a.mu.Unlock()
	delete(env, apiKeySecret)
	limits, err := limitsOf(s)
	if err != nil {
		return nil, err
	}
	a.sandboxEvent(event.SandboxCreating, "starting the sandbox", nil)
	var lastPull time.Time
	var pullMu sync.Mutex
	spec := sandbox.Spec{Image: s.Image, Limits: limits, Env: env, OnPull: func(p sandbox.PullProgress) {
		pullMu.Lock()
		defer pullMu.Unlock()
		if time.Since(lastPull) < 500*time.Millisecond {
			return
		}
		lastPull = time.Now()
		a.pullEvent(p)
	}}
	sb, err := sbs.Start(ctx, a.id, spec)
	if err != nil {
		a.sandboxEvent(event.SandboxError, "the sandbox could not start: "+err.Error(), nil)
		return nil, sandboxError(err)
	}
	rec := sb.Record()
	if err := a.m.store.PutSandbox(storage.SandboxRecord{ConversationID: a.id, ContainerID: rec.ContainerID,
		Token: rec.Token, Image: sb.Image()}); err != nil {
		a.log.Warn("sandbox record not stored: it will not be re-adopted after a restart", "err", err)
	}
	a.sandboxEvent(event.SandboxRunning, "the sandbox is ready", sb)
	return sb, nil
}

// adoptRecorded takes over the container recorded for the conversation,
// which the re-adoption at start could not (the engine did not answer
// then, say): without this the conversation would get a second container
// and lose what it had in the first. It returns nil and no error when
// there is nothing to adopt, and an error when the engine cannot tell.
func (a *AgentSession) adoptRecorded(ctx context.Context) (*sandbox.Sandbox, error) {
	recs, err := a.m.store.Sandboxes()
	if err != nil {
		return nil, storeError("read sandbox records", err)
	}
	i := slices.IndexFunc(recs, func(r storage.SandboxRecord) bool { return r.ConversationID == a.id })
	if i < 0 {
		return nil, nil
	}
	rec := recs[i]
	sb, err := a.m.opts.Sandboxes.Adopt(ctx, sandbox.Record{ConversationID: a.id, ContainerID: rec.ContainerID, Token: rec.Token})
	switch {
	case err == nil:
		a.log.Info("recorded sandbox re-adopted", "container", rec.ContainerID, "status", sb.Status())
		if sb.Status() == sandbox.StatusRunning {
			a.sandboxEvent(event.SandboxRunning, "the sandbox is ready", sb)
		}
		return sb, nil
	case errors.Is(err, sandbox.ErrEngineDown):
		a.sandboxEvent(event.SandboxError, "the sandbox could not be re-adopted: "+err.Error(), nil)
		return nil, sandboxError(err)
	}
	// The container is gone, or is not this server's: start afresh.
	a.log.Warn("recorded sandbox not re-adopted; starting a new one", "container", rec.ContainerID, "err", err)
	if err := a.m.store.DeleteSandbox(a.id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		a.log.Warn("delete sandbox record", "err", err)
	}
	return nil, nil
}

// startSandboxInBackground starts the sandbox without making the caller
// wait; the outcome arrives as SandboxStatusEvents.
func (a *AgentSession) startSandboxInBackground() {
	a.m.wg.Add(1)
	go func() {
		defer a.m.wg.Done()
		ctx, cancel := context.WithTimeout(a.m.ctx, sandboxStartTimeout)
		defer cancel()
		if _, err := a.sandbox(ctx); err != nil && a.m.ctx.Err() == nil {
			a.log.Warn("sandbox start failed", "err", err)
		}
	}()
}

// stopIdleSandbox stops the sandbox of an idle conversation; the next use
// restarts it with the same workspace.
func (a *AgentSession) stopIdleSandbox(ctx context.Context) {
	if a.m.opts.Sandboxes == nil {
		return
	}
	sb := a.m.opts.Sandboxes.Get(a.id)
	if sb == nil || sb.Status() != sandbox.StatusRunning {
		return
	}
	if err := sb.Stop(ctx); err != nil {
		a.log.Warn("stop idle sandbox", "err", err)
		return
	}
	a.log.Info("idle sandbox stopped")
}

// noteSandbox turns a status change of the sandbox manager into an event.
func (a *AgentSession) noteSandbox(c sandbox.StatusChange) {
	msg, ok := sandboxMessages[c.Status]
	if !ok {
		return // stopping: the next change says how it ended
	}
	if c.Status == sandbox.StatusExited && c.Err != nil {
		msg += ": " + c.Err.Error()
	}
	var sb *sandbox.Sandbox
	if a.m.opts.Sandboxes != nil {
		sb = a.m.opts.Sandboxes.Get(a.id)
	}
	a.sandboxEvent(sandboxState(c.Status), msg, sb)
}

// sandboxMessages say what a sandbox's status means, for people.
var sandboxMessages = map[sandbox.Status]string{
	sandbox.StatusStarting: "the sandbox is starting",
	sandbox.StatusRunning:  "the sandbox is ready",
	sandbox.StatusPaused:   "the sandbox is paused",
	sandbox.StatusStopped:  "the sandbox is stopped; it starts again on next use",
	sandbox.StatusExited:   "the sandbox stopped unexpectedly",
	sandbox.StatusRemoved:  "the sandbox was removed",
}

// sandboxEvent appends a SandboxStatusEvent unless the state is the one
// last reported.
func (a *AgentSession) sandboxEvent(st event.SandboxState, msg string, sb *sandbox.Sandbox) {
	a.mu.Lock()
	if a.sbState == st && st != event.SandboxError {
		a.mu.Unlock()
		return
	}
	a.sbState = st
	a.sbError = ""
	if st == event.SandboxError {
		a.sbError = msg
	}
	a.mu.Unlock()
	e := &event.SandboxStatus{Status: st, Message: msg}
	if sb != nil {
		e.SandboxID, e.Image = sb.ID(), sb.Image()
	}
	if err := a.Append(e); err != nil && !errors.Is(err, ErrDeleted) && !errors.Is(err, ErrClosed) {
		a.log.Warn("sandbox status event not stored", "err", err)
	}
}

// pullEvent reports image pull progress.
func (a *AgentSession) pullEvent(p sandbox.PullProgress) {
	e := &event.SandboxStatus{Status: event.SandboxPulling, Message: fmt.Sprintf("pulling %s", p.Image)}
	if p.Total > 0 {
		f := float64(p.Current) / float64(p.Total)
		e.Progress = &f
	}
	if p.Status != "" {
		e.Message += ": " + p.Status
	}
	a.mu.Lock()
	a.sbState = event.SandboxPulling
	a.mu.Unlock()
	a.Append(e)
}
