package security

import "strings"

// reserved are the shell words that start or end a compound command; they
// are skipped where a program would be.
var reserved = map[string]bool{
	"!": true, "{": true, "}": true, "if": true, "then": true, "else": true, "elif": true,
	"fi": true, "do": true, "done": true, "while": true, "until": true, "esac": true,
	"[[": true, "]]": true,
}

// lexer turns one command line into segments. Nested command texts
// ($(...), `...`, <(...)) are collected in subs for the parser.
type lexer struct {
	src  string
	i    int
	segs []segment
	cur  segment
	subs []string
	// pending here-documents, read after the next newline.
	pending []pendingHeredoc
	// target is where the next word goes: 0 a word, 1 an output
	// redirection, 2 an input redirection, 3 a here-document delimiter
	// (4 with <<-), 5 nowhere (a here-string, an fd duplication).
	target int
}

type pendingHeredoc struct {
	delim     string
	stripTabs bool
	seg       int // index in segs of the segment it belongs to
}

const (
	toWord = iota
	toOut
	toIn
	toHeredoc
	toHeredocTabs
	toNowhere
)

func (l *lexer) run() {
	for l.i < len(l.src) && len(l.segs) < maxShellSegments {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
		case c == '\n':
			l.i++
			l.end()
			l.readHeredocs()
		case c == '#' && l.target == toWord:
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
		case c == ';' || c == '|' || c == ')' || (c == '(' && l.target == toWord):
			l.i++
			for l.i < len(l.src) && (l.src[l.i] == c || (c == '|' && l.src[l.i] == '&') || (c == ';' && l.src[l.i] == '&')) {
				l.i++
			}
			l.end()
		case c == '&':
			if l.peek(1) == '>' {
				l.redirect()
				continue
			}
			l.i++
			if l.peek(0) == '&' {
				l.i++
			}
			l.end()
		case c == '<' || c == '>':
			if l.peek(1) == '(' {
				l.i += 2
				l.subs = append(l.subs, l.balanced('(', ')'))
				l.word("<(...)")
				continue
			}
			l.redirect()
		case c >= '0' && c <= '9' && l.fdRedirect():
			l.redirect()
		default:
			l.word(l.readWord())
		}
	}
	l.end()
	// Here-documents without a newline after their command line have no
	// body; nothing to read.
}

func (l *lexer) peek(k int) byte {
	if l.i+k < len(l.src) {
		return l.src[l.i+k]
	}
	return 0
}

// fdRedirect says the digits at l.i are a file descriptor number followed
// by a redirection operator ("2>", "10<").
func (l *lexer) fdRedirect() bool {
	j := l.i
	for j < len(l.src) && l.src[j] >= '0' && l.src[j] <= '9' {
		j++
	}
	if j < len(l.src) && (l.src[j] == '>' || l.src[j] == '<') {
		l.i = j
		return true
	}
	return false
}

// redirect reads a redirection operator at l.i and sets where the next
// word goes.
func (l *lexer) redirect() {
	rest := l.src[l.i:]
	ops := []struct {
		op     string
		target int
	}{
		{"&>>", toOut}, {"&>", toOut}, {"<<<", toNowhere}, {"<<-", toHeredocTabs}, {"<<", toHeredoc},
		{"<>", toOut}, {">>", toOut}, {">|", toOut}, {">&", toOut}, {"<&", toNowhere}, {">", toOut}, {"<", toIn},
	}
	for _, o := range ops {
		if strings.HasPrefix(rest, o.op) {
			l.i += len(o.op)
			l.target = o.target
			if o.op == ">&" {
				// ">&2" and ">&-" duplicate or close a descriptor; ">& file"
				// is bash for "&> file".
				j := l.i
				for j < len(l.src) && (l.src[j] == '-' || (l.src[j] >= '0' && l.src[j] <= '9')) {
					j++
				}
				if j > l.i && (j == len(l.src) || strings.IndexByte(" \t\n;&|)", l.src[j]) >= 0) {
					l.i = j
					l.target = toWord
				}
			}
			return
		}
	}
	l.i++
}

// word adds w where the lexer's target says.
func (l *lexer) word(w string) {
	switch l.target {
	case toOut:
		l.cur.redirOut = append(l.cur.redirOut, w)
	case toIn:
		l.cur.redirIn = append(l.cur.redirIn, w)
	case toHeredoc, toHeredocTabs:
		l.pending = append(l.pending, pendingHeredoc{delim: w, stripTabs: l.target == toHeredocTabs, seg: len(l.segs)})
	case toNowhere:
	default:
		switch {
		case len(l.cur.words) == 0 && reserved[w]:
		case len(l.cur.words) == 0 && isAssignment(w):
			l.cur.assigns = append(l.cur.assigns, w)
		default:
			l.cur.words = append(l.cur.words, w)
		}
	}
	l.target = toWord
}

// end closes the current segment.
func (l *lexer) end() {
	s := l.cur
	l.cur = segment{}
	l.target = toWord
	if len(s.words) == 0 && len(s.assigns) == 0 && len(s.redirOut) == 0 && len(s.redirIn) == 0 {
		// Still give pending here-documents of an empty segment a home.
		for i := range l.pending {
			if l.pending[i].seg == len(l.segs) {
				l.segs = append(l.segs, s)
				return
			}
		}
		return
	}
	l.segs = append(l.segs, s)
}

