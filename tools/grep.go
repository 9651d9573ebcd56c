package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// grep finds files by content.
type grep struct{}

func (grep) Spec() Spec {
	return Spec{Name: event.ToolGrep, Kind: "GrepTool", Actions: []string{"GrepAction"},
		Description: "Find files whose content matches a regular expression (RE2), newest first, at most 100.",
		Parameters: schema(`{"type":"object","properties":{
			"pattern":{"type":"string"},
			"path":{"type":"string","description":"Directory to search; the working directory by default."},
			"include":{"type":"string","description":"Glob limiting the files searched, e.g. *.py"}},
			"required":["pattern"]}`),
	}
}

func (grep) Decode(args []byte) (event.ToolAction, error) {
	return decodeInto[event.GrepAction](args, func(a *event.GrepAction) error {
		if a.Pattern == "" {
			return fmt.Errorf("pattern: missing")
		}
		return nil
	})
}

func (t grep) Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	x := act.(*event.GrepAction)
	dir := x.Path
	if dir == "" {
		dir = ws.WorkingDir()
	}
	return withAgent(ctx, ws, func(ag Agent) (event.ToolObservation, error) {
		r, err := ag.Grep(ctx, agentapi.GrepRequest{Pattern: x.Pattern, Path: dir, Include: x.Include, FilesOnly: true, MaxMatches: maxListed})
		if err != nil {
			return agentFailure(t, x, err)
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
	})
}

func (grep) Failed(act event.ToolAction, msg string) event.ToolObservation {
	return fail(&event.GrepObservation{Pattern: act.(*event.GrepAction).Pattern, Matches: []string{}}, msg)
}

func (grep) Texts(act event.ToolAction) []string {
	x := act.(*event.GrepAction)
	return []string{x.Pattern, x.Path, x.Include}
}

func (grep) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolGrep, Fields: []string{"pattern", "path", "include"}}
}
