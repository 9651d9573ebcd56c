package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/session"
)

// maxListed is how many files glob and grep report.
const maxListed = 100

// execute runs one action and returns its observation. Tool failures are
// observations with is_error; an error return means the sandbox could
// not be reached, which the observation then reports too.
func (c *Controller) execute(ctx context.Context, a *session.AgentSession, h *history, act event.ToolAction) event.ToolObservation {
	switch x := act.(type) {
	case *event.ThinkAction:
		o := &event.ThinkObservation{}
		o.Content = event.Text("Your thought has been logged.")
		return o
	case *event.FinishAction:
		o := &event.FinishObservation{}
		o.Content = event.Text(x.Message)
		return o
	case *event.TaskTrackerAction:
		return trackTasks(h, x)
	}
	wd := a.Settings().Workspace.WorkingDir
	var obs event.ToolObservation
	err := a.WithSandbox(ctx, func(cl *agentapi.Client) error {
		var err error
		switch x := act.(type) {
		case *event.GlobAction:
			obs, err = glob(ctx, cl, wd, x)
		case *event.GrepAction:
			obs, err = grep(ctx, cl, wd, x)
		case *event.ApplyPatchAction:
			obs, err = c.applyPatch(ctx, cl, wd, x)
		case *event.BrowserNavigateAction:
			obs, err = browse(ctx, cl, agentapi.BrowseRequest{URL: x.URL})
		case *event.BrowserGetContentAction:
			obs, err = browse(ctx, cl, agentapi.BrowseRequest{StartFromChar: x.StartFromChar, ExtractLinks: x.ExtractLinks})
		default:
			obs, err = session.Execute(ctx, cl, act)
		}
		return err
	})
	if err != nil {
		return failed(act, "The action could not run: "+err.Error())
	}
	return obs
}

// Execute runs an action a user asked for directly. See
// session.Executor.
func (c *Controller) Execute(ctx context.Context, a *session.AgentSession, act event.ToolAction) event.ToolObservation {
	h := history{}
	if evs, err := events(a); err == nil {
		h = buildHistory(evs)
	}
	return c.execute(ctx, a, &h, act)
}

// failed is the observation of an action that could not run.
func failed(act event.ToolAction, msg string) event.ToolObservation {
	var o event.ToolObservation
	switch x := act.(type) {
	case *event.TerminalAction:
		code := -1
		o = &event.TerminalObservation{Command: x.Command, ExitCode: &code, Metadata: event.TerminalMetadata{ExitCode: -1, PID: -1}}
	case *event.FileEditorAction:
		o = &event.FileEditorObservation{Command: x.Command, Path: x.Path}
	case *event.GlobAction:
		o = &event.GlobObservation{Pattern: x.Pattern, Files: []string{}}
	case *event.GrepAction:
		o = &event.GrepObservation{Pattern: x.Pattern, Matches: []string{}}
	case *event.ApplyPatchAction:
		o = &event.ApplyPatchObservation{}
	case *event.BrowserNavigateAction:
		o = &event.BrowserObservation{URL: x.URL}
	case *event.BrowserGetContentAction:
		o = &event.BrowserObservation{}
	default:
		o = &event.ThinkObservation{}
	}
	out := o.Output()
	out.Content, out.IsError = event.Text(msg), true
	return o
}

// agentFailure turns an agent's 4xx answer into an observation error and
// passes anything else on as the sandbox failing.
func agentFailure(act event.ToolAction, err error) (event.ToolObservation, error) {
	if st := agentapi.StatusOf(err); st >= 400 && st < 500 {
		return failed(act, detail(err)), nil
	}
	return nil, err
}

func detail(err error) string {
	if he, ok := err.(*agentapi.HTTPError); ok {
		return he.Detail
	}
	return err.Error()
}

func glob(ctx context.Context, cl *agentapi.Client, wd string, x *event.GlobAction) (event.ToolObservation, error) {
	dir := x.Path
	if dir == "" {
		dir = wd
	}
	r, err := cl.Glob(ctx, agentapi.GlobRequest{Pattern: x.Pattern, Dir: dir, Limit: maxListed})
	if err != nil {
		return agentFailure(x, err)
	}
	o := &event.GlobObservation{Files: r.Files, Pattern: x.Pattern, SearchPath: r.Dir, Truncated: r.Truncated}
	if o.Files == nil {
		o.Files = []string{}
	}
	var b strings.Builder
	if len(r.Files) == 0 {
		fmt.Fprintf(&b, "No files match %q in %s.", x.Pattern, r.Dir)
	} else {
		fmt.Fprintf(&b, "%d files match %q in %s, newest first:\n%s", len(r.Files), x.Pattern, r.Dir, strings.Join(r.Files, "\n"))
		if r.Truncated {
			fmt.Fprintf(&b, "\n(only the first %d are listed; narrow the pattern)", maxListed)
		}
	}
	o.Content = event.Text(b.String())
	return o, nil
}

func grep(ctx context.Context, cl *agentapi.Client, wd string, x *event.GrepAction) (event.ToolObservation, error) {
	dir := x.Path
	if dir == "" {
		dir = wd
	}
	r, err := cl.Grep(ctx, agentapi.GrepRequest{Pattern: x.Pattern, Path: dir, Include: x.Include, FilesOnly: true, MaxMatches: maxListed})
	if err != nil {
		return agentFailure(x, err)
	}
	o := &event.GrepObservation{Matches: []string{}, Pattern: x.Pattern, SearchPath: dir, IncludePattern: x.Include, Truncated: r.Truncated}
	for _, m := range r.Matches {
		o.Matches = append(o.Matches, m.Path)
	}
	var b strings.Builder
	if len(o.Matches) == 0 {
		fmt.Fprintf(&b, "No files in %s match %q.", dir, x.Pattern)
	} else {
		fmt.Fprintf(&b, "%d files in %s match %q:\n%s", len(o.Matches), dir, x.Pattern, strings.Join(o.Matches, "\n"))
		if r.Truncated {
			fmt.Fprintf(&b, "\n(only the first %d are listed; narrow the search)", maxListed)
		}
	}
	o.Content = event.Text(b.String())
	return o, nil
}

// trackTasks answers task_tracker: plan replaces the list, view shows it.
func trackTasks(h *history, x *event.TaskTrackerAction) event.ToolObservation {
	if x.Command == event.TaskPlan {
		h.tasks = x.TaskList
		for i := range h.tasks {
			if h.tasks[i].ID == "" {
				h.tasks[i].ID = fmt.Sprint(i + 1)
			}
		}
	}
	o := &event.TaskTrackerObservation{Command: x.Command, TaskList: h.tasks}
	if o.TaskList == nil {
		o.TaskList = []event.TaskItem{}
	}
	var b strings.Builder
	if len(h.tasks) == 0 {
		b.WriteString("The task list is empty.")
	} else {
		if x.Command == event.TaskPlan {
			fmt.Fprintf(&b, "Task list updated: %d tasks.\n", len(h.tasks))
		}
		for i, t := range h.tasks {
			mark := map[string]string{event.TaskTodo: "[ ]", event.TaskInProgress: "[~]", event.TaskDone: "[x]"}[t.Status]
			fmt.Fprintf(&b, "%d. %s %s", i+1, mark, t.Title)
			if t.Notes != "" {
				fmt.Fprintf(&b, " (%s)", t.Notes)
			}
			b.WriteByte('\n')
		}
	}
	o.Content = event.Text(strings.TrimRight(b.String(), "\n"))
	return o
}
