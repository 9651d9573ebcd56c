package terminal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func newTerm(t *testing.T, opts Options) *Terminal {
	t.Helper()
	if opts.OutputDir == "" {
		opts.OutputDir = t.TempDir()
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.UID == 0 && opts.GID == 0 {
		opts.UID, opts.GID = -1, -1
	}
	term, err := New("t", opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { term.Close() })
	return term
}

func run(t *testing.T, term *Terminal, req Request) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := term.Exec(ctx, req)
	if err != nil {
		t.Fatalf("Exec(%q): %v", req.Command, err)
	}
	return res
}

func TestExitCodesAndOutput(t *testing.T) {
	term := newTerm(t, Options{})
	tests := []struct {
		cmd      string
		wantOut  string
		wantCode int
	}{
		{"echo hello", "hello", 0},
		{"false", "", 1},
		{"(exit 42)", "", 42},
		{"printf 'no newline'", "no newline", 0},
		{"echo one; echo two >&2", "one\ntwo", 0},
		{"printf '\\033[31mred\\033[0m\\n'", "red", 0},
		{"echo 'a!b'", "a!b", 0},
		{"for i in 1 2 3; do\n  echo line $i\ndone", "line 1\nline 2\nline 3", 0},
		{"echo " + strings.Repeat("x", 5000), strings.Repeat("x", 5000), 0},
		{"cat <<'EOF'\nhere $doc\nEOF", "here $doc", 0},
	}
	for _, tc := range tests {
		res := run(t, term, Request{Command: tc.cmd})
		if res.Output != tc.wantOut || res.ExitCode != tc.wantCode {
			t.Errorf("%q: got (%q, %d), want (%q, %d)", tc.cmd, res.Output, res.ExitCode, tc.wantOut, tc.wantCode)
		}
	}
}

func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	term := newTerm(t, Options{Dir: dir})
	run(t, term, Request{Command: "cd sub && export GREETING=hi && greet() { echo \"$GREETING $1\"; }"})
	res := run(t, term, Request{Command: "pwd; greet there"})
	if want := sub + "\nhi there"; res.Output != want {
		t.Errorf("got %q, want %q", res.Output, want)
	}
	if res.WorkingDir != sub {
		t.Errorf("working dir %q, want %q", res.WorkingDir, sub)
	}
}

func TestSoftTimeoutThenContinue(t *testing.T) {
	term := newTerm(t, Options{})
	res := run(t, term, Request{Command: "echo start; sleep 1.5; echo end", Timeout: 500 * time.Millisecond})
	if res.ExitCode != -1 || !res.Running || res.Output != "start" {
		t.Fatalf("first call: %+v", res)
	}
	if _, err := term.Exec(context.Background(), Request{Command: "echo other"}); !errors.Is(err, ErrStillRunning) {
		t.Fatalf("new command while running: err %v, want ErrStillRunning", err)
	}
	res = run(t, term, Request{Command: "", Timeout: 5 * time.Second})
	if res.ExitCode != 0 || res.Running || res.Output != "end" {
		t.Fatalf("continue: %+v", res)
	}
	if _, err := term.Exec(context.Background(), Request{}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("empty command while idle: err %v, want ErrNotRunning", err)
	}
}

func TestInteractiveInput(t *testing.T) {
	term := newTerm(t, Options{})
	res := run(t, term, Request{Command: `read -p "name? " name; echo "hello $name"`, Timeout: 500 * time.Millisecond})
	if res.ExitCode != -1 || !strings.Contains(res.Output, "name?") {
		t.Fatalf("prompt: %+v", res)
	}
	res = run(t, term, Request{Command: "gopher", IsInput: true, Timeout: 5 * time.Second})
	if res.ExitCode != 0 || res.Output != "hello gopher" {
		t.Fatalf("answer: %+v", res)
	}
	res = run(t, term, Request{Command: `read -p "continue? [y/n] " yn; [ "$yn" = y ] && echo yes`, Timeout: 500 * time.Millisecond})
	if res.ExitCode != -1 {
		t.Fatalf("y/n prompt: %+v", res)
	}
	res = run(t, term, Request{Command: "y", IsInput: true})
	if res.Output != "yes" || res.ExitCode != 0 {
		t.Fatalf("y/n answer: %+v", res)
	}
}

