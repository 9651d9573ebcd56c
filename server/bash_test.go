package server_test

import (
	"strings"
	"testing"
	"time"
)

// TestCommandsThatDoNotParse runs, in a real sandbox and its bash,
// commands bash cannot parse or that replace the shell: over the REST
// route each answers with bash's error at once (it used to wait for the
// whole timeout and answer -1), and in the agent's terminal, reached
// through the V0 socket, the next command runs in the same shell.
func TestCommandsThatDoNotParse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true})
	c := e.create(nil)

	e.bash(c.ID, map[string]any{"command": "true"}) // starts the sandbox
	start := time.Now()
	e.bash(c.ID, map[string]any{"command": "echo parsed", "timeout": 30})
	took := time.Since(start)
	start = time.Now()
	res := e.bash(c.ID, map[string]any{"command": "echo a( done", "timeout": 30})
	t.Logf("over REST, echo a( done answered in %s, echo parsed in %s", time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond))
	if res.ExitCode != 2 || res.TimedOut || !strings.Contains(res.Stdout+res.Stderr, "syntax error") {
		t.Errorf("echo a( done over REST: %+v; want exit code 2 and a syntax error", res)
	}

	s := e.dial("/ws", nil)
	run := func(cmd string) (string, float64) {
		t.Helper()
		s.send(map[string]any{"action": "run", "args": map[string]any{"command": cmd}})
		fs := s.v0Until(func(f v0Frame) bool { return f.Observation != "" && f.Cause != nil })
		obs := fs[len(fs)-1]
		code, _ := obs.Extras["exit_code"].(float64)
		return obs.Content, code
	}
	run("cd /tmp && X=kept")
	tests := []struct {
		cmd    string
		code   float64
		output string
	}{
		{"echo a( done", 2, "syntax error"},
		{`echo "unbalanced`, 2, "unexpected EOF"},
		{"cat <<EOF\nhere-doc left open", 0, "here-doc left open"},
		{"echo $(date", 2, "unexpected EOF"}, // bash 5.2.15 of the image corrupts its heap on it
		{"PS1='$ '; PROMPT_COMMAND=", 0, ""},
	}
	for _, tc := range tests {
		out, code := run(tc.cmd)
		if code != tc.code || !strings.Contains(out, tc.output) {
			t.Errorf("%q in the agent's terminal: exit code %v, output %q; want %v and %q", tc.cmd, code, out, tc.code, tc.output)
		}
		if out, code := run(`echo "ok $X"; pwd`); code != 0 || !strings.Contains(out, "ok kept\n/tmp") {
			t.Fatalf("the command after %q: exit code %v, output %q", tc.cmd, code, out)
		}
	}
	// exec bash keeps the folder and the exported variables.
	run("export Y=exported; exec bash")
	if out, code := run(`echo "ok $Y"; pwd`); code != 0 || !strings.Contains(out, "ok exported\n/tmp") {
		t.Fatalf("the command after exec bash: exit code %v, output %q", code, out)
	}
}
