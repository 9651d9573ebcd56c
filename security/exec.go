package security

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultTimeout is how long a hook or hook analyzer may run when its
// configuration gives no timeout.
const DefaultTimeout = 10 * time.Second

// Caps on what is kept of a program's output: a hook that floods its
// output is cut, not allowed to fill the server's memory.
const (
	maxProgramOutput = 1 << 20 // read and parsed
	maxRecordOutput  = 4 << 10 // kept in a HookRecord
	maxReasonLen     = 2000    // of a reason taken from a program's output
)

// hookPath is the PATH of hook programs. Hooks do not inherit the
// server's environment, which holds secrets such as the key that encrypts
// stored secrets; they get this PATH, a few variables saying what they are
// run for, and the env their configuration gives.
const hookPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// waitDelay is how long a killed program's output pipes may stay open
// (held by its children) before they are closed on it.
const waitDelay = 500 * time.Millisecond

// run is the outcome of running a program.
type run struct {
	stdout, stderr []byte
	// exitCode is the program's exit status, or -1 if it did not exit
	// normally (not started, killed, timed out).
	exitCode int
	// err says why the program did not run to an exit status of its own:
	// it could not start, it timed out, it was killed.
	err      error
	duration time.Duration
}

// runProgram runs argv with stdin as its input for at most timeout
// (DefaultTimeout if zero). On timeout or when ctx ends the program and
// every process it started in its process group are killed.
func runProgram(ctx context.Context, argv []string, stdin []byte, timeout time.Duration, env []string) run {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, argv[0], argv[1:]...)
	cmd.Env = append([]string{hookPath}, env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr cappedBuffer
	stdout.max, stderr.max = maxProgramOutput, maxProgramOutput
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)
	err := cmd.Run()
	r := run{stdout: stdout.Bytes(), stderr: stderr.Bytes(), exitCode: -1, duration: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		r.exitCode = 0
	case ctx.Err() != nil:
		r.err = fmt.Errorf("stopped: %w", ctx.Err())
	case tctx.Err() != nil:
		r.err = fmt.Errorf("timed out after %s", timeout)
	case errors.As(err, &exitErr) && exitErr.Exited():
		r.exitCode = exitErr.ExitCode()
	case errors.As(err, &exitErr):
		r.err = fmt.Errorf("killed: %v", exitErr.ProcessState)
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited, but a child kept its output open; what it said is
		// complete enough.
		r.exitCode = cmd.ProcessState.ExitCode()
	default:
		r.err = fmt.Errorf("could not run %s: %v", argv[0], err)
	}
	return r
}

// cappedBuffer keeps the first max bytes written to it and drops the rest,
// telling no writer.
type cappedBuffer struct {
	bytes.Buffer
	max       int
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.truncated = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// clip returns s trimmed and cut to at most n bytes (on a rune
// boundary), for reasons and records.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " [...]"
}

// joinOutput returns a program's standard output, then its standard error.
func joinOutput(r run) string {
	out := string(r.stdout)
	if len(r.stderr) > 0 {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		out += string(r.stderr)
	}
	return out
}

// recordOutput is what a HookRecord keeps of a program's output.
func recordOutput(r run) string { return clip(joinOutput(r), maxRecordOutput) }
