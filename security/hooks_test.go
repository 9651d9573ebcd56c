package security

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// pushGuard blocks git push with a JSON verdict, and writes what it got
// to input.json.
const pushGuard = `in=$(cat)
printf '%s' "$in" > "$DIR/input.json"
case "$in" in
*'git push'*) echo '{"decision": "deny", "reason": "pushing is not allowed in this project"}' ;;
*) echo "looks fine" ;;
esac
`

// pushGuardExit2 blocks git push by exiting with status 2.
const pushGuardExit2 = `case "$(cat)" in
*'git push'*) echo "no pushing from agents" >&2; exit 2 ;;
esac
`

func TestRunPreAction(t *testing.T) {
	dir := t.TempDir()
	guard := script(t, dir, "guard", pushGuard)
	guard2 := script(t, dir, "guard2", pushGuardExit2)
	crash := script(t, dir, "crash", "echo boom >&2\nexit 1\n")
	hang := script(t, dir, "hang", "sleep 30\n")
	garbled := script(t, dir, "garbled", `echo '{"decision": '`+"\n")
	weird := script(t, dir, "weird", `echo '{"decision": "maybe"}'`+"\n")
	counter := script(t, dir, "counter", `echo x >> "$DIR/count"`+"\n")
	env := []string{"DIR=" + dir}

	push := terminal("git push origin main")
	push.ID = "act-1"
	push.SecurityRisk = event.RiskMedium
	in := PreActionInput{ConversationID: "conv-1", Action: push}

	tests := []struct {
		name    string
		hooks   []Hook
		action  *event.Action
		allowed bool
		reason  string
		records []HookRecord
	}{
		{
			name:    "json deny",
			hooks:   []Hook{{Name: "guard", Event: EventPreAction, Command: []string{guard}, Env: env}},
			action:  push,
			allowed: false, reason: "pushing is not allowed in this project",
			records: []HookRecord{{Hook: "guard", Event: EventPreAction, Decision: DecisionDeny, Reason: "pushing is not allowed in this project",
				Output: `{"decision": "deny", "reason": "pushing is not allowed in this project"}`}},
		},
		{
			name:    "json allow on other commands, plain output ignored",
			hooks:   []Hook{{Name: "guard", Event: EventPreAction, Command: []string{guard}, Env: env}},
			action:  terminal("git status"),
			allowed: true,
			records: []HookRecord{{Hook: "guard", Event: EventPreAction, Decision: DecisionAllow, Output: "looks fine"}},
		},
		{
			name:    "exit 2 denies with stderr",
			hooks:   []Hook{{Event: EventPreAction, Command: []string{guard2}}},
			action:  push,
			allowed: false, reason: "no pushing from agents",
			records: []HookRecord{{Hook: "guard2", Event: EventPreAction, Decision: DecisionDeny, Reason: "no pushing from agents", ExitCode: 2, Output: "no pushing from agents"}},
		},
		{
			name:    "crash fails closed",
			hooks:   []Hook{{Name: "c", Event: EventPreAction, Command: []string{crash}}},
			action:  terminal("ls"),
			allowed: false, reason: "hook c failed: exited with status 1: boom",
			records: []HookRecord{{Hook: "c", Event: EventPreAction, Decision: DecisionDeny, Reason: "hook c failed: exited with status 1: boom",
				Error: "exited with status 1: boom", ExitCode: 1, Output: "boom"}},
		},
		{
			name:    "crash with on_error allow",
			hooks:   []Hook{{Name: "c", Event: EventPreAction, Command: []string{crash}, OnError: OnErrorAllow}},
			action:  terminal("ls"),
			allowed: true,
			records: []HookRecord{{Hook: "c", Event: EventPreAction, Decision: DecisionAllow, Reason: "hook c failed (exited with status 1: boom); allowed (on_error: allow)",
				Error: "exited with status 1: boom", ExitCode: 1, Output: "boom"}},
		},
		{
			name:    "timeout fails closed",
			hooks:   []Hook{{Name: "h", Event: EventPreAction, Command: []string{hang}, Timeout: 200 * time.Millisecond}},
			action:  terminal("ls"),
			allowed: false, reason: "hook h failed: timed out after 200ms",
			records: []HookRecord{{Hook: "h", Event: EventPreAction, Decision: DecisionDeny, Reason: "hook h failed: timed out after 200ms",
				Error: "timed out after 200ms", ExitCode: -1}},
		},
		{
			name:    "garbled answer fails closed",
			hooks:   []Hook{{Name: "g", Event: EventPreAction, Command: []string{garbled}}},
			action:  terminal("ls"),
			allowed: false, reason: "hook g failed: its answer is not valid JSON: unexpected end of JSON input",
			records: []HookRecord{{Hook: "g", Event: EventPreAction, Decision: DecisionDeny, Reason: "hook g failed: its answer is not valid JSON: unexpected end of JSON input",
				Error: "its answer is not valid JSON: unexpected end of JSON input", Output: `{"decision":`}},
		},
		{
			name:    "unknown decision fails closed",
			hooks:   []Hook{{Name: "w", Event: EventPreAction, Command: []string{weird}}},
			action:  terminal("ls"),
			allowed: false, reason: `hook w failed: decision "maybe" is not allow or deny`,
			records: []HookRecord{{Hook: "w", Event: EventPreAction, Decision: DecisionDeny, Reason: `hook w failed: decision "maybe" is not allow or deny`,
				Error: `decision "maybe" is not allow or deny`, Output: `{"decision": "maybe"}`}},
		},
		{
			name: "first denial stops; other tools and events skipped",
			hooks: []Hook{
				{Name: "browser-only", Event: EventPreAction, Command: []string{crash}, Tools: []string{"browser"}},
				{Name: "post", Event: EventPostObservation, Command: []string{crash}},
				{Name: "guard2", Event: EventPreAction, Command: []string{guard2}, Tools: []string{"TerminalTool"}},
				{Name: "never-run", Event: EventPreAction, Command: []string{counter}, Env: env},
			},
			action:  push,
			allowed: false, reason: "no pushing from agents",
			records: []HookRecord{{Hook: "guard2", Event: EventPreAction, Decision: DecisionDeny, Reason: "no pushing from agents", ExitCode: 2, Output: "no pushing from agents"}},
		},
		{name: "no hooks", action: push, allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := in
			in.Action = tt.action
			allowed, reason, records := RunPreAction(t.Context(), tt.hooks, in)
			if allowed != tt.allowed || reason != tt.reason {
				t.Errorf("got %v %q, want %v %q", allowed, reason, tt.allowed, tt.reason)
			}
			if diff := cmp.Diff(records, tt.records, cmpopts.IgnoreFields(HookRecord{}, "Duration")); diff != "" {
				t.Errorf("records (-got +want):\n%s", diff)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "count")); err == nil {
		t.Error("a hook after the denying one ran")
	}

	// What the hook got.
	RunPreAction(t.Context(), []Hook{{Name: "guard", Event: EventPreAction, Command: []string{guard}, Env: env}}, in)
	data, err := os.ReadFile(filepath.Join(dir, "input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"event": "pre_action", "conversation_id": "conv-1", "tool": "terminal", "action_id": "act-1", "security_risk": "MEDIUM",
		"action": map[string]any{"kind": "TerminalAction", "command": "git push origin main", "is_input": false, "reset": false},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("hook input (-got +want):\n%s", diff)
	}
}

func TestRunPostObservation(t *testing.T) {
	dir := t.TempDir()
	annotate := script(t, dir, "annotate", `in=$(cat); printf '%s' "$in" > "$DIR/input.json"
echo '{"annotation": "Note: tests are flaky on CI."}'
`)
	redact := script(t, dir, "redact", `cat > /dev/null; echo '{"redact": ["hunter2", "10.0.0.7"], "annotation": "hid the password"}'`+"\n")
	crash := script(t, dir, "crash", "exit 4\n")
	plain := script(t, dir, "plain", "cat > /dev/null; echo checked\n")
	env := []string{"DIR=" + dir}

	act := terminal("cat config")
	act.ID = "act-9"
	exit := 0
	obs := &event.Observation{ActionID: "act-9", ToolName: "terminal", ToolCallID: "call-9",
		Observation: &event.TerminalObservation{ToolOutput: event.ToolOutput{Content: event.Text("password=hunter2 host=10.0.0.7")},
			Command: "cat config", ExitCode: &exit}}
	hooks := []Hook{
		{Name: "annotate", Event: EventPostObservation, Command: []string{annotate}, Env: env},
		{Name: "pre", Event: EventPreAction, Command: []string{crash}},
		{Name: "redact", Event: EventPostObservation, Command: []string{redact}, Tools: []string{"execute_bash"}},
		{Name: "crash", Event: EventPostObservation, Command: []string{crash}},
		{Name: "plain", Event: EventPostObservation, Command: []string{plain}},
		{Name: "editor-only", Event: EventPostObservation, Command: []string{crash}, Tools: []string{"file_editor"}},
	}
	note, red, records := RunPostObservation(t.Context(), hooks, PostObservationInput{ConversationID: "conv-1", Action: act, Observation: obs})
	if note != "Note: tests are flaky on CI.\nhid the password" {
		t.Errorf("annotation %q", note)
	}
	if diff := cmp.Diff(red, []string{"hunter2", "10.0.0.7"}); diff != "" {
		t.Errorf("redact (-got +want):\n%s", diff)
	}
	wantRecords := []HookRecord{
		{Hook: "annotate", Event: EventPostObservation, Decision: DecisionOK, Reason: "annotated", Output: `{"annotation": "Note: tests are flaky on CI."}`},
		{Hook: "redact", Event: EventPostObservation, Decision: DecisionOK, Reason: "annotated; redacted 2 strings",
			Output: `{"redact": ["<redacted>", "<redacted>"], "annotation": "hid the password"}`},
		{Hook: "crash", Event: EventPostObservation, Decision: DecisionError, Reason: "hook crash failed: exited with status 4", Error: "exited with status 4", ExitCode: 4},
		{Hook: "plain", Event: EventPostObservation, Decision: DecisionOK, Output: "checked"},
	}
	if diff := cmp.Diff(records, wantRecords, cmpopts.IgnoreFields(HookRecord{}, "Duration")); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}

	RedactObservation(obs.Observation, red)
	if got := obs.Observation.Output().Content[0].Text; got != "password=<redacted> host=<redacted>" {
		t.Errorf("redacted observation %q", got)
	}

	data, err := os.ReadFile(filepath.Join(dir, "input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Event       string         `json:"event"`
		Tool        string         `json:"tool"`
		ActionID    string         `json:"action_id"`
		Action      map[string]any `json:"action"`
		Observation map[string]any `json:"observation"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Event != "post_observation" || got.Tool != "terminal" || got.ActionID != "act-9" ||
		got.Action["command"] != "cat config" || got.Observation["kind"] != "TerminalObservation" || got.Observation["command"] != "cat config" {
		t.Errorf("hook input %s", data)
	}
	if !strings.Contains(string(data), `"conversation_id":"conv-1"`) {
		t.Errorf("hook input has no conversation_id: %s", data)
	}
}

func TestRedactObservation(t *testing.T) {
	old, cur := "key=abc", "key=abc2"
	o := &event.FileEditorObservation{ToolOutput: event.ToolOutput{Content: event.ContentList{
		{Type: event.ContentText, Text: "abc abcd"}, {Type: event.ContentImage, ImageURLs: []string{"http://x/abc"}}}},
		OldContent: &old, NewContent: &cur}
	RedactObservation(o, []string{"abc", "abcd", ""})
	want := &event.FileEditorObservation{ToolOutput: event.ToolOutput{Content: event.ContentList{
		{Type: event.ContentText, Text: "<redacted> <redacted>"}, {Type: event.ContentImage, ImageURLs: []string{"http://x/abc"}}}},
		OldContent: ptr("key=<redacted>"), NewContent: ptr("key=<redacted>2")}
	if diff := cmp.Diff(o, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
	RedactObservation(nil, []string{"x"})
	RedactObservation(o, nil)
}

func ptr(s string) *string { return &s }

func TestParseHooks(t *testing.T) {
	hooks, err := ParseHooks([]byte(`{"hooks": [
		{"event": "pre_action", "command": ["/opt/hooks/guard", "--strict"], "tools": ["TerminalTool", "browser"], "timeout": 2.5},
		{"name": "notes", "event": "post_observation", "command": "jq -c . >> /tmp/log", "timeout": "750ms", "on_error": "allow", "env": ["A=1"]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Hook{
		{Name: "guard", Event: EventPreAction, Command: []string{"/opt/hooks/guard", "--strict"}, Tools: []string{"terminal", "browser"}, Timeout: 2500 * time.Millisecond, OnError: OnErrorDeny},
		{Name: "notes", Event: EventPostObservation, Command: []string{"sh", "-c", "jq -c . >> /tmp/log"}, Timeout: 750 * time.Millisecond, OnError: OnErrorAllow, Env: []string{"A=1"}},
	}
	if diff := cmp.Diff(hooks, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
	// A bare list works too, and hooks round-trip through JSON.
	data, err := json.Marshal(hooks)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseHooks(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(again, want); diff != "" {
		t.Errorf("round trip (-got +want):\n%s", diff)
	}

	for _, tt := range []struct{ json, err string }{
		{`[{"command": ["x"]}]`, "security: hooks[0]: event: missing (pre_action or post_observation)"},
		{`[{"event": "before", "command": ["x"]}]`, `security: hooks[0]: event: "before" is not pre_action or post_observation`},
		{`[{"event": "pre_action"}]`, "security: hooks[0]: command: missing"},
		{`[{"event": "pre_action", "command": ["x"], "on_error": "ignore"}]`, `security: hooks[0]: on_error: "ignore" is not allow or deny`},
		{`[{"event": "pre_action", "command": ["x"], "env": ["x"]}]`, `security: hooks[0]: env: "x" is not NAME=value`},
		{`[{"event": "pre_action", "command": ["x"], "timeout": "forever"}]`, `security: hooks: timeout: "forever" is neither seconds nor a duration`},
		{`[{"event": "pre_action", "command": ["x"], "timout": 3}]`, `security: hooks: json: unknown field "timout"`},
		{`{"hook": []}`, `security: hooks: json: unknown field "hook"`},
		{`nope`, `security: hooks: invalid character 'o' in literal null (expecting 'u')`},
	} {
		_, err := ParseHooks([]byte(tt.json))
		if err == nil || err.Error() != tt.err {
			t.Errorf("%s:\n got %v\nwant %s", tt.json, err, tt.err)
		}
	}

	file := filepath.Join(t.TempDir(), "hooks.json")
	os.WriteFile(file, []byte(`[{"event": "pre_action", "command": "true"}]`), 0o600)
	if hooks, err := LoadHooks(file); err != nil || len(hooks) != 1 || hooks[0].Name != "sh" {
		t.Errorf("LoadHooks = %+v, %v", hooks, err)
	}
}

// TestHookEnvironment checks that hooks do not get the server's
// environment, and do get what they are told.
func TestHookEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OH_SECRET_KEY", "server-secret")
	dump := script(t, dir, "dump", `cat > /dev/null; env | sort >&2; exit 2`+"\n")
	_, reason, _ := RunPreAction(t.Context(), []Hook{{Name: "dump", Event: EventPreAction, Command: []string{dump}, Env: []string{"EXTRA=1"}}},
		PreActionInput{ConversationID: "c-7", Action: terminal("ls")})
	if strings.Contains(reason, "server-secret") {
		t.Errorf("the hook saw the server's environment: %s", reason)
	}
	for _, want := range []string{"EXTRA=1", "GOHANDS_CONVERSATION_ID=c-7", "GOHANDS_HOOK_EVENT=pre_action", "GOHANDS_HOOK_NAME=dump", "PATH="} {
		if !strings.Contains(reason, want) {
			t.Errorf("the hook's environment lacks %s:\n%s", want, reason)
		}
	}
}
