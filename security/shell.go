package security

import (
	"path"
	"strings"
)

// segment is one simple command of a shell command line: a program and
// its arguments, with the assignments before it and its redirections.
type segment struct {
	words    []string // argv, quotes removed, variables not expanded
	assigns  []string // NAME=value words before the program
	redirOut []string // targets of >, >>, >|, &>, <>
	redirIn  []string // sources of <
	heredocs []string // bodies of << and <<- here-documents
}

// program is the base name of the segment's program ("/bin/rm" -> "rm"),
// or "" for a segment of assignments only.
func (s *segment) program() string {
	if len(s.words) == 0 {
		return ""
	}
	return path.Base(s.words[0])
}

// Limits that keep a hostile command from making the reader slow: how
// deeply it follows commands inside commands (sh -c, $(...), sudo, ...)
// and how many segments one command line may yield.
const (
	maxShellDepth    = 8
	maxShellSegments = 4096
)

// parseShell splits a bash command line into its simple commands, without
// running or expanding anything. It is a reader for rating commands, not a
// shell: it understands quotes, escapes, the operators ; & && | || |& and
// newlines, redirections, here-documents, and it also returns the commands
// inside $(...), `...`, <(...), sh -c '...', eval, and behind wrappers such
// as sudo, env, nohup, timeout, xargs, ssh and find -exec, so that
// "sudo rm -rf /" yields both "sudo rm -rf /" and "rm -rf /". It never
// fails: text it cannot make sense of becomes words.
func parseShell(cmd string) []segment {
	p := &shellParser{}
	p.parse(cmd, 0)
	return p.out
}

type shellParser struct {
	out []segment
}

func (p *shellParser) full() bool { return len(p.out) >= maxShellSegments }

// parse reads cmd, adds its segments and those of the commands nested in
// it to p.out.
func (p *shellParser) parse(cmd string, depth int) {
	if depth > maxShellDepth || p.full() {
		return
	}
	l := lexer{src: cmd}
	l.run()
	for _, s := range l.segs {
		if p.full() {
			return
		}
		p.out = append(p.out, s)
		p.unwrap(s, depth)
	}
	for _, sub := range l.subs {
		p.parse(sub, depth+1)
	}
}

// shells are the programs that run a script given with -c, or read one
// from a here-document.
var shells = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
	"ash": true, "fish": true, "csh": true, "tcsh": true, "rbash": true,
}

// wrappers are the programs that run another command given as their
// arguments, each with the options that take a value (so that the value
// is not taken for the command) and how many positional arguments come
// before the command (timeout's duration).
var wrappers = map[string]struct {
	valued     string // one-letter options that take a value
	longValued []string
	positional int
}{
	"sudo":         {valued: "ugpCDhrtUT", longValued: []string{"--user", "--group", "--prompt", "--close-from", "--chdir", "--host", "--role", "--type", "--other-user"}},
	"doas":         {valued: "uC"},
	"run0":         {valued: "ugD", longValued: []string{"--user", "--group", "--chdir"}},
	"pkexec":       {longValued: []string{"--user"}},
	"env":          {valued: "uCS", longValued: []string{"--unset", "--chdir", "--split-string"}},
	"nohup":        {},
	"nice":         {valued: "n", longValued: []string{"--adjustment"}},
	"ionice":       {valued: "cnp", longValued: []string{"--class", "--classdata", "--pid"}},
	"time":         {valued: "fo", longValued: []string{"--format", "--output"}},
	"timeout":      {valued: "sk", longValued: []string{"--signal", "--kill-after"}, positional: 1},
	"exec":         {valued: "a"},
	"command":      {},
	"builtin":      {},
	"setsid":       {},
	"stdbuf":       {valued: "ioe", longValued: []string{"--input", "--output", "--error"}},
	"chrt":         {positional: 1},
	"taskset":      {positional: 1},
	"xargs":        {valued: "EeIiLlnPsda", longValued: []string{"--eof", "--replace", "--max-lines", "--max-args", "--max-procs", "--max-chars", "--delimiter", "--arg-file"}},
	"busybox":      {},
	"strace":       {valued: "eoOpPsSuXbIa"},
	"ltrace":       {valued: "eoOpsSuanl"},
	"flock":        {valued: "wEcn", positional: 1},
	"unbuffer":     {},
	"proxychains":  {valued: "f"},
	"proxychains4": {valued: "f"},
	"torsocks":     {},
	"firejail":     {},
	"chroot":       {positional: 1},
}

