package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/storage"
)

// sandboxStartTimeout bounds a sandbox start made in the background.
const sandboxStartTimeout = 10 * time.Minute

// runner owns the sandbox of one conversation: its saved handle (the
// conversation's sandbox record in the store), the recovery of a sandbox
// an earlier server started, the replacement of one that died, the stop
// when the conversation is idle, and the SandboxStatusEvents that say so.
// The conversation's id is the backend's owner key.
type runner struct {
	a  *AgentSession
	be sandbox.Backend // nil: the conversation has no sandbox

	op sync.Mutex // serialises starts, recoveries and stops

	mu    sync.Mutex
	sb    sandbox.Sandbox // nil until started or recovered
	uses  int             // Use calls not yet done
	state event.SandboxState
	err   string // the message of the last SandboxError
	// fresh says a new sandbox started and its first use has not come:
	// the conversation's first checkpoint is taken then.
	fresh bool
	// deleted says the conversation is deleted: no sandbox is got for it
	// any more.
	deleted bool
}

// current returns the sandbox the runner holds, unless it is gone.
func (r *runner) current() sandbox.Sandbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sb != nil && r.sb.Status() == sandbox.StatusRemoved {
		return nil
	}
	return r.sb
}

func (r *runner) set(sb sandbox.Sandbox) {
	r.mu.Lock()
	r.sb = sb
	r.mu.Unlock()
}

// inUse reports whether a Use is not done yet.
func (r *runner) inUse() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uses > 0
}

// running reports whether the sandbox is up (running or paused).
func (r *runner) running() bool {
	sb := r.current()
	if sb == nil {
		return false
	}
	st := sb.Status()
	return st == sandbox.StatusRunning || st == sandbox.StatusPaused
}

// use returns the agent client, getting the sandbox first (see get). A
// sandbox found dead is replaced by a fresh one on the same mounts (so
// the same mounted workspace), with an event saying so.
func (r *runner) use(ctx context.Context) (cl *agentapi.Client, sb sandbox.Sandbox, done func(), err error) {
	if r.be == nil {
		return nil, nil, nil, &Error{Kind: KindUnavailable, Detail: "this server runs no sandboxes", Err: ErrNoAgent}
	}
	if err := r.a.m.checkHostFolder(r.a.WorkingDir()); err != nil {
		return nil, nil, nil, err
	}
	r.mu.Lock()
	r.uses++
	r.mu.Unlock()
	release := func() {
		r.mu.Lock()
		r.uses--
		r.mu.Unlock()
		r.a.touch()
	}
	for attempt := 0; ; attempt++ {
		sb, err := r.get(ctx)
		if err != nil {
			release()
			return nil, nil, nil, err
		}
		cl, sbDone, err := sb.Use(ctx)
		if err == nil {
			r.mu.Lock()
			fresh := r.fresh
			r.fresh = false
			r.mu.Unlock()
			if fresh {
				r.a.baseCheckpoint(ctx)
			}
			return cl, sb, sync.OnceFunc(func() { sbDone(); release() }), nil
		}
		dead := errors.Is(err, sandbox.ErrExited) || errors.Is(err, sandbox.ErrRemoved)
		if !dead || attempt > 0 {
			release()
			return nil, nil, nil, sandboxError(err)
		}
		r.a.log.Warn("sandbox died; starting a new one", "err", err)
		r.event(event.SandboxError, "the sandbox stopped unexpectedly ("+err.Error()+"); starting a new one with the same workspace", sb)
		r.drop(ctx, sb)
	}
}

// drop removes a dead sandbox and forgets its handle.
func (r *runner) drop(ctx context.Context, sb sandbox.Sandbox) {
	r.a.closeMCP()
	if err := sb.Remove(ctx); err != nil && !errors.Is(err, sandbox.ErrRemoved) {
		r.a.log.Warn("remove dead sandbox", "err", err)
	}
	r.mu.Lock()
	if r.sb == sb {
		r.sb = nil
	}
	r.mu.Unlock()
	r.a.m.live.release(r)
	r.forgetContainer(sb.Handle())
}

// forgetContainer updates the saved record once the container of h is
// gone: what remains is its workspace volume, if any, which the next
// sandbox mounts. The record, kept without a container, also tells the
// next start that it replaces a sandbox (see revive).
func (r *runner) forgetContainer(h sandbox.Handle) {
	rec := storage.SandboxRecord{ConversationID: r.a.id, Image: h.Image, Volume: h.Volume}
	if err := r.a.m.store.PutSandbox(rec); err != nil && !errors.Is(err, storage.ErrNotFound) {
		r.a.log.Warn("sandbox record not updated", "err", err)
	}
}

