package security

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/google/go-cmp/cmp"
)

func TestParseRules(t *testing.T) {
	src := `
# A comment, then a definition used below.
define tmp (/tmp|/var/tmp)

rule no-tmp-scripts
  risk medium
  reason runs a script from a temporary directory
  tool terminal TerminalTool
  program ~ ^(sh|bash)$
  args ~ ^{tmp}/ except \.safe$

rule workspace-delete
  risk HIGH
  reason deletes the workspace
  tool terminal
  line ~ ^rm\s.*{workspace}$

rule mcp-drop
  risk HIGH
  reason drops a table
  tool mcp_db
  sql ~ (?i)\bdrop\s+table\b
`
	rules, err := ParseRules("test.rules", []byte(src), "/home/me/proj.x/", testTools)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.Name+" "+string(r.Risk)+" "+strings.Join(r.Tools, ",")+" "+r.Source)
	}
	want := []string{
		"no-tmp-scripts MEDIUM terminal,terminal test.rules:5",
		"workspace-delete HIGH terminal test.rules:12",
		"mcp-drop HIGH mcp_db test.rules:18",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("rules (-got +want):\n%s", diff)
	}

	a := NewRuleAnalyzer(rules, testTools)
	for _, tt := range []struct {
		action *event.Action
		rule   string
	}{
		{terminal("bash /tmp/x.sh"), "no-tmp-scripts"},
		{terminal("bash /tmp/x.safe"), ""},
		{terminal("sh /var/tmp/a"), "no-tmp-scripts"},
		{terminal("rm -rf /home/me/proj.x"), "workspace-delete"},
		{terminal("rm -rf /home/me/projAx"), ""}, // the workspace is quoted: "." is a dot
		{terminal("rm -rf /workspace"), ""},
		{&event.Action{ToolName: "mcp_db", Action: &event.UnknownAction{RawKind: "Q", Fields: map[string]any{"sql": "Drop  Table users"}}}, "mcp-drop"},
		{&event.Action{ToolName: "mcp_db", Action: &event.UnknownAction{RawKind: "Q", Fields: map[string]any{"sql": "select 1"}}}, ""},
	} {
		var names []string
		for _, r := range a.Match(tt.action) {
			names = append(names, r.Name)
		}
		if got := strings.Join(names, ","); got != tt.rule {
			t.Errorf("%s: matched %q, want %q", describe(tt.action), got, tt.rule)
		}
	}
}

func TestParseRulesErrors(t *testing.T) {
	src := `risk HIGH
rule ok
  risk LOW
  reason fine
  tool terminal
  command ~ x
rule bad name!
  risk HIGHEST
  reason
  tool terminal
  comand ~ rm
  args ~ (rm
  args = x
rule ok
  tool terminal
  command ~ y
define workspace /x
define Bad x
include other
disable nothing
nonsense
rule everything
  risk LOW
  reason matches all
rule two
  risk LOW
  risk HIGH
  reason a
  reason b
something else
`
	_, err := ParseRules("my.rules", []byte(src), "", testTools)
	if err == nil {
		t.Fatal("no error")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *ParseError
		if !errors.As(e, &pe) {
			t.Fatalf("%v is not a *ParseError", e)
		}
		got = append(got, e.Error())
	}
	want := []string{
		`my.rules:1: "risk" outside a rule: start one with "rule NAME"`,
		`my.rules:7: rule name "bad name!": use letters, digits, '.', '_' and '-'`,
		`my.rules:8: risk "HIGHEST" is not LOW, MEDIUM or HIGH`,
		`my.rules:9: empty reason`,
		"my.rules:12: args: bad regexp \"(rm\": error parsing regexp: missing closing ): `(rm`",
		`my.rules:13: args: want "args ~ REGEXP" or "args !~ REGEXP"`,
		`my.rules:7: rule "bad name!" has no reason`,
		`my.rules:11: "comand" is not a field of terminal (fields: args, assign, command, input, is_input, line, program, redirect, reset, timeout)`,
		`my.rules:14: rule "ok" is defined twice`,
		`my.rules:14: rule "ok" has no risk`,
		`my.rules:14: rule "ok" has no reason`,
		`my.rules:17: define workspace: {workspace} is the conversation's workspace and cannot be redefined`,
		`my.rules:18: define "Bad": name with lower-case letters, digits and '_'`,
		`my.rules:19: include "other": only "include default" (the built-in rules) is possible`,
		`my.rules:20: disable "nothing": no such rule above this line`,
		`my.rules:21: not a rules statement: want rule, define, include or disable`,
		`my.rules:22: rule "everything" matches every action: give it a tool or a condition`,
		`my.rules:27: rule "two" has two risks`,
		`my.rules:29: rule "two" has two reasons`,
		`my.rules:30: something: want "something ~ REGEXP" or "something !~ REGEXP"`,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("errors (-got +want):\n%s", diff)
	}
}

