package patch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrSyntax is wrapped by the errors of a patch that is not well formed.
// Parse's name the patch line (counting from 1) and what was expected
// there, for the agent to correct its patch; Apply's an Op that Parse would
// not have produced.
var ErrSyntax = errors.New("invalid patch")

const (
	beginPatch = "*** Begin Patch"
	endPatch   = "*** End Patch"
	addFile    = "*** Add File:"
	deleteFile = "*** Delete File:"
	updateFile = "*** Update File:"
	moveTo     = "*** Move to:"
	endOfFile  = "*** End of File"
)

// Parse parses a patch. Blank lines around the patch, "\r\n" line endings
// and spaces around paths are accepted. Inside an Update, as in the tool's
// reference implementation, the first hunk may leave out its "@@" line and
// an empty line stands for an empty context line.
func Parse(text string) ([]Op, error) {
	p := &parser{lines: splitPatch(text)}
	for p.n < len(p.lines) && strings.TrimSpace(p.lines[p.n]) == "" {
		p.n++
	}
	if p.n == len(p.lines) || strings.TrimSpace(p.lines[p.n]) != beginPatch {
		return nil, p.errorf("expected %q, got %s", beginPatch, p.got())
	}
	p.n++
	var ops []Op
	for {
		if p.n == len(p.lines) {
			return nil, p.errorf("expected %q, got %s", endPatch, p.got())
		}
		if isMarker(p.lines[p.n], endPatch) {
			break
		}
		op, err := p.op()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return nil, p.errorf("expected a file operation (%q, %q or %q) before %q",
			addFile+" path", deleteFile+" path", updateFile+" path", endPatch)
	}
	for p.n++; p.n < len(p.lines); p.n++ {
		if strings.TrimSpace(p.lines[p.n]) != "" {
			return nil, p.errorf("expected nothing after %q, got %s", endPatch, p.got())
		}
	}
	return ops, nil
}

// parser reads a patch line by line.
type parser struct {
	lines []string
	n     int // index of the line being read
}

// splitPatch splits text into lines without their "\n" or "\r\n".
func splitPatch(text string) []string {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrSyntax, p.n+1, fmt.Sprintf(format, args...))
}

// got describes the line being read, for an error.
func (p *parser) got() string {
	if p.n >= len(p.lines) {
		return "the end of the patch"
	}
	l := p.lines[p.n]
	if len(l) > 80 {
		l = l[:80] + "..."
	}
	return strconv.Quote(l)
}

// isMarker reports whether line is the marker m. Markers start at the
// beginning of the line, so that a hunk line like " *** End Patch" is never
// taken for one.
func isMarker(line, m string) bool {
	return strings.HasPrefix(line, "***") && strings.TrimRightFunc(line, unicode.IsSpace) == m
}

// header returns the path after the header h, if line is one.
func header(line, h string) (path string, ok bool) {
	rest, ok := strings.CutPrefix(line, h)
	return strings.TrimSpace(rest), ok
}

// op parses the file operation that starts at the current line.
func (p *parser) op() (Op, error) {
	line := p.lines[p.n]
	var op Op
	var path string
	var ok bool
	if path, ok = header(line, addFile); ok {
		op.Type = Add
	} else if path, ok = header(line, deleteFile); ok {
		op.Type = Delete
	} else if path, ok = header(line, updateFile); ok {
		op.Type = Update
	} else {
		return op, p.errorf("expected a file operation (%q, %q or %q) or %q, got %s",
			addFile+" path", deleteFile+" path", updateFile+" path", endPatch, p.got())
	}
	if path == "" {
		return op, p.errorf("expected a path after %q", strings.TrimSuffix(line, " "))
	}
	op.Path = path
	p.n++
	switch op.Type {
	case Add:
		return op, p.addLines(&op)
	case Update:
		return op, p.update(&op)
	}
	return op, nil
}

// addLines reads the "+" lines of an added file.
func (p *parser) addLines(op *Op) error {
	var b strings.Builder
	for ; p.n < len(p.lines); p.n++ {
		l := p.lines[p.n]
		if strings.HasPrefix(l, "***") {
			break
		}
		text, ok := strings.CutPrefix(l, "+")
		if !ok {
			return p.errorf("expected a line of the added file %s starting with \"+\" (even an empty line), got %s",
				op.Path, p.got())
		}
		b.WriteString(text)
		b.WriteByte('\n')
	}
	op.Content = b.String()
	return nil
}

// update reads an Update's optional "*** Move to:" line and its hunks.
func (p *parser) update(op *Op) error {
	start := p.n // the line after the header
	if p.n < len(p.lines) {
		if path, ok := header(p.lines[p.n], moveTo); ok {
			if path == "" {
				return p.errorf("expected a path after %q", moveTo)
			}
			op.MovePath = path
			p.n++
		}
	}
	open := false // whether lines go to the last hunk
	hunkLine := 0 // index of the last hunk's "@@" line
	for ; p.n < len(p.lines); p.n++ {
		l := p.lines[p.n]
		switch {
		case strings.HasPrefix(l, "@@"):
			if err := p.checkHunk(op, hunkLine, true); err != nil {
				return err
			}
			anchor := strings.TrimPrefix(l[2:], " ")
			op.Hunks = append(op.Hunks, Hunk{Anchor: strings.TrimRightFunc(anchor, unicode.IsSpace)})
			open, hunkLine = true, p.n
		case l == "" || l[0] == ' ' || l[0] == '-' || l[0] == '+':
			if !open {
				if len(op.Hunks) > 0 {
					if l == "" {
						continue // a blank line after "*** End of File"
					}
					return p.errorf("expected \"@@\" or a file operation after %q, got %s", endOfFile, p.got())
				}
				op.Hunks = append(op.Hunks, Hunk{})
				open, hunkLine = true, p.n
			}
			h := &op.Hunks[len(op.Hunks)-1]
			kind, text := byte(' '), ""
			if l != "" {
				kind, text = l[0], l[1:]
			}
			h.Lines = append(h.Lines, Line{Kind: kind, Text: text})
		case isMarker(l, endOfFile):
			if !open || len(op.Hunks[len(op.Hunks)-1].Lines) == 0 {
				return p.errorf("expected hunk lines before %q", endOfFile)
			}
			op.Hunks[len(op.Hunks)-1].EndOfFile = true
			open = false
		case strings.HasPrefix(l, "***"):
			return p.endUpdate(op, start, hunkLine)
		default:
			return p.errorf("expected a hunk line starting with \" \", \"-\" or \"+\", or \"@@\", got %s", p.got())
		}
	}
	return p.endUpdate(op, start, hunkLine)
}

// endUpdate checks an Update once its last hunk is read.
func (p *parser) endUpdate(op *Op, start, hunkLine int) error {
	if len(op.Hunks) == 0 && op.MovePath == "" {
		return p.errorf("expected a hunk (\"@@\" then lines) for %s, updated on line %d", op.Path, start)
	}
	return p.checkHunk(op, hunkLine, false)
}

// checkHunk reports a last hunk without lines, which is allowed only when
// another hunk follows and the empty one has an anchor to move past.
func (p *parser) checkHunk(op *Op, hunkLine int, more bool) error {
	if len(op.Hunks) == 0 {
		return nil
	}
	h := op.Hunks[len(op.Hunks)-1]
	if len(h.Lines) > 0 || (more && h.Anchor != "") {
		return nil
	}
	return p.errorf("expected a line starting with \" \", \"-\" or \"+\" after the \"@@\" on line %d, got %s",
		hunkLine+1, p.got())
}
