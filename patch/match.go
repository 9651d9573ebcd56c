package patch

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// fileLine is one line of a file: its text and the ending that followed it
// ("\n", "\r\n", or "" for a last line without one, or for a line the patch
// added, which gets the file's usual ending when written).
type fileLine struct {
	text, end string
}

// document is a file split into lines.
type document struct {
	lines        []fileLine
	eol          string // the ending most lines have
	finalNewline bool   // whether the file ends with a line ending (or is empty)
}

func splitFile(s string) document {
	d := document{finalNewline: s == "" || strings.HasSuffix(s, "\n")}
	crlf := 0
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			d.lines = append(d.lines, fileLine{text: s})
			break
		}
		l := fileLine{text: s[:i], end: "\n"}
		if t, ok := strings.CutSuffix(l.text, "\r"); ok {
			l.text, l.end = t, "\r\n"
			crlf++
		}
		d.lines = append(d.lines, l)
		s = s[i+1:]
	}
	d.eol = "\n"
	if ended := len(d.lines) - boolInt(!d.finalNewline); crlf*2 > ended {
		d.eol = "\r\n"
	}
	return d
}

// join writes lines back as a file with d's endings: a line without an
// ending gets d.eol, and the last line ends as the original file did.
func (d document) join(lines []fileLine) string {
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l.text)
		switch {
		case i == len(lines)-1 && !d.finalNewline:
		case l.end == "":
			b.WriteString(d.eol)
		default:
			b.WriteString(l.end)
		}
	}
	return b.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// levels are the ways lines are compared, strictest first.
var levels = []func(string) string{
	func(s string) string { return s },
	func(s string) string { return strings.TrimRightFunc(s, unicode.IsSpace) },
	strings.TrimSpace,
}

// edit replaces n lines from start with repl.
type edit struct {
	start, n int
	repl     []fileLine
}

// applyHunks applies hunks to content and returns the new content and the
// fuzz the hunks needed.
func applyHunks(content string, hunks []Hunk) (string, int, error) {
	doc := splitFile(content)
	lines := doc.lines
	var edits []edit
	cursor, fuzz := 0, 0 // cursor: index of the first line a hunk may use
	for i, h := range hunks {
		if h.Anchor != "" {
			at, f, ok := seekAnchor(lines, h.Anchor, cursor)
			if !ok {
				return "", 0, fmt.Errorf("hunk %d: %w: no line %s matches the anchor %q",
					i+1, ErrConflict, after(cursor), h.Anchor)
			}
			fuzz += f
			cursor = at + 1
		}
		if len(h.Lines) == 0 {
			continue
		}
		body, old := h.Lines, oldLines(h.Lines)
		var at, f int
		ok := true
		switch {
		case len(old) == 0 && h.Anchor != "":
			at = cursor
		case len(old) == 0:
			at = len(lines)
		default:
			at, f, ok = seek(lines, old, cursor, h.EndOfFile)
			// A blank context line ending a hunk is often a slip; try
			// without such lines before giving up.
			for trimmed := body; !ok && endsBlank(trimmed); {
				trimmed = trimmed[:len(trimmed)-1]
				shorter := oldLines(trimmed)
				if len(shorter) == 0 {
					break
				}
				if at, f, ok = seek(lines, shorter, cursor, h.EndOfFile); ok {
					f += len(body) - len(trimmed)
					body, old = trimmed, shorter
				}
			}
		}
		if !ok {
			return "", 0, conflict(i, cursor, old)
		}
		fuzz += f
		repl := make([]fileLine, 0, len(body))
		j := at
		for _, l := range body {
			switch l.Kind {
			case ' ':
				repl = append(repl, lines[j]) // the file's line, whitespace and all
				j++
			case '-':
				j++
			case '+':
				repl = append(repl, fileLine{text: l.Text})
			}
		}
		edits = append(edits, edit{start: at, n: len(old), repl: repl})
		cursor = at + len(old)
	}
	var out []fileLine
	prev := 0
	for _, e := range edits {
		out = append(out, lines[prev:e.start]...)
		out = append(out, e.repl...)
		prev = e.start + e.n
	}
	out = append(out, lines[prev:]...)
	return doc.join(out), fuzz, nil
}

// oldLines returns the lines a hunk expects in the file: its context and
// removed lines.
func oldLines(body []Line) []string {
	var old []string
	for _, l := range body {
		if l.Kind != '+' {
			old = append(old, l.Text)
		}
	}
	return old
}

func endsBlank(body []Line) bool {
	n := len(body)
	return n > 0 && body[n-1].Kind == ' ' && strings.TrimSpace(body[n-1].Text) == ""
}

// seek finds pat in lines at or after from, at the strictest level that
// finds it; an end-of-file hunk is tried at the end of the file first. It
// returns where, and how many lines differ from pat.
func seek(lines []fileLine, pat []string, from int, eof bool) (at, fuzz int, ok bool) {
	last := len(lines) - len(pat)
	if eof && last >= from {
		for _, norm := range levels {
			if matchAt(lines[last:], pat, norm) {
				return last, differing(lines[last:], pat), true
			}
		}
	}
	for _, norm := range levels {
		for i := from; i <= last; i++ {
			if matchAt(lines[i:], pat, norm) {
				return i, differing(lines[i:], pat), true
			}
		}
	}
	return 0, 0, false
}

func matchAt(lines []fileLine, pat []string, norm func(string) string) bool {
	for k, p := range pat {
		if lines[k].text != p && norm(lines[k].text) != norm(p) {
			return false
		}
	}
	return true
}

func differing(lines []fileLine, pat []string) int {
	n := 0
	for k, p := range pat {
		if lines[k].text != p {
			n++
		}
	}
	return n
}

// seekAnchor finds the anchor line at or after from: a line equal to it at
// the strictest level that finds one, else the first line containing it.
func seekAnchor(lines []fileLine, anchor string, from int) (at, fuzz int, ok bool) {
	for _, norm := range levels {
		want := norm(anchor)
		for i := from; i < len(lines); i++ {
			if norm(lines[i].text) == want {
				return i, boolInt(lines[i].text != anchor), true
			}
		}
	}
	want := strings.TrimSpace(anchor)
	for i := from; i < len(lines); i++ {
		if strings.Contains(lines[i].text, want) {
			return i, 1, true
		}
	}
	return 0, 0, false
}

// conflictLines is how many of a hunk's lines a conflict error shows.
const conflictLines = 5

// conflict is the error for hunk i (from 0) whose lines old are not in the
// file at or after line index cursor.
func conflict(i, cursor int, old []string) error {
	shown := old[:min(len(old), conflictLines)]
	var b strings.Builder
	fmt.Fprintf(&b, "no lines %s match the hunk's context and removed lines", after(cursor))
	if len(shown) < len(old) {
		fmt.Fprintf(&b, " (first %d of %d shown)", len(shown), len(old))
	}
	b.WriteString(":")
	for _, l := range shown {
		b.WriteString("\n    " + strconv.Quote(l))
	}
	return fmt.Errorf("hunk %d: %w: %s", i+1, ErrConflict, b.String())
}

// after says where a search from line index cursor looked.
func after(cursor int) string {
	if cursor == 0 {
		return "in the file"
	}
	return fmt.Sprintf("after line %d", cursor)
}