// unwrap adds the segments of the command that s runs on its behalf, if
// any: the command after sudo or env, the script of sh -c, a here-document
// fed to a shell, eval's arguments, an ssh remote command, find's -exec.
func (p *shellParser) unwrap(s segment, depth int) {
	if len(s.words) == 0 || depth >= maxShellDepth {
		return
	}
	prog := s.program()
	args := s.words[1:]
	switch {
	case shells[prog]:
		if script, ok := shellScript(args); ok {
			p.parse(script, depth+1)
			return
		}
		if !hasOperand(args) {
			for _, body := range s.heredocs {
				p.parse(body, depth+1)
			}
		}
	case prog == "eval":
		p.parse(strings.Join(args, " "), depth+1)
	case prog == "su" || prog == "runuser":
		for i, a := range args {
			if (a == "-c" || a == "--command") && i+1 < len(args) {
				p.parse(args[i+1], depth+1)
				return
			}
			if v, ok := strings.CutPrefix(a, "--command="); ok {
				p.parse(v, depth+1)
				return
			}
		}
	case prog == "ssh":
		if rest := sshCommand(args); len(rest) > 0 {
			p.parse(strings.Join(rest, " "), depth+1)
		}
	case prog == "watch":
		rest := skipOptions(args, "dnqg", []string{"--interval", "--differences"}, 0)
		if len(rest) > 0 {
			p.parse(strings.Join(rest, " "), depth+1)
		}
	case prog == "find":
		p.findExec(s, args, depth)
	default:
		w, ok := wrappers[prog]
		if !ok {
			return
		}
		rest := skipOptions(args, w.valued, w.longValued, w.positional)
		if prog == "env" {
			for len(rest) > 0 && isAssignment(rest[0]) {
				rest = rest[1:]
			}
		}
		if len(rest) == 0 {
			return
		}
		inner := segment{words: rest, redirOut: s.redirOut, redirIn: s.redirIn, heredocs: s.heredocs}
		p.add(inner, depth)
	}
}

// add appends a segment made by unwrapping, and unwraps it in turn.
func (p *shellParser) add(s segment, depth int) {
	if p.full() {
		return
	}
	p.out = append(p.out, s)
	p.unwrap(s, depth+1)
}

// findExec adds the commands of find's -exec, -execdir, -ok and -okdir.
func (p *shellParser) findExec(s segment, args []string, depth int) {
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-exec", "-execdir", "-ok", "-okdir":
		default:
			continue
		}
		j := i + 1
		for j < len(args) && args[j] != ";" && args[j] != "+" {
			j++
		}
		if j > i+1 {
			p.add(segment{words: args[i+1 : j]}, depth)
		}
		i = j
	}
}

// shellScript returns the script of "sh -c SCRIPT" (also "-ec", "-lc"...).
func shellScript(args []string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			return "", false
		}
		if len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsRune(a, 'c') {
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", false
		}
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "+") {
			return "", false // a script file: the shell runs it
		}
	}
	return "", false
}

// hasOperand says a shell was given a script file to run rather than
// reading commands from its input.
func hasOperand(args []string) bool {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "+") {
			return true
		}
	}
	return false
}

// skipOptions returns args after the leading options (with the values of
// those that take one) and positional arguments of a wrapper.
func skipOptions(args []string, valued string, longValued []string, positional int) []string {
	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		i++
		if strings.HasPrefix(a, "--") {
			if !strings.Contains(a, "=") {
				for _, l := range longValued {
					if a == l {
						i++
						break
					}
				}
			}
			continue
		}
		// A cluster of one-letter options: the first that takes a value
		// takes the rest of the word, or the next word.
		for k := 1; k < len(a); k++ {
			if strings.IndexByte(valued, a[k]) >= 0 {
				if k == len(a)-1 {
					i++
				}
				break
			}
		}
	}
	for ; positional > 0 && i < len(args); positional-- {
		i++
	}
	if i > len(args) {
		i = len(args)
	}
	return args[i:]
}

// sshCommand returns the remote command of an ssh command line.
func sshCommand(args []string) []string {
	rest := skipOptions(args, "BbcDEeFIiJLlmOoPpQRSWw", nil, 0)
	if len(rest) < 2 {
		return nil
	}
	return rest[1:]
}

// isAssignment says w is a shell variable assignment (NAME=value).
func isAssignment(w string) bool {
	eq := strings.IndexByte(w, '=')
	if eq <= 0 {
		return false
	}
	name := strings.TrimSuffix(w[:eq], "+")
	for i, c := range name {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return name != ""
}

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
