package webtext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// writer lays out text as lines. Breaks and spaces are held back until the
// next word, so that neither a run of empty blocks nor trailing whitespace
// reaches the output: there is at most one blank line between blocks.
type writer struct {
	b         strings.Builder
	pending   int  // line breaks asked for before the next word: 0, 1 or 2
	space     bool // a space is due before the next word
	lineStart bool // nothing is written on the current line yet
	newlines  int  // newlines at the end of b
	// prefix starts the next line that gets text ("# ", "- ").
	prefix string
	// count grows with every byte of text, so that an element can tell
	// whether it held any.
	count int
}

// brk asks for n line breaks (1: a new line, 2: a blank line) before the
// next text.
func (w *writer) brk(n int) {
	if n > w.pending {
		w.pending = n
	}
	if n > 0 {
		w.space = false
	}
}

// lineBreak is a <br>: one more line break, up to a blank line.
func (w *writer) lineBreak() {
	w.pending = min(w.pending+1, 2)
	w.space = false
}

// text writes t with runs of whitespace collapsed to one space.
func (w *writer) text(t []byte) {
	for len(t) > 0 {
		r, size := utf8.DecodeRune(t)
		if r == '\uFEFF' { // a byte order mark, or a zero-width no-break space
			t = t[size:]
			continue
		}
		if unicode.IsSpace(r) {
			if !w.lineStart {
				w.space = true
			}
			t = t[size:]
			continue
		}
		end := len(t)
		for i := size; i < len(t); {
			r, n := utf8.DecodeRune(t[i:])
			if unicode.IsSpace(r) {
				end = i
				break
			}
			i += n
		}
		w.flush()
		w.b.Write(t[:end])
		w.count += end
		w.lineStart, w.newlines = false, 0
		t = t[end:]
	}
}

// verbatim writes t as it is: the text of <pre> and <code>.
func (w *writer) verbatim(t []byte) {
	if len(t) == 0 {
		return
	}
	w.flush()
	w.b.Write(t)
	w.count += len(t)
	trailing := len(t) - len(strings.TrimRight(string(t), "\n"))
	if trailing == len(t) {
		w.newlines += trailing
	} else {
		w.newlines = trailing
	}
	w.lineStart = t[len(t)-1] == '\n'
}

// separator writes s between words, as between table cells.
func (w *writer) separator(s string) {
	w.space = true
	w.text([]byte(s))
	w.space = true
}

// marker writes s right after the last text, as a link's number.
func (w *writer) marker(s string) {
	if w.b.Len() == 0 {
		return
	}
	if w.newlines == 0 {
		w.b.WriteByte(' ')
	}
	w.b.WriteString(s)
	w.count += len(s)
	w.lineStart, w.newlines = false, 0
}

// flush writes the breaks, prefix or space due before new text.
func (w *writer) flush() {
	if w.pending > 0 {
		if w.b.Len() > 0 {
			for i := w.newlines; i < w.pending; i++ {
				w.b.WriteByte('\n')
			}
			w.lineStart = true
		}
		w.pending, w.newlines, w.space = 0, 0, false
	}
	switch {
	case w.lineStart:
		w.b.WriteString(w.prefix)
		w.prefix = ""
	case w.space:
		w.b.WriteByte(' ')
	}
	w.space = false
}

func (w *writer) String() string {
	return strings.TrimRight(w.b.String(), " \t\n")
}
