package security

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/google/go-cmp/cmp"
)

// script writes an executable shell script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLLMAnalyzer(t *testing.T) {
	for _, tt := range []struct {
		risk event.Risk
		want event.Risk
	}{
		{event.RiskHigh, event.RiskHigh},
		{"medium", event.RiskMedium},
		{event.RiskLow, event.RiskLow},
		{event.RiskUnknown, event.RiskUnknown},
		{"", event.RiskUnknown},
		{"SEVERE", event.RiskUnknown},
	} {
		a := terminal("ls")
		a.SecurityRisk = tt.risk
		if v := (LLMAnalyzer{}).Analyze(t.Context(), a); v.Risk != tt.want || v.Analyzer != "llm" || v.Reason == "" {
			t.Errorf("SecurityRisk %q: got %+v, want %s", tt.risk, v, tt.want)
		}
	}
	if v := (LLMAnalyzer{}).Analyze(t.Context(), nil); v.Risk != event.RiskUnknown {
		t.Errorf("nil action: %+v", v)
	}
}

func TestHookAnalyzerCommand(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input.json")
	high := script(t, dir, "high", `cat > `+input+`
echo '{"risk": "high", "reason": "it says rm"}'
`)
	hang := script(t, dir, "hang", "sleep 30\necho '{\"risk\":\"LOW\"}'\n")
	garbage := script(t, dir, "garbage", "echo 'I think it is fine'\n")
	noRisk := script(t, dir, "norisk", `echo '{"reason": "no idea"}'`+"\n")
	badRisk := script(t, dir, "badrisk", `echo '{"risk": "SEVERE"}'`+"\n")
	fails := script(t, dir, "fails", "echo 'database down' >&2\nexit 3\n")
	env := script(t, dir, "env", `echo "{\"risk\":\"LOW\",\"reason\":\"$GOHANDS_HOOK_EVENT $MODE ${OH_SECRET_KEY:-unset}\"}"`+"\n")
	t.Setenv("OH_SECRET_KEY", "must-not-leak")

	tests := []struct {
		name   string
		hook   *HookAnalyzer
		risk   event.Risk
		reason string
	}{
		{"high", &HookAnalyzer{Command: []string{high}}, event.RiskHigh, "hook: it says rm"},
		{"hang", &HookAnalyzer{Name: "slow", Command: []string{hang}, Timeout: 200 * time.Millisecond}, event.RiskUnknown, "slow: timed out after 200ms"},
		{"garbage", &HookAnalyzer{Command: []string{garbage}}, event.RiskUnknown, `hook: the answer is not a verdict (invalid character 'I' looking for beginning of value): "I think it is fine"`},
		{"no risk", &HookAnalyzer{Command: []string{noRisk}}, event.RiskUnknown, `hook: the answer has no risk: "{\"reason\": \"no idea\"}"`},
		{"bad risk", &HookAnalyzer{Command: []string{badRisk}}, event.RiskUnknown, `hook: risk "SEVERE" is not LOW, MEDIUM, HIGH or UNKNOWN`},
		{"fails", &HookAnalyzer{Command: []string{fails}}, event.RiskUnknown, "hook: exited with status 3: database down"},
		{"missing", &HookAnalyzer{Command: []string{filepath.Join(dir, "missing")}}, event.RiskUnknown, "hook: could not run " + filepath.Join(dir, "missing")},
		{"env", &HookAnalyzer{Command: []string{env}, Env: []string{"MODE=strict"}}, event.RiskLow, "hook: security_analysis strict unset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			v := tt.hook.Analyze(t.Context(), terminal("rm -rf /"))
			if v.Risk != tt.risk || !strings.HasPrefix(v.Reason, tt.reason) {
				t.Errorf("got %s %q, want %s %q", v.Risk, v.Reason, tt.risk, tt.reason)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}

	// The hook got the ActionEvent.
	data, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	e, err := event.Unmarshal(data)
	if err != nil {
		t.Fatalf("the hook's input is not an event: %v\n%s", err, data)
	}
	if act, ok := e.(*event.Action); !ok || act.Action.(*event.TerminalAction).Command != "rm -rf /" {
		t.Errorf("the hook got %s", data)
	}
}

// TestHookAnalyzerKillsChildren checks that a timed-out hook's children
// die with it rather than hold its output open.
func TestHookAnalyzerKillsChildren(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The child sleeps with the script's stdout; the script waits for it.
	hang := script(t, dir, "hang", "sleep 30 &\nwait\n")
	start := time.Now()
	v := (&HookAnalyzer{Command: []string{hang}, Timeout: 200 * time.Millisecond}).Analyze(t.Context(), terminal("ls"))
	if v.Risk != event.RiskUnknown || !strings.Contains(v.Reason, "timed out") {
		t.Errorf("got %+v", v)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s: the child outlived the timeout", d)
	}
}

func TestHookAnalyzerHTTP(t *testing.T) {
	t.Parallel()
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rate":
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			got, _ = io.ReadAll(r.Body)
			w.Write([]byte(`{"risk":"MEDIUM","reason":"network access"}`))
		case "/slow":
			io.Copy(io.Discard, r.Body) // so that the server notices the client leave
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		case "/garbage":
			w.Write([]byte(`<html>oops</html>`))
		case "/error":
			http.Error(w, "no model loaded", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		path   string
		risk   event.Risk
		reason string
	}{
		{"/rate", event.RiskMedium, "hook: network access"},
		{"/slow", event.RiskUnknown, "hook: timed out after 200ms"},
		{"/garbage", event.RiskUnknown, "hook: the answer is not a verdict"},
		{"/error", event.RiskUnknown, `hook: answered 503 Service Unavailable: "no model loaded"`},
	}
	for _, tt := range tests {
		h := &HookAnalyzer{URL: srv.URL + tt.path, Timeout: 200 * time.Millisecond, Client: srv.Client()}
		v := h.Analyze(t.Context(), terminal("curl example.com"))
		if v.Risk != tt.risk || !strings.HasPrefix(v.Reason, tt.reason) {
			t.Errorf("%s: got %s %q, want %s %q", tt.path, v.Risk, v.Reason, tt.risk, tt.reason)
		}
	}
	if e, err := event.Unmarshal(got); err != nil || e.Kind() != event.KindAction {
		t.Errorf("the endpoint got %s (%v)", got, err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	v := (&HookAnalyzer{URL: closed.URL}).Analyze(t.Context(), terminal("ls"))
	if v.Risk != event.RiskUnknown || !strings.Contains(v.Reason, "request failed") {
		t.Errorf("unreachable endpoint: %+v", v)
	}
}

// fixed is an analyzer that always gives the same verdict.
type fixed Verdict

func (f fixed) Analyze(context.Context, *event.Action) Verdict { return Verdict(f) }

func TestEnsemble(t *testing.T) {
	low := fixed{Risk: event.RiskLow, Reason: "fine", Analyzer: "a"}
	medium := fixed{Risk: event.RiskMedium, Reason: "hmm", Analyzer: "b"}
	medium2 := fixed{Risk: event.RiskMedium, Reason: "also hmm", Analyzer: "c"}
	high := fixed{Risk: event.RiskHigh, Reason: "bad", Analyzer: "d"}
	unknown := fixed{Risk: event.RiskUnknown, Reason: "timed out", Analyzer: "e"}
	unknown2 := fixed{Risk: "", Reason: "no rating", Analyzer: "f"}
	tests := []struct {
		name     string
		e        Ensemble
		risk     event.Risk
		analyzer string
		reason   string
	}{
		{"highest wins", Ensemble{low, high, medium}, event.RiskHigh, "d", "bad"},
		{"first of equals", Ensemble{medium, medium2}, event.RiskMedium, "b", "hmm"},
		{"low beats unknown", Ensemble{unknown, low}, event.RiskLow, "a", "fine"},
		{"all unknown", Ensemble{unknown, unknown2}, event.RiskUnknown, "ensemble", "e: timed out; f: no rating"},
		{"empty", Ensemble{}, event.RiskUnknown, "ensemble", "the ensemble has no analyzers"},
	}
	for _, tt := range tests {
		v := tt.e.Analyze(t.Context(), terminal("ls"))
		if v.Risk != tt.risk || v.Analyzer != tt.analyzer || v.Reason != tt.reason {
			t.Errorf("%s: got %s by %s %q, want %s by %s %q", tt.name, v.Risk, v.Analyzer, v.Reason, tt.risk, tt.analyzer, tt.reason)
		}
		if len(v.Parts) != len(tt.e) {
			t.Errorf("%s: %d parts, want %d", tt.name, len(v.Parts), len(tt.e))
		}
	}
}

// TestEnsembleRealAnalyzers runs the model's rating, the rules and a
// failing hook together.
func TestEnsembleRealAnalyzers(t *testing.T) {
	dir := t.TempDir()
	broken := script(t, dir, "broken", "exit 1\n")
	e := Ensemble{LLMAnalyzer{}, NewRuleAnalyzer(DefaultRules("", testTools), testTools), &HookAnalyzer{Command: []string{broken}}}

	a := terminal("git push --force origin main")
	a.SecurityRisk = event.RiskLow
	v := e.Analyze(t.Context(), a)
	if v.Risk != event.RiskHigh || v.Analyzer != "rules" || v.Rule != "git-force-push" {
		t.Errorf("got %+v", v)
	}
	var parts []string
	for _, p := range v.Parts {
		parts = append(parts, p.Analyzer+" "+string(p.Risk))
	}
	if diff := cmp.Diff(parts, []string{"llm LOW", "rules HIGH", "hook UNKNOWN"}); diff != "" {
		t.Errorf("parts (-got +want):\n%s", diff)
	}
}

func TestNewAnalyzer(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "my.rules")
	os.WriteFile(rulesFile, []byte("include default\nrule deploy\n  risk HIGH\n  reason deploys\n  tool terminal\n  program ~ ^deploy$\n"), 0o600)
	badRules := filepath.Join(dir, "bad.rules")
	os.WriteFile(badRules, []byte("rule x\n  risk HUGE\n"), 0o600)
	rater := script(t, dir, "rater", `echo '{"risk":"MEDIUM","reason":"from the hook"}'`+"\n")

	ok := []struct {
		kind, cfg string
		action    *event.Action
		risk      event.Risk
	}{
		{KindLLM, ``, &event.Action{ToolName: "terminal", Action: &event.TerminalAction{}, SecurityRisk: event.RiskHigh}, event.RiskHigh},
		{KindLLM, `{"kind":"LLMSecurityAnalyzer","sdk_field":1}`, terminal("ls"), event.RiskUnknown},
		{KindRules, `{"kind":"RuleAnalyzer"}`, terminal("rm -rf /"), event.RiskHigh},
		{KindRules, `null`, terminal("ls"), event.RiskLow},
		{KindRules, `{"rules_file":"` + rulesFile + `"}`, terminal("deploy prod"), event.RiskHigh},
		{KindRules, `{"rules_file":"` + rulesFile + `"}`, terminal("rm -rf /"), event.RiskHigh},
		{KindHook, `{"command":["` + rater + `"],"timeout":5}`, terminal("ls"), event.RiskMedium},
		{KindHook, `{"command":"` + rater + ` --flag","timeout":"1.5s"}`, terminal("ls"), event.RiskMedium},
		{KindEnsemble, `{"analyzers":[{"kind":"LLMSecurityAnalyzer"},{"kind":"RuleAnalyzer"},{"kind":"EnsembleAnalyzer","analyzers":[{"kind":"HookAnalyzer","command":["` + rater + `"]}]}]}`,
			terminal("ls"), event.RiskMedium},
	}
	for _, tt := range ok {
		a, err := Options{Tools: testTools}.NewAnalyzer(tt.kind, json.RawMessage(tt.cfg))
		if err != nil {
			t.Errorf("%s %s: %v", tt.kind, tt.cfg, err)
			continue
		}
		if v := a.Analyze(t.Context(), tt.action); v.Risk != tt.risk {
			t.Errorf("%s %s: rated %s (%s), want %s", tt.kind, tt.cfg, v.Risk, v.Reason, tt.risk)
		}
	}

	bad := []struct{ kind, cfg, want string }{
		{"PatternAnalyzer", ``, `invalid security analyzer: unknown kind "PatternAnalyzer" (want LLMSecurityAnalyzer, RuleAnalyzer, HookAnalyzer or EnsembleAnalyzer)`},
		{"", ``, `invalid security analyzer: no kind`},
		{KindRules, `{"kind":"HookAnalyzer"}`, `invalid security analyzer: kind "RuleAnalyzer" does not match the setting's kind "HookAnalyzer"`},
		{KindRules, `{"rule_file":"x"}`, `invalid security analyzer RuleAnalyzer: json: unknown field "rule_file"`},
		{KindRules, `{"rules_file":"` + badRules + `"}`, `invalid security analyzer RuleAnalyzer: ` + badRules + `:2: risk "HUGE" is not LOW, MEDIUM or HIGH` + "\n" + badRules + `:1: rule "x" has no reason`},
		{KindHook, `{}`, `invalid security analyzer HookAnalyzer: give command or url`},
		{KindHook, `{"command":["x"],"url":"http://x"}`, `invalid security analyzer HookAnalyzer: give command or url, not both`},
		{KindHook, `{"url":"ftp://x"}`, `invalid security analyzer HookAnalyzer: url "ftp://x" is not an http or https URL`},
		{KindHook, `{"command":[]}`, `invalid security analyzer HookAnalyzer: command: empty`},
		{KindHook, `{"command":7}`, `invalid security analyzer HookAnalyzer: command: want a list of strings or a string`},
		{KindHook, `{"command":["x"],"timeout":-1}`, `invalid security analyzer HookAnalyzer: timeout: -1 seconds is not between 0 and 3600`},
		{KindHook, `{"command":["x"],"timeout":"soon"}`, `invalid security analyzer HookAnalyzer: timeout: "soon" is neither seconds nor a duration`},
		{KindHook, `{"command":["x"],"env":["NOEQUALS"]}`, `invalid security analyzer HookAnalyzer: env "NOEQUALS" is not NAME=value`},
		{KindEnsemble, `{"analyzers":[]}`, `invalid security analyzer EnsembleAnalyzer: analyzers: list at least one`},
		{KindEnsemble, `{"analyzers":[{"kind":"Nope"}]}`, `EnsembleAnalyzer: analyzers[0]: invalid security analyzer: unknown kind "Nope" (want LLMSecurityAnalyzer, RuleAnalyzer, HookAnalyzer or EnsembleAnalyzer)`},
		{KindEnsemble, `{"analyzers":[{}]}`, `invalid security analyzer EnsembleAnalyzer: analyzers[0]: want an object with a kind`},
		{KindEnsemble, `[]`, `invalid security analyzer EnsembleAnalyzer: json: cannot unmarshal array into Go value of type security.analyzerConfig`},
	}
	for _, tt := range bad {
		_, err := NewAnalyzer(tt.kind, json.RawMessage(tt.cfg))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s %s:\n got %v\nwant %s", tt.kind, tt.cfg, err, tt.want)
			continue
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s %s: %v does not wrap ErrConfig", tt.kind, tt.cfg, err)
		}
	}

	deep := `{"kind":"LLMSecurityAnalyzer"}`
	for range maxEnsembleDepth + 1 {
		deep = `{"kind":"EnsembleAnalyzer","analyzers":[` + deep + `]}`
	}
	if _, err := NewAnalyzer(KindEnsemble, json.RawMessage(deep)); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("deep ensemble: %v", err)
	}
	if _, err := NewAnalyzer(KindRules, json.RawMessage(`{"rules_file":"`+filepath.Join(dir, "missing")+`"}`)); err == nil || errors.Is(err, ErrConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing rules file: %v", err)
	}
}

func TestOptionsRestrict(t *testing.T) {
	o := Options{Restrict: true}
	for _, tt := range []struct{ kind, cfg string }{
		{KindHook, `{"command":["/bin/true"]}`},
		{KindHook, `{"url":"http://127.0.0.1:2375/"}`},
		{KindRules, `{"rules_file":"/etc/passwd"}`},
		{KindEnsemble, `{"analyzers":[{"kind":"RuleAnalyzer"},{"kind":"HookAnalyzer","command":"id"}]}`},
	} {
		if _, err := o.NewAnalyzer(tt.kind, json.RawMessage(tt.cfg)); !errors.Is(err, ErrRestricted) || !errors.Is(err, ErrConfig) {
			t.Errorf("%s %s: %v", tt.kind, tt.cfg, err)
		}
	}
	if _, err := o.NewAnalyzer(KindEnsemble, json.RawMessage(`{"analyzers":[{"kind":"RuleAnalyzer"},{"kind":"LLMSecurityAnalyzer"}]}`)); err != nil {
		t.Errorf("built-in analyzers: %v", err)
	}
}

func TestOptionsWorkspace(t *testing.T) {
	a, err := Options{Workspace: "/home/agent/proj", Tools: testTools}.NewAnalyzer(KindEnsemble, json.RawMessage(`{"analyzers":[{"kind":"RuleAnalyzer"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v := a.Analyze(t.Context(), terminal("rm -rf /home/agent/proj/build")); v.Risk != event.RiskLow {
		t.Errorf("inside the workspace: %+v", v)
	}
	if v := a.Analyze(t.Context(), terminal("rm -rf /home/agent/proj")); v.Risk != event.RiskMedium || v.Rule != "rm-workspace" {
		t.Errorf("the workspace: %+v", v)
	}
}

func TestRank(t *testing.T) {
	order := []event.Risk{"", "bogus", event.RiskUnknown, event.RiskLow, "medium", event.RiskHigh}
	want := []int{0, 0, 0, 1, 2, 3}
	for i, r := range order {
		if Rank(r) != want[i] {
			t.Errorf("Rank(%q) = %d, want %d", r, Rank(r), want[i])
		}
	}
}