func TestControlC(t *testing.T) {
	term := newTerm(t, Options{})
	res := run(t, term, Request{Command: "sleep 100", Timeout: 300 * time.Millisecond})
	if res.ExitCode != -1 {
		t.Fatalf("sleep: %+v", res)
	}
	start := time.Now()
	res = run(t, term, Request{Command: "C-c", IsInput: true, Timeout: 10 * time.Second})
	if res.ExitCode != 130 || res.Running {
		t.Fatalf("after C-c: %+v", res)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("C-c did not stop sleep promptly")
	}
	if res := run(t, term, Request{Command: "echo alive"}); res.Output != "alive" {
		t.Fatalf("terminal after C-c: %+v", res)
	}
}

func TestControlZAndD(t *testing.T) {
	term := newTerm(t, Options{})
	res := run(t, term, Request{Command: "cat", Timeout: 300 * time.Millisecond})
	if res.ExitCode != -1 {
		t.Fatalf("cat: %+v", res)
	}
	res = run(t, term, Request{Command: "C-d", IsInput: true})
	if res.ExitCode != 0 || res.Running {
		t.Fatalf("C-d should end cat: %+v", res)
	}
	res = run(t, term, Request{Command: "sleep 100", Timeout: 300 * time.Millisecond})
	res = run(t, term, Request{Command: "C-z", IsInput: true})
	if res.Running || !strings.Contains(res.Output, "Stopped") {
		t.Fatalf("C-z should stop the job: %+v", res)
	}
	res = run(t, term, Request{Command: "jobs"})
	if !strings.Contains(res.Output, "sleep 100") {
		t.Fatalf("jobs: %+v", res)
	}
	// C-d at the prompt does not end the shell (ignoreeof).
	if err := term.SendKeys("C-d"); err != nil {
		t.Fatal(err)
	}
	if res := run(t, term, Request{Command: "echo still here"}); !strings.Contains(res.Output, "still here") {
		t.Fatalf("after C-d at prompt: %+v", res)
	}
}

func TestHardTimeout(t *testing.T) {
	term := newTerm(t, Options{})
	res := run(t, term, Request{Command: "while true; do echo tick; sleep 0.1; done", HardTimeout: 700 * time.Millisecond})
	if !res.TimedOut || res.Running || res.ExitCode != 130 {
		t.Fatalf("hard timeout: %+v", res)
	}
	if !strings.Contains(res.Output, "tick") || !strings.Contains(res.Message, "hard timeout") {
		t.Fatalf("hard timeout output/message: %+v", res)
	}
}

func TestBackgroundDoesNotBlock(t *testing.T) {
	term := newTerm(t, Options{})
	start := time.Now()
	res := run(t, term, Request{Command: "sleep 30 & echo started", Timeout: 10 * time.Second})
	if res.ExitCode != 0 || !strings.Contains(res.Output, "started") {
		t.Fatalf("background: %+v", res)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("a background job blocked the terminal")
	}
	if res := run(t, term, Request{Command: "echo next"}); !strings.HasSuffix(res.Output, "next") {
		t.Fatalf("after background: %+v", res)
	}
}

