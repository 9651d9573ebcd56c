package patch_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/patch"
)

// format writes ops back as a patch that Parse reads as ops again.
func format(ops []patch.Op) string {
	var b strings.Builder
	b.WriteString("*** Begin Patch\n")
	for _, op := range ops {
		switch op.Type {
		case patch.Add:
			b.WriteString("*** Add File: " + op.Path + "\n")
			for _, l := range strings.SplitAfter(op.Content, "\n") {
				if l != "" {
					b.WriteString("+" + l)
				}
			}
		case patch.Delete:
			b.WriteString("*** Delete File: " + op.Path + "\n")
		case patch.Update:
			b.WriteString("*** Update File: " + op.Path + "\n")
			if op.MovePath != "" {
				b.WriteString("*** Move to: " + op.MovePath + "\n")
			}
			for _, h := range op.Hunks {
				b.WriteString("@@" + anchorSuffix(h.Anchor) + "\n")
				for _, l := range h.Lines {
					b.WriteString(string(l.Kind) + l.Text + "\n")
				}
				if h.EndOfFile {
					b.WriteString("*** End of File\n")
				}
			}
		}
	}
	b.WriteString("*** End Patch\n")
	return b.String()
}

func anchorSuffix(anchor string) string {
	if anchor == "" {
		return ""
	}
	return " " + anchor
}

