package tools

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/patch"
	"github.com/gohands/gohands/security"
)

// applyPatch applies patches in the "*** Begin Patch" format. The new
// contents are computed first, so a patch that does not apply changes
// nothing.
type applyPatch struct{}

func (applyPatch) Spec() Spec {
	return Spec{Name: event.ToolApplyPatch, Kind: "ApplyPatchTool", Actions: []string{"ApplyPatchAction"},
		Description: "Apply a patch to files: \"*** Begin Patch\", then for each file \"*** Add File: path\" " +
			"(lines starting with +), \"*** Delete File: path\" or \"*** Update File: path\" followed by hunks " +
			"starting with @@ whose lines start with space (context), - (remove) or + (add), then \"*** End Patch\". " +
			"Relative paths start at the working directory.",
		Parameters: schema(`{"type":"object","properties":{"patch":{"type":"string"}},"required":["patch"]}`),
	}
}

func (applyPatch) Decode(args []byte) (event.ToolAction, error) {
	return decodeInto[event.ApplyPatchAction](args, func(a *event.ApplyPatchAction) error {
		if strings.TrimSpace(a.Patch) == "" {
			return fmt.Errorf("patch: missing")
		}
		return nil
	})
}

func (t applyPatch) Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	x := act.(*event.ApplyPatchAction)
	ops, err := patch.Parse(x.Patch)
	if err != nil {
		return t.Failed(x, "The patch does not parse: "+err.Error()), nil
	}
	return withAgent(ctx, ws, func(ag Agent) (event.ToolObservation, error) {
		return t.apply(ctx, ag, ws.WorkingDir(), x, ops)
	})
}

func (t applyPatch) apply(ctx context.Context, ag Agent, wd string, x *event.ApplyPatchAction, ops []patch.Op) (event.ToolObservation, error) {
	files := sandboxFiles{ctx: ctx, cl: ag, wd: wd}
	res, err := patch.Apply(ops, files)
	if err != nil {
		if errors.Is(err, patch.ErrConflict) || errors.Is(err, patch.ErrNotFound) || errors.Is(err, patch.ErrExists) {
			return t.Failed(x, "The patch does not apply: "+err.Error()), nil
		}
		return agentFailure(t, x, err)
	}
	commit := &event.PatchCommit{Changes: make(map[string]event.FileChange)}
	var removals []string
	for _, ch := range res.Changes {
		fc := event.FileChange{Type: ch.Type, OldContent: ch.OldContent, NewContent: ch.NewContent}
		target := ch.Path
		if ch.MovePath != "" {
			mp := ch.MovePath
			fc.MovePath = &mp
			target = ch.MovePath
			removals = append(removals, files.abs(ch.Path))
		}
		switch ch.Type {
		case patch.Delete:
			removals = append(removals, files.abs(ch.Path))
		default:
			if _, err := ag.WriteFile(ctx, files.abs(target), *ch.NewContent); err != nil {
				return agentFailure(t, x, fmt.Errorf("write %s: %w", target, err))
			}
		}
		commit.Changes[ch.Path] = fc
	}
	if len(removals) > 0 {
		if err := removeFiles(ctx, ag, removals); err != nil {
			return agentFailure(t, x, err)
		}
	}
	summary := patch.Summary(res)
	o := &event.ApplyPatchObservation{Message: summary, Fuzz: res.Fuzz, Commit: commit}
	o.Content = event.Text(summary)
	return o, nil
}

func (applyPatch) Failed(_ event.ToolAction, msg string) event.ToolObservation {
	return fail(&event.ApplyPatchObservation{}, msg)
}

func (applyPatch) Texts(act event.ToolAction) []string {
	return []string{act.(*event.ApplyPatchAction).Patch}
}

// SecurityFields: rules see the files the patch touches as path.
func (applyPatch) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolApplyPatch, Fields: []string{"patch", "path"}, Paths: []string{"path"},
		Derive: func(act event.ToolAction) map[string][]string {
			if x, ok := act.(*event.ApplyPatchAction); ok {
				return map[string][]string{"path": patchPaths(x.Patch)}
			}
			return nil
		}}
}

// patchPaths returns the files a patch adds, updates, deletes or moves
// to, read line by line so that a patch that does not parse still shows
// them.
func patchPaths(patch string) []string {
	var paths []string
	for line := range strings.Lines(patch) {
		line = strings.TrimRight(line, "\r\n")
		for _, prefix := range []string{"*** Add File:", "*** Update File:", "*** Delete File:", "*** Move to:"} {
			if p, ok := strings.CutPrefix(line, prefix); ok {
				if p = strings.TrimSpace(p); p != "" {
					paths = append(paths, p)
				}
			}
		}
	}
	return paths
}

// fileReader is what sandboxFiles needs of the agent.
type fileReader interface {
	ReadFile(ctx context.Context, path string, start, end int) (agentapi.FileText, error)
	Stat(ctx context.Context, path string) (agentapi.FileEntry, error)
}

// sandboxFiles reads the sandbox's files for patch.Apply; relative paths
// start at the working directory.
type sandboxFiles struct {
	ctx context.Context
	cl  fileReader
	wd  string
}

func (f sandboxFiles) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(f.wd, p)
}

func (f sandboxFiles) Read(p string) (string, error) {
	t, err := f.cl.ReadFile(f.ctx, f.abs(p), 0, -1)
	if agentapi.StatusOf(err) == 404 {
		return "", patch.ErrNotFound
	}
	return t.Content, err
}

func (f sandboxFiles) Exists(p string) bool {
	_, err := f.cl.Stat(f.ctx, f.abs(p))
	return err == nil
}

// removeFiles deletes files in a terminal of its own.
func removeFiles(ctx context.Context, ag Agent, paths []string) error {
	name := "patch-" + event.NewID()[:8]
	if _, err := ag.CreateTerminal(ctx, name, "/"); err != nil {
		return err
	}
	defer ag.CloseTerminal(context.WithoutCancel(ctx), name)
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
	}
	r, err := ag.Exec(ctx, name, agentapi.ExecRequest{Command: "rm -f -- " + strings.Join(quoted, " "), HardTimeout: 30})
	if err != nil {
		return err
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("remove %s: %s", strings.Join(paths, ", "), strings.TrimSpace(r.Output))
	}
	return nil
}
