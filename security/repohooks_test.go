package security

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseHookConfig(t *testing.T) {
	t.Parallel()
	pascal := `{"PreToolUse": [{"matcher": "terminal", "hooks": [{"type": "command", "command": "check.sh", "timeout": 5}]}],
	  "Stop": [{"hooks": [{"command": "on_stop.sh"}]}]}`
	wrapped := `{"hooks": {"pre_tool_use": [{"matcher": "terminal", "hooks": [{"type": "command", "command": "check.sh", "timeout": 5}]}],
	  "stop": [{"matcher": "*", "hooks": [{"command": "on_stop.sh"}]}]}}`
	want := HookConfig{
		PreToolUse: []HookMatcher{{Matcher: "terminal", Hooks: []HookDefinition{{Type: "command", Command: "check.sh", Timeout: 5}}}},
		Stop:       []HookMatcher{{Matcher: "*", Hooks: []HookDefinition{{Type: "command", Command: "on_stop.sh", Timeout: 60}}}},
	}
	for _, in := range []string{pascal, wrapped} {
		got, err := ParseHookConfig([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("ParseHookConfig (-got +want):\n%s", diff)
		}
	}
	for in, msg := range map[string]string{
		`[]`:                                "cannot unmarshal",
		`null`:                              "not an object",
		`{"PreToolCall": []}`:               `"PreToolCall" is not a hook event`,
		`{"PreToolUse": [{"hooks": [{}]}]}`: "command: missing",
		`{"Stop": [{"hooks": [{"command": "x", "timeout": 601}]}]}`: "timeout",
		`{"Stop": [{"hooks": [{"command": "x", "type": "http"}]}]}`: `type: "http"`,
		`{"Stop": [{"matcher": "*", "hooks": [], "extra": 1}]}`:     "unknown field",
		`{"hooks": 3}`: `"hooks" is not an object`,
		`{"Stop": [{"hooks": [` + strings.Repeat(`{"command":"x"},`, 64) + `{"command":"x"}]}]}`: "more than 64 hooks",
	} {
		if _, err := ParseHookConfig([]byte(in)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseHookConfig(%.60s) = %v, want an error with %q", in, err, msg)
		}
	}
}

func TestHookMatching(t *testing.T) {
	t.Parallel()
	c := HookConfig{PreToolUse: []HookMatcher{
		{Matcher: "*", Hooks: []HookDefinition{{Command: "all"}}},
		{Matcher: "terminal", Hooks: []HookDefinition{{Command: "exact"}}},
		{Matcher: "file_.*|grep", Hooks: []HookDefinition{{Command: "regex"}}},
		{Matcher: "/term/", Hooks: []HookDefinition{{Command: "slashes"}}},
		{Matcher: "([", Hooks: []HookDefinition{{Command: "broken"}}},
	}}
	names := func(tool string) string {
		var out []string
		for _, h := range c.Matching(HookPreToolUse, tool) {
			out = append(out, h.Command)
		}
		return strings.Join(out, ",")
	}
	for tool, want := range map[string]string{"terminal": "all,exact", "file_editor": "all,regex", "grep": "all,regex",
		"term": "all,slashes", "": "all", "([": "all,broken", "xterminal": "all"} {
		if got := names(tool); got != want {
			t.Errorf("Matching(%q) = %s, want %s", tool, got, want)
		}
	}
}

func TestJudgeRepoHook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		code           int
		stdout, stderr string
		runErr         string
		want           RepoHookResult
	}{
		{"ok", 0, "", "", "", RepoHookResult{Success: true}},
		{"exit 2", 2, "", "no pushing\n", "", RepoHookResult{Blocked: true, Reason: "no pushing"}},
		{"exit 1 does not block", 1, "", "oops", "", RepoHookResult{Error: "exited with status 1"}},
		{"deny", 0, `{"decision": "deny", "reason": "rm -rf"}`, "", "", RepoHookResult{Success: true, Blocked: true, Reason: "rm -rf"}},
		{"allow with context", 0, `{"decision": "allow", "additionalContext": "branch main"}`, "", "", RepoHookResult{Success: true, AdditionalContext: "branch main"}},
		{"continue false", 0, `{"continue": false, "reason": "stop"}`, "", "", RepoHookResult{Success: true, Blocked: true, Reason: "stop"}},
		{"log line", 0, "checking...", "", "", RepoHookResult{Success: true}},
		{"timed out", -1, "", "", "timed out after 5s", RepoHookResult{Error: "timed out after 5s"}},
	}
	for _, tt := range tests {
		if got := JudgeRepoHook(tt.code, tt.stdout, tt.stderr, tt.runErr); got != tt.want {
			t.Errorf("%s: JudgeRepoHook = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func FuzzParseHookConfig(f *testing.F) {
	f.Add(`{"PreToolUse": [{"matcher": "terminal", "hooks": [{"command": "x.sh", "timeout": 5}]}]}`)
	f.Add(`{"hooks": {"stop": [{"hooks": [{"type": "prompt", "prompt": "ok?"}]}]}}`)
	f.Add(`{"UserPromptSubmit": [{"matcher": "/a|b/", "hooks": []}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		c, err := ParseHookConfig([]byte(data))
		if err != nil {
			return
		}
		n := 0
		for _, ev := range []string{HookPreToolUse, HookPostToolUse, HookUserPromptSubmit, HookSessionStart, HookSessionEnd, HookStop} {
			for _, m := range *c.list(ev) {
				m.matches("terminal")
				for _, h := range m.Hooks {
					n++
					if h.Timeout < 1 || h.Timeout > maxHookSeconds || (h.Type == "command" && strings.TrimSpace(h.Command) == "") {
						t.Fatalf("ParseHookConfig(%q) kept %+v", data, h)
					}
				}
			}
		}
		if n > maxRepoHooks {
			t.Fatalf("ParseHookConfig(%q) kept %d hooks", data, n)
		}
	})
}
