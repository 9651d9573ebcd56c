// Package terminal runs shells on real pseudo-terminals for the
// runtime-agent: bash (or sh when the image has no bash) keeps its working
// directory, environment and functions between commands, and each command
// returns its output and exit code.
//
// A command that prints nothing for the soft timeout is not killed: Exec
// returns exit code -1 with the output so far, and the next call waits for
// more (an empty command), types into the program (IsInput) or sends a
// control key. A hard timeout interrupts the command and says so.
package terminal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// DefaultSoftTimeout is how long a command may print nothing before Exec
// returns with exit code -1 and leaves it running.
const DefaultSoftTimeout = 30 * time.Second

// Errors callers branch on.
var (
	// ErrBusy: another call is already waiting on this terminal.
	ErrBusy = errors.New("terminal is busy with another call")
	// ErrStillRunning: a new command was sent while the last one runs.
	ErrStillRunning = errors.New("the previous command is still running: send an empty command to wait for more output, is_input to type into it, or C-c to stop it")
	// ErrNotRunning: input or a wait was asked for while no command runs.
	ErrNotRunning = errors.New("no command is running")
	// ErrInvalid: a request that can never succeed (a bad key name, say).
	ErrInvalid = errors.New("invalid request")
	// ErrClosed: the terminal was closed.
	ErrClosed = errors.New("terminal is closed")
)

// Options configure a terminal.
type Options struct {
	Shell string   // path of the shell; default bash from PATH, else /bin/sh
	Dir   string   // starting working directory
	Env   []string // environment of the shell; HOME, TERM, LANG and PATH get defaults
	// UID and GID the shell runs as when the agent runs as root and they
	// differ from its own. Negative means "as the agent".
	UID, GID   int
	OutputDir  string // where cut outputs and the shell's rc file are kept
	StartLimit time.Duration
	Logger     *slog.Logger
}

// Request is one call to Exec.
type Request struct {
	Command     string
	IsInput     bool          // type Command into the running program (C-c, C-d, C-z are keys)
	Timeout     time.Duration // soft no-output timeout; 0 means DefaultSoftTimeout
	HardTimeout time.Duration // interrupt the command after this long; 0 means never
	// OnOutput, when set, gets the raw output (control sequences included)
	// as it arrives. It must not keep the slice.
	OnOutput func([]byte)
}

// Result is what a command did.
type Result = agentapi.ExecResult

type phase uint8

const (
	idle     phase = iota
	running        // a command was sent and its prompt not seen yet
	finished       // its prompt was seen while nobody was waiting
)

// Terminal is one named shell on a pseudo-terminal. It is safe for
// concurrent use; Exec calls on one terminal are serialised.
type Terminal struct {
	name string
	opts Options
	log  *slog.Logger

	call sync.Mutex // held by the one Exec that is waiting

	mu      sync.Mutex
	sh      *shell
	phase   phase
	last    prompt // the last prompt seen
	seg     *capture
	sink    *sink
	nextCmd int
	// sent numbers the command typed last; its prompt carries the number,
	// so that a prompt the shell prints on its own (after C-d at the
	// prompt, say) is not taken for the end of the next command.
	sent   int
	closed bool
}

// New starts a shell for a terminal called name.
func New(name string, opts Options) (*Terminal, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StartLimit == 0 {
		opts.StartLimit = 10 * time.Second
	}
	opts.OutputDir = outputDir(opts.OutputDir)
	t := &Terminal{name: name, opts: opts, log: opts.Logger.With("terminal", name)}
	if err := t.start(); err != nil {
		return nil, err
	}
	return t, nil
}

// Name is the terminal's name.
func (t *Terminal) Name() string { return t.name }

// start launches a new shell and waits for its first prompt. It is called
// with t.mu not held.
func (t *Terminal) start() error {
	nonce := make([]byte, 8)
	rand.Read(nonce)
	sh, err := spawn(t.opts, t.name, hex.EncodeToString(nonce))
	if err != nil {
		return fmt.Errorf("start terminal %s: %w", t.name, err)
	}
	snk := newSink(false)
	t.mu.Lock()
	if old := t.sh; old != nil && old.exited() {
		old.files.remove() // a shell that exited (kill removes the folder of the others)
	}
	t.sh = sh
	t.sent = 0        // the first prompt carries no command number
	t.phase = running // until the first prompt
	t.seg = newCapture(t.opts.OutputDir, t.name)
	t.sink = snk
	t.mu.Unlock()
	go t.readLoop(sh)
	go t.waitLoop(sh)

	timer := time.NewTimer(t.opts.StartLimit)
	defer timer.Stop()
	for {
		select {
		case <-snk.ready:
			if _, _, ended := snk.take(nil); !ended {
				continue // the capture keeps the output
			}
			exited := snk.shellExited()
			t.detach(snk)
			t.mu.Lock()
			seg := t.seg
			t.seg = newCapture(t.opts.OutputDir, t.name)
			t.phase = idle
			t.mu.Unlock()
			out, _ := seg.finish()
			seg.discard()
			if exited {
				return fmt.Errorf("start terminal %s: shell exited at once: %s", t.name, strings.TrimSpace(out.Text))
			}
			return nil
		case <-timer.C:
			t.detach(snk)
			sh.kill()
			return fmt.Errorf("start terminal %s: shell %s gave no prompt within %s", t.name, sh.path, t.opts.StartLimit)
		}
	}
}

