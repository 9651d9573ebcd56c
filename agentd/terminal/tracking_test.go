package terminal

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommandsThatBreakTracking runs commands that bash cannot parse, that
// leave it waiting for more input, that end or replace the shell, or that
// change its prompt. Each must come back within its timeout with a
// sensible exit code, and the terminal must then run the next command:
// in the same shell when the command did not end it.
func TestCommandsThatBreakTracking(t *testing.T) {
	tests := []trackingCase{
		{name: "syntax error", cmd: "echo a( done", code: 2, output: "syntax error", keepsVars: true},
		{name: "stray paren", cmd: ")", code: 2, output: "syntax error", keepsVars: true},
		{name: "unfinished if", cmd: "if true; then echo x", code: 2, output: "syntax error", keepsVars: true},
		{name: "unbalanced double quote", cmd: `echo "abc`, code: 2, output: "unexpected EOF", keepsVars: true},
		{name: "unbalanced single quote", cmd: "echo 'abc", code: 2, output: "unexpected EOF", keepsVars: true},
		{name: "unbalanced quote over lines", cmd: "echo 'abc\necho def", code: 2, output: "unexpected EOF", keepsVars: true},
		{name: "unfinished command substitution", cmd: "echo $(echo x", code: 2, output: "unexpected EOF", keepsVars: true},
		{name: "unfinished process substitution", cmd: "cat <(echo x", code: 2, output: "unexpected EOF", keepsVars: true},
		{name: "unfinished substitution after a good line", cmd: "echo first\necho $(date", code: 2, output: "unexpected EOF", keepsVars: true},
		{name: "substitutions that end", cmd: "echo $(case x in x) echo sub;; esac) <(:) | cut -c1-3", code: 0, output: "sub", keepsVars: true, bashOnly: true},
		{name: "here-doc left open", cmd: "cat <<EOF\nbody", code: 0, output: "body", keepsVars: true},
		{name: "here-doc left open on one line", cmd: "cat <<EOF", code: 0, output: "here-document", keepsVars: true, bashOnly: true},
		{name: "syntax error after output", cmd: "echo first\nfi", code: 2, output: "first", keepsVars: true},
		{name: "exit", cmd: "exit", code: 0, restart: true},
		{name: "exit with a code", cmd: "echo bye; exit 7", code: 7, output: "bye", restart: true},
		{name: "killed shell", cmd: "kill -9 $$", code: 137, restart: true},
		{name: "set -e failure", cmd: "set -e; false", code: 1, restart: true},
		{name: "set -e then a failure later", cmd: "set -e\necho before\nfalse\necho never", code: 1, output: "before", restart: true},
		{name: "set -e then a syntax error", cmd: "set -e\necho a( done", code: 2, output: "syntax error", restart: true, bashOnly: true},
		{name: "set -e alone", cmd: "set -e", code: 0, keepsVars: true},
		{name: "set -u", cmd: "set -u", code: 0, keepsVars: true},
		{name: "exec bash", cmd: "exec bash", code: 0},
		{name: "exec bash without rc files", cmd: "exec bash --norc --noprofile", code: 0},
		{name: "exec bash with editing", cmd: "exec bash -i", code: 0},
		{name: "exec bash twice", cmd: "exec bash\nexec bash", code: 0},
		{name: "exec sh", cmd: "exec sh", code: 0},
		{name: "PS1", cmd: "PS1='$ '", code: 0, keepsVars: true},
		{name: "PS1 and PROMPT_COMMAND", cmd: "PS1='$ '; PROMPT_COMMAND=", code: 0, keepsVars: true, bashOnly: true},
		{name: "PROMPT_COMMAND sets PS1", cmd: `PROMPT_COMMAND='PS1="\u@\h \w$ "'`, code: 0, keepsVars: true, bashOnly: true},
		{name: "unset prompt", cmd: "unset PS1 PROMPT_COMMAND", code: 0, keepsVars: true, bashOnly: true},
		{name: "export PS1", cmd: "export PS1='> '", code: 0, keepsVars: true},
		{name: "prompt expansion off", cmd: "shopt -u promptvars", code: 0, keepsVars: true, bashOnly: true},
		{name: "failure keeps its code", cmd: "(exit 42)", code: 42, keepsVars: true},
	}
	for _, shell := range []string{"bash", "sh"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("no %s: its cases are skipped", shell)
			continue
		}
		for _, tc := range tests {
			if shell != "bash" && tc.bashOnly {
				continue
			}
			if shell != "bash" {
				tc.output = "" // sh words its errors its own way
			}
			t.Run(shell+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				testBreaksTracking(t, path, tc)
			})
		}
	}
}

type trackingCase struct {
	name    string
	cmd     string
	code    int    // wanted exit code; -1 means any code but -1
	output  string // the output must contain this
	restart bool   // the shell exited: a new one runs the next command
	// keepsVars: the next command still sees the shell's variables
	// (a shell that replaced the first one keeps only exported ones).
	keepsVars bool
	bashOnly  bool // the case is about bash, or sh answers it otherwise
}