// get returns the conversation's sandbox: the one the runner holds, the
// one its saved handle names (recovered), or a new one. A sandbox that
// is not up is started on a slot of the live cap (see liveSlot).
func (r *runner) get(ctx context.Context) (sandbox.Sandbox, error) {
	if sb := r.current(); sb != nil && r.a.m.live.holds(r) {
		return sb, nil
	}
	r.op.Lock()
	defer r.op.Unlock()
	sb := r.current()
	if sb == nil {
		r.mu.Lock()
		deleted := r.deleted
		r.mu.Unlock()
		if deleted {
			return nil, notFound("conversation", r.a.id)
		}
		var err error
		if sb, err = r.recoverSaved(ctx); err != nil {
			return nil, err
		}
	}
	return r.liveSlot(ctx, sb)
}

// start starts a new sandbox and saves its handle. The caller holds r.op.
func (r *runner) start(ctx context.Context) (sandbox.Sandbox, error) {
	a := r.a
	a.mu.Lock()
	s := a.settings.Sandbox
	env := maps.Clone(a.secrets)
	a.mu.Unlock()
	delete(env, apiKeySecret)
	limits, err := limitsOf(s)
	if err != nil {
		return nil, err
	}
	r.event(event.SandboxCreating, "starting the sandbox", nil)
	var lastPull time.Time
	var pullMu sync.Mutex
	spec := sandbox.Spec{Image: s.Image, Limits: limits, Env: env, OnPull: func(p sandbox.PullProgress) {
		pullMu.Lock()
		defer pullMu.Unlock()
		if time.Since(lastPull) < 500*time.Millisecond {
			return
		}
		lastPull = time.Now()
		r.pullEvent(p)
	}}
	if m, ok := a.m.hostMount(a.Settings().Workspace.WorkingDir); ok {
		spec.AddMounts = []sandbox.Mount{m}
	}
	if v, ok := a.m.trees.volume(a.id); ok {
		// A fork's copy-on-write workspace, on every start of its
		// sandbox: the mount on the workspace, which the backend then
		// makes no volume for.
		spec.AddMounts = append(spec.AddMounts, sandbox.Mount{Source: v, Target: a.WorkingDir(), Volume: true})
	}
	// The workspace outlives the sandbox: on the volume of the one
	// before, when there was one.
	spec.WorkingDir = a.WorkingDir()
	prev, replaces, err := r.savedRecord()
	if err != nil {
		return nil, err
	}
	spec.Volume = prev.Volume
	sb, err := r.startOverlay(ctx, spec, replaces)
	if sb == nil && err == nil {
		sb, err = r.be.Start(ctx, a.id, spec)
	}
	if err != nil {
		r.event(event.SandboxError, "the sandbox could not start: "+err.Error(), nil)
		return nil, sandboxError(err)
	}
	r.set(sb)
	r.mu.Lock()
	r.fresh = true
	r.mu.Unlock()
	h := sb.Handle()
	if err := a.m.store.PutSandbox(storage.SandboxRecord{ConversationID: a.id, ContainerID: h.ID,
		Token: h.Token, Image: h.Image, Volume: h.Volume}); err != nil {
		a.log.Warn("sandbox record not stored: it will not be re-adopted after a restart", "err", err)
	}
	if replaces {
		r.revive(ctx, sb)
		return sb, nil
	}
	r.event(event.SandboxRunning, "the sandbox is ready", sb)
	return sb, nil
}

// startOverlay gives the first sandbox of a fork with a copy-on-write
// workspace from the backend's fork pool (sandbox.OverlayStarter): a
// sandbox already running, on whose working folder the backend mounts
// the fork's overlay. It returns no sandbox and no error when the
// backend cannot (no pool, none ready, the mount refused): the caller
// starts one then. Later starts of the fork's sandbox (after an idle
// removal, say) mount the same folders as a volume.
func (r *runner) startOverlay(ctx context.Context, spec sandbox.Spec, replaces bool) (sandbox.Sandbox, error) {
	ov, ok := r.be.(sandbox.OverlayStarter)
	if !ok || replaces {
		return nil, nil
	}
	v, ok := r.a.m.trees.overlay(r.a.id, r.a.WorkingDir())
	if !ok {
		return nil, nil
	}
	sb, err := ov.StartOverlay(ctx, r.a.id, spec, v)
	if errors.Is(err, sandbox.ErrNoOverlay) {
		r.a.log.DebugContext(ctx, "the fork's sandbox is started, not taken from the fork pool", "err", err)
		return nil, nil
	}
	return sb, err
}