// readHeredocs reads the bodies of the here-documents started on the line
// just ended.
func (l *lexer) readHeredocs() {
	for _, h := range l.pending {
		var body strings.Builder
		for l.i < len(l.src) {
			j := strings.IndexByte(l.src[l.i:], '\n')
			var line string
			if j < 0 {
				line, l.i = l.src[l.i:], len(l.src)
			} else {
				line, l.i = l.src[l.i:l.i+j], l.i+j+1
			}
			cmp := line
			if h.stripTabs {
				cmp = strings.TrimLeft(line, "\t")
			}
			if strings.TrimRight(cmp, "\r") == h.delim {
				break
			}
			body.WriteString(line)
			body.WriteByte('\n')
		}
		if h.seg < len(l.segs) {
			l.segs[h.seg].heredocs = append(l.segs[h.seg].heredocs, body.String())
		}
	}
	l.pending = l.pending[:0]
}

// readWord reads one word at l.i: up to unquoted blank or operator,
// removing quotes and backslashes, and collecting command substitutions.
func (l *lexer) readWord() string {
	var b strings.Builder
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch c {
		case ' ', '\t', '\r', '\n', ';', '&', '|', '(', ')', '<', '>':
			return b.String()
		case '\'':
			j := strings.IndexByte(l.src[l.i+1:], '\'')
			if j < 0 {
				b.WriteString(l.src[l.i+1:])
				l.i = len(l.src)
				return b.String()
			}
			b.WriteString(l.src[l.i+1 : l.i+1+j])
			l.i += j + 2
		case '"':
			l.i++
			l.doubleQuoted(&b)
		case '\\':
			if l.i+1 < len(l.src) {
				if l.src[l.i+1] != '\n' {
					b.WriteByte(l.src[l.i+1])
				}
				l.i += 2
			} else {
				l.i++
			}
		case '`':
			l.i++
			sub := l.backquoted()
			l.subs = append(l.subs, sub)
			b.WriteString("`" + sub + "`")
		case '$':
			l.dollar(&b)
		default:
			b.WriteByte(c)
			l.i++
		}
	}
	return b.String()
}

// doubleQuoted reads the rest of a "..." string into b.
func (l *lexer) doubleQuoted(b *strings.Builder) {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch c {
		case '"':
			l.i++
			return
		case '\\':
			if l.i+1 < len(l.src) && strings.IndexByte("\\\"$`\n", l.src[l.i+1]) >= 0 {
				if l.src[l.i+1] != '\n' {
					b.WriteByte(l.src[l.i+1])
				}
				l.i += 2
				continue
			}
			b.WriteByte(c)
			l.i++
		case '`':
			l.i++
			sub := l.backquoted()
			l.subs = append(l.subs, sub)
			b.WriteString("`" + sub + "`")
		case '$':
			l.dollar(b)
		default:
			b.WriteByte(c)
			l.i++
		}
	}
}

// dollar reads a $ expansion at l.i into b as written: $(...) and $((...))
// also go to subs, ${...} is kept whole, $'...' is read as a quoted string.
func (l *lexer) dollar(b *strings.Builder) {
	switch l.peek(1) {
	case '(':
		l.i += 2
		sub := l.balanced('(', ')')
		l.subs = append(l.subs, sub)
		b.WriteString("$(" + sub + ")")
	case '{':
		l.i += 2
		b.WriteString("${" + l.balanced('{', '}') + "}")
	case '\'':
		l.i += 2
		for l.i < len(l.src) && l.src[l.i] != '\'' {
			if l.src[l.i] == '\\' && l.i+1 < len(l.src) {
				l.i++
			}
			b.WriteByte(l.src[l.i])
			l.i++
		}
		l.i = min(l.i+1, len(l.src))
	default:
		b.WriteByte('$')
		l.i++
	}
}

// balanced reads up to the close that matches an open already consumed,
// skipping quoted text, and returns what is between them.
func (l *lexer) balanced(open, close byte) string {
	start, depth := l.i, 1
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch c {
		case '\\':
			l.i++
		case '\'':
			if j := strings.IndexByte(l.src[l.i+1:], '\''); j >= 0 {
				l.i += j + 1
			}
		case '"':
			for l.i++; l.i < len(l.src) && l.src[l.i] != '"'; l.i++ {
				if l.src[l.i] == '\\' {
					l.i++
				}
			}
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				s := l.src[start:l.i]
				l.i++
				return s
			}
		}
		l.i++
	}
	if l.i > len(l.src) {
		l.i = len(l.src)
	}
	return l.src[start:]
}

// backquoted reads up to the closing backquote.
func (l *lexer) backquoted() string {
	var b strings.Builder
	for l.i < len(l.src) {
		c := l.src[l.i]
		if c == '`' {
			l.i++
			return b.String()
		}
		if c == '\\' && l.i+1 < len(l.src) && strings.IndexByte("\\`$", l.src[l.i+1]) >= 0 {
			c = l.src[l.i+1]
			l.i++
		}
		b.WriteByte(c)
		l.i++
	}
	return b.String()
}
