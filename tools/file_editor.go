package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// fileEditor views, creates and edits files through the agent.
type fileEditor struct{}

func (fileEditor) Spec() Spec {
	return Spec{Name: event.ToolFileEditor, Kind: "FileEditorTool", Actions: []string{"FileEditorAction"},
		Description: "View, create and edit files. view shows a file with line numbers (view_range [first, last] " +
			"for part of it; -1 for the end) or lists a directory two levels deep. create writes a new file " +
			"(file_text). str_replace replaces old_str, which must occur exactly once, by new_str. insert adds " +
			"new_str after line insert_line (0 for the top). undo_edit reverts the last edit of a file. Paths " +
			"are absolute.",
		Parameters: schema(`{"type":"object","properties":{
			"command":{"type":"string","enum":["view","create","str_replace","insert","undo_edit"]},
			"path":{"type":"string","description":"Absolute path of the file or directory."},
			"file_text":{"type":"string"},
			"old_str":{"type":"string"},
			"new_str":{"type":"string"},
			"insert_line":{"type":"integer"},
			"view_range":{"type":"array","items":{"type":"integer"}}},
			"required":["command","path"]}`),
	}
}

func (fileEditor) Decode(args []byte) (event.ToolAction, error) {
	return decodeInto[event.FileEditorAction](args, func(a *event.FileEditorAction) error {
		if !slices.Contains([]string{event.EditorView, event.EditorCreate, event.EditorStrReplace,
			event.EditorInsert, event.EditorUndoEdit}, a.Command) {
			return fmt.Errorf("command: %q is not view, create, str_replace, insert or undo_edit", a.Command)
		}
		if a.Path == "" {
			return fmt.Errorf("path: missing")
		}
		return nil
	})
}

func (t fileEditor) Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	x := act.(*event.FileEditorAction)
	return withAgent(ctx, ws, func(ag Agent) (event.ToolObservation, error) {
		r, err := ag.Edit(ctx, agentapi.EditRequest{Command: x.Command, Path: x.Path, FileText: x.FileText,
			ViewRange: x.ViewRange, OldStr: x.OldStr, NewStr: x.NewStr, InsertLine: x.InsertLine})
		if err != nil {
			if st := agentapi.StatusOf(err); st >= 400 && st < 500 {
				return t.Failed(x, agentDetail(err)), nil
			}
			return nil, err
		}
		o := &event.FileEditorObservation{Command: r.Command, Path: r.Path, PrevExist: r.PrevExist,
			OldContent: r.OldContent, NewContent: r.NewContent}
		o.Content = event.Text(r.Output)
		if r.ImageURL != "" {
			o.Content = append(o.Content, event.Content{Type: event.ContentImage, ImageURLs: []string{r.ImageURL}})
		}
		return o, nil
	})
}

func (fileEditor) Failed(act event.ToolAction, msg string) event.ToolObservation {
	x := act.(*event.FileEditorAction)
	return fail(&event.FileEditorObservation{Command: x.Command, Path: x.Path}, msg)
}

func (fileEditor) Texts(act event.ToolAction) []string {
	x := act.(*event.FileEditorAction)
	return []string{x.Path, deref(x.FileText), deref(x.OldStr), deref(x.NewStr)}
}

func (fileEditor) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolFileEditor, Paths: []string{"path"},
		Fields: []string{"command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range"}}
}

// agentDetail returns the agent's own words for an error, without the
// client's prefix, however wrapped.
func agentDetail(err error) string {
	var he *agentapi.HTTPError
	if errors.As(err, &he) {
		return he.Detail
	}
	return err.Error()
}