// savedRecord returns the record saved for the conversation, if any.
func (r *runner) savedRecord() (storage.SandboxRecord, bool, error) {
	rec, err := r.a.m.store.Sandbox(r.a.id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return rec, false, nil
	case err != nil:
		return rec, false, storeError("read the sandbox record", err)
	}
	return rec, true, nil
}

// savedHandle returns the handle saved for the conversation, if any. Its
// ID is empty when the container was removed and only its workspace
// volume (or nothing) remains.
func (r *runner) savedHandle() (sandbox.Handle, bool, error) {
	rec, ok, err := r.savedRecord()
	if err != nil || !ok {
		return sandbox.Handle{}, false, err
	}
	return sandbox.Handle{Owner: r.a.id, ID: rec.ContainerID, Token: rec.Token, Image: rec.Image,
		Volume: rec.Volume, Disposable: rec.Volume != ""}, true, nil
}

// recoverSaved takes over the sandbox the saved handle names: one an
// earlier server started, or one this server let go (an evicted
// conversation's). Without this the conversation would get a second
// sandbox and lose what it had in the first. It returns nil and no error
// when there is nothing to recover, and an error when the engine cannot
// tell. The caller holds r.op.
func (r *runner) recoverSaved(ctx context.Context) (sandbox.Sandbox, error) {
	h, ok, err := r.savedHandle()
	if err != nil || !ok || h.ID == "" {
		return nil, err // nothing to recover: the next sandbox starts
	}
	sb, err := r.be.Recover(ctx, h)
	switch {
	case err == nil:
		r.a.log.Info("recorded sandbox re-adopted", "container", h.ID, "status", sb.Status())
		r.set(sb)
		if sb.Status() == sandbox.StatusRunning {
			r.event(event.SandboxRunning, "the sandbox is ready", sb)
		}
		return sb, nil
	case errors.Is(err, sandbox.ErrEngineDown):
		r.event(event.SandboxError, "the sandbox could not be re-adopted: "+err.Error(), nil)
		return nil, sandboxError(err)
	}
	// The sandbox is gone, or is not this server's: start afresh.
	r.a.log.Warn("recorded sandbox not re-adopted; starting a new one", "container", h.ID, "err", err)
	r.forgetContainer(h)
	return nil, nil
}

// takeOver recovers the sandbox of h for Restore, unless the runner holds
// one already. It holds r.op throughout, as get does, so that a sandbox
// is never recovered twice: a use that comes meanwhile waits for this one
// recovery, not for Restore's queue.
func (r *runner) takeOver(ctx context.Context, h sandbox.Handle) error {
	r.op.Lock()
	defer r.op.Unlock()
	if r.current() != nil {
		return nil
	}
	sb, err := r.be.Recover(ctx, h)
	if err != nil {
		return err
	}
	r.set(sb)
	if up(sb) {
		r.a.m.live.hold(r)
	}
	return nil
}

// startInBackground gets the sandbox without making the caller wait; the
// outcome arrives as SandboxStatusEvents. The conversation is not idle
// meanwhile.
func (r *runner) startInBackground() {
	m := r.a.m
	r.mu.Lock()
	r.uses++
	r.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			r.mu.Lock()
			r.uses--
			r.mu.Unlock()
			r.a.touch()
		}()
		ctx, cancel := context.WithTimeout(m.ctx, sandboxStartTimeout)
		defer cancel()
		// Made ahead of need, it takes a free slot of the live cap or
		// none: it neither waits for room nor stops another sandbox.
		if r.current() == nil && !m.live.free(r) {
			r.a.log.Info("the live sandbox cap is reached: the sandbox starts on first use")
			return
		}
		if _, err := r.get(ctx); err != nil {
			if !r.sandboxUp() {
				m.live.release(r)
			}
			if m.ctx.Err() == nil {
				r.a.log.Warn("sandbox start failed", "err", err)
			}
		}
	}()
}