// Exec runs a command, waits for more output of a running one, or types
// into it, as Request says.
func (t *Terminal) Exec(ctx context.Context, req Request) (Result, error) {
	if !t.call.TryLock() {
		return Result{}, ErrBusy
	}
	defer t.call.Unlock()

	if req.Timeout <= 0 {
		req.Timeout = DefaultSoftTimeout
	}
	if err := t.ensureShell(); err != nil {
		return Result{}, err
	}
	snk, err := t.send(req, t.script(ctx, req))
	if err != nil {
		return Result{}, err
	}
	return t.wait(ctx, snk, req)
}

// ensureShell restarts a shell that exited (after `exit`, say).
func (t *Terminal) ensureShell() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	dead := t.sh == nil || t.sh.exited()
	t.mu.Unlock()
	if !dead {
		return nil
	}
	return t.start()
}

// script is the text the shell is to source for req when it is a new
// command: the command itself, or in its place the error of bash when it
// ends inside a substitution (see unclosedSubst).
func (t *Terminal) script(ctx context.Context, req Request) string {
	if req.IsInput || req.Command == "" {
		return req.Command
	}
	if _, ok := controlKey(req.Command); ok {
		return req.Command
	}
	t.mu.Lock()
	path, idle := t.sh.path, t.phase != running
	t.mu.Unlock()
	if !idle || !isBash(path) {
		return req.Command // refused, or sh, which has no such bug
	}
	if msg, ok := unclosedSubst(ctx, path, req.Command); ok {
		return guardScript(msg)
	}
	return req.Command
}

// send writes the request to the terminal and attaches a sink for output;
// script is what a new command runs (see Terminal.script).
func (t *Terminal) send(req Request, script string) (*sink, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cmd := req.Command
	switch {
	case req.IsInput:
		if t.phase != running {
			return nil, fmt.Errorf("%w: there is nothing to send input to", ErrNotRunning)
		}
		if key, ok := controlKey(cmd); ok {
			if err := t.sh.write([]byte{key}); err != nil {
				return nil, err
			}
		} else {
			if len(cmd) > 4000 {
				return nil, fmt.Errorf("%w: input of %d bytes is longer than a terminal line (4000)", ErrInvalid, len(cmd))
			}
			if err := t.sh.write([]byte(cmd + "\n")); err != nil {
				return nil, err
			}
		}
	case cmd == "":
		if t.phase == idle {
			return nil, fmt.Errorf("%w: an empty command waits for a running one, and none is running", ErrNotRunning)
		}
	default:
		if key, ok := controlKey(cmd); ok {
			// A bare "C-c" is a key, whatever is_input says.
			if err := t.sh.write([]byte{key}); err != nil {
				return nil, err
			}
			break
		}
		if t.phase == running {
			return nil, ErrStillRunning
		}
		if err := t.typeCommand(script); err != nil {
			return nil, err
		}
		t.phase = running
	}
	snk := newSink(req.OnOutput != nil)
	t.sink = snk
	if t.phase == finished {
		// The command ended while nobody waited: report it at once.
		snk.end(false)
	}
	return snk, nil
}

// typeCommand sends a new command; t.mu is held. The command goes
// through a file, so that whatever it holds, the line typed parses and
// ends with the marker (see rcFile).
func (t *Terminal) typeCommand(cmd string) error {
	cmd = strings.TrimRight(cmd, "\n")
	t.nextCmd++
	t.sent = t.nextCmd
	path, err := t.sh.files.command(t.nextCmd, cmd)
	if err != nil {
		return err
	}
	return t.sh.write([]byte(t.sh.files.line(t.sent, path)))
}