func TestParseRulesError(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"rule a\n risk LOW\n reason r\n url ~ x except", "f:4: url: nothing after except"},
		{"rule a\n risk LOW\n reason r\n url ~ x except  ", "f:4: url: nothing after except"},
		{"rule a\n risk LOW\n reason r\n url ~", "f:4: url ~: no regexp"},
		{"rule a\n risk LOW\n reason r\n url !~ a except (", "f:4: url: bad regexp \"(\": error parsing regexp: missing closing ): `(`"},
		{"rule a\n risk LOW\n reason r\n tool\n", "f:4: tool: name at least one tool"},
		{"rule a\n risk LOW\n reason r\n tool a/b\n", "f:4: tool \"a/b\" is not a tool name"},
		{"define x (\n", "f:1: define x: bad regexp \"(\": error parsing regexp: missing closing ): `(`"},
		{"define x\n", "f:1: define x: no regexp"},
		{"rule\n risk LOW\n reason r\n tool terminal", "f:1: rule without a name"},
		{"rule a\n risk LOW\n reason r\n tool file_editor\n url ~ x", "f:5: \"url\" is not a field of file_editor (fields: command, file_text, insert_line, new_str, old_str, path, view_range)"},
	} {
		_, err := ParseRules("f", []byte(tt.src), "", testTools)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: got %v, want %s", tt.src, err, tt.want)
		}
	}
}

func TestParseRulesErrorLimit(t *testing.T) {
	_, err := ParseRules("x", []byte(strings.Repeat("nonsense\n", 100)), "", testTools)
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != maxParseErrors {
		t.Errorf("got %d errors, want %d", n, maxParseErrors)
	}
}

func TestIncludeDisableOverride(t *testing.T) {
	src := `include default
disable git-force-push
rule rm-vital
  risk MEDIUM
  reason we do not mind
  tool terminal
  program ~ ^rm$
  args ~ ^/$
`
	rules, err := ParseRules("mine", []byte(src), "", testTools)
	if err != nil {
		t.Fatal(err)
	}
	defaults := DefaultRules("", testTools)
	if len(rules) != len(defaults)-1 {
		t.Errorf("got %d rules, want %d", len(rules), len(defaults)-1)
	}
	a := NewRuleAnalyzer(rules, testTools)
	if v := a.Analyze(t.Context(), terminal("git push --force")); v.Rule == "git-force-push" {
		t.Errorf("disabled rule still matches: %+v", v)
	}
	v := a.Analyze(t.Context(), terminal("rm -rf /"))
	if v.Risk != event.RiskMedium || v.Rule != "rm-vital" {
		t.Errorf("overridden rule: got %+v", v)
	}
	// The replacement keeps the built-in rule's place.
	for i, r := range rules {
		if r.Name == "rm-vital" && (defaults[i].Name != "rm-vital" || r.Source != "mine:3") {
			t.Errorf("rm-vital at %d from %s", i, r.Source)
		}
	}
}

func TestLoadRules(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.rules")
	if err := os.WriteFile(file, []byte("rule a\n  risk HIGH\n  reason r\n  tool browser\n  url ~ evil\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := LoadRules(file, "", testTools)
	if err != nil || len(rules) != 1 || rules[0].Source != file+":1" {
		t.Fatalf("LoadRules = %v, %v", rules, err)
	}
	if _, err := LoadRules(filepath.Join(dir, "missing"), "", testTools); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestRulesFileNotEchoed checks that a file that is not a rules file at
// all does not have its content shown in the errors.
func TestRulesFileNotEchoed(t *testing.T) {
	_, err := ParseRules("/etc/shadow", []byte("root:$6$secrethash:19000:0:99999:7:::\n"), "", testTools)
	if err == nil || strings.Contains(err.Error(), "secrethash") {
		t.Errorf("error %v", err)
	}
}
