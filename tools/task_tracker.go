package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// taskTracker keeps the agent's task list. The list is the one the last
// plan left, read from the conversation's events, so it needs no state
// of its own and survives a restart.
type taskTracker struct{}

func (taskTracker) Spec() Spec {
	return Spec{Name: event.ToolTaskTracker, Kind: "TaskTrackerTool", Actions: []string{"TaskTrackerAction"},
		Description: "Keep a task list for work with several steps. plan replaces the list with task_list; view " +
			"shows it. Mark a task in_progress when you start it and done when it is finished.",
		Parameters: schema(`{"type":"object","properties":{
			"command":{"type":"string","enum":["view","plan"]},
			"task_list":{"type":"array","items":{"type":"object","properties":{
				"title":{"type":"string"},"notes":{"type":"string"},
				"status":{"type":"string","enum":["todo","in_progress","done"]}},"required":["title"]}}},
			"required":["command"]}`),
	}
}

func (taskTracker) Decode(args []byte) (event.ToolAction, error) {
	return decodeInto[event.TaskTrackerAction](args, func(a *event.TaskTrackerAction) error {
		if a.Command != event.TaskView && a.Command != event.TaskPlan {
			return fmt.Errorf("command: %q is not view or plan", a.Command)
		}
		for i, t := range a.TaskList {
			if !slices.Contains([]string{event.TaskTodo, event.TaskInProgress, event.TaskDone}, t.Status) {
				return fmt.Errorf("task_list[%d].status: %q is not todo, in_progress or done", i, t.Status)
			}
		}
		return nil
	})
}

// Run answers task_tracker: plan replaces the list, view shows it.
func (taskTracker) Run(_ context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	x := act.(*event.TaskTrackerAction)
	var tasks []event.TaskItem
	if x.Command == event.TaskPlan {
		tasks = slices.Clone(x.TaskList)
		for i := range tasks {
			if tasks[i].ID == "" {
				tasks[i].ID = fmt.Sprint(i + 1)
			}
		}
	} else {
		evs, err := ws.Events()
		if err != nil {
			return nil, fmt.Errorf("read the task list: %w", err)
		}
		tasks = currentTasks(evs)
	}
	o := &event.TaskTrackerObservation{Command: x.Command, TaskList: tasks}
	if o.TaskList == nil {
		o.TaskList = []event.TaskItem{}
	}
	var b strings.Builder
	if len(tasks) == 0 {
		b.WriteString("The task list is empty.")
	} else {
		if x.Command == event.TaskPlan {
			fmt.Fprintf(&b, "Task list updated: %d tasks.\n", len(tasks))
		}
		for i, t := range tasks {
			mark := map[string]string{event.TaskTodo: "[ ]", event.TaskInProgress: "[~]", event.TaskDone: "[x]"}[t.Status]
			fmt.Fprintf(&b, "%d. %s %s", i+1, mark, t.Title)
			if t.Notes != "" {
				fmt.Fprintf(&b, " (%s)", t.Notes)
			}
			b.WriteByte('\n')
		}
	}
	o.Content = event.Text(strings.TrimRight(b.String(), "\n"))
	return o, nil
}

// currentTasks is the task list the last plan the model still sees left.
func currentTasks(evs []event.Event) []event.TaskItem {
	forgotten := make(map[string]bool)
	for _, e := range evs {
		if c, ok := e.(*event.Condensation); ok {
			for _, id := range c.ForgottenEventIDs {
				forgotten[id] = true
			}
		}
	}
	var tasks []event.TaskItem
	for _, e := range evs {
		if o, ok := e.(*event.Observation); ok && !forgotten[o.ID] {
			if tt, ok := o.Observation.(*event.TaskTrackerObservation); ok && tt.Command == event.TaskPlan {
				tasks = tt.TaskList
			}
		}
	}
	return tasks
}

func (taskTracker) Failed(act event.ToolAction, msg string) event.ToolObservation {
	return fail(&event.TaskTrackerObservation{Command: act.(*event.TaskTrackerAction).Command, TaskList: []event.TaskItem{}}, msg)
}

func (taskTracker) Texts(act event.ToolAction) []string {
	var out []string
	for _, t := range act.(*event.TaskTrackerAction).TaskList {
		out = append(out, t.Title, t.Notes)
	}
	return out
}

func (taskTracker) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolTaskTracker, Fields: []string{"command", "task_list"}}
}
