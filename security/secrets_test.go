package security

import (
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/gohands/gohands/event"
)

// TestSecretsRateBrowserActions: an analyzer built with Options.Secrets
// rates a URL or typed text that holds one of the conversation's
// secrets HIGH, with the secrets as they are when the action is rated.
func TestSecretsRateBrowserActions(t *testing.T) {
	var current atomic.Pointer[Masker]
	current.Store(NewMasker(map[string]string{"API": "tok-1234-abcd"}))
	a, err := Options{Tools: testTools, Secrets: current.Load}.NewAnalyzer(KindRules, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	check := func(act *event.Action, risk event.Risk, rule string) {
		t.Helper()
		v := a.Analyze(t.Context(), act)
		if v.Risk != risk || v.Rule != rule {
			t.Errorf("%s: %s by %q (%s), want %s by %q", describe(act), v.Risk, v.Rule, v.Reason, risk, rule)
		}
	}
	check(navigate("https://x.example/?k=tok-1234-abcd"), event.RiskHigh, "browser-secret-url")
	check(typeText(0, "tok-1234-abcd"), event.RiskHigh, "browser-type-secret")
	check(typeText(0, "new-secret-99"), event.RiskLow, "")

	// A secret added later counts from then on.
	current.Store(NewMasker(map[string]string{"API": "tok-1234-abcd", "NEW": "new-secret-99"}))
	check(typeText(0, "new-secret-99"), event.RiskHigh, "browser-type-secret")

	// Without secrets, the same text is nothing special.
	plain, _ := Options{Tools: testTools}.NewAnalyzer(KindRules, json.RawMessage(`{}`))
	if v := plain.Analyze(t.Context(), typeText(0, "tok-1234-abcd")); v.Risk != event.RiskLow {
		t.Errorf("without secrets: %+v", v)
	}
}

func TestMaskerContains(t *testing.T) {
	m := NewMasker(map[string]string{"A": "hunter2!", "B": "abc"})
	for s, want := range map[string]bool{"x hunter2! y": true, "hunter2": false, "abc": false, "": false} {
		if got := m.Contains(s); got != want {
			t.Errorf("Contains(%q) = %v, want %v", s, got, want)
		}
	}
	var none *Masker
	if none.Contains("hunter2!") {
		t.Error("a nil Masker contains something")
	}
}
