package patch_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/patch"
)

// lines joins its arguments with "\n" and ends them with one.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []patch.Op
	}{
		{
			name: "add",
			text: lines("*** Begin Patch", "*** Add File: docs/new.txt", "+hello", "+", "+  world", "*** End Patch"),
			want: []patch.Op{{Type: patch.Add, Path: "docs/new.txt", Content: "hello\n\n  world\n"}},
		},
		{
			name: "add empty file",
			text: lines("*** Begin Patch", "*** Add File: empty", "*** End Patch"),
			want: []patch.Op{{Type: patch.Add, Path: "empty"}},
		},
		{
			name: "delete",
			text: lines("*** Begin Patch", "*** Delete File: old.txt", "*** End Patch"),
			want: []patch.Op{{Type: patch.Delete, Path: "old.txt"}},
		},
		{
			name: "update with anchor and end of file",
			text: lines("*** Begin Patch", "*** Update File: src/app.py",
				"@@ def greet():", " a", "-b", "+c", "*** End of File", "*** End Patch"),
			want: []patch.Op{{Type: patch.Update, Path: "src/app.py", Hunks: []patch.Hunk{{
				Anchor:    "def greet():",
				Lines:     []patch.Line{{' ', "a"}, {'-', "b"}, {'+', "c"}},
				EndOfFile: true,
			}}}},
		},
		{
			name: "update with move and several hunks",
			text: lines("*** Begin Patch", "*** Update File: a.go", "*** Move to: b.go",
				"@@", "-x", "+y", "@@", " z", "+w", "*** End Patch"),
			want: []patch.Op{{Type: patch.Update, Path: "a.go", MovePath: "b.go", Hunks: []patch.Hunk{
				{Lines: []patch.Line{{'-', "x"}, {'+', "y"}}},
				{Lines: []patch.Line{{' ', "z"}, {'+', "w"}}},
			}}},
		},
		{
			name: "move only",
			text: lines("*** Begin Patch", "*** Update File: a.go", "*** Move to: b.go", "*** End Patch"),
			want: []patch.Op{{Type: patch.Update, Path: "a.go", MovePath: "b.go"}},
		},
		{
			name: "stacked anchors keep indentation",
			text: lines("*** Begin Patch", "*** Update File: m.py",
				"@@ class A:", "@@     def f(self):", "-        pass", "+        return 1", "*** End Patch"),
			want: []patch.Op{{Type: patch.Update, Path: "m.py", Hunks: []patch.Hunk{
				{Anchor: "class A:"},
				{Anchor: "    def f(self):", Lines: []patch.Line{{'-', "        pass"}, {'+', "        return 1"}}},
			}}},
		},
		{
			name: "first hunk without @@ and an empty line as context",
			text: lines("*** Begin Patch", "*** Update File: f", " a", "", "-b", "*** End Patch"),
			want: []patch.Op{{Type: patch.Update, Path: "f", Hunks: []patch.Hunk{
				{Lines: []patch.Line{{' ', "a"}, {' ', ""}, {'-', "b"}}},
			}}},
		},
		{
			name: "hunk lines that look like markers",
			text: lines("*** Begin Patch", "*** Update File: f", "@@", " *** End Patch", "-@@ x", "+*** Add File: y",
				"*** End Patch"),
			want: []patch.Op{{Type: patch.Update, Path: "f", Hunks: []patch.Hunk{
				{Lines: []patch.Line{{' ', "*** End Patch"}, {'-', "@@ x"}, {'+', "*** Add File: y"}}},
			}}},
		},
		{
			name: "CRLF, blank lines around, spaces around paths, no final newline",
			text: "\r\n  *** Begin Patch\r\n*** Add File:  a b.txt \r\n+x\r\n*** Delete File: c\r\n*** End Patch  \r\n\r\n",
			want: []patch.Op{
				{Type: patch.Add, Path: "a b.txt", Content: "x\n"},
				{Type: patch.Delete, Path: "c"},
			},
		},
		{
			name: "same file twice and paths kept as given",
			text: lines("*** Begin Patch", "*** Update File: ./x/../f", "@@", "-a", "*** End of File", "",
				"*** Update File: /abs/f", "@@", "+b", "*** End Patch"),
			want: []patch.Op{
				{Type: patch.Update, Path: "./x/../f", Hunks: []patch.Hunk{{Lines: []patch.Line{{'-', "a"}}, EndOfFile: true}}},
				{Type: patch.Update, Path: "/abs/f", Hunks: []patch.Hunk{{Lines: []patch.Line{{'+', "b"}}}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := patch.Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Parse (-got +want):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want string // the error's text, after "invalid patch: "
	}{
		{"empty", "", `line 1: expected "*** Begin Patch", got the end of the patch`},
		{"no begin", lines("*** Add File: a", "+x", "*** End Patch"),
			`line 1: expected "*** Begin Patch", got "*** Add File: a"`},
		{"no end", lines("*** Begin Patch", "*** Add File: a", "+x"),
			`line 4: expected "*** End Patch", got the end of the patch`},
		{"text after end", lines("*** Begin Patch", "*** Delete File: a", "*** End Patch", "", "more"),
			`line 5: expected nothing after "*** End Patch", got "more"`},
		{"no operation", lines("*** Begin Patch", "*** End Patch"),
			`line 2: expected a file operation ("*** Add File: path", "*** Delete File: path" or "*** Update File: path") before "*** End Patch"`},
		{"unknown header", lines("*** Begin Patch", "*** Rename File: a", "*** End Patch"),
			`line 2: expected a file operation ("*** Add File: path", "*** Delete File: path" or "*** Update File: path") or "*** End Patch", got "*** Rename File: a"`},
		{"text between operations", lines("*** Begin Patch", "*** Delete File: a", "oops", "*** End Patch"),
			`line 3: expected a file operation ("*** Add File: path", "*** Delete File: path" or "*** Update File: path") or "*** End Patch", got "oops"`},
		{"no path", lines("*** Begin Patch", "*** Delete File: ", "*** End Patch"),
			`line 2: expected a path after "*** Delete File:"`},
		{"no move path", lines("*** Begin Patch", "*** Update File: a", "*** Move to:", "*** End Patch"),
			`line 3: expected a path after "*** Move to:"`},
		{"added line without +", lines("*** Begin Patch", "*** Add File: a", "+x", "", "+y", "*** End Patch"),
			`line 4: expected a line of the added file a starting with "+" (even an empty line), got ""`},
		{"update without hunks", lines("*** Begin Patch", "*** Update File: a", "*** End Patch"),
			`line 3: expected a hunk ("@@" then lines) for a, updated on line 2`},
		{"bad hunk line", lines("*** Begin Patch", "*** Update File: a", "@@", "\tx", "*** End Patch"),
			`line 4: expected a hunk line starting with " ", "-" or "+", or "@@", got "\tx"`},
		{"empty last hunk", lines("*** Begin Patch", "*** Update File: a", "@@", "-x", "@@ f", "*** End Patch"),
			`line 6: expected a line starting with " ", "-" or "+" after the "@@" on line 5, got "*** End Patch"`},
		{"empty hunk without anchor", lines("*** Begin Patch", "*** Update File: a", "@@", "@@", "-x", "*** End Patch"),
			`line 4: expected a line starting with " ", "-" or "+" after the "@@" on line 3, got "@@"`},
		{"end of file without lines", lines("*** Begin Patch", "*** Update File: a", "@@", "*** End of File", "*** End Patch"),
			`line 4: expected hunk lines before "*** End of File"`},
		{"lines after end of file", lines("*** Begin Patch", "*** Update File: a", "-x", "*** End of File", "+y", "*** End Patch"),
			`line 5: expected "@@" or a file operation after "*** End of File", got "+y"`},
		{"end of patch inside a hunk", lines("*** Begin Patch", "*** Update File: a", "@@", "-x"),
			`line 5: expected "*** End Patch", got the end of the patch`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ops, err := patch.Parse(tt.text)
			if !errors.Is(err, patch.ErrSyntax) {
				t.Fatalf("Parse = %v, %v; want an ErrSyntax", ops, err)
			}
			if diff := cmp.Diff(err.Error(), "invalid patch: "+tt.want); diff != "" {
				t.Errorf("error (-got +want):\n%s", diff)
			}
		})
	}
}
