package controller

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/patch"
)

// browse fetches a page from inside the sandbox, so that the sandbox's
// network rules apply to the agent's browsing too.
func browse(ctx context.Context, cl *agentapi.Client, req agentapi.BrowseRequest) (event.ToolObservation, error) {
	r, err := cl.Browse(ctx, req)
	if err != nil {
		var act event.ToolAction = &event.BrowserGetContentAction{}
		if req.URL != "" {
			act = &event.BrowserNavigateAction{URL: req.URL}
		}
		return agentFailure(act, err)
	}
	var b strings.Builder
	if r.Title != "" {
		fmt.Fprintf(&b, "# %s\n", r.Title)
	}
	fmt.Fprintf(&b, "URL: %s (HTTP %d)\n\n", r.URL, r.Status)
	b.WriteString(r.Content)
	if r.NextChar > 0 {
		fmt.Fprintf(&b, "\n\n[%d of %d characters shown; call browser with start_from_char %d for more]",
			r.NextChar-r.StartFromChar, r.TotalChars, r.NextChar)
	}
	if len(r.Links) > 0 {
		b.WriteString("\n\nLinks:\n")
		for i, l := range r.Links {
			fmt.Fprintf(&b, "[%d] %s\n", i+1, l)
		}
	}
	o := &event.BrowserObservation{URL: r.URL}
	o.Content = event.Text(b.String())
	o.IsError = r.Status >= 400
	return o, nil
}

// fileReader is what sandboxFiles needs of the agent's client.
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

// applyPatch applies an apply_patch patch: the new contents are computed
// first, so a patch that does not apply changes nothing.
func (c *Controller) applyPatch(ctx context.Context, cl *agentapi.Client, wd string, x *event.ApplyPatchAction) (event.ToolObservation, error) {
	ops, err := patch.Parse(x.Patch)
	if err != nil {
		return failed(x, "The patch does not parse: "+err.Error()), nil
	}
	files := sandboxFiles{ctx: ctx, cl: cl, wd: wd}
	res, err := patch.Apply(ops, files)
	if err != nil {
		if errors.Is(err, patch.ErrConflict) || errors.Is(err, patch.ErrNotFound) || errors.Is(err, patch.ErrExists) {
			return failed(x, "The patch does not apply: "+err.Error()), nil
		}
		return agentFailure(x, err)
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
			if _, err := cl.WriteFile(ctx, files.abs(target), *ch.NewContent); err != nil {
				return agentFailure(x, fmt.Errorf("write %s: %w", target, err))
			}
		}
		commit.Changes[ch.Path] = fc
	}
	if len(removals) > 0 {
		if err := removeFiles(ctx, cl, removals); err != nil {
			return agentFailure(x, err)
		}
	}
	summary := patch.Summary(res)
	o := &event.ApplyPatchObservation{Message: summary, Fuzz: res.Fuzz, Commit: commit}
	o.Content = event.Text(summary)
	return o, nil
}

// removeFiles deletes files in a terminal of its own.
func removeFiles(ctx context.Context, cl *agentapi.Client, paths []string) error {
	name := "patch-" + event.NewID()[:8]
	if _, err := cl.CreateTerminal(ctx, name, "/"); err != nil {
		return err
	}
	defer cl.CloseTerminal(context.WithoutCancel(ctx), name)
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
	}
	r, err := cl.Exec(ctx, name, agentapi.ExecRequest{Command: "rm -f -- " + strings.Join(quoted, " "), HardTimeout: 30})
	if err != nil {
		return err
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("remove %s: %s", strings.Join(paths, ", "), strings.TrimSpace(r.Output))
	}
	return nil
}