func TestHugeOutputIsCut(t *testing.T) {
	out := t.TempDir()
	term := newTerm(t, Options{OutputDir: out})
	res := run(t, term, Request{Command: "head -c 10000000 /dev/zero | tr '\\0' 'a'; echo; echo END"})
	if res.ExitCode != 0 {
		t.Fatalf("exit %d", res.ExitCode)
	}
	if n := len([]rune(res.Output)); n > MaxObservation {
		t.Fatalf("observation has %d characters, want at most %d", n, MaxObservation)
	}
	if res.FullOutputPath == "" || !strings.Contains(res.Output, res.FullOutputPath) {
		t.Fatalf("full output path %q not reported in output", res.FullOutputPath)
	}
	if !strings.HasSuffix(res.Output, "END") || !strings.HasPrefix(res.Output, "aaaa") {
		t.Fatalf("head/tail not kept: %q ... %q", res.Output[:20], res.Output[len(res.Output)-20:])
	}
	st, err := os.Stat(res.FullOutputPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(10000000 + len("\nEND\n")); st.Size() != want {
		t.Fatalf("full output has %d bytes, want %d", st.Size(), want)
	}
}

func TestTwoTerminalsAtOnce(t *testing.T) {
	// a waits for a line that only b's command writes: the two finish only
	// if the terminals run at the same time.
	a := newTerm(t, Options{})
	b := newTerm(t, Options{})
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		res, err := a.Exec(ctx, Request{Command: "read line < " + fifo + "; echo got $line", Timeout: 15 * time.Second})
		if err != nil || res.Output != "got hello" {
			t.Errorf("reader: %+v, %v; want got hello", res, err)
		}
	})
	res, err := b.Exec(ctx, Request{Command: "echo hello > " + fifo, Timeout: 15 * time.Second})
	if err != nil || res.ExitCode != 0 {
		t.Errorf("writer: %+v, %v", res, err)
	}
	wg.Wait()
}

func TestReset(t *testing.T) {
	term := newTerm(t, Options{})
	run(t, term, Request{Command: "export X=1; sleep 100 &"})
	if err := term.Reset(); err != nil {
		t.Fatal(err)
	}
	if res := run(t, term, Request{Command: "echo \"[$X]\"; jobs | wc -l"}); res.Output != "[]\n0" {
		t.Fatalf("after reset: %q", res.Output)
	}
}

func TestExitRestartsShell(t *testing.T) {
	term := newTerm(t, Options{})
	// What a command prints just before it exits the shell is kept.
	for i := range 20 {
		res := run(t, term, Request{Command: "echo oops >&2; exit 3"})
		if res.ExitCode != 3 || !strings.Contains(res.Message, "exited") || !strings.HasPrefix(res.Output, "oops") {
			t.Fatalf("exit, try %d: %+v; want exit code 3, output starting with oops, a message", i, res)
		}
	}
	res := run(t, term, Request{Command: "exit 3"})
	if res.ExitCode != 3 || !strings.Contains(res.Message, "exited") {
		t.Fatalf("exit: %+v", res)
	}
	if res := run(t, term, Request{Command: "echo again"}); res.Output != "again" {
		t.Fatalf("after exit: %+v", res)
	}
}

func TestStreamedOutput(t *testing.T) {
	term := newTerm(t, Options{})
	var chunks []string
	res := run(t, term, Request{Command: "for i in 1 2 3; do echo $i; sleep 0.2; done", OnOutput: func(p []byte) {
		chunks = append(chunks, string(p))
	}})
	if got := strings.Join(chunks, ""); got != "1\n2\n3\n" {
		t.Fatalf("streamed %q", got)
	}
	if len(chunks) < 2 {
		t.Fatalf("output came in %d chunk(s), want it as it was printed", len(chunks))
	}
	if res.Output != "1\n2\n3" {
		t.Fatalf("result %q", res.Output)
	}
}

// A client slower than the command gets every byte, in order, in frames
// of bounded size; the command waits for it rather than the agent holding
// the output.
func TestStreamedOutputSlowClient(t *testing.T) {
	term := newTerm(t, Options{})
	var got bytes.Buffer
	calls, biggest := 0, 0
	res := run(t, term, Request{Command: "seq 1 400000", OnOutput: func(p []byte) {
		calls++
		biggest = max(biggest, len(p))
		got.Write(p)
		time.Sleep(2 * time.Millisecond)
	}})
	var want bytes.Buffer
	for i := 1; i <= 400000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("streamed %d bytes, want %d; they differ", got.Len(), want.Len())
	}
	if biggest > maxDelivery {
		t.Fatalf("a frame of %d bytes, want at most %d", biggest, maxDelivery)
	}
	if res.ExitCode != 0 || res.FullOutputPath == "" {
		t.Fatalf("result %+v", res)
	}
	t.Logf("%d bytes in %d calls", got.Len(), calls)
}