// wait collects output until the prompt, a timeout or cancellation.
func (t *Terminal) wait(ctx context.Context, snk *sink, req Request) (Result, error) {
	soft := time.NewTimer(req.Timeout)
	defer soft.Stop()
	var hard <-chan time.Time
	if req.HardTimeout > 0 {
		ht := time.NewTimer(req.HardTimeout)
		defer ht.Stop()
		hard = ht.C
	}
	// While output flows, it is taken every pace rather than on every
	// read of the pty (see sink.take).
	paceTimer := time.NewTimer(pace)
	paceTimer.Stop()
	defer paceTimer.Stop()
	var paced <-chan time.Time
	var buf []byte
	timedOut := false
	// After the hard timeout, C-c is sent up to maxInterrupts times, every
	// interruptEvery: one can be lost, say when it comes as a job is
	// being started, and bash then goes on with a loop.
	var again <-chan time.Time
	interrupts := 0
	for {
		select {
		case <-snk.ready:
		case <-paced:
			paced = nil
		case <-soft.C:
			return t.collect(snk, collectRunning, false, req)
		case <-hard:
			timedOut = true
			hard = nil
			soft.Stop()
			if !t.interrupt() {
				return t.collect(snk, collectRunning, true, req)
			}
			interrupts = 1
			again = time.After(interruptEvery)
			continue
		case <-again:
			if interrupts == maxInterrupts || !t.interrupt() {
				// The interrupts did not bring the prompt back.
				return t.collect(snk, collectRunning, true, req)
			}
			interrupts++
			again = time.After(interruptEvery)
			continue
		case <-ctx.Done():
			t.detach(snk)
			return Result{}, ctx.Err()
		}
		out, got, end := snk.take(buf)
		if got {
			for p := out; len(p) > 0; { // out is empty unless the Exec streams
				n := min(len(p), maxDelivery)
				req.OnOutput(p[:n])
				p = p[n:]
			}
			if !timedOut {
				soft.Reset(req.Timeout)
			}
			if paced == nil {
				paceTimer.Reset(pace)
				paced = paceTimer.C
			}
		}
		buf = out
		if end {
			return t.collect(snk, collectDone, timedOut, req)
		}
	}
}

// interrupt sends C-c to a running command; it reports false if the
// shell could not be written to.
func (t *Terminal) interrupt() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.phase != running {
		return true // the prompt is back: the sink says so
	}
	return t.sh.write([]byte{0x03}) == nil
}

// After a hard timeout, C-c is sent at most maxInterrupts times,
// interruptEvery apart, before the command is reported still running.
const (
	maxInterrupts  = 3
	interruptEvery = time.Second
)

// maxDelivery bounds one call of Request.OnOutput, so that a streaming
// client gets frames of a known size however much output queued up.
const maxDelivery = 256 << 10

type collectKind uint8

const (
	collectDone collectKind = iota
	collectRunning
)

// collect detaches the sink and turns the captured output into a Result.
func (t *Terminal) collect(snk *sink, kind collectKind, timedOut bool, req Request) (Result, error) {
	t.detach(snk)
	t.mu.Lock()
	seg := t.seg
	t.seg = newCapture(t.opts.OutputDir, t.name)
	res := Result{WorkingDir: t.last.cwd, PID: t.sh.pid(), TimedOut: timedOut}
	exited := t.sh.exited()
	switch {
	case exited:
		t.phase = idle
		res.ExitCode = t.sh.exitCode()
		res.Message = "The shell exited; a new one starts with the next command."
	case t.phase == running:
		res.ExitCode = -1
		res.Running = true
	default: // the prompt came back
		t.phase = idle
		res.ExitCode = t.last.exitCode
	}
	t.mu.Unlock()

	out, err := seg.finish()
	if err != nil {
		t.log.Warn("keep full output", "err", err)
	}
	res.Output = strings.TrimSuffix(out.Text, "\n")
	res.FullOutputPath = out.FullPath
	switch {
	case timedOut && res.Running:
		res.Message = fmt.Sprintf("The command hit its hard timeout of %s; C-c was sent %d times but it is still running. Send C-c again, wait with an empty command, or reset the terminal.", req.HardTimeout, maxInterrupts)
	case timedOut:
		res.Message = fmt.Sprintf("The command hit its hard timeout of %s and was interrupted with C-c.", req.HardTimeout)
	case res.Running:
		res.Message = fmt.Sprintf("The command printed nothing for %s and is still running. Send an empty command to wait for more output, is_input=true to type into it, or C-c to stop it.", req.Timeout)
	}
	if out.FullPath != "" {
		// Let the sandbox user read the full output.
		t.sh.own(out.FullPath)
	}
	return res, nil
}