// fileLines returns the lines of s without their endings.
func fileLines(s string) []string {
	if s == "" {
		return nil
	}
	ls := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// lineCount counts the lines of s, a last line without an ending included.
// When s was written without a final newline, a last "\n" ends a line
// before an empty last line.
func lineCount(s string, noFinal bool) int {
	n := strings.Count(s, "\n")
	if s != "" && (noFinal || !strings.HasSuffix(s, "\n")) {
		n++
	}
	return n
}

// replaceAll is a patch replacing every line of the file f, which has the
// lines from, by the lines to.
func replaceAll(from, to []string) string {
	var b strings.Builder
	b.WriteString("*** Begin Patch\n*** Update File: f\n@@\n")
	for _, l := range from {
		b.WriteString("-" + l + "\n")
	}
	for _, l := range to {
		b.WriteString("+" + l + "\n")
	}
	b.WriteString("*** End Patch\n")
	return b.String()
}

// FuzzParseApply parses any text as a patch and applies it to a file tree in
// which every path the patch updates or deletes holds the second input. It
// checks that:
//   - Parse fails only with ErrSyntax, and what it returns is written back
//     by format as a patch it parses the same again;
//   - Apply fails only with ErrConflict, ErrNotFound or ErrExists, and
//     reports no path twice;
//   - an update keeps the file's line endings and final newline, and, when
//     it needed no fuzz, removes and adds exactly its hunks' lines;
//   - a patch replacing every line of the file by the patch text's lines
//     applies and gives those lines, and when the file has no "\r", the
//     reverse patch gives the file back byte for byte.
func FuzzParseApply(f *testing.F) {
	f.Add(lines("*** Begin Patch", "*** Update File: f", "@@ def b():", " a", "-b", "+c", "*** End of File",
		"*** Add File: g", "+x", "*** Delete File: h", "*** End Patch"), "def b():\na\nb\n")
	f.Add(update("f", "*** Move to: g", "@@", "  a ", "-b", "+B", ""), "x\r\na\r\nb\r\nc")
	f.Add(update("f", "@@ class A", "@@  def f", "-pass", "+return 1", "*** End of File"), "class A:\n def f\n  pass\n")
	f.Add(update("f", "+top"), "")
	f.Add(lines("*** Begin Patch", "*** Delete File: f", "*** Add File: f", "+n", "*** End Patch"), "o\n")
	f.Add("*** Begin Patch\n*** Update File: f\n-\n+\n*** End Patch", "\n\n")
	// An empty last line without a final newline is no text at all.
	f.Add("*** Begin Patch\n*** Update File:0\n+\n*** End Patch", "0")
	f.Add("*** Begin Patch\n*** Delete File:f\n*** Add File:f\n+\n*** End Patch", "0")
	f.Add("\n\n\n0", "\n")
	f.Add("", "0")
	f.Fuzz(func(t *testing.T, text, content string) {
		ops, err := patch.Parse(text)
		if err != nil {
			if !errors.Is(err, patch.ErrSyntax) || ops != nil {
				t.Fatalf("Parse = %v, %v; want nil and an ErrSyntax", ops, err)
			}
		} else {
			again, err := patch.Parse(format(ops))
			if err != nil {
				t.Fatalf("Parse(format(ops)): %v\npatch:\n%s", err, format(ops))
			}
			if diff := cmp.Diff(again, ops); diff != "" {
				t.Fatalf("Parse(format(ops)) (-got +want):\n%s", diff)
			}
			checkApply(t, ops, content, !strings.Contains(text, "\r"))
		}
		checkReplace(t, content, strings.ReplaceAll(text, "\r", ""))
	})
}

func checkApply(t *testing.T, ops []patch.Op, content string, patchWithoutCR bool) {
	t.Helper()
	files := map[string]string{}
	added := map[string]bool{}
	for _, op := range ops {
		if op.Type == patch.Add {
			added[op.Path] = true
		} else {
			files[op.Path] = content
		}
	}
	r, err := patch.Apply(ops, &memFiles{files: files})
	if err != nil {
		if !errors.Is(err, patch.ErrConflict) && !errors.Is(err, patch.ErrNotFound) && !errors.Is(err, patch.ErrExists) {
			t.Fatalf("Apply: unexpected error %v", err)
		}
		return
	}
	_ = patch.Summary(r)
	seen := map[string]bool{}
	for _, c := range r.Changes {
		for _, p := range []string{c.Path, c.MovePath} {
			if p != "" && seen[p] {
				t.Fatalf("path %q in two changes: %+v", p, r.Changes)
			}
			seen[p] = true
		}
		wantOld, wantNew := c.Type != patch.Add, c.Type != patch.Delete
		if (c.OldContent != nil) != wantOld || (c.NewContent != nil) != wantNew {
			t.Fatalf("change %+v: contents do not fit its type", c)
		}
		if c.Type == patch.Update && !added[c.Path] {
			checkEndings(t, content, *c.NewContent, patchWithoutCR)
		}
	}
	if len(ops) == 1 && ops[0].Type == patch.Update && r.Fuzz == 0 {
		removed, added := 0, 0
		for _, h := range ops[0].Hunks {
			for _, l := range h.Lines {
				switch l.Kind {
				case '-':
					removed++
				case '+':
					added++
				}
			}
		}
		noFinal := content != "" && !strings.HasSuffix(content, "\n")
		got, want := lineCount(*r.Changes[0].NewContent, noFinal), lineCount(content, noFinal)-removed+added
		// A single empty line without a final newline is no text at all.
		if got != want && !(noFinal && got == 0 && want == 1) {
			t.Fatalf("exact update left %d lines, want %d - %d + %d = %d", got, lineCount(content, noFinal), removed, added, want)
		}
	}
}

// checkEndings checks that an update of old to new kept old's line endings
// and final newline.
func checkEndings(t *testing.T, old, new string, patchWithoutCR bool) {
	t.Helper()
	if strings.Count(old, "\n") > 0 && strings.Count(old, "\n") == strings.Count(old, "\r\n") &&
		strings.Count(new, "\n") != strings.Count(new, "\r\n") {
		t.Fatalf("CRLF file %q became %q", old, new)
	}
	if !strings.Contains(old, "\r") && patchWithoutCR && strings.Contains(new, "\r") {
		t.Fatalf("LF file %q became %q", old, new)
	}
	// (Without one, a last empty line is indistinguishable from a final
	// newline, so only its presence is checked.)
	if (old == "" || strings.HasSuffix(old, "\n")) && new != "" && !strings.HasSuffix(new, "\n") {
		t.Fatalf("final newline of %q not kept in %q", old, new)
	}
}

// checkReplace replaces every line of content by the lines of text, which
// has no "\r", and back.
func checkReplace(t *testing.T, content, text string) {
	t.Helper()
	from, to := fileLines(content), fileLines(text)
	if len(from) == 0 && len(to) == 0 {
		return // a hunk needs a line
	}
	got := applyOne(t, replaceAll(from, to), content)
	// Without a final newline, a last empty line is no text at all.
	noFinal := content != "" && !strings.HasSuffix(content, "\n")
	lastEmpty := len(to) > 0 && noFinal && to[len(to)-1] == ""
	written := got
	if noFinal && len(to) > 0 {
		written += "\n"
	}
	if diff := cmp.Diff(fileLines(written), to); diff != "" {
		t.Fatalf("replacing the lines of %q (-got +want):\n%s", content, diff)
	}
	if len(to) == 0 || lastEmpty || strings.Contains(content, "\r") {
		return
	}
	if back := applyOne(t, replaceAll(to, from), got); back != content {
		t.Fatalf("replacing the lines of %q by %q and back gave %q", content, text, back)
	}
}

func applyOne(t *testing.T, text, content string) string {
	t.Helper()
	ops, err := patch.Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	r, err := patch.Apply(ops, &memFiles{files: map[string]string{"f": content}})
	if err != nil {
		t.Fatalf("Apply(%q) to %q: %v", text, content, err)
	}
	if len(r.Changes) != 1 || r.Changes[0].NewContent == nil {
		t.Fatalf("Apply(%q) to %q: changes %+v, want one update", text, content, r.Changes)
	}
	return *r.Changes[0].NewContent
}