// stopIdle ends the sandbox of an idle conversation unless a Use came in
// meanwhile, and reports whether the sandbox is down (or there is none).
// A sandbox whose workspace lives outside it (Handle.Disposable) is
// removed, its changes outside the workspace checkpointed first when the
// conversation has checkpoints; the next use starts a new one on the
// same workspace (see revive). Any other is stopped, and the next use
// starts it again.
func (r *runner) stopIdle(ctx context.Context) bool {
	r.op.Lock()
	defer r.op.Unlock()
	sb := r.current()
	if sb == nil {
		return true
	}
	st := sb.Status()
	if st == sandbox.StatusPaused || r.inUse() {
		return false
	}
	h := sb.Handle()
	if h.Disposable && st != sandbox.StatusRunning && r.a.CheckpointsOn() {
		// Its changes outside the workspace are checkpointed running,
		// on a free slot of the live cap (or at a later round).
		if !r.a.m.live.free(r) {
			return false
		}
		if err := sb.Start(ctx); err != nil {
			r.a.m.live.release(r)
			r.a.log.Warn("idle sandbox not removed: it did not start to be checkpointed", "err", err)
			return false
		}
		r.a.m.live.started(r)
		st = sandbox.StatusRunning
	}
	if !h.Disposable {
		if st != sandbox.StatusRunning {
			return true
		}
		r.a.closeMCP() // its servers stop with it
		if err := sb.Stop(ctx); err != nil {
			r.a.log.Warn("stop idle sandbox", "err", err)
			return false
		}
		r.a.m.live.release(r)
		r.a.log.Info("idle sandbox stopped")
		return true
	}
	if st == sandbox.StatusRunning && r.a.CheckpointsOn() {
		if err := r.a.checkpointBeforeRemoval(ctx, sb); err != nil {
			// Not removed: what it holds outside the workspace would be lost.
			r.a.log.Warn("idle sandbox not removed: its changes could not be checkpointed", "err", err)
			return false
		}
		if r.inUse() {
			return false
		}
	}
	r.a.closeMCP()
	if err := sb.Remove(ctx); err != nil && !errors.Is(err, sandbox.ErrRemoved) {
		r.a.log.Warn("remove idle sandbox", "err", err)
		return false
	}
	r.set(nil)
	r.a.m.live.release(r)
	r.forgetContainer(h)
	r.a.log.Info("idle sandbox removed; its workspace is kept", "volume", h.Volume)
	return true
}

// release lets the backend forget the sandbox of an evicted conversation
// (stopped; its saved handle recovers it on next use) or of a deleted one
// (its pending removal removes it).
func (r *runner) release() {
	r.a.closeMCP()
	r.op.Lock()
	defer r.op.Unlock()
	r.releaseHeld()
}

// releaseHeld lets the backend forget the sandbox the runner holds, and
// returns it (nil when none). The caller holds r.op.
func (r *runner) releaseHeld() sandbox.Sandbox {
	sb := r.current()
	if sb != nil && r.be != nil {
		r.be.Release(sb.Handle())
	}
	r.set(nil)
	r.a.m.live.release(r)
	return sb
}

// forget lets the backend forget the sandbox of a deleted conversation,
// whose pending removal names removing: at once, unless a start or a
// recovery is under way, which the delete does not wait for; then once it
// ends, in the background, and a sandbox it made that the removal does
// not name is removed there (a server stopped meanwhile leaves it to the
// next one's Restore, as an orphan).
func (r *runner) forget(removing string) {
	r.mu.Lock()
	r.deleted = true
	r.mu.Unlock()
	r.a.closeMCP()
	if r.op.TryLock() {
		r.releaseHeld()
		r.op.Unlock()
		return
	}
	m := r.a.m
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.op.Lock()
		sb := r.releaseHeld()
		r.op.Unlock()
		r.a.closeMCP()
		if sb == nil || sb.Handle().ID == removing {
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
		defer cancel()
		if err := r.be.Destroy(ctx, sb.Handle()); err != nil {
			r.a.log.Warn("the sandbox started while its conversation was deleted was not removed", "sandbox", sb.Handle().ID, "err", err)
		}
	}()
}

// restart stops and starts the sandbox (same workspace), or gets one.
func (r *runner) restart(ctx context.Context) error {
	if r.be == nil {
		return nil
	}
	// A host folder removed meanwhile is made again: the engine would
	// refuse to mount a missing one.
	r.a.m.hostMount(r.a.WorkingDir())
	r.a.closeMCP()
	if sb := r.current(); sb != nil {
		return r.restartOn(ctx, sb)
	}
	_, err := r.get(ctx)
	return err
}

// handle returns the handle of the conversation's sandbox: the one held,
// or else the saved one.
func (r *runner) handle() (sandbox.Handle, bool) {
	if r.be == nil {
		return sandbox.Handle{}, false
	}
	if sb := r.current(); sb != nil {
		return sb.Handle(), true
	}
	h, ok, _ := r.savedHandle()
	return h, ok
}