func testBreaksTracking(t *testing.T, shell string, tc trackingCase) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	term := newTerm(t, Options{Dir: dir, Shell: shell})
	run(t, term, Request{Command: "cd sub; LOCAL=kept; export EXPORTED=kept"})
	pid := term.Info().PID

	res := exec1(t, term, tc.cmd)
	if res.Running || res.ExitCode == -1 {
		t.Fatalf("%q did not end: %+v", tc.cmd, res)
	}
	if tc.code >= 0 && res.ExitCode != tc.code {
		t.Errorf("%q: exit code %d, want %d (output %q)", tc.cmd, res.ExitCode, tc.code, res.Output)
	}
	if !strings.Contains(res.Output, tc.output) {
		t.Errorf("%q: output %q, want it to contain %q", tc.cmd, res.Output, tc.output)
	}
	if exited := strings.Contains(res.Message, "exited"); exited != tc.restart {
		t.Errorf("%q: message %q; want the shell exited: %v", tc.cmd, res.Message, tc.restart)
	}

	res = exec1(t, term, `echo "ok $LOCAL $EXPORTED"; pwd`)
	want := "ok kept kept\n" + sub
	switch {
	case tc.restart:
		want = "ok  \n" + dir
	case !tc.keepsVars:
		want = "ok  kept\n" + sub
	}
	if res.Output != want || res.ExitCode != 0 {
		t.Fatalf("the command after %q: %+v; want output %q, exit code 0", tc.cmd, res, want)
	}
	if tc.keepsVars && term.Info().PID != pid {
		t.Errorf("%q: the shell changed (pid %d, was %d)", tc.cmd, term.Info().PID, pid)
	}
	if res := exec1(t, term, "echo again"); res.Output != "again" || res.ExitCode != 0 {
		t.Fatalf("the second command after %q: %+v", tc.cmd, res)
	}
}

// exec1 runs a command with a soft timeout longer than any of them needs,
// and fails the test if the terminal refuses it.
func exec1(t *testing.T, term *Terminal, cmd string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := term.Exec(ctx, Request{Command: cmd, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Exec(%q): %v", cmd, err)
	}
	return res
}

// TestReplacedShellStaysInteractive: after `exec bash`, the terminal's
// shell is set up as before: a command can still be typed into, C-c
// stops a command, and a nested shell started by a command does not end
// the command when it prints its prompt.
func TestReplacedShellStaysInteractive(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	term := newTerm(t, Options{})
	if res := exec1(t, term, "exec bash"); res.ExitCode != 0 {
		t.Fatalf("exec bash: %+v", res)
	}
	res := run(t, term, Request{Command: `read -p "name? " name; echo "hello $name"`, Timeout: 500 * time.Millisecond})
	if res.ExitCode != -1 || !strings.Contains(res.Output, "name?") {
		t.Fatalf("prompt: %+v", res)
	}
	if res := run(t, term, Request{Command: "gopher", IsInput: true, Timeout: 5 * time.Second}); res.Output != "hello gopher" || res.ExitCode != 0 {
		t.Fatalf("answer: %+v", res)
	}
	run(t, term, Request{Command: "sleep 100", Timeout: 300 * time.Millisecond})
	if res := run(t, term, Request{Command: "C-c", IsInput: true, Timeout: 10 * time.Second}); res.ExitCode != 130 || res.Running {
		t.Fatalf("C-c: %+v", res)
	}
	// A nested shell is a program the command runs: its prompt is not the
	// end of the command, and exit leaves it.
	res = run(t, term, Request{Command: "bash --norc", Timeout: 500 * time.Millisecond})
	if !res.Running {
		t.Fatalf("a nested bash ended the command: %+v", res)
	}
	if res := run(t, term, Request{Command: "exit 4", IsInput: true, Timeout: 5 * time.Second}); res.ExitCode != 4 || res.Running {
		t.Fatalf("exit from the nested shell: %+v; want its code, 4", res)
	}
	if res := exec1(t, term, "echo back"); res.Output != "back" {
		t.Fatalf("after the nested shell: %+v", res)
	}
}

// TestCommandFilesStayTheAgents: the shell's user cannot make the agent,
// as root, write a command into a file of its choosing by planting links
// where the agent saves commands.
func TestCommandFilesStayTheAgents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the shell as another user")
	}
	dir, err := os.MkdirTemp("", "gohands-links-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("root's own\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o755)
	os.Chown(home, 12345, 12345)
	term := newTerm(t, Options{Dir: home, OutputDir: filepath.Join(dir, "out"), UID: 12345, GID: 12345, Env: []string{"HOME=" + home}})
	plant := "d=$(dirname \"${BASH_SOURCE[0]}\")\nfor i in 0 1 2 3 4 5 6 7; do ln -sf " + victim + " \"$d/cmd-$i.sh\"; done 2>/dev/null; true"
	run(t, term, Request{Command: plant})
	if res := run(t, term, Request{Command: "echo one\necho two"}); res.Output != "one\ntwo" {
		t.Errorf("the command after the links: %+v", res)
	}
	if data, _ := os.ReadFile(victim); string(data) != "root's own\n" {
		t.Fatalf("the agent wrote a command through a link the shell's user planted: the file now holds %q", data)
	}
}
