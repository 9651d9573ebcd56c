package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gohands/gohands/session"
)

// TestConversationControlRoutes checks the answers of the conversation
// controls over HTTP: an unknown conversation is 404, a bad body a clear
// 422, a foreign endpoint without a key 422 (the server's key stays at
// home), and what works answers as upstream does.
func TestConversationControlRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{llm: session.LLM{Model: "openai/gpt-4o", APIKey: "sk-server-0123456789", BaseURL: "http://models.internal:4000/v1"}})
	conv := e.create(map[string]any{"tags": map[string]string{"team": "infra"},
		"initial_message": map[string]any{"role": "user", "content": []map[string]any{{"type": "text", "text": "hi"}}, "run": false}})
	if conv.Tags["team"] != "infra" || conv.PersistenceDir != nil {
		t.Errorf("created tags %v persistence_dir %v, want the tag and null", conv.Tags, conv.PersistenceDir)
	}
	base := "/api/conversations/" + conv.ID
	tests := []struct {
		name, method, path string
		body               any
		want               int
		detail             string // a word of the detail
	}{
		{"interrupt, unknown", "POST", "/api/conversations/nope/interrupt", nil, 404, "nope"},
		{"interrupt, not running: paused", "POST", base + "/interrupt", nil, 200, ""},
		{"switch_llm, unknown", "POST", "/api/conversations/nope/switch_llm", map[string]any{"llm": map[string]any{"model": "openai/x"}}, 404, "nope"},
		{"switch_llm, no llm", "POST", base + "/switch_llm", map[string]any{}, 422, "llm"},
		{"switch_llm, not JSON", "POST", base + "/switch_llm", "{", 422, ""},
		{"switch_llm, foreign endpoint without a key", "POST", base + "/switch_llm",
			map[string]any{"llm": map[string]any{"model": "openai/gpt-4o", "base_url": "https://evil.example/v1"}}, 422, "api_key"},
		{"switch_llm, the server's endpoint", "POST", base + "/switch_llm", map[string]any{"llm": map[string]any{"model": "openai/gpt-4o-mini"}}, 200, ""},
		{"switch_profile, unknown profile", "POST", base + "/switch_profile", map[string]any{"profile_name": "nope"}, 404, "nope"},
		{"switch_profile, no name", "POST", base + "/switch_profile", map[string]any{}, 422, "profile_name"},
		{"switch_profile, unknown conversation", "POST", "/api/conversations/nope/switch_profile", map[string]any{"profile_name": "x"}, 404, "nope"},
		{"final response, unknown", "GET", "/api/conversations/nope/agent_final_response", nil, 404, "nope"},
		{"events by id, none given", "GET", base + "/events", nil, 422, "event_ids"},
		{"events by id, unknown conversation", "GET", "/api/conversations/nope/events?event_ids=a", nil, 404, "nope"},
		{"patch, bad tag", "PATCH", base, map[string]any{"tags": map[string]string{"Team": "x"}}, 422, "tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			status, body := e.request(tt.method, tt.path, tt.body, nil)
			if status != tt.want {
				t.Fatalf("%d %s, want %d", status, body, tt.want)
			}
			if tt.detail != "" && !strings.Contains(string(body), tt.detail) {
				t.Errorf("%s: the detail does not name %q", body, tt.detail)
			}
		})
	}
	var info session.Info
	e.call("GET", base, nil, http.StatusOK, &info)
	if info.Agent.LLM.Model != "openai/gpt-4o-mini" || info.ExecutionStatus != session.StatusPaused {
		t.Errorf("after the switch and the interrupt: model %q status %s", info.Agent.LLM.Model, info.ExecutionStatus)
	}
	if len(info.Stats.UsageToMetrics) != 0 {
		t.Errorf("stats %v before any model call, want none", info.Stats)
	}

	var final struct {
		Response *string `json:"response"`
	}
	e.call("GET", base+"/agent_final_response", nil, http.StatusOK, &final)
	if final.Response == nil || *final.Response != "" {
		t.Errorf("final response %v, want \"\"", final.Response)
	}

	evs := e.events(conv.ID, nil)
	ids := []string{evs[0].ID, "missing", evs[len(evs)-1].ID}
	var batch []*frame
	e.call("GET", base+"/events?event_ids="+ids[0]+"&event_ids=missing,"+ids[2], nil, http.StatusOK, &batch)
	if len(batch) != 3 || batch[0] == nil || batch[0].ID != ids[0] || batch[1] != nil || batch[2] == nil || batch[2].ID != ids[2] {
		raw, _ := json.Marshal(batch)
		t.Errorf("events by id %s, want %v with null in the middle", raw, ids)
	}
	kinds := map[string]bool{}
	for _, f := range evs {
		kinds[f.Kind] = true
	}
	if !kinds["PauseEvent"] || !kinds["ConversationStateUpdateEvent"] {
		t.Errorf("kinds %v: want the pause of the idle interrupt and the state update of the switch", kinds)
	}
}
