package files

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tenLines = "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\n"

func TestEditorRun(t *testing.T) {
	const missingOldStr = "Parameter `old_str` is required for command: str_replace.\n\nHint: To replace text, first run `view` on the file and copy `old_str` " +
		"EXACTLY from its output, including all whitespace and line endings — `str_replace` fails if the anchor does not match " +
		"byte-for-byte. To insert new content after a known line, use `insert` (requires `insert_line` and `new_str`); to create a " +
		"new file, use `create` with `file_text`."
	tests := []struct {
		name     string
		files    map[string]string
		req      EditRequest // "$D" in Path stands for the test directory
		want     string      // Output; "$D" as above
		wantKind error
		wantMsg  string
		wantFile map[string]string // contents after the call
	}{
		{
			name:  "view file",
			files: map[string]string{"a.txt": "line1\nline2\nline3\n"},
			req:   EditRequest{Command: "view", Path: "$D/a.txt"},
			want:  "Here's the result of running `cat -n` on $D/a.txt:\n     1\tline1\n     2\tline2\n     3\tline3\n     4\t\n",
		},
		{
			name:  "view file without final newline",
			files: map[string]string{"a.txt": "line1\nline2"},
			req:   EditRequest{Command: "view", Path: "$D/a.txt"},
			want:  "Here's the result of running `cat -n` on $D/a.txt:\n     1\tline1\n     2\tline2\n",
		},
		{
			name:  "view range",
			files: map[string]string{"a.txt": tenLines},
			req:   EditRequest{Command: "view", Path: "$D/a.txt", ViewRange: []int{2, 4}},
			want:  "Here's the result of running `cat -n` on $D/a.txt:\n     2\tl2\n     3\tl3\n     4\tl4\n",
		},
		{
			name:  "view range to end",
			files: map[string]string{"a.txt": tenLines},
			req:   EditRequest{Command: "view", Path: "$D/a.txt", ViewRange: []int{9, -1}},
			want:  "Here's the result of running `cat -n` on $D/a.txt:\n     9\tl9\n    10\tl10\n",
		},
		{
			name:  "view range past end",
			files: map[string]string{"a.txt": tenLines},
			req:   EditRequest{Command: "view", Path: "$D/a.txt", ViewRange: []int{9, 12}},
			want:  "NOTE: We only show up to 10 since there're only 10 lines in this file.\nHere's the result of running `cat -n` on $D/a.txt:\n     9\tl9\n    10\tl10\n",
		},
		{
			name:     "view range start zero",
			files:    map[string]string{"a.txt": tenLines},
			req:      EditRequest{Command: "view", Path: "$D/a.txt", ViewRange: []int{0, 2}},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `view_range` parameter: [0, 2]. Its first element `0` should be within the range of lines of the file: [1, 10].",
		},
		{
			name:     "view range start past end",
			files:    map[string]string{"a.txt": tenLines},
			req:      EditRequest{Command: "view", Path: "$D/a.txt", ViewRange: []int{11, -1}},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `view_range` parameter: [11, -1]. Its first element `11` should be within the range of lines of the file: [1, 10].",
		},
		{
			name:     "view range backwards",
			files:    map[string]string{"a.txt": tenLines},
			req:      EditRequest{Command: "view", Path: "$D/a.txt", ViewRange: []int{5, 3}},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `view_range` parameter: [5, 3]. Its second element `3` should be greater than or equal to the first element `5`.",
		},
		{
			name:     "view range of one number",
			files:    map[string]string{"a.txt": tenLines},
			req:      EditRequest{Command: "view", Path: "$D/a.txt", ViewRange: []int{5}},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `view_range` parameter: [5]. It should be a list of two integers.",
		},
		{
			name: "view directory",
			files: map[string]string{
				"a.txt": "", "sub/b.txt": "", "sub/deep/c.txt": "", "sub/.h": "", ".hidden": "", ".git/config": "",
			},
			req: EditRequest{Command: "view", Path: "$D/"},
			want: "Here's the files and directories up to 2 levels deep in $D, excluding hidden items:\n" +
				"$D/\n$D/a.txt\n$D/sub/\n$D/sub/b.txt\n$D/sub/deep/\n\n" +
				"2 hidden files/directories in this directory are excluded. You can use 'ls -la $D' to see them.",
		},
		{
			name:     "view directory with range",
			files:    map[string]string{"a.txt": ""},
			req:      EditRequest{Command: "view", Path: "$D", ViewRange: []int{1, 2}},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `view_range` parameter: [1, 2]. The `view_range` parameter is not allowed when `path` points to a directory.",
		},
		{
			name:     "view binary",
			files:    map[string]string{"bin": "ab\x00cd"},
			req:      EditRequest{Command: "view", Path: "$D/bin"},
			wantKind: ErrBinary,
			wantMsg:  "File validation failed for $D/bin: File appears to be binary and this file type cannot be read or edited by this tool.",
		},
		{
			name:     "view invalid utf-8",
			files:    map[string]string{"latin1.txt": "caf\xe9\n"},
			req:      EditRequest{Command: "view", Path: "$D/latin1.txt"},
			wantKind: ErrBinary,
		},
		{
			name:     "view too large",
			files:    map[string]string{"big.txt": strings.Repeat("x", 2<<20+1000)},
			req:      EditRequest{Command: "view", Path: "$D/big.txt"},
			wantKind: ErrTooLarge,
			wantMsg:  "File validation failed for $D/big.txt: File is too large (2.0MB). Maximum allowed size is 1MB.",
		},
		{
			name:  "view crlf file shows lf lines",
			files: map[string]string{"w.txt": "a\r\nb\r\n"},
			req:   EditRequest{Command: "view", Path: "$D/w.txt"},
			want:  "Here's the result of running `cat -n` on $D/w.txt:\n     1\ta\n     2\tb\n     3\t\n",
		},
		{
			name:     "view missing",
			req:      EditRequest{Command: "view", Path: "$D/nope"},
			wantKind: ErrNotFound,
			wantMsg:  "Invalid `path` parameter: $D/nope. The path $D/nope does not exist. Please provide a valid path.",
		},
		{
			name:     "relative path with suggestion",
			files:    map[string]string{"a.txt": ""},
			req:      EditRequest{Command: "view", Path: "a.txt"},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `path` parameter: a.txt. The path should be an absolute path, starting with `/`. Maybe you meant $D/a.txt?",
		},
		{
			name:     "relative path",
			req:      EditRequest{Command: "create", Path: "x/y.txt", FileText: sp("")},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `path` parameter: x/y.txt. The path should be an absolute path, starting with `/`.",
		},
		{
			name:     "path with NUL",
			req:      EditRequest{Command: "view", Path: "$D/a\x00b"},
			wantKind: ErrInvalid,
		},
		{
			name:     "unknown command",
			req:      EditRequest{Command: "delete", Path: "$D/a.txt"},
			wantKind: ErrInvalid,
			wantMsg:  "Unrecognized command delete. The allowed commands for FileEditor tool are: view, create, str_replace, insert, undo_edit",
		},
		{
			name:     "create",
			req:      EditRequest{Command: "create", Path: "$D/new/dir/f.txt", FileText: sp("hello\n")},
			want:     "File created successfully at: $D/new/dir/f.txt",
			wantFile: map[string]string{"new/dir/f.txt": "hello\n"},
		},
		{
			name:     "create existing",
			files:    map[string]string{"a.txt": "old"},
			req:      EditRequest{Command: "create", Path: "$D/a.txt", FileText: sp("new")},
			wantKind: ErrExists,
			wantMsg:  "Invalid `path` parameter: $D/a.txt. File already exists at: $D/a.txt. Cannot overwrite files using command `create`.",
			wantFile: map[string]string{"a.txt": "old"},
		},
		{
			name:     "create without file_text",
			req:      EditRequest{Command: "create", Path: "$D/a.txt"},
			wantKind: ErrInvalid,
			wantMsg: "Parameter `file_text` is required for command: create.\n\nHint: `create` writes a NEW file and needs `file_text` with its full " +
				"content. If the file already exists, use `str_replace` (requires `old_str` copied from a prior `view`) or `insert`.",
		},
		{
			name:     "create too large",
			req:      EditRequest{Command: "create", Path: "$D/big.txt", FileText: sp(strings.Repeat("x", 3<<20))},
			wantKind: ErrTooLarge,
		},
		{
			name:  "str_replace",
			files: map[string]string{"f.txt": tenLines},
			req:   EditRequest{Command: "str_replace", Path: "$D/f.txt", OldStr: sp("l5\n"), NewStr: sp("L5\nL5b\n")},
			want: "The file $D/f.txt has been edited. Here's the result of running `cat -n` on a snippet of $D/f.txt:\n" +
				"     2\tl2\n     3\tl3\n     4\tl4\n     5\tL5\n     6\tL5b\n     7\tl6\n     8\tl7\n     9\tl8\n    10\tl9\n    11\tl10\n    12\t\n" +
				"Review the changes and make sure they are as expected. Edit the file again if necessary.",
			wantFile: map[string]string{"f.txt": "l1\nl2\nl3\nl4\nL5\nL5b\nl6\nl7\nl8\nl9\nl10\n"},
		},
		{
			name:  "str_replace with empty new_str deletes",
			files: map[string]string{"f.txt": "a\nb\nc\n"},
			req:   EditRequest{Command: "str_replace", Path: "$D/f.txt", OldStr: sp("b\n"), NewStr: sp("")},
			want: "The file $D/f.txt has been edited. Here's the result of running `cat -n` on a snippet of $D/f.txt:\n" +
				"     1\ta\n     2\tc\n     3\t\n" +
				"Review the changes and make sure they are as expected. Edit the file again if necessary.",
			wantFile: map[string]string{"f.txt": "a\nc\n"},
		},
		{
			name:     "str_replace retries without surrounding whitespace",
			files:    map[string]string{"f.txt": "a\nfoo()\nc\n"},
			req:      EditRequest{Command: "str_replace", Path: "$D/f.txt", OldStr: sp("  foo()\n\n"), NewStr: sp(" bar()\n")},
			wantFile: map[string]string{"f.txt": "a\nbar()\nc\n"},
		},
		{
			name:     "str_replace keeps crlf",
			files:    map[string]string{"w.txt": "a\r\nb\r\nc\r\n"},
			req:      EditRequest{Command: "str_replace", Path: "$D/w.txt", OldStr: sp("a\nb"), NewStr: sp("x\ny\nz")},
			wantFile: map[string]string{"w.txt": "x\r\ny\r\nz\r\nc\r\n"},
		},
		{
			name:     "str_replace no match",
			files:    map[string]string{"f.txt": tenLines},
			req:      EditRequest{Command: "str_replace", Path: "$D/f.txt", OldStr: sp("nope"), NewStr: sp("x")},
			wantKind: ErrConflict,
			wantMsg:  "No replacement was performed, old_str `nope` did not appear verbatim in $D/f.txt.",
			wantFile: map[string]string{"f.txt": tenLines},
		},
		{
			name:     "str_replace several matches",
			files:    map[string]string{"f.txt": "x = 1\ny = 2\nx = 3\nx, x\n"},
			req:      EditRequest{Command: "str_replace", Path: "$D/f.txt", OldStr: sp("x"), NewStr: sp("z")},
			wantKind: ErrConflict,
			wantMsg:  "No replacement was performed. Multiple occurrences of old_str `x` in lines [1, 3, 4]. Please ensure it is unique.",
			wantFile: map[string]string{"f.txt": "x = 1\ny = 2\nx = 3\nx, x\n"},
		},
		{
			name:     "str_replace same strings",
			files:    map[string]string{"f.txt": "a\n"},
			req:      EditRequest{Command: "str_replace", Path: "$D/f.txt", OldStr: sp("a"), NewStr: sp("a")},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `new_str` parameter: a. No replacement was performed. `new_str` and `old_str` must be different.",
		},
		{
			name:     "str_replace without old_str",
			files:    map[string]string{"f.txt": "a\n"},
			req:      EditRequest{Command: "str_replace", Path: "$D/f.txt", NewStr: sp("b")},
			wantKind: ErrInvalid,
			wantMsg:  missingOldStr,
		},
		{
			name:     "str_replace without new_str",
			files:    map[string]string{"f.txt": "a\n"},
			req:      EditRequest{Command: "str_replace", Path: "$D/f.txt", OldStr: sp("a")},
			wantKind: ErrInvalid,
			wantMsg: "Parameter `new_str` is required for command: str_replace.\n\nHint: `str_replace` needs `new_str` (the replacement text). " +
				"It may be an empty string (\"\") to delete the text matched by `old_str`.",
		},
		{
			name:     "str_replace checks the path before parameters",
			req:      EditRequest{Command: "str_replace", Path: "$D/nope"},
			wantKind: ErrNotFound,
		},
		{
			name:     "str_replace on a directory",
			files:    map[string]string{"sub/": ""},
			req:      EditRequest{Command: "str_replace", Path: "$D/sub", OldStr: sp("a"), NewStr: sp("b")},
			wantKind: ErrConflict,
			wantMsg:  "Invalid `path` parameter: $D/sub. The path $D/sub is a directory and only the `view` command can be used on directories.",
		},
		{
			name:     "str_replace on binary",
			files:    map[string]string{"bin": "a\x00b"},
			req:      EditRequest{Command: "str_replace", Path: "$D/bin", OldStr: sp("a"), NewStr: sp("b")},
			wantKind: ErrBinary,
		},
		{
			name:  "insert at top",
			files: map[string]string{"f.txt": "a\nb\nc\n"},
			req:   EditRequest{Command: "insert", Path: "$D/f.txt", InsertLine: ip(0), NewStr: sp("top")},
			want: "The file $D/f.txt has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n" +
				"     1\ttop\n     2\ta\n     3\tb\n     4\tc\n     5\t\n" +
				"Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary.",
			wantFile: map[string]string{"f.txt": "top\na\nb\nc\n"},
		},
		{
			name:  "insert in the middle of a long file",
			files: map[string]string{"f.txt": tenLines},
			req:   EditRequest{Command: "insert", Path: "$D/f.txt", InsertLine: ip(6), NewStr: sp("x\ny")},
			want: "The file $D/f.txt has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n" +
				"     3\tl3\n     4\tl4\n     5\tl5\n     6\tl6\n     7\tx\n     8\ty\n     9\tl7\n    10\tl8\n    11\tl9\n    12\tl10\n    13\t\n" +
				"Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary.",
			wantFile: map[string]string{"f.txt": "l1\nl2\nl3\nl4\nl5\nl6\nx\ny\nl7\nl8\nl9\nl10\n"},
		},
		{
			name:     "insert at end",
			files:    map[string]string{"f.txt": "a\nb\n"},
			req:      EditRequest{Command: "insert", Path: "$D/f.txt", InsertLine: ip(2), NewStr: sp("c")},
			wantFile: map[string]string{"f.txt": "a\nb\nc\n"},
		},
		{
			name:     "insert after a last line without newline",
			files:    map[string]string{"f.txt": "a\nb"},
			req:      EditRequest{Command: "insert", Path: "$D/f.txt", InsertLine: ip(2), NewStr: sp("c")},
			wantFile: map[string]string{"f.txt": "a\nb\nc\n"},
		},
		{
			name:     "insert into crlf file",
			files:    map[string]string{"w.txt": "a\r\nb\r\n"},
			req:      EditRequest{Command: "insert", Path: "$D/w.txt", InsertLine: ip(1), NewStr: sp("x\ny")},
			wantFile: map[string]string{"w.txt": "a\r\nx\r\ny\r\nb\r\n"},
		},
		{
			name:     "insert past end",
			files:    map[string]string{"f.txt": "a\nb\nc\n"},
			req:      EditRequest{Command: "insert", Path: "$D/f.txt", InsertLine: ip(5), NewStr: sp("x")},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `insert_line` parameter: 5. It should be within the range of allowed values: [0, 3]",
			wantFile: map[string]string{"f.txt": "a\nb\nc\n"},
		},
		{
			name:     "insert negative",
			files:    map[string]string{"f.txt": "a\n"},
			req:      EditRequest{Command: "insert", Path: "$D/f.txt", InsertLine: ip(-1), NewStr: sp("x")},
			wantKind: ErrInvalid,
			wantMsg:  "Invalid `insert_line` parameter: -1. It should be within the range of allowed values: [0, 1]",
		},
		{
			name:     "insert without insert_line",
			files:    map[string]string{"f.txt": "a\n"},
			req:      EditRequest{Command: "insert", Path: "$D/f.txt", NewStr: sp("x")},
			wantKind: ErrInvalid,
			wantMsg: "Parameter `insert_line` is required for command: insert.\n\nHint: `insert` places text AFTER the given line number; provide " +
				"`insert_line` (0 inserts before the first line) and `new_str`. Run `view` first to pick the right line number.",
		},
		{
			name:     "insert without new_str",
			files:    map[string]string{"f.txt": "a\n"},
			req:      EditRequest{Command: "insert", Path: "$D/f.txt", InsertLine: ip(0)},
			wantKind: ErrInvalid,
			wantMsg:  "Parameter `new_str` is required for command: insert.\n\nHint: `insert` needs `new_str` (the text to insert after `insert_line`).",
		},
		{
			name:     "undo without history",
			files:    map[string]string{"f.txt": "a\n"},
			req:      EditRequest{Command: "undo_edit", Path: "$D/f.txt"},
			wantKind: ErrConflict,
			wantMsg:  "No edit history found for $D/f.txt.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			writeFiles(t, dir, tt.files)
			ed := NewEditor(newFS(t, Config{MaxReadBytes: 1 << 20, MaxWriteBytes: 2 << 20}), EditorOptions{WorkDir: dir})
			req := tt.req
			req.Path = strings.ReplaceAll(req.Path, "$D", dir)
			got, err := ed.Run(req)
			checkErr(t, err, tt.wantKind, strings.ReplaceAll(tt.wantMsg, "$D", dir))
			if want := strings.ReplaceAll(tt.want, "$D", dir); tt.want != "" && got.Output != want {
				t.Errorf("output (-got +want):\n%s", cmp.Diff(got.Output, want))
			}
			for name, want := range tt.wantFile {
				if diff := cmp.Diff(readFile(t, filepath.Join(dir, name)), want); diff != "" {
					t.Errorf("%s (-got +want):\n%s", name, diff)
				}
			}
		})
	}
}

