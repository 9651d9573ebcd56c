package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// maxListed is how many files glob and grep report.
const maxListed = 100

// glob finds files by name.
type glob struct{}

func (glob) Spec() Spec {
	return Spec{Name: event.ToolGlob, Kind: "GlobTool", Actions: []string{"GlobAction"},
		Description: "Find files by name with a glob pattern (\"**/*.go\"), newest first, at most 100.",
		Parameters: schema(`{"type":"object","properties":{
			"pattern":{"type":"string"},
			"path":{"type":"string","description":"Directory to search; the working directory by default."}},
			"required":["pattern"]}`),
	}
}

func (glob) Decode(args []byte) (event.ToolAction, error) {
	return decodeInto[event.GlobAction](args, func(a *event.GlobAction) error {
		if a.Pattern == "" {
			return fmt.Errorf("pattern: missing")
		}
		return nil
	})
}

func (t glob) Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	x := act.(*event.GlobAction)
	dir := x.Path
	if dir == "" {
		dir = ws.WorkingDir()
	}
	return withAgent(ctx, ws, func(ag Agent) (event.ToolObservation, error) {
		r, err := ag.Glob(ctx, agentapi.GlobRequest{Pattern: x.Pattern, Dir: dir, Limit: maxListed})
		if err != nil {
			return agentFailure(t, x, err)
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
	})
}

func (glob) Failed(act event.ToolAction, msg string) event.ToolObservation {
	return fail(&event.GlobObservation{Pattern: act.(*event.GlobAction).Pattern, Files: []string{}}, msg)
}

func (glob) Texts(act event.ToolAction) []string {
	x := act.(*event.GlobAction)
	return []string{x.Pattern, x.Path}
}

func (glob) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolGlob, Fields: []string{"pattern", "path"}}
}
