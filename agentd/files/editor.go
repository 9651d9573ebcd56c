package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/gohands/gohands/agentapi"
)

// The file_editor commands.
const (
	CmdView       = "view"
	CmdCreate     = "create"
	CmdStrReplace = "str_replace"
	CmdInsert     = "insert"
	CmdUndoEdit   = "undo_edit"
)

// EditRequest is one file_editor tool call as the model sends it (see agentapi.EditRequest).
type EditRequest = agentapi.EditRequest

// EditResult is what a successful command returns (see agentapi.EditResult).
type EditResult = agentapi.EditResult

// EditorOptions configure an Editor; zero values take the defaults.
type EditorOptions struct {
	// WorkDir, when set, lets the error for a relative path suggest the
	// absolute one ("Maybe you meant /workspace/a.go?") if that exists.
	WorkDir string
	// HistoryPerFile and HistoryBytes bound the undo history.
	HistoryPerFile int
	HistoryBytes   int64
}

// Editor runs the OpenHands file_editor commands on an FS and keeps each
// file's undo history in memory. It is safe for concurrent use; commands
// that change files run one at a time, views alongside each other.
//
// Failures are *Error values whose Msg is the text the OpenHands editor
// gives for the same failure, for the model to read.
type Editor struct {
	fs      *FS
	workDir string

	// mu serializes the commands that change files (and guards history);
	// view shares it, so it never sees a file half rewritten in place.
	mu      sync.RWMutex
	history *history
}

// NewEditor returns an Editor working through fsys.
func NewEditor(fsys *FS, opts EditorOptions) *Editor {
	perFile := opts.HistoryPerFile
	if perFile <= 0 {
		perFile = DefaultHistoryPerFile
	}
	return &Editor{
		fs:      fsys,
		workDir: opts.WorkDir,
		history: newHistory(perFile, orDefault(opts.HistoryBytes, DefaultHistoryBytes)),
	}
}

// Run checks and runs one tool call: the path first, then the parameters
// its command needs, as the OpenHands editor does.
func (e *Editor) Run(req EditRequest) (EditResult, error) {
	switch req.Command {
	case CmdView, CmdCreate, CmdStrReplace, CmdInsert, CmdUndoEdit:
	default:
		return EditResult{}, newError(ErrInvalid, "file_editor", "", fmt.Sprintf(
			"Unrecognized command %s. The allowed commands for FileEditor tool are: %s",
			req.Command, strings.Join([]string{CmdView, CmdCreate, CmdStrReplace, CmdInsert, CmdUndoEdit}, ", ")))
	}
	t, fi, err := e.target(req.Command, req.Path)
	if err != nil {
		return EditResult{}, err
	}
	switch req.Command {
	case CmdView:
		return e.view(t, fi, req.ViewRange)
	case CmdCreate:
		if req.FileText == nil {
			return EditResult{}, missingParam(req.Command, "file_text")
		}
		return e.create(t, *req.FileText)
	case CmdStrReplace:
		if req.OldStr == nil {
			return EditResult{}, missingParam(req.Command, "old_str")
		}
		if req.NewStr == nil {
			return EditResult{}, missingParam(req.Command, "new_str")
		}
		return e.strReplace(t, *req.OldStr, *req.NewStr)
	case CmdInsert:
		if req.InsertLine == nil {
			return EditResult{}, missingParam(req.Command, "insert_line")
		}
		if req.NewStr == nil {
			return EditResult{}, missingParam(req.Command, "new_str")
		}
		return e.insert(t, *req.InsertLine, *req.NewStr)
	default: // CmdUndoEdit
		return e.undoEdit(t)
	}
}

// View shows a file with line numbers, lines viewRange[0] to viewRange[1]
// (-1: to the end) when viewRange is set, or a directory two levels deep.
func (e *Editor) View(path string, viewRange []int) (EditResult, error) {
	t, fi, err := e.target(CmdView, path)
	if err != nil {
		return EditResult{}, err
	}
	return e.view(t, fi, viewRange)
}

// Create writes a new file with fileText, creating missing parent
// directories; an existing path fails with ErrExists.
func (e *Editor) Create(path, fileText string) (EditResult, error) {
	t, _, err := e.target(CmdCreate, path)
	if err != nil {
		return EditResult{}, err
	}
	return e.create(t, fileText)
}

// StrReplace replaces the one occurrence of oldStr in the file with newStr
// (which may be empty). No occurrence, or several, fails with ErrConflict.
func (e *Editor) StrReplace(path, oldStr, newStr string) (EditResult, error) {
	t, _, err := e.target(CmdStrReplace, path)
	if err != nil {
		return EditResult{}, err
	}
	return e.strReplace(t, oldStr, newStr)
}

