package patch_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/patch"
)

// memFiles is a file tree in memory. It records the paths it was asked for.
type memFiles struct {
	files map[string]string
	asked []string
}

func (m *memFiles) Exists(path string) bool {
	m.asked = append(m.asked, path)
	_, ok := m.files[path]
	return ok
}

func (m *memFiles) Read(path string) (string, error) {
	s, ok := m.files[path]
	if !ok {
		return "", fmt.Errorf("read %s: no such file", path)
	}
	return s, nil
}

func ptr(s string) *string { return &s }

// update is a patch updating one file with the given lines.
func update(path string, body ...string) string {
	return lines(append(append([]string{"*** Begin Patch", "*** Update File: " + path}, body...), "*** End Patch")...)
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		patch string
		want  patch.Result
	}{
		{
			name:  "add",
			files: map[string]string{},
			patch: lines("*** Begin Patch", "*** Add File: dir/new.txt", "+a", "+b", "*** End Patch"),
			want:  patch.Result{Changes: []patch.Change{{Type: patch.Add, Path: "dir/new.txt", NewContent: ptr("a\nb\n")}}},
		},
		{
			name:  "delete",
			files: map[string]string{"old.txt": "x\n"},
			patch: lines("*** Begin Patch", "*** Delete File: old.txt", "*** End Patch"),
			want:  patch.Result{Changes: []patch.Change{{Type: patch.Delete, Path: "old.txt", OldContent: ptr("x\n")}}},
		},
		{
			name:  "one hunk",
			files: map[string]string{"f": "a\nb\nc\nd\n"},
			patch: update("f", "@@", " b", "-c", "+C", "+C2", " d"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a\nb\nc\nd\n"), NewContent: ptr("a\nb\nC\nC2\nd\n")}}},
		},
		{
			name:  "several hunks in order",
			files: map[string]string{"f": "x\n1\nx\n2\nx\n"},
			patch: update("f", "@@", "-x", "+first", "@@", " 2", "-x", "+last"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("x\n1\nx\n2\nx\n"), NewContent: ptr("first\n1\nx\n2\nlast\n")}}},
		},
		{
			name:  "later hunk searched after the earlier one",
			files: map[string]string{"f": "x\nx\n"},
			patch: update("f", "@@", "-x", "+a", "@@", "-x", "+b"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("x\nx\n"), NewContent: ptr("a\nb\n")}}},
		},
		{
			name:  "anchor picks the occurrence",
			files: map[string]string{"f.py": "def a():\n    pass\ndef b():\n    pass\n"},
			patch: update("f.py", "@@ def b():", "-    pass", "+    return 1"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f.py",
				OldContent: ptr("def a():\n    pass\ndef b():\n    pass\n"),
				NewContent: ptr("def a():\n    pass\ndef b():\n    return 1\n")}}},
		},
		{
			name:  "stacked anchors",
			files: map[string]string{"m.py": "class A:\n    def f(self):\n        pass\nclass B:\n    def f(self):\n        pass\n"},
			patch: update("m.py", "@@ class B:", "@@     def f(self):", "-        pass", "+        return 2"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "m.py",
				OldContent: ptr("class A:\n    def f(self):\n        pass\nclass B:\n    def f(self):\n        pass\n"),
				NewContent: ptr("class A:\n    def f(self):\n        pass\nclass B:\n    def f(self):\n        return 2\n")}}},
		},
		{
			name:  "anchor found as part of a line counts as fuzz",
			files: map[string]string{"f.py": "x = 1\nclass Base(object):\n    x = 1\n"},
			patch: update("f.py", "@@ class Base", "-    x = 1", "+    x = 2"),
			want: patch.Result{Fuzz: 1, Changes: []patch.Change{{Type: patch.Update, Path: "f.py",
				OldContent: ptr("x = 1\nclass Base(object):\n    x = 1\n"),
				NewContent: ptr("x = 1\nclass Base(object):\n    x = 2\n")}}},
		},
		{
			name:  "insertion after an anchor",
			files: map[string]string{"f": "import a\nfunc main() {\n}\n"},
			patch: update("f", "@@ import a", "+import b"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("import a\nfunc main() {\n}\n"), NewContent: ptr("import a\nimport b\nfunc main() {\n}\n")}}},
		},
		{
			name:  "insertion without context goes at the end",
			files: map[string]string{"f": "a\n"},
			patch: update("f", "@@", "+b"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a\n"), NewContent: ptr("a\nb\n")}}},
		},
		{
			name:  "end of file picks the last occurrence",
			files: map[string]string{"f": "}\nx\n}\n"},
			patch: update("f", "@@", " }", "+// end", "*** End of File"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("}\nx\n}\n"), NewContent: ptr("}\nx\n}\n// end\n")}}},
		},
		{
			name:  "move",
			files: map[string]string{"a.go": "package a\n"},
			patch: update("a.go", "*** Move to: b/b.go", "@@", "-package a", "+package b"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "a.go", MovePath: "b/b.go",
				OldContent: ptr("package a\n"), NewContent: ptr("package b\n")}}},
		},
		{
			name:  "move without hunks",
			files: map[string]string{"a": "x"},
			patch: update("a", "*** Move to: b"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "a", MovePath: "b",
				OldContent: ptr("x"), NewContent: ptr("x")}}},
		},
		{
			name:  "trailing whitespace ignored, one line of fuzz each",
			files: map[string]string{"f": "a  \nb\t\nc\n"},
			patch: update("f", "@@", " a", " b", "-c", "+d"),
			want: patch.Result{Fuzz: 2, Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a  \nb\t\nc\n"), NewContent: ptr("a  \nb\t\nd\n")}}},
		},
		{
			name:  "surrounding whitespace ignored, the file's context kept",
			files: map[string]string{"f": "\tif x {\n\t\ty()\n\t}\n"},
			patch: update("f", "@@", " if x {", "-  y()", "+\t\tz()", "   }"),
			want: patch.Result{Fuzz: 3, Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("\tif x {\n\t\ty()\n\t}\n"), NewContent: ptr("\tif x {\n\t\tz()\n\t}\n")}}},
		},
		{
			name:  "exact match preferred over an earlier fuzzy one",
			files: map[string]string{"f": " x\nx\n"},
			patch: update("f", "@@", "-x", "+y"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr(" x\nx\n"), NewContent: ptr(" x\ny\n")}}},
		},
		{
			name:  "trailing blank context line dropped",
			files: map[string]string{"f": "a\nb\n"},
			patch: update("f", "@@", " a", "-b", "+c", ""),
			want: patch.Result{Fuzz: 1, Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a\nb\n"), NewContent: ptr("a\nc\n")}}},
		},
		{
			name:  "CRLF file keeps CRLF",
			files: map[string]string{"w.txt": "a\r\nb\r\nc\r\n"},
			patch: update("w.txt", "@@", " a", "-b", "+B1", "+B2"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "w.txt",
				OldContent: ptr("a\r\nb\r\nc\r\n"), NewContent: ptr("a\r\nB1\r\nB2\r\nc\r\n")}}},
		},
		{
			name:  "CRLF patch on an LF file",
			files: map[string]string{"f": "a\nb\n"},
			patch: strings.ReplaceAll(update("f", "@@", " a", "-b", "+c"), "\n", "\r\n"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a\nb\n"), NewContent: ptr("a\nc\n")}}},
		},
		{
			name:  "no final newline kept",
			files: map[string]string{"f": "a\r\nb"},
			patch: update("f", "@@", " b", "+c"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a\r\nb"), NewContent: ptr("a\r\nb\r\nc")}}},
		},
		{
			name:  "mixed endings: untouched lines keep theirs",
			files: map[string]string{"f": "a\nb\r\nc\r\nd\n"},
			patch: update("f", "@@", " c", "+x"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a\nb\r\nc\r\nd\n"), NewContent: ptr("a\nb\r\nc\r\nx\nd\n")}}},
		},
		{
			name:  "empty file",
			files: map[string]string{"f": ""},
			patch: update("f", "@@", "+a"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr(""), NewContent: ptr("a\n")}}},
		},
		{
			name:  "every line removed",
			files: map[string]string{"f": "a\nb"},
			patch: update("f", "@@", "-a", "-b"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a\nb"), NewContent: ptr("")}}},
		},
		{
			name:  "same file updated twice makes one change",
			files: map[string]string{"f": "a\nb\n"},
			patch: lines("*** Begin Patch", "*** Update File: f", "-a", "+A", "*** Update File: f", "-b", "+B", "*** End Patch"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("a\nb\n"), NewContent: ptr("A\nB\n")}}},
		},
		{
			name:  "added then deleted is no change",
			files: map[string]string{"g": "1\n"},
			patch: lines("*** Begin Patch", "*** Add File: tmp", "+x", "*** Delete File: g", "*** Delete File: tmp", "*** End Patch"),
			want:  patch.Result{Changes: []patch.Change{{Type: patch.Delete, Path: "g", OldContent: ptr("1\n")}}},
		},
		{
			name:  "deleted then added is an update",
			files: map[string]string{"f": "old\n"},
			patch: lines("*** Begin Patch", "*** Delete File: f", "*** Add File: f", "+new", "*** End Patch"),
			want: patch.Result{Changes: []patch.Change{{Type: patch.Update, Path: "f",
				OldContent: ptr("old\n"), NewContent: ptr("new\n")}}},
		},
		{
			name:  "moved twice is a delete and an add",
			files: map[string]string{"a": "x\n"},
			patch: lines("*** Begin Patch", "*** Update File: a", "*** Move to: b", "*** Update File: b", "*** Move to: c", "*** End Patch"),
			want: patch.Result{Changes: []patch.Change{
				{Type: patch.Delete, Path: "a", OldContent: ptr("x\n")},
				{Type: patch.Add, Path: "c", NewContent: ptr("x\n")},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ops, err := patch.Parse(tt.patch)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			files := &memFiles{files: tt.files}
			got, err := patch.Apply(ops, files)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Apply (-got +want):\n%s", diff)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		patch string
		is    error
		want  string
	}{
		{
			name:  "add an existing file",
			files: map[string]string{"a": ""},
			patch: lines("*** Begin Patch", "*** Add File: a", "+x", "*** End Patch"),
			is:    patch.ErrExists,
			want:  "add a: file already exists",
		},
		{
			name:  "delete a missing file",
			patch: lines("*** Begin Patch", "*** Delete File: a", "*** End Patch"),
			is:    patch.ErrNotFound,
			want:  "delete a: file not found",
		},
		{
			name:  "update a missing file",
			patch: update("src/a.go", "@@", "+x"),
			is:    patch.ErrNotFound,
			want:  "update src/a.go: file not found",
		},
		{
			name:  "update a file an earlier operation deleted",
			files: map[string]string{"a": "x\n"},
			patch: lines("*** Begin Patch", "*** Delete File: a", "*** Update File: a", "+y", "*** End Patch"),
			is:    patch.ErrNotFound,
			want:  "update a: file not found",
		},
		{
			name:  "move onto an existing file",
			files: map[string]string{"a": "x\n", "b": "y\n"},
			patch: update("a", "*** Move to: b", "@@", "-x", "+z"),
			is:    patch.ErrExists,
			want:  "move a to b: file already exists",
		},
		{
			name:  "context not found",
			files: map[string]string{"src/x.go": "package x\n\nfunc F() {}\n"},
			patch: update("src/x.go", "@@", " package x", "-func G() {}", "+func H() {}"),
			is:    patch.ErrConflict,
			want: "update src/x.go: hunk 1: context not found: no lines in the file match the hunk's context and removed lines:\n" +
				`    "package x"` + "\n" + `    "func G() {}"`,
		},
		{
			name:  "context only before the previous hunk",
			files: map[string]string{"f": "a\nb\nc\n"},
			patch: update("f", "@@", "-b", "+B", "@@", "-a", "+A"),
			is:    patch.ErrConflict,
			want: "update f: hunk 2: context not found: no lines after line 2 match the hunk's context and removed lines:\n" +
				`    "a"`,
		},
		{
			name:  "long context shows its first lines",
			files: map[string]string{"f": "1\n"},
			patch: update("f", "@@", " 1", " 2", " 3", " 4", " 5", " 6", "-7"),
			is:    patch.ErrConflict,
			want: "update f: hunk 1: context not found: no lines in the file match the hunk's context and removed lines (first 5 of 7 shown):\n" +
				`    "1"` + "\n" + `    "2"` + "\n" + `    "3"` + "\n" + `    "4"` + "\n" + `    "5"`,
		},
		{
			name:  "anchor not found",
			files: map[string]string{"f.py": "def a():\n    pass\n"},
			patch: update("f.py", "@@ def b():", "-    pass", "+    return"),
			is:    patch.ErrConflict,
			want:  `update f.py: hunk 1: context not found: no line in the file matches the anchor "def b():"`,
		},
		{
			name:  "context only before the anchor",
			files: map[string]string{"f": "x\nanchor\ny\n"},
			patch: update("f", "@@ anchor", "-x", "+z"),
			is:    patch.ErrConflict,
			want: "update f: hunk 1: context not found: no lines after line 2 match the hunk's context and removed lines:\n" +
				`    "x"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ops, err := patch.Parse(tt.patch)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			files := tt.files
			if files == nil {
				files = map[string]string{}
			}
			got, err := patch.Apply(ops, &memFiles{files: files})
			if !errors.Is(err, tt.is) {
				t.Fatalf("Apply = %+v, %v; want an error wrapping %v", got, err, tt.is)
			}
			if diff := cmp.Diff(err.Error(), tt.want); diff != "" {
				t.Errorf("error (-got +want):\n%s", diff)
			}
		})
	}
}

func TestApplyInvalidOps(t *testing.T) {
	t.Parallel()
	for _, op := range []patch.Op{
		{Type: patch.Add},
		{Type: "rename", Path: "a"},
		{Type: patch.Update, Path: "a", Hunks: []patch.Hunk{{Lines: []patch.Line{{Kind: '!', Text: "x"}}}}},
	} {
		_, err := patch.Apply([]patch.Op{op}, &memFiles{files: map[string]string{"a": "x\n"}})
		if !errors.Is(err, patch.ErrSyntax) {
			t.Errorf("Apply(%+v) = %v, want an ErrSyntax", op, err)
		}
	}
}

// TestApplyPathsAsGiven checks that Apply asks Files for the paths exactly
// as the patch wrote them, resolving nothing itself.
func TestApplyPathsAsGiven(t *testing.T) {
	t.Parallel()
	files := &memFiles{files: map[string]string{"./a/../b.txt": "x\n"}}
	ops, err := patch.Parse(lines("*** Begin Patch",
		"*** Update File: ./a/../b.txt", "*** Move to: ../outside.txt", "@@", "-x", "+y",
		"*** Add File: /abs/new", "+n",
		"*** End Patch"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := patch.Apply(ops, files)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"./a/../b.txt", "../outside.txt", "/abs/new"}
	if diff := cmp.Diff(files.asked, want); diff != "" {
		t.Errorf("paths asked (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(got.Changes[0].MovePath, "../outside.txt"); diff != "" {
		t.Errorf("MovePath (-got +want):\n%s", diff)
	}
}

func TestApplyReadError(t *testing.T) {
	t.Parallel()
	ops := []patch.Op{{Type: patch.Delete, Path: "a"}}
	_, err := patch.Apply(ops, brokenFiles{})
	if err == nil || !strings.Contains(err.Error(), "read a: permission denied") {
		t.Errorf("Apply = %v, want the read error", err)
	}
}

type brokenFiles struct{}

func (brokenFiles) Exists(string) bool          { return true }
func (brokenFiles) Read(string) (string, error) { return "", errors.New("permission denied") }

func TestSummary(t *testing.T) {
	t.Parallel()
	r := patch.Result{Changes: []patch.Change{
		{Type: patch.Add, Path: "new.txt"},
		{Type: patch.Update, Path: "src/x.go"},
		{Type: patch.Update, Path: "a.go", MovePath: "b.go"},
		{Type: patch.Delete, Path: "old.txt"},
	}}
	want := "Done!\nA new.txt\nM src/x.go\nM a.go -> b.go\nD old.txt"
	if diff := cmp.Diff(patch.Summary(r), want); diff != "" {
		t.Errorf("Summary (-got +want):\n%s", diff)
	}
}
