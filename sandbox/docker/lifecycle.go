package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// Use returns the agent client of a running sandbox, restarting it first
// when it was stopped. Call done when the work is finished (the owner
// counts uses to tell when the sandbox is idle; done itself does nothing
// here). A paused sandbox gives ErrPaused; one that died gives its
// *ExitError (restart it with Start).
func (s *Sandbox) Use(ctx context.Context) (cl *agentapi.Client, done func(), err error) {
	return s.cell.Use(ctx, &s.op, s.name, s.boot)
}

// Start starts a stopped or exited sandbox again (same container, same
// workspace) and waits for its agent. Starting a running sandbox does nothing.
func (s *Sandbox) Start(ctx context.Context) error {
	return s.cell.Start(ctx, &s.op, s.name, s.boot)
}

// Stop stops the container (SIGTERM, then SIGKILL after
// Options.StopTimeout). The next Use or Start restarts it.
func (s *Sandbox) Stop(ctx context.Context) error {
	return s.cell.Stop(ctx, &s.op, s.name, s.stopFrom)
}

// stopFrom stops a container whose status was st and is now
// StatusStopping, with s.op held.
func (s *Sandbox) stopFrom(ctx context.Context, st sandbox.Status) error {
	if st == sandbox.StatusPaused {
		// A frozen process cannot act on SIGTERM.
		if err := s.m.engine.ContainerUnpause(ctx, s.id); err != nil && !cerrdefs.IsConflict(err) {
			s.setStatus(st, nil)
			return fmt.Errorf("unpause sandbox %s to stop it: %w", s.name, engineErr(s.m.engine, err))
		}
	}
	secs := int(math.Ceil(s.m.opts.StopTimeout.Seconds()))
	if err := s.m.engine.ContainerStop(ctx, s.id, container.StopOptions{Timeout: &secs}); err != nil {
		if isGone(err) {
			s.setStatus(sandbox.StatusRemoved, nil)
			return fmt.Errorf("sandbox %s: %w", s.name, sandbox.ErrRemoved)
		}
		s.resync(ctx)
		return fmt.Errorf("stop sandbox %s: %w", s.name, engineErr(s.m.engine, err))
	}
	s.setStatus(sandbox.StatusStopped, nil)
	s.m.log.InfoContext(ctx, "sandbox stopped", "container", s.name, "owner", s.Owner())
	return nil
}

// Pause freezes every process in the sandbox; Unpause resumes them.
func (s *Sandbox) Pause(ctx context.Context) error {
	// The paused sandbox keeps its client for Unpause.
	return s.flip(ctx, "pause", sandbox.StatusRunning, sandbox.StatusPaused, s.m.engine.ContainerPause)
}

// Unpause resumes a paused sandbox.
func (s *Sandbox) Unpause(ctx context.Context) error {
	return s.flip(ctx, "unpause", sandbox.StatusPaused, sandbox.StatusRunning, s.m.engine.ContainerUnpause)
}

// flip moves the sandbox from status from to status to with the engine
// call named verb; it does nothing when the sandbox is already at to and
// fails when it is at neither.
func (s *Sandbox) flip(ctx context.Context, verb string, from, to sandbox.Status, call func(context.Context, string) error) error {
	s.op.Lock()
	defer s.op.Unlock()
	switch st := s.Status(); st {
	case to:
		return nil
	case from:
	default:
		return fmt.Errorf("%s sandbox %s: it is %s", verb, s.name, st)
	}
	if err := call(ctx, s.id); err != nil {
		s.resync(ctx)
		return fmt.Errorf("%s sandbox %s: %w", verb, s.name, engineErr(s.m.engine, err))
	}
	s.setStatus(to, nil)
	return nil
}

// Remove deletes the container (running or not), its anonymous volumes and
// its run folder, and forgets the sandbox. Named volumes and host folders
// stay, and so does its workspace volume when its owner keeps it (see
// sandbox.Sandbox.Remove). Removing twice is not an error.
func (s *Sandbox) Remove(ctx context.Context) error {
	s.op.Lock()
	defer s.op.Unlock()
	return s.remove(ctx)
}