func TestShFallback(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	term := newTerm(t, Options{Shell: "/bin/sh"})
	res := run(t, term, Request{Command: "cd /tmp; false"})
	if res.ExitCode != 1 || res.WorkingDir != "/tmp" {
		t.Fatalf("sh: %+v", res)
	}
}

func TestBadKeys(t *testing.T) {
	term := newTerm(t, Options{})
	if err := term.SendKeys("C-%"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
	if _, err := term.Exec(context.Background(), Request{Command: "x", IsInput: true}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("input with nothing running: %v", err)
	}
}

func TestRunsAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	// t.TempDir's parents are private to root: use folders the user can enter.
	dir, err := os.MkdirTemp("", "gohands-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o755)
	os.Chown(home, 12345, 12345)
	term := newTerm(t, Options{Dir: home, OutputDir: filepath.Join(dir, "out"), UID: 12345, GID: 12345, Env: []string{"HOME=" + home}})
	res := run(t, term, Request{Command: "id -u; id -g; touch f; stat -c %u f; tty >/dev/null && echo tty; echo x >/dev/tty"})
	if want := "12345\n12345\n12345\ntty\nx"; res.Output != want {
		t.Fatalf("got %q, want %q", res.Output, want)
	}
}

// As PID 1 the agent reaps every child, and may collect a shell before the
// terminal's own Wait does. The exit code must survive that: a reaper as
// eager as can be runs here while shells exit with a code of their own.
func TestExitCodeWhenReapedFirst(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid > 0 && err == nil {
				RecordExit(pid, ws)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	defer func() { close(stop); <-done }()
	term := newTerm(t, Options{})
	for i := range 5 {
		res := run(t, term, Request{Command: fmt.Sprintf("echo bye; exit %d", 3+i)})
		if res.ExitCode != 3+i || !strings.HasPrefix(res.Output, "bye") {
			t.Fatalf("exit %d: %+v", 3+i, res)
		}
	}
}

func TestReapedStatus(t *testing.T) {
	start := time.Now()
	go func() {
		time.Sleep(20 * time.Millisecond)
		RecordExit(99999, syscall.WaitStatus(7<<8)) // exited with 7
	}()
	ws, ok := reapedStatus(99999, start, time.Second)
	if !ok || !ws.Exited() || ws.ExitStatus() != 7 {
		t.Fatalf("reapedStatus = %v, %v; want exit 7", ws, ok)
	}
	if _, ok := reapedStatus(99999, start, 10*time.Millisecond); ok {
		t.Fatal("a status was taken twice")
	}
	RecordExit(99998, 0)
	if _, ok := reapedStatus(99998, time.Now().Add(time.Second), 10*time.Millisecond); ok {
		t.Fatal("a status recorded before the process started was taken")
	}
}

// TestCloseKillsJobsBeingForked closes a terminal while its shell is still
// starting background jobs: a job forked while Close looks for the
// shell's processes must not outlive it.
func TestCloseKillsJobsBeingForked(t *testing.T) {
	for round := range 5 {
		term := newTerm(t, Options{})
		run(t, term, Request{Command: "(for i in $(seq 2000); do sleep 600 & done)", Timeout: 200 * time.Millisecond})
		sid := term.Info().PID
		if err := term.Close(); err != nil {
			t.Fatal(err)
		}
		left, err := sessionMembers(sid)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("round %d: %d processes of the closed terminal's shell still run", round, len(left))
		}
	}
}

// TestHardTimeoutInterruptsAgain has a loop outlive the first C-c (its
// trap takes it, as a lost interrupt would leave it): the hard timeout
// sends another.
func TestHardTimeoutInterruptsAgain(t *testing.T) {
	term := newTerm(t, Options{})
	res := run(t, term, Request{Command: "trap 'trap - INT' INT; while :; do :; done", HardTimeout: 700 * time.Millisecond})
	if !res.TimedOut || res.Running || res.ExitCode != 130 {
		t.Fatalf("hard timeout with the first C-c taken by a trap: %+v", res)
	}
	if res := run(t, term, Request{Command: "echo after"}); res.Output != "after" || res.ExitCode != 0 {
		t.Fatalf("the command after: %+v", res)
	}
}
