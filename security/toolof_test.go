package security

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gohands/gohands/event"
)

// TestToolOfNamesTheTool: an action event that names no tool is rated as
// an action of the tool Options.ToolOf gives for its kind; without
// ToolOf, of the tool whose name the kind spells.
func TestToolOfNamesTheTool(t *testing.T) {
	browse := &event.Action{Action: &event.BrowserNavigateAction{URL: "https://go.dev"}}
	kill := &event.Action{Action: &event.TerminalAction{Command: "kill -9 -1"}}
	toolOf := func(kind string) (string, bool) {
		switch kind {
		case "BrowserNavigateAction":
			return event.ToolBrowser, true
		case "TerminalAction":
			return event.ToolTerminal, true
		}
		return "", false
	}
	tests := []struct {
		name   string
		toolOf func(string) (string, bool)
		action *event.Action
		risk   event.Risk
		reason string
	}{
		{"browse, told", toolOf, browse, event.RiskLow, "no rule matched"},
		{"browse, spelt", nil, browse, event.RiskLow, "no rule matched"}, // BrowserNavigateAction spells browser_navigate
		{"terminal, told", toolOf, kill, event.RiskHigh, ""},
		{"terminal, spelt", nil, kill, event.RiskHigh, ""},
	}
	for _, tt := range tests {
		a, err := Options{ToolOf: tt.toolOf, Tools: testTools}.NewAnalyzer(KindRules, json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		v := a.Analyze(context.Background(), tt.action)
		if v.Risk != tt.risk || tt.reason != "" && v.Reason != tt.reason {
			t.Errorf("%s: %s (%s), want %s (%s)", tt.name, v.Risk, v.Reason, tt.risk, tt.reason)
		}
	}
}