// Insert inserts text after line insertLine of the file (0: at the top).
func (e *Editor) Insert(path string, insertLine int, text string) (EditResult, error) {
	t, _, err := e.target(CmdInsert, path)
	if err != nil {
		return EditResult{}, err
	}
	return e.insert(t, insertLine, text)
}

// UndoEdit puts back the content the file had before the last edit made
// through this Editor.
func (e *Editor) UndoEdit(path string) (EditResult, error) {
	t, _, err := e.target(CmdUndoEdit, path)
	if err != nil {
		return EditResult{}, err
	}
	return e.undoEdit(t)
}

// target validates path for cmd as the OpenHands editor does: absolute,
// existing unless creating, absent when creating, a directory only for
// view. fi is nil when the path does not exist.
func (e *Editor) target(cmd, path string) (target, fs.FileInfo, error) {
	if err := checkPath(path); err != nil {
		hint := "The path should be an absolute path, starting with `/`."
		shown := path
		switch {
		case strings.IndexByte(path, 0) >= 0:
			hint = "The path must not contain a NUL byte."
			shown = strconv.Quote(path)
		case path != "":
			shown = filepath.Clean(path)
			if e.workDir != "" {
				s := filepath.Join(e.workDir, path)
				if _, err := os.Stat(s); err == nil {
					hint += fmt.Sprintf(" Maybe you meant %s?", s)
				}
			}
		}
		return target{}, nil, invalidParam(ErrInvalid, cmd, "path", shown, hint)
	}
	t, err := e.fs.path(cmd, path, true)
	if err != nil {
		var fe *Error
		if errors.As(err, &fe) && fe.Kind == ErrInvalid {
			return target{}, nil, invalidParam(ErrInvalid, cmd, "path", filepath.Clean(path), "The "+fe.Msg+".")
		}
		return target{}, nil, err
	}
	fi, err := os.Stat(t.real)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return target{}, nil, osError(cmd, t.shown, err)
	}
	if err != nil {
		fi = nil
	}
	switch {
	case cmd == CmdCreate && fi != nil:
		return target{}, nil, invalidParam(ErrExists, cmd, "path", t.shown, fmt.Sprintf(
			"File already exists at: %s. Cannot overwrite files using command `create`.", t.shown))
	case cmd != CmdCreate && fi == nil:
		return target{}, nil, invalidParam(ErrNotFound, cmd, "path", t.shown, fmt.Sprintf(
			"The path %s does not exist. Please provide a valid path.", t.shown))
	case cmd != CmdView && fi != nil && fi.IsDir():
		return target{}, nil, invalidParam(ErrConflict, cmd, "path", t.shown, fmt.Sprintf(
			"The path %s is a directory and only the `view` command can be used on directories.", t.shown))
	}
	return t, fi, nil
}

// invalidParam is the editor's "Invalid `param` parameter" error.
func invalidParam(kind error, cmd, param, value, hint string) *Error {
	msg := fmt.Sprintf("Invalid `%s` parameter: %s.", param, value)
	if hint != "" {
		msg += " " + hint
	}
	return &Error{Op: cmd, Kind: kind, Msg: msg}
}

// paramHint is the recovery hint the OpenHands editor appends when a
// command is sent without a parameter it needs, or "".
func paramHint(cmd, param string) string {
	switch cmd + "/" + param {
	case CmdStrReplace + "/old_str":
		return "To replace text, first run `view` on the file and copy `old_str` " +
			"EXACTLY from its output, including all whitespace and line " +
			"endings — `str_replace` fails if the anchor does not match " +
			"byte-for-byte. To insert new content after a known line, use " +
			"`insert` (requires `insert_line` and `new_str`); to create a " +
			"new file, use `create` with `file_text`."
	case CmdStrReplace + "/new_str":
		return "`str_replace` needs `new_str` (the replacement text). It may be " +
			"an empty string (\"\") to delete the text matched by `old_str`."
	case CmdCreate + "/file_text":
		return "`create` writes a NEW file and needs `file_text` with its full " +
			"content. If the file already exists, use `str_replace` " +
			"(requires `old_str` copied from a prior `view`) or `insert`."
	case CmdInsert + "/insert_line":
		return "`insert` places text AFTER the given line number; provide " +
			"`insert_line` (0 inserts before the first line) and `new_str`. " +
			"Run `view` first to pick the right line number."
	case CmdInsert + "/new_str":
		return "`insert` needs `new_str` (the text to insert after `insert_line`)."
	}
	return ""
}

func missingParam(cmd, param string) *Error {
	msg := fmt.Sprintf("Parameter `%s` is required for command: %s.", param, cmd)
	if hint := paramHint(cmd, param); hint != "" {
		msg += "\n\nHint: " + hint
	}
	return &Error{Op: cmd, Kind: ErrInvalid, Msg: msg}
}

// pyList formats ints as Python prints a list: [1, 2, 3].
func pyList(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
