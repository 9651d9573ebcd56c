package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
)

// A conversation holds a container only while it has live work: the idle
// one's is removed (stopIdle) and its workspace, which lives outside the
// container (a volume of its own or a host folder), waits for the next.
// What the container changed in its own filesystem (installed packages,
// /etc, /opt, the home folder) goes with it, unless the conversation keeps
// checkpoints: the last one, taken just before the removal, brings those
// paths back into the next container.

// checkpointBeforeRemoval checkpoints the files of the running sandbox sb,
// its own changed paths asked of the engine now (not the listing the end
// of a run made, which misses what commands run since changed), before
// its idle container is removed.
func (a *AgentSession) checkpointBeforeRemoval(ctx context.Context, sb sandbox.Sandbox) error {
	cl := sb.Client()
	if cl == nil {
		return fmt.Errorf("sandbox %s is %s", sb.Handle().ID, sb.Status())
	}
	id := sb.Handle().ID
	if lister, ok := sb.(sandbox.ChangeLister); ok {
		list, err := lister.ChangedPaths(ctx)
		if err != nil {
			return fmt.Errorf("list the sandbox's changed paths: %w", err)
		}
		a.ck.paths.set(id, list)
	}
	// Not waiting: a snapshot or restore under way may be waiting for
	// the runner, which the caller holds. The next idle round tries again.
	if !a.ck.mu.TryLock() {
		return errors.New("a checkpoint or restore is under way")
	}
	defer a.ck.mu.Unlock()
	_, err := a.checkpointOf(ctx, a.LastSeq(), cl, sb)
	return err
}

// revive completes the start of a sandbox that replaces a removed one (an
// idle conversation's, or one that died) on the same workspace: with
// checkpoints, the paths outside the workspace come back from the last
// checkpoint; without, they are gone. The SandboxStatusEvent saying the
// sandbox is ready says which. The caller holds r.op.
func (r *runner) revive(ctx context.Context, sb sandbox.Sandbox) {
	a := r.a
	msg := "the sandbox is ready: a new one on the conversation's workspace"
	if !a.CheckpointsOn() {
		msg += "; system changes outside the workspace (installed packages, files in /etc, /opt or the home folder) " +
			"were dropped with the sandbox before it, as this conversation keeps no checkpoints"
	} else {
		n, err := a.restoreOutside(ctx, sb)
		switch {
		case errors.Is(err, errNoCheckpoint):
			msg += "; system changes outside the workspace were dropped with the sandbox before it: no checkpoint holds them"
		case err != nil:
			a.log.Warn("changes outside the workspace not restored", "err", err)
			msg += "; system changes outside the workspace could not be brought back from the last checkpoint: " + err.Error()
		default:
			msg += fmt.Sprintf("; system changes outside the workspace (%d paths) were brought back from the last checkpoint", n)
		}
	}
	r.announce(event.SandboxRunning, msg, sb)
}

// errNoCheckpoint says a conversation has no checkpoint to restore.
var errNoCheckpoint = errors.New("no checkpoint")

// restoreOutside writes into the new sandbox sb the paths outside the
// working folder that the conversation's last checkpoint holds (the
// workspace, on its volume or host folder, is already there). It returns
// how many it wrote.
func (a *AgentSession) restoreOutside(ctx context.Context, sb sandbox.Sandbox) (int, error) {
	cks := a.m.opts.Checkpoints
	list := cks.List(a.id)
	if len(list) == 0 {
		return 0, errNoCheckpoint
	}
	to := list[len(list)-1]
	// Called within a snapshot or a restore (whose use started this
	// sandbox), the lock is held by the caller, which reads the
	// checkpoint state only once the sandbox is got: the files are
	// written all the same, and that state is left to the caller.
	locked := a.ck.mu.TryLock()
	if locked {
		defer a.ck.mu.Unlock()
	}
	toState, err := cks.State(a.id, to.ID)
	if err != nil {
		return 0, checkpointError("restore: read the checkpoint", err)
	}
	root := a.WorkingDir()
	hdr := restoreHeader{fm: folderMap{to: root}, root: root}
	if f := a.Settings().ForkedFrom; f != nil {
		hdr.fm.from = f.HostDirs
	}
	hdr.paths = hdr.outside(toState)
	if len(hdr.paths) == 0 {
		return 0, nil
	}
	// As if the sandbox held the checkpoint's workspace already: only the
	// paths outside it are written, and nothing in it is deleted.
	from := make(checkpoint.Manifest)
	for p, e := range toState {
		if underAny(hdr.fm.path(p), []string{root}) {
			from[p] = e
		}
	}
	cl, done, err := sb.Use(ctx)
	if err != nil {
		return 0, sandboxError(err)
	}
	defer done()
	files, _, err := a.sendRestore(ctx, cl, hdr, from, to.ID)
	if err != nil {
		return 0, err
	}
	if locked {
		// The workspace may differ from the checkpoint's: the next
		// checkpoint is a whole one.
		a.ck.last, a.ck.since, a.ck.sandboxID = to.ID, "", sb.Handle().ID
	}
	return files, nil
}

// announce appends a SandboxStatusEvent even when the state is the one
// last reported (the backend may have reported it meanwhile), for a
// message that must be seen.
func (r *runner) announce(st event.SandboxState, msg string, sb sandbox.Sandbox) {
	r.mu.Lock()
	r.state, r.err = st, ""
	r.mu.Unlock()
	h := sb.Handle()
	e := &event.SandboxStatus{Status: st, Message: msg, SandboxID: h.ID, Image: h.Image}
	if err := r.a.Append(e); err != nil && !errors.Is(err, ErrDeleted) && !errors.Is(err, ErrClosed) {
		r.a.log.Warn("sandbox status event not stored", "err", err)
	}
}