// detach stops delivering output to snk.
func (t *Terminal) detach(snk *sink) {
	t.mu.Lock()
	if t.sink == snk {
		t.sink = nil
	}
	t.mu.Unlock()
	snk.close()
}

// readLoop moves the shell's output into the capture and the attached sink.
func (t *Terminal) readLoop(sh *shell) {
	defer close(sh.drained)
	buf := make([]byte, 64<<10)
	for {
		n, err := sh.pty.Read(buf)
		if n > 0 {
			t.feed(sh, buf[:n])
		}
		if err != nil {
			return // the pty is gone: every holder of its other end has exited
		}
	}
}

func (t *Terminal) feed(sh *shell, p []byte) {
	t.mu.Lock()
	if t.sh != sh {
		t.mu.Unlock()
		return
	}
	snk := t.sink
	sh.scan.feed(p, func(out []byte, pr *prompt) {
		if pr != nil {
			if pr.cmd != t.sent {
				return // a prompt of the shell's own, not the end of a command
			}
			t.last = *pr
			if t.phase == running {
				if snk != nil {
					t.phase = idle
				} else {
					t.phase = finished
				}
			}
			if snk != nil {
				snk.end(false)
			}
			return
		}
		t.seg.write(out)
		if snk != nil {
			snk.put(out)
		}
	})
	t.mu.Unlock()
	if snk != nil {
		snk.throttle()
	}
}

// exitDrainWait is how long the exit of a shell waits for its last output.
const exitDrainWait = 250 * time.Millisecond

// waitLoop notices the shell's exit.
func (t *Terminal) waitLoop(sh *shell) {
	sh.wait()
	// What the shell wrote before it exited may still be in the pty:
	// report the exit after it is read. A background job that keeps the
	// pty open must not hold the exit back for long.
	select {
	case <-sh.drained:
	case <-time.After(exitDrainWait):
	}
	t.mu.Lock()
	if t.sh != sh {
		t.mu.Unlock()
		return // replaced (a reset): the new shell's waiter speaks for it
	}
	snk := t.sink
	if t.phase == running && snk == nil {
		t.phase = finished
	}
	t.mu.Unlock()
	if snk != nil {
		snk.end(true)
	}
}

// SendKeys sends control keys ("C-c", "C-d", "C-z", "C-\\") or, for any
// other text, the text itself without a newline.
func (t *Terminal) SendKeys(keys string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.sh == nil || t.sh.exited() {
		return fmt.Errorf("%w: the shell has exited", ErrNotRunning)
	}
	if key, ok := controlKey(keys); ok {
		return t.sh.write([]byte{key})
	}
	if strings.HasPrefix(keys, "C-") {
		return fmt.Errorf("%w: unknown key %q (known: C-a .. C-z, C-\\)", ErrInvalid, keys)
	}
	return t.sh.write([]byte(keys))
}

// Reset kills the shell and everything it started, then starts a fresh one.
func (t *Terminal) Reset() error {
	if !t.call.TryLock() {
		// A waiting Exec is ended by the kill below; take the lock after.
		t.stopShell()
		t.call.Lock()
	} else {
		t.stopShell()
	}
	defer t.call.Unlock()
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return t.start()
}

// Close kills the shell and everything it started.
func (t *Terminal) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.stopShell()
	return nil
}

func (t *Terminal) stopShell() {
	t.mu.Lock()
	sh := t.sh
	seg := t.seg
	t.seg = newCapture(t.opts.OutputDir, t.name)
	t.phase = idle
	t.mu.Unlock()
	if seg != nil {
		seg.discard()
	}
	if sh != nil {
		sh.kill()
	}
}

// Info describes a terminal for listings.
type Info = agentapi.TerminalInfo

// Info reports the terminal's state.
func (t *Terminal) Info() Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := Info{Name: t.name, Running: t.phase == running, WorkingDir: t.last.cwd}
	if t.sh != nil {
		in.PID = t.sh.pid()
	}
	return in
}

func controlKey(s string) (byte, bool) {
	if len(s) == 3 && (s[0] == 'C' || s[0] == 'c') && s[1] == '-' {
		c := s[2]
		switch {
		case c >= 'a' && c <= 'z':
			return c - 'a' + 1, true
		case c >= 'A' && c <= 'Z':
			return c - 'A' + 1, true
		case c == '\\':
			return 0x1c, true
		}
	}
	return 0, false
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lookShell picks bash, else sh.
func lookShell(want string) string {
	if want != "" {
		return want
	}
	if p, err := exec.LookPath("bash"); err == nil {
		return p
	}
	for _, p := range []string{"/bin/bash", "/usr/bin/bash"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/sh"
}
