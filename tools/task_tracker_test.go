package tools_test

import (
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
	"github.com/google/go-cmp/cmp"
)

func TestTaskTracker(t *testing.T) {
	ws := newWorkspace()
	o := call(t, ws, event.ToolTaskTracker, map[string]any{"command": "view"}).(*event.TaskTrackerObservation)
	if text(o) != "The task list is empty." || o.TaskList == nil || len(o.TaskList) != 0 {
		t.Errorf("empty view: %q %#v", text(o), o.TaskList)
	}
	plan := map[string]any{"command": "plan", "task_list": []map[string]any{
		{"title": "read", "status": "done"}, {"title": "write", "notes": "tests first", "status": "in_progress"}}}
	o = call(t, ws, event.ToolTaskTracker, plan).(*event.TaskTrackerObservation)
	want := "Task list updated: 2 tasks.\n1. [x] read\n2. [~] write (tests first)"
	if text(o) != want || o.TaskList[0].ID != "1" || o.TaskList[1].ID != "2" {
		t.Errorf("plan: %q %+v", text(o), o.TaskList)
	}

	// view reads the list the last plan left in the events.
	planned := &event.Observation{Observation: o}
	planned.ID = "obs-1"
	ws.events = []event.Event{planned}
	v := call(t, ws, event.ToolTaskTracker, map[string]any{"command": "view"}).(*event.TaskTrackerObservation)
	if diff := cmp.Diff(v.TaskList, o.TaskList); diff != "" {
		t.Errorf("view after plan (-got +want):\n%s", diff)
	}
	if text(v) != "1. [x] read\n2. [~] write (tests first)" {
		t.Errorf("view text %q", text(v))
	}
	// A plan condensed away is no longer the model's list.
	ws.events = append(ws.events, &event.Condensation{ForgottenEventIDs: []string{"obs-1"}})
	if v := call(t, ws, event.ToolTaskTracker, map[string]any{"command": "view"}); text(v) != "The task list is empty." {
		t.Errorf("view after condensation: %q", text(v))
	}

	tool, _ := tools.Lookup(event.ToolTaskTracker)
	for _, args := range []string{`{"command":"drop"}`, `{"command":"plan","task_list":[{"title":"x","status":"later"}]}`} {
		if _, err := tool.Decode([]byte(args)); err == nil {
			t.Errorf("Decode(%s): no error", args)
		}
	}
	if got := tools.Texts(&event.TaskTrackerAction{TaskList: []event.TaskItem{{Title: "a", Notes: "b"}}}); !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("Texts = %q", got)
	}
}