// note turns a status change of the backend into an event.
func (r *runner) note(c sandbox.StatusChange) {
	msg, ok := sandboxMessages[c.Status]
	if !ok {
		return // stopping: the next change says how it ended
	}
	if c.Status == sandbox.StatusExited && c.Err != nil {
		msg += ": " + c.Err.Error()
	}
	r.event(sandboxState(c.Status), msg, r.current())
	r.wentDown(c.Status)
}

// sandboxMessages say what a sandbox's status means, for people.
var sandboxMessages = map[sandbox.Status]string{
	sandbox.StatusStarting: "the sandbox is starting",
	sandbox.StatusRunning:  "the sandbox is ready",
	sandbox.StatusPaused:   "the sandbox is paused",
	sandbox.StatusStopped:  "the sandbox is stopped; it starts again on next use",
	sandbox.StatusExited:   "the sandbox stopped unexpectedly",
	sandbox.StatusRemoved:  "the sandbox was removed; the next use starts a new one on the same workspace",
}

// event appends a SandboxStatusEvent unless the state is the one last
// reported.
func (r *runner) event(st event.SandboxState, msg string, sb sandbox.Sandbox) {
	r.mu.Lock()
	if r.state == st && st != event.SandboxError {
		r.mu.Unlock()
		return
	}
	r.state = st
	r.err = ""
	if st == event.SandboxError {
		r.err = msg
	}
	r.mu.Unlock()
	e := &event.SandboxStatus{Status: st, Message: msg}
	if sb != nil {
		h := sb.Handle()
		e.SandboxID, e.Image = h.ID, h.Image
	}
	if err := r.a.Append(e); err != nil && !errors.Is(err, ErrDeleted) && !errors.Is(err, ErrClosed) {
		r.a.log.Warn("sandbox status event not stored", "err", err)
	}
}

// pullEvent reports image pull progress.
func (r *runner) pullEvent(p sandbox.PullProgress) {
	e := &event.SandboxStatus{Status: event.SandboxPulling, Message: fmt.Sprintf("pulling %s", p.Image)}
	if p.Total > 0 {
		f := float64(p.Current) / float64(p.Total)
		e.Progress = &f
	}
	if p.Status != "" {
		e.Message += ": " + p.Status
	}
	r.mu.Lock()
	r.state = event.SandboxPulling
	r.mu.Unlock()
	r.a.Append(e)
}

// info fills what SandboxInfo says of the sandbox.
func (r *runner) info(si *SandboxInfo) {
	r.mu.Lock()
	if r.state != "" {
		si.Status = string(r.state)
		si.Error = r.err
	}
	r.mu.Unlock()
	sb := r.current()
	if sb == nil {
		// Not taken over yet (after a restart, or an eviction): the
		// saved one's.
		if h, ok, _ := r.savedHandle(); ok && r.be != nil {
			si.ID, si.Image = h.ID, cmp.Or(h.Image, si.Image)
		}
		return
	}
	h := sb.Handle()
	si.ID, si.Image = h.ID, h.Image
	if st := sb.Status(); st != sandbox.StatusStopping {
		si.Status = string(sandboxState(st))
	}
}

// Sandbox returns the agent client of the conversation's sandbox, starting
// or restarting it if need be; call done when finished. A sandbox whose
// container died is replaced by a fresh one on the same mounts (so the
// same mounted workspace), with an event saying so.
func (a *AgentSession) Sandbox(ctx context.Context) (cl *agentapi.Client, done func(), err error) {
	cl, _, done, err = a.sb.use(ctx)
	return cl, done, err
}

// WithSandbox runs fn with the agent client of the conversation's sandbox,
// starting the sandbox first if need be.
//
// When fn fails because the agent could not be reached, the sandbox is
// checked at once rather than when the engine's event arrives (which may
// come after the next call): a sandbox found dead is marked so, with an
// event, and the next call gets a fresh sandbox. A call that never
// reached the agent (its connection was refused) is made once more on the
// fresh sandbox; one that may have run is not.
func (a *AgentSession) WithSandbox(ctx context.Context, fn func(*agentapi.Client) error) error {
	for attempt := 0; ; attempt++ {
		cl, sb, done, err := a.sb.use(ctx)
		if err != nil {
			return err
		}
		err = fn(cl)
		done()
		if err == nil || ctx.Err() != nil || !unreachable(err) || !diedUnder(ctx, sb) {
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

// diedUnder asks the engine whether sb died, waiting a little for the
// engine to see what the broken connection already showed. It reports
// true when the sandbox is now marked exited or removed.
func diedUnder(ctx context.Context, sb sandbox.Sandbox) bool {
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
