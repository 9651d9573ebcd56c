package session

import (
	"context"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

// ToolWorkspace returns the conversation as tools see it: its working
// directory, its sandbox, and its events.
func (a *AgentSession) ToolWorkspace() tools.Workspace { return toolWorkspace{a} }

type toolWorkspace struct{ a *AgentSession }

func (w toolWorkspace) WorkingDir() string { return w.a.Settings().Workspace.WorkingDir }

func (w toolWorkspace) WithAgent(ctx context.Context, fn func(tools.Agent) error) error {
	return w.a.WithSandbox(ctx, func(cl *agentapi.Client) error { return fn(cl) })
}

// Events returns the events of the active branch (event.ActiveBranch).
func (w toolWorkspace) Events() ([]event.Event, error) {
	evs, err := w.a.EventsAfter(0, 0)
	if err != nil {
		return nil, err
	}
	return event.ActiveBranch(evs), nil
}

func (w toolWorkspace) Search(query string, limit int) ([]event.Event, error) {
	evs, _, err := w.a.Events(EventQuery{Body: query, Desc: true, Limit: limit})
	return evs, err
}