func TestEditorViewImage(t *testing.T) {
	dir := tempDir(t)
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	writeFiles(t, dir, map[string]string{"p.PNG": png})
	ed := NewEditor(newFS(t, Config{}), EditorOptions{})
	got, err := ed.View(dir+"/p.PNG", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := EditResult{
		Command:   "view",
		Path:      dir + "/p.PNG",
		Output:    fmt.Sprintf("Image file %s/p.PNG read successfully. Displaying image content.", dir),
		PrevExist: true,
		ImageURL:  "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte(png)),
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

func TestEditorViewTruncates(t *testing.T) {
	dir := tempDir(t)
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	writeFiles(t, dir, map[string]string{"long.txt": b.String()})
	ed := NewEditor(newFS(t, Config{}), EditorOptions{})
	got, err := ed.View(dir+"/long.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Output, textTruncatedNotice) {
		t.Errorf("output has no truncation notice")
	}
	if !strings.HasSuffix(got.Output, "line 4999\n  5001\t\n") {
		t.Errorf("output does not keep the tail: ...%q", got.Output[len(got.Output)-40:])
	}
	// 16000 characters of content, notice included, plus line numbers.
	if n := strings.Count(got.Output, "\n"); n > 16000/7+10 {
		t.Errorf("output has %d lines; truncation did not cut enough", n)
	}
}

// TestEditorUndo runs sequences of commands on one file through one editor.
func TestEditorUndo(t *testing.T) {
	type step struct {
		req      EditRequest
		wantKind error
		want     string // file content after the step
	}
	tests := []struct {
		name  string
		start string // content of $D/f.txt; "" means no file
		steps []step
	}{
		{
			name:  "undo str_replace",
			start: "a\nb\n",
			steps: []step{
				{req: EditRequest{Command: "str_replace", OldStr: sp("a"), NewStr: sp("A")}, want: "A\nb\n"},
				{req: EditRequest{Command: "undo_edit"}, want: "a\nb\n"},
				{req: EditRequest{Command: "undo_edit"}, wantKind: ErrConflict, want: "a\nb\n"},
			},
		},
		{
			name:  "undo in reverse order",
			start: "a\n",
			steps: []step{
				{req: EditRequest{Command: "insert", InsertLine: ip(1), NewStr: sp("b")}, want: "a\nb\n"},
				{req: EditRequest{Command: "str_replace", OldStr: sp("b"), NewStr: sp("c")}, want: "a\nc\n"},
				{req: EditRequest{Command: "insert", InsertLine: ip(0), NewStr: sp("z")}, want: "z\na\nc\n"},
				{req: EditRequest{Command: "undo_edit"}, want: "a\nc\n"},
				{req: EditRequest{Command: "undo_edit"}, want: "a\nb\n"},
				{req: EditRequest{Command: "undo_edit"}, want: "a\n"},
				{req: EditRequest{Command: "undo_edit"}, wantKind: ErrConflict, want: "a\n"},
			},
		},
		{
			name: "nothing to undo after create",
			steps: []step{
				{req: EditRequest{Command: "create", FileText: sp("x\n")}, want: "x\n"},
				{req: EditRequest{Command: "undo_edit"}, wantKind: ErrConflict, want: "x\n"},
			},
		},
		{
			name:  "failed edits leave no history",
			start: "a\n",
			steps: []step{
				{req: EditRequest{Command: "str_replace", OldStr: sp("q"), NewStr: sp("r")}, wantKind: ErrConflict, want: "a\n"},
				{req: EditRequest{Command: "insert", InsertLine: ip(9), NewStr: sp("r")}, wantKind: ErrInvalid, want: "a\n"},
				{req: EditRequest{Command: "undo_edit"}, wantKind: ErrConflict, want: "a\n"},
			},
		},
		{
			name:  "undo restores crlf bytes",
			start: "a\r\nb\r\n",
			steps: []step{
				{req: EditRequest{Command: "str_replace", OldStr: sp("b"), NewStr: sp("c")}, want: "a\r\nc\r\n"},
				{req: EditRequest{Command: "undo_edit"}, want: "a\r\nb\r\n"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			p := dir + "/f.txt"
			if tt.start != "" {
				writeFiles(t, dir, map[string]string{"f.txt": tt.start})
			}
			ed := NewEditor(newFS(t, Config{}), EditorOptions{})
			for i, s := range tt.steps {
				req := s.req
				req.Path = p
				_, err := ed.Run(req)
				if (err != nil) != (s.wantKind != nil) || (err != nil && !errorsIs(err, s.wantKind)) {
					t.Fatalf("step %d (%s): error %v, want %v", i, req.Command, err, s.wantKind)
				}
				if diff := cmp.Diff(readFile(t, p), s.want); diff != "" {
					t.Fatalf("step %d (%s): file (-got +want):\n%s", i, req.Command, diff)
				}
			}
		})
	}
}

func TestEditorUndoOutput(t *testing.T) {
	dir := tempDir(t)
	p := dir + "/f.txt"
	writeFiles(t, dir, map[string]string{"f.txt": "a\nb\n"})
	ed := NewEditor(newFS(t, Config{}), EditorOptions{})
	if _, err := ed.StrReplace(p, "a", "A"); err != nil {
		t.Fatal(err)
	}
	got, err := ed.UndoEdit(p)
	if err != nil {
		t.Fatal(err)
	}
	want := EditResult{
		Command:    "undo_edit",
		Path:       p,
		Output:     "Last edit to " + p + " undone successfully. Here's the result of running `cat -n` on " + p + ":\n     1\ta\n     2\tb\n     3\t\n",
		PrevExist:  true,
		OldContent: sp("A\nb\n"),
		NewContent: sp("a\nb\n"),
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

func TestEditorHistoryBound(t *testing.T) {
	dir := tempDir(t)
	p := dir + "/f.txt"
	writeFiles(t, dir, map[string]string{"f.txt": "0\n"})
	ed := NewEditor(newFS(t, Config{}), EditorOptions{HistoryPerFile: 3})
	for i := range 5 {
		if _, err := ed.StrReplace(p, fmt.Sprint(i), fmt.Sprint(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	var undone []string
	for {
		if _, err := ed.UndoEdit(p); err != nil {
			if !errorsIs(err, ErrConflict) {
				t.Fatal(err)
			}
			break
		}
		undone = append(undone, readFile(t, p))
	}
	if diff := cmp.Diff(undone, []string{"4\n", "3\n", "2\n"}); diff != "" {
		t.Errorf("undone states (-got +want):\n%s", diff)
	}
}

func TestHistoryByteBound(t *testing.T) {
	h := newHistory(10, 10)
	h.push("/a", "aaaa")   // 4
	h.push("/b", "bbbb")   // 8
	h.push("/a", "aaaaaa") // 14: the oldest, /a's "aaaa", goes
	if got, want := [2]int{h.len("/a"), h.len("/b")}, [2]int{1, 1}; got != want {
		t.Fatalf("entries per file = %v, want %v", got, want)
	}
	if h.bytes != 10 {
		t.Fatalf("bytes = %d, want 10", h.bytes)
	}
	h.push("/c", "cccccccccccc") // alone over the bound: nothing is kept
	if h.bytes > 10 {
		t.Fatalf("bytes = %d, over the bound", h.bytes)
	}
}

// TestEditorConcurrent edits one file from many goroutines: every insert
// must land (no lost update) and the race detector must stay quiet.
func TestEditorConcurrent(t *testing.T) {
	dir := tempDir(t)
	p := dir + "/f.txt"
	writeFiles(t, dir, map[string]string{"f.txt": "start\n"})
	ed := NewEditor(newFS(t, Config{}), EditorOptions{})
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := ed.Insert(p, 1, fmt.Sprintf("line %d", i)); err != nil {
				t.Error(err)
			}
			if _, err := ed.View(p, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := strings.Count(readFile(t, p), "\n"); got != n+1 {
		t.Errorf("file has %d lines, want %d", got, n+1)
	}
	for range n {
		if _, err := ed.UndoEdit(p); err != nil && !errorsIs(err, ErrConflict) {
			t.Fatal(err)
		}
	}
}

func TestEditorRoot(t *testing.T) {
	dir := tempDir(t)
	root := dir + "/ws"
	writeFiles(t, dir, map[string]string{"ws/a.txt": "a\n", "secret": "s\n", "ws/out": "->../secret"})
	ed := NewEditor(newFS(t, Config{Root: root}), EditorOptions{})
	if _, err := ed.View(root+"/a.txt", nil); err != nil {
		t.Fatalf("inside root: %v", err)
	}
	for _, p := range []string{dir + "/secret", root + "/../secret", root + "/out"} {
		_, err := ed.View(p, nil)
		checkErr(t, err, ErrInvalid, "")
		if !strings.Contains(err.Error(), "escapes the root") {
			t.Errorf("%s: error %q does not mention the escape", p, err)
		}
	}
	_, err := ed.Create(root+"/out2", "x")
	checkErr(t, err, nil, "")
	_, err = os.Stat(root + "/out2")
	checkErr(t, err, nil, "")
}
