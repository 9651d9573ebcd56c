package terminal

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// bash 5.2 (Debian 12's 5.2.15 among others) corrupts its own heap when
// the text it sources or evals ends inside a command or process
// substitution (`echo $(date`): the next command it parses writes a byte
// before a buffer, and the shell aborts a command or two later, its state
// lost. Typed at a prompt the same text only makes bash wait for more. So
// before a command with "$(", "<(" or ">(" goes to a bash terminal, a bash
// of its own that only parses (bash -n) reads it; if it ends inside one,
// the terminal's shell is given bash's error instead and fails with status
// 2, as for any other syntax error, except that no line of the command
// runs.

// unclosedMessage is how bash reports the end of the text inside $( ).
const unclosedMessage = "unexpected EOF while looking for matching `)'"

// checkLimit bounds the parse check; past it the command goes as it is.
const checkLimit = 10 * time.Second

// unclosedSubst reports whether cmd ends inside a substitution, and bash's
// words for it. Any failure to check counts as no: the command then goes
// to the shell as it is.
func unclosedSubst(ctx context.Context, bash, cmd string) (string, bool) {
	if !strings.Contains(cmd, "$(") && !strings.Contains(cmd, "<(") && !strings.Contains(cmd, ">(") {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, checkLimit)
	defer cancel()
	// extglob on: with it off, !(x) is a syntax error of another kind,
	// and with it on, no text ends inside $( ) that would not with it off.
	c := exec.CommandContext(ctx, bash, "--norc", "--noprofile", "-n", "-O", "extglob")
	c.Args[0] = "bash" // its messages begin "bash: line 2:", as the shell's would
	c.Env = []string{} // no BASH_ENV, no locale warnings
	c.Stdin = strings.NewReader(cmd + "\n")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	var exit *exec.ExitError
	if err := c.Run(); !errors.As(err, &exit) || !strings.Contains(stderr.String(), unclosedMessage) {
		return "", false
	}
	return strings.TrimSpace(stderr.String()), true
}

// guardScript is what the shell sources in place of a command that ends
// inside a substitution: bash's error, and status 2.
func guardScript(msg string) string {
	return "printf '%s\\n' " + shellQuote(msg) + " >&2\nreturn 2"
}

// isBash reports whether path names a bash.
func isBash(path string) bool {
	return strings.HasPrefix(filepath.Base(path), "bash")
}