func (s *Sandbox) remove(ctx context.Context) error {
	if s.Status() == sandbox.StatusRemoved {
		return nil
	}
	s.setStatus(sandbox.StatusStopping, s.Err())
	err := s.m.engine.ContainerRemove(ctx, s.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !isGone(err) {
		s.resync(ctx)
		return fmt.Errorf("remove sandbox %s: %w", s.name, engineErr(s.m.engine, err))
	}
	if s.runDir != "" {
		os.RemoveAll(s.runDir)
	}
	if s.slot != "" {
		if err := s.m.dropSlot(s.slot); err != nil {
			s.m.log.WarnContext(ctx, "slot of a removed sandbox not removed", "slot", s.slot, "err", err)
		}
	}
	s.mu.Lock()
	drop := s.volume != "" && !s.keep
	s.mu.Unlock()
	if drop {
		if err := s.m.removeVolume(ctx, s.volume); err != nil {
			s.m.log.WarnContext(ctx, "workspace volume of a removed sandbox not removed", "volume", s.volume, "err", err)
		}
	}
	s.m.reg.Forget(s)
	s.setStatus(sandbox.StatusRemoved, s.Err())
	return nil
}

// Inspect asks the engine for the container's state. A container found
// dead while the Manager thought it running is marked exited with an
// *ExitError (see Err).
func (s *Sandbox) Inspect(ctx context.Context) (sandbox.State, error) {
	info, err := s.m.engine.ContainerInspect(ctx, s.id)
	if err != nil {
		if isGone(err) {
			s.noticeGone()
			return sandbox.State{Status: sandbox.StatusRemoved}, fmt.Errorf("sandbox %s: %w", s.name, sandbox.ErrRemoved)
		}
		return sandbox.State{Status: s.Status()}, fmt.Errorf("inspect sandbox %s: %w", s.name, engineErr(s.m.engine, err))
	}
	var st sandbox.State
	if info.State != nil {
		st.Running, st.Paused = info.State.Running, info.State.Paused
		st.ExitCode, st.OOMKilled, st.Error = info.State.ExitCode, info.State.OOMKilled, info.State.Error
		st.StartedAt, _ = time.Parse(time.RFC3339Nano, info.State.StartedAt)
		st.FinishedAt, _ = time.Parse(time.RFC3339Nano, info.State.FinishedAt)
		if !info.State.Running {
			s.noticeExit(ctx, info)
		}
	}
	st.Status, st.Endpoint = s.Status(), s.Endpoint()
	return st, nil
}

// Check reports whether the sandbox is usable: the container runs and the
// agent answers. It gives the *ExitError of a container that died.
func (s *Sandbox) Check(ctx context.Context) error {
	st, err := s.Inspect(ctx)
	if err != nil {
		return err
	}
	switch st.Status {
	case sandbox.StatusExited:
		return s.Err()
	case sandbox.StatusPaused:
		return fmt.Errorf("sandbox %s: %w", s.name, sandbox.ErrPaused)
	case sandbox.StatusRunning:
	default:
		return fmt.Errorf("sandbox %s is %s", s.name, st.Status)
	}
	cl := s.Client()
	if cl == nil {
		return fmt.Errorf("sandbox %s is %s", s.name, s.Status())
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := cl.Health(hctx); err != nil {
		return fmt.Errorf("sandbox %s: runtime-agent health: %w", s.name, err)
	}
	return nil
}

// noticeExit marks a running or paused sandbox whose container stopped
// without being asked to as exited, with the reason and last log lines.
func (s *Sandbox) noticeExit(ctx context.Context, info container.InspectResponse) {
	if !s.Status().Up() {
		return
	}
	err := s.exitError(ctx, info, false, nil)
	if !s.Status().Up() {
		return // stopped or removed by us meanwhile
	}
	s.setStatus(sandbox.StatusExited, err)
	s.m.log.WarnContext(ctx, "sandbox exited unexpectedly", "container", s.name, "owner", s.Owner(), "err", err)
}

// noticeGone marks a sandbox whose container was removed behind our back.
func (s *Sandbox) noticeGone() {
	switch s.Status() {
	case sandbox.StatusRemoved, sandbox.StatusStopping, sandbox.StatusStarting:
		return
	}
	err := s.Err()
	if err == nil {
		err = fmt.Errorf("sandbox %s: container removed outside GoHands", s.name)
	}
	if s.runDir != "" {
		os.RemoveAll(s.runDir)
	}
	s.m.reg.Forget(s)
	s.setStatus(sandbox.StatusRemoved, err)
}

// resync sets the status from the engine after a failed operation.
func (s *Sandbox) resync(ctx context.Context) {
	info, err := s.m.engine.ContainerInspect(ctx, s.id)
	switch {
	case isGone(err):
		s.m.reg.Forget(s)
		s.setStatus(sandbox.StatusRemoved, s.Err())
	case err != nil || info.State == nil:
	case info.State.Paused:
		s.setStatus(sandbox.StatusPaused, nil)
	case info.State.Running:
		if s.Client() != nil {
			s.setStatus(sandbox.StatusRunning, nil)
		}
	default:
		s.setStatus(sandbox.StatusStopped, s.Err())
	}
}

func isGone(err error) bool {
	return err != nil && (cerrdefs.IsNotFound(err) || errors.Is(err, sandbox.ErrRemoved))
}
