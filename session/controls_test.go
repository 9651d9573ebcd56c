package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/event"
)

// TestSwitchLLMKeepsTheServerKeyAtHome checks that switching a
// conversation's model follows the rule of create: the server's key is
// lent only to its own endpoint or an allowed one, a foreign endpoint
// without a key of its own is refused (422) and changes nothing, and
// every switch is recorded with the key masked.
func TestSwitchLLMKeepsTheServerKeyAtHome(t *testing.T) {
	const serverKey = "sk-server-key-0123456789"
	m := newManagerOn(t, openStore(t), Options{Defaults: Defaults{
		LLM:             LLM{Model: "openai/gpt-4o", APIKey: serverKey, BaseURL: "http://models.internal:4000/v1"},
		AllowedBaseURLs: []string{"https://gateway.example/v1"},
	}})
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		llm     LLM
		wantKey string
		refused string // a word of the 422's detail
	}{
		{name: "the server's endpoint", llm: LLM{Model: "openai/gpt-4o-mini"}, wantKey: serverKey},
		{name: "an allowed endpoint", llm: LLM{Model: "openai/x", BaseURL: "https://gateway.example/v1"}, wantKey: serverKey},
		{name: "a foreign endpoint, no key", llm: LLM{Model: "openai/gpt-4o", BaseURL: "https://evil.example/v1"}, refused: "api_key"},
		{name: "a foreign endpoint, masked key", llm: LLM{Model: "openai/gpt-4o", BaseURL: "https://evil.example/v1", APIKey: Masked}, refused: "api_key"},
		{name: "a foreign endpoint, its own key", llm: LLM{Model: "openai/gpt-4o", BaseURL: "https://evil.example/v1", APIKey: "own-key-123456"}, wantKey: "own-key-123456"},
		{name: "the same endpoint, masked key", llm: LLM{Model: "openai/gpt-4o-2", BaseURL: "https://evil.example/v1", APIKey: Masked}, wantKey: "own-key-123456"},
		{name: "no model", llm: LLM{BaseURL: "https://gateway.example/v1"}, refused: "llm.model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.Settings().Agent.LLM
			seq := a.LastSeq()
			err := a.SwitchLLM(tt.llm)
			if tt.refused != "" {
				var se *Error
				if !errors.As(err, &se) || se.Kind != KindInvalid || !strings.Contains(se.Detail, tt.refused) {
					t.Fatalf("SwitchLLM = %v, want a 422 naming %s", err, tt.refused)
				}
				if diff := cmp.Diff(a.Settings().Agent.LLM, before); diff != "" {
					t.Errorf("a refused switch changed the model (-got +want):\n%s", diff)
				}
				if a.LastSeq() != seq {
					t.Error("a refused switch was recorded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := a.Settings().Agent.LLM
			if got.Model != tt.llm.Model || got.APIKey != tt.wantKey {
				t.Errorf("model %q key %q, want %q %q", got.Model, got.APIKey, tt.llm.Model, tt.wantKey)
			}
			evs, err := a.EventsAfter(seq, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 {
				t.Fatalf("%d events after the switch, want 1", len(evs))
			}
			su, ok := evs[0].(*event.StateUpdate)
			if !ok || su.Key != StateKeyAgent {
				t.Fatalf("recorded %T %+v, want a state update of the agent", evs[0], evs[0])
			}
			var ag Agent
			if err := json.Unmarshal(su.Value, &ag); err != nil {
				t.Fatal(err)
			}
			if ag.LLM.Model != tt.llm.Model || ag.LLM.APIKey != Masked {
				t.Errorf("recorded agent %+v, want model %q with the key masked", ag.LLM, tt.llm.Model)
			}
			if strings.Contains(string(su.Value), tt.wantKey) {
				t.Error("the recorded agent carries the key")
			}
		})
	}
}

// TestSwitchProfile checks that a saved profile becomes the model, named
// profile:NAME in the stats, with the profile's own key; an unknown
// profile is 404.
func TestSwitchProfile(t *testing.T) {
	m := newManagerOn(t, openStore(t), Options{})
	if err := m.SaveProfile("fast", LLM{Model: "openai/gpt-4o-mini", APIKey: "profile-key-123", BaseURL: "https://fast.example/v1"}, true); err != nil {
		t.Fatal(err)
	}
	a, _, err := m.Create(context.Background(), CreateRequest{Agent: &Agent{LLM: LLM{Model: "openai/gpt-4o", APIKey: "conv-key-1234"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SwitchProfile("fast"); err != nil {
		t.Fatal(err)
	}
	got := a.Settings().Agent.LLM
	want := LLM{Model: "openai/gpt-4o-mini", APIKey: "profile-key-123", BaseURL: "https://fast.example/v1", UsageID: "profile:fast"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("model after switch_profile (-got +want):\n%s", diff)
	}
	var se *Error
	if err := a.SwitchProfile("nope"); !errors.As(err, &se) || se.Kind != KindNotFound {
		t.Errorf("SwitchProfile(unknown) = %v, want not found", err)
	}
}

// TestStatsPerUsageID checks that metrics are kept per LLM usage id
// beside the conversation's total, and survive a reload.
func TestStatsPerUsageID(t *testing.T) {
	store := openStore(t)
	m := newManagerOn(t, store, Options{})
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	a.AddMetrics(0.5, TokenUsage{Model: "gpt-4o", PromptTokens: 100, CompletionTokens: 10})
	a.AddMetrics(0.25, TokenUsage{Model: "gpt-4o", PromptTokens: 50, CompletionTokens: 5})
	a.AddMetrics(0.125, TokenUsage{Model: "gpt-4o-mini", UsageID: "profile:fast", PromptTokens: 7, CompletionTokens: 1})
	if err := a.saveMetrics(); err != nil {
		t.Fatal(err)
	}
	want := map[string]UsageMetrics{
		DefaultUsageID: {ModelName: "gpt-4o", Metrics: Metrics{AccumulatedCost: 0.75,
			AccumulatedTokenUsage: TokenUsage{Model: "gpt-4o", PromptTokens: 150, CompletionTokens: 15}}},
		"profile:fast": {ModelName: "gpt-4o-mini", Metrics: Metrics{AccumulatedCost: 0.125,
			AccumulatedTokenUsage: TokenUsage{Model: "gpt-4o-mini", PromptTokens: 7, CompletionTokens: 1}}},
	}
	if diff := cmp.Diff(a.Info().Stats.UsageToMetrics, want); diff != "" {
		t.Errorf("stats (-got +want):\n%s", diff)
	}
	if got := a.Info().Metrics.AccumulatedCost; got != 0.875 {
		t.Errorf("total cost %v, want 0.875", got)
	}
	m.Close(context.Background())
	m2 := newManagerOn(t, store, Options{})
	v, err := m2.View(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v.Info().Stats.UsageToMetrics, want); diff != "" {
		t.Errorf("stats after a restart (-got +want):\n%s", diff)
	}
}

// TestTags checks the SDK's rule for tags at create and on change.
func TestTags(t *testing.T) {
	m := newManagerOn(t, openStore(t), Options{})
	for _, bad := range []map[string]string{{"Team": "x"}, {"a-b": "x"}, {"ok": strings.Repeat("v", 257)}} {
		var se *Error
		if _, _, err := m.Create(context.Background(), CreateRequest{Tags: bad}); !errors.As(err, &se) || se.Kind != KindInvalid {
			t.Errorf("Create with tags %v = %v, want 422", bad, err)
		}
	}
	a, _, err := m.Create(context.Background(), CreateRequest{Tags: map[string]string{"team": "infra", "p1": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.Info().Tags, map[string]string{"team": "infra", "p1": "yes"}); diff != "" {
		t.Errorf("tags (-got +want):\n%s", diff)
	}
	if err := a.SetTags(map[string]string{"team": "web"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.Info().Tags, map[string]string{"team": "web"}); diff != "" {
		t.Errorf("tags after a change (-got +want):\n%s", diff)
	}
	if err := a.SetTags(map[string]string{"Bad": ""}); err == nil {
		t.Error("SetTags took a bad key")
	}
}

// TestFinalResponseAndEventsByID checks the agent's final answer (its
// last finish call or message, whichever is later) and the batch read of
// events by id.
func TestFinalResponseAndEventsByID(t *testing.T) {
	m := newManagerOn(t, openStore(t), Options{})
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	final := func() string {
		t.Helper()
		v, err := m.View(a.ID())
		if err != nil {
			t.Fatal(err)
		}
		s, err := v.FinalResponse()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := final(); got != "" {
		t.Errorf("before any answer: %q, want empty", got)
	}
	agentMsg := &event.Message{LLMMessage: event.LLMMessage{Role: "assistant", Content: event.Text("first answer")}}
	agentMsg.Source = event.SourceAgent
	user := &event.Message{LLMMessage: event.LLMMessage{Role: "user", Content: event.Text("more please")}}
	user.Source = event.SourceUser
	if err := a.Append(agentMsg, user); err != nil {
		t.Fatal(err)
	}
	if got := final(); got != "first answer" {
		t.Errorf("after a message: %q, want first answer", got)
	}
	think := &event.Action{Action: &event.ThinkAction{Thought: "hmm"}, ToolName: "think", ToolCallID: "c1"}
	think.Source = event.SourceAgent
	finish := &event.Action{Action: &event.FinishAction{Message: "all done"}, ToolName: "finish", ToolCallID: "c2"}
	finish.Source = event.SourceAgent
	if err := a.Append(finish, think); err != nil {
		t.Fatal(err)
	}
	if got := final(); got != "all done" {
		t.Errorf("after a finish call: %q, want all done", got)
	}

	v, err := m.View(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := v.EventsByID([]string{finish.ID, "no-such-event", agentMsg.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0] == nil || evs[0].Meta().ID != finish.ID || evs[1] != nil || evs[2] == nil || evs[2].Meta().ID != agentMsg.ID {
		t.Errorf("EventsByID = %v, want the finish call, nil, the message", evs)
	}
}
