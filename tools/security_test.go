package tools

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// deploy is a tool known only to this test: it shows that a tool's own
// file is all the security rules need to cover it.
type deploy struct{}

func (deploy) Spec() Spec {
	return Spec{Name: "deploy", Kind: "DeployTool", Actions: []string{"DeployAction"}, Description: "Deploy.",
		Parameters: schema(`{"type":"object","properties":{"target":{"type":"string"}}}`)}
}

func (deploy) Decode(args []byte) (event.ToolAction, error) {
	var f map[string]any
	err := json.Unmarshal(args, &f)
	return &event.UnknownAction{RawKind: "DeployAction", Fields: f}, err
}

func (deploy) Run(context.Context, Workspace, event.ToolAction) (event.ToolObservation, error) {
	return nil, errors.New("not run in this test")
}

func (deploy) Failed(_ event.ToolAction, msg string) event.ToolObservation {
	return failedPlain(msg)
}

func (deploy) Texts(event.ToolAction) []string { return nil }

func (deploy) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: "deploy", Fields: []string{"target"}}
}

func deployAction(t *testing.T, tool, target string) *event.Action {
	act, err := deploy{}.Decode([]byte(`{"target":"` + target + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	return &event.Action{ToolName: tool, Action: act}
}

// ruleAnalyzer builds the analyzer of a rules file for the tools of reg.
func ruleAnalyzer(t *testing.T, reg registry, rules string) (security.Analyzer, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "my.rules")
	if err := os.WriteFile(file, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]string{"rules_file": file})
	return security.Options{ToolOf: reg.kindTool, Tools: reg.securityFields()}.NewAnalyzer(security.KindRules, cfg)
}

// TestSecurityFieldsCoverNewTool: a tool registered only here is covered
// by the rules: a rule on its field matches, an action no rule matches is
// LOW rather than UNKNOWN, and a rule naming a field it lacks is refused.
func TestSecurityFieldsCoverNewTool(t *testing.T) {
	reg := newRegistry(terminal{}, deploy{})
	const rules = "include default\n" +
		"rule deploy-prod\n risk HIGH\n reason deploys to production\n tool deploy\n target ~ ^prod\n"
	a, err := ruleAnalyzer(t, reg, rules)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		action *event.Action
		risk   event.Risk
		rule   string
	}{
		{deployAction(t, "deploy", "prod-eu"), event.RiskHigh, "deploy-prod"},
		{deployAction(t, "", "prod-eu"), event.RiskHigh, "deploy-prod"}, // the tool named by its action's kind
		{deployAction(t, "deploy", "staging"), event.RiskLow, ""},
		{&event.Action{ToolName: event.ToolTerminal, Action: &event.TerminalAction{Command: "sudo rm -rf /"}}, event.RiskHigh, "rm-vital"},
	}
	for _, tt := range tests {
		if v := a.Analyze(context.Background(), tt.action); v.Risk != tt.risk || v.Rule != tt.rule {
			t.Errorf("%s %v: %s by %q (%s), want %s by %q", tt.action.ToolName, tt.action.Action, v.Risk, v.Rule, v.Reason, tt.risk, tt.rule)
		}
	}

	_, err = ruleAnalyzer(t, reg, "rule typo\n risk HIGH\n reason r\n tool deploy\n targt ~ ^prod\n")
	if want := `"targt" is not a field of deploy (fields: target)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a rule on a field deploy lacks: err = %v, want %q", err, want)
	}
}

// TestSecurityFieldsRate: GoHands' tools, as SecurityFields gives them,
// cover the built-in rules: the fields derived from a command line, a
// patch and a path are there, and recall is left to no rule.
func TestSecurityFieldsRate(t *testing.T) {
	a, err := security.Options{ToolOf: KindTool, Tools: SecurityFields()}.NewAnalyzer(security.KindRules, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := "x"
	tests := []struct {
		action event.ToolAction
		risk   event.Risk
		rule   string
	}{
		{&event.TerminalAction{Command: "cd /tmp && sudo rm -rf /"}, event.RiskHigh, "rm-vital"},
		{&event.TerminalAction{Command: "go test ./..."}, event.RiskLow, ""},
		{&event.FileEditorAction{Command: "create", Path: "/workspace/../etc/passwd", FileText: &text}, event.RiskHigh, "editor-critical-file"},
		{&event.FileEditorAction{Command: "view", Path: "/etc/passwd"}, event.RiskLow, ""},
		{&event.ApplyPatchAction{Patch: "*** Begin Patch\n*** Add File: /etc//sudoers\n+x\n*** End Patch\n"}, event.RiskHigh, "editor-critical-file"},
		{&event.ApplyPatchAction{Patch: "*** Begin Patch\n*** Add File: ../up.txt\n+x\n*** End Patch\n"}, event.RiskMedium, "patch-outside-workspace"},
		{&event.GlobAction{Pattern: "*.go"}, event.RiskLow, ""},
		{RecallAction("deploy"), event.RiskUnknown, ""},
	}
	for _, tt := range tests {
		v := a.Analyze(context.Background(), &event.Action{Action: tt.action})
		if v.Risk != tt.risk || v.Rule != tt.rule {
			t.Errorf("%s %+v: %s by %q (%s), want %s by %q", tt.action.Kind(), tt.action, v.Risk, v.Rule, v.Reason, tt.risk, tt.rule)
		}
	}
	for _, f := range SecurityFields() {
		if _, ok := Lookup(f.Tool); !ok {
			t.Errorf("SecurityFields names %q, which is no tool", f.Tool)
		}
	}
}
