package docker

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/sandbox"
)

// watch follows the engine's container events for this server's sandboxes
// until Close, so a container that dies or is removed behind our back is
// noticed at once. After losing the stream it re-subscribes and re-checks
// every sandbox it believes running.
func (m *Manager) watch() {
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", labelSandbox+"=1"),
		filters.Arg("label", labelServer+"="+m.opts.ServerID),
		filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionDestroy)),
		filters.Arg("event", string(events.ActionPause)),
		filters.Arg("event", string(events.ActionUnPause)),
	)
	backoff := 100 * time.Millisecond
	resync := false
	for {
		ctx, cancel := context.WithCancel(m.ctx)
		// The client's Events reads the API version without the lock its
		// lazy negotiation takes, so an engine that did not answer at start
		// (the version still unsettled) raced with the first other request
		// to reach it. A request made first settles the version.
		var (
			msgs <-chan events.Message
			errs <-chan error
		)
		if _, err := m.engine.ServerVersion(ctx); err != nil {
			failed := make(chan error, 1)
			failed <- err
			errs = failed
		} else {
			msgs, errs = m.engine.Events(ctx, events.ListOptions{Filters: f})
		}
		if resync {
			m.recheck(ctx)
		}
	stream:
		for {
			select {
			case <-m.ctx.Done():
				cancel()
				return
			case msg := <-msgs:
				backoff = 100 * time.Millisecond
				m.onEvent(ctx, msg)
			case err := <-errs:
				if m.ctx.Err() == nil {
					m.log.Warn("engine event stream lost", "err", err, "retry_in", backoff)
				}
				break stream
			}
		}
		cancel()
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
		resync = true
	}
}

func (m *Manager) onEvent(ctx context.Context, msg events.Message) {
	s := m.reg.Lookup(msg.Actor.ID)
	if s == nil {
		return
	}
	switch msg.Action {
	case events.ActionDie:
		if !s.Status().Up() {
			return // our own stop, start or remove
		}
		info, err := m.engine.ContainerInspect(ctx, s.id)
		if err != nil {
			if isGone(err) {
				s.noticeGone()
			}
			return
		}
		if info.State != nil && !info.State.Running {
			s.noticeExit(ctx, info)
		}
	case events.ActionDestroy:
		s.noticeGone()
	case events.ActionPause:
		if s.Status() == sandbox.StatusRunning { // paused by someone else
			s.setStatus(sandbox.StatusPaused, nil)
		}
	case events.ActionUnPause:
		if s.Status() == sandbox.StatusPaused && s.Client() != nil {
			s.setStatus(sandbox.StatusRunning, nil)
		}
	}
}

// recheck inspects every sandbox believed running, after events may have
// been missed.
func (m *Manager) recheck(ctx context.Context) {
	for _, s := range m.reg.All() {
		if s.Status().Up() {
			s.Inspect(ctx)
		}
	}
}
