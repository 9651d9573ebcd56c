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
