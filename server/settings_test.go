package server_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// settingsBody is the part of a settings answer the tests read.
type settingsBody struct {
	AgentSettings struct {
		LLM struct {
			Model   *string `json:"model"`
			BaseURL *string `json:"base_url"`
			APIKey  *string `json:"api_key"`
		} `json:"llm"`
	} `json:"agent_settings"`
	ConversationSettings struct {
		ConfirmationMode   bool `json:"confirmation_mode"`
		ConfirmationPolicy struct {
			Kind string `json:"kind"`
		} `json:"confirmation_policy"`
		SecurityAnalyzer json.RawMessage `json:"security_analyzer"`
	} `json:"conversation_settings"`
	KeySet        bool            `json:"llm_api_key_is_set"`
	ActiveProfile *string         `json:"active_profile"`
	Misc          json.RawMessage `json:"misc_settings"`
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// TestSettingsRoutes checks GET and PATCH /api/settings: the key shown
// masked, bad input refused naming the field, the defaults applied to
// conversations created after, and the settings kept over a restart.
func TestSettingsRoutes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	e := newEnv(t, options{statePath: path, keep: true})
	doc := openAPIDoc(t)

	var got settingsBody
	e.call(http.MethodGet, "/api/settings", nil, http.StatusOK, &got)
	if got.AgentSettings.LLM.APIKey != nil || got.KeySet || got.ConversationSettings.ConfirmationPolicy.Kind != "NeverConfirm" {
		t.Errorf("settings at first: %+v", got)
	}
	before := e.create(nil)

	patch := map[string]any{
		"agent_settings_diff":        map[string]any{"llm": map[string]any{"model": "openai/gpt-5", "base_url": "https://proxy.example/v1", "api_key": "sk-client-123456"}},
		"conversation_settings_diff": map[string]any{"confirmation_mode": true},
		"misc_settings_diff":         map[string]any{"theme": "dark"},
	}
	answer := e.call(http.MethodPatch, "/api/settings", patch, http.StatusOK, &got)
	if errs := doc.check("PATCH", "/api/settings", 200, answer); len(errs) > 0 {
		t.Errorf("PATCH answer does not fit the document: %v", errs)
	}
	if str(got.AgentSettings.LLM.APIKey) != "**********" || !got.KeySet || str(got.AgentSettings.LLM.Model) != "openai/gpt-5" ||
		!got.ConversationSettings.ConfirmationMode || got.ConversationSettings.ConfirmationPolicy.Kind != "AlwaysConfirm" ||
		string(got.Misc) != `{"theme":"dark"}` {
		t.Errorf("after the PATCH: %s", answer)
	}
	if strings.Contains(string(answer), "sk-client-123456") {
		t.Errorf("the key is shown: %s", answer)
	}
	after := e.create(nil)
	if after.Agent.LLM.Model != "openai/gpt-5" || after.ConfirmationPolicy.Kind != "AlwaysConfirm" || after.Agent.LLM.APIKey != "**********" {
		t.Errorf("created after the change: %+v", after)
	}
	var again struct {
		Agent struct {
			LLM struct {
				Model string `json:"model"`
			} `json:"llm"`
		} `json:"agent"`
		ConfirmationPolicy struct {
			Kind string `json:"kind"`
		} `json:"confirmation_policy"`
	}
	e.call(http.MethodGet, "/api/conversations/"+before.ID, nil, http.StatusOK, &again)
	if again.Agent.LLM.Model != before.Agent.LLM.Model || again.ConfirmationPolicy.Kind != "NeverConfirm" {
		t.Errorf("created before the change, now %+v", again)
	}

	for _, tt := range []struct {
		body   any
		status int
		field  string
	}{
		{map[string]any{}, http.StatusBadRequest, "at least one"},
		{map[string]any{"nonsense": 1}, http.StatusUnprocessableEntity, "nonsense"},
		{map[string]any{"agent_settings_diff": map[string]any{"condenser": map[string]any{}}}, http.StatusUnprocessableEntity, "agent_settings_diff.condenser"},
		{map[string]any{"agent_settings_diff": map[string]any{"llm": map[string]any{"temperature": 1}}}, http.StatusUnprocessableEntity, "agent_settings_diff.llm.temperature"},
		{map[string]any{"agent_settings_diff": map[string]any{"llm": map[string]any{"model": 5}}}, http.StatusUnprocessableEntity, "agent_settings_diff.llm.model"},
		{map[string]any{"agent_settings_diff": map[string]any{"llm": map[string]any{"base_url": "::"}}}, http.StatusUnprocessableEntity, "base_url"},
		{map[string]any{"conversation_settings_diff": map[string]any{"confirmation_policy": map[string]any{"kind": "Sometimes"}}}, http.StatusUnprocessableEntity, "confirmation_policy.kind"},
		{map[string]any{"conversation_settings_diff": map[string]any{"security_analyzer": "NoSuchAnalyzer"}}, http.StatusUnprocessableEntity, "security_analyzer"},
		{map[string]any{"active_profile": "nosuch"}, http.StatusNotFound, "nosuch"},
		{"[1,2]", http.StatusUnprocessableEntity, "body"},
	} {
		if d := e.detail(http.MethodPatch, "/api/settings", tt.body, tt.status); !strings.Contains(d, tt.field) {
			t.Errorf("PATCH %v: detail %q does not name %s", tt.body, d, tt.field)
		}
	}
	huge := `{"misc_settings_diff":{"x":"` + strings.Repeat("a", 11<<20) + `"}}`
	if status, _ := e.request(http.MethodPatch, "/api/settings", huge, nil); status != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized PATCH: %d, want 413", status)
	}
	// The reference server's analyzer names.
	e.call(http.MethodPatch, "/api/settings", map[string]any{"conversation_settings_diff": map[string]any{"security_analyzer": "llm"}}, http.StatusOK, &got)
	if !strings.Contains(string(got.ConversationSettings.SecurityAnalyzer), `"LLMSecurityAnalyzer"`) {
		t.Errorf("security_analyzer llm: %s", got.ConversationSettings.SecurityAnalyzer)
	}
	e.call(http.MethodPatch, "/api/settings", map[string]any{"conversation_settings_diff": map[string]any{"security_analyzer": "none"}}, http.StatusOK, &got)
	if string(got.ConversationSettings.SecurityAnalyzer) != "null" {
		t.Errorf("security_analyzer none: %s", got.ConversationSettings.SecurityAnalyzer)
	}
	// Clearing: null removes the endpoint and the key.
	e.call(http.MethodPatch, "/api/settings", map[string]any{"agent_settings_diff": map[string]any{"llm": map[string]any{"base_url": nil}}}, http.StatusOK, &got)
	if got.AgentSettings.LLM.BaseURL != nil || got.AgentSettings.LLM.APIKey != nil {
		t.Errorf("after clearing the endpoint: base_url %s, api_key %s; want both null (the key went with the endpoint)",
			str(got.AgentSettings.LLM.BaseURL), str(got.AgentSettings.LLM.APIKey))
	}

	// The settings outlive a restart.
	e.close()
	e = newEnv(t, options{statePath: path})
	var restarted settingsBody
	e.call(http.MethodGet, "/api/settings", nil, http.StatusOK, &restarted)
	if diff := cmp.Diff(restarted, got); diff != "" {
		t.Errorf("settings after a restart (-got +want):\n%s", diff)
	}
}

// TestServerSecretRoutes checks the server-wide secrets and their use by
// a conversation through the SDK's LookupSecret.
func TestServerSecretRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	var item map[string]any
	e.call(http.MethodPut, "/api/settings/secrets", map[string]any{"name": "GH_TOKEN", "value": "ghp-0123456789", "description": "git"}, http.StatusOK, &item)
	if item["name"] != "GH_TOKEN" || item["description"] != "git" || item["value"] != nil {
		t.Errorf("PUT answered %v", item)
	}
	var list struct {
		Secrets []map[string]any `json:"secrets"`
	}
	body := e.call(http.MethodGet, "/api/settings/secrets", nil, http.StatusOK, &list)
	if len(list.Secrets) != 1 || strings.Contains(string(body), "ghp-") {
		t.Errorf("list: %s", body)
	}
	if status, v := e.request(http.MethodGet, "/api/settings/secrets/GH_TOKEN", nil, nil); status != http.StatusOK || string(v) != "ghp-0123456789" {
		t.Errorf("GET the value: %d %s", status, v)
	}
	e.detail(http.MethodGet, "/api/settings/secrets/NOPE", nil, http.StatusNotFound)
	e.detail(http.MethodGet, "/api/settings/secrets/not-a-name", nil, http.StatusUnprocessableEntity)
	e.detail(http.MethodPut, "/api/settings/secrets", map[string]any{"name": "1BAD", "value": "v"}, http.StatusUnprocessableEntity)
	e.detail(http.MethodPut, "/api/settings/secrets", map[string]any{"name": "OK"}, http.StatusUnprocessableEntity)

	c := e.create(map[string]any{"secrets": map[string]any{"TOKEN": map[string]any{"kind": "LookupSecret", "url": "/api/settings/secrets/GH_TOKEN"}}})
	a, err := e.convs.Get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Secrets(); got["TOKEN"] != "ghp-0123456789" {
		t.Errorf("the conversation's secrets: %v", got)
	}
	d := e.detail(http.MethodPost, "/api/conversations", map[string]any{"secrets": map[string]any{"TOKEN": map[string]any{"kind": "LookupSecret", "url": "http://evil.example/steal"}}}, http.StatusUnprocessableEntity)
	if !strings.Contains(d, "secrets.TOKEN.url") {
		t.Errorf("a foreign URL: %q", d)
	}
	e.call(http.MethodDelete, "/api/settings/secrets/GH_TOKEN", nil, http.StatusOK, nil)
	e.detail(http.MethodDelete, "/api/settings/secrets/GH_TOKEN", nil, http.StatusNotFound)
}

// TestProfileRoutes checks the profile routes end to end: save, list,
// get (masked), rename, activate (the next conversation uses it), delete.
func TestProfileRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	doc := openAPIDoc(t)
	save := map[string]any{"llm": map[string]any{"model": "openai/gpt-5-mini", "base_url": "https://proxy.example/v1", "api_key": "sk-proxy-12345"}}
	answer := e.call(http.MethodPost, "/api/profiles/fast", save, http.StatusCreated, nil)
	if errs := doc.check("POST", "/api/profiles/{name}", 201, answer); len(errs) > 0 {
		t.Errorf("save answer: %v", errs)
	}
	e.detail(http.MethodPost, "/api/profiles/bad name", save, http.StatusUnprocessableEntity)
	e.detail(http.MethodPost, "/api/profiles/x", map[string]any{}, http.StatusUnprocessableEntity)
	e.detail(http.MethodGet, "/api/profiles/nosuch", nil, http.StatusNotFound)

	answer = e.call(http.MethodGet, "/api/profiles/fast", nil, http.StatusOK, nil)
	if errs := doc.check("GET", "/api/profiles/{name}", 200, answer); len(errs) > 0 || strings.Contains(string(answer), "sk-proxy") ||
		!strings.Contains(string(answer), `"api_key":"**********"`) {
		t.Errorf("GET profile: %s %v", answer, errs)
	}
	e.call(http.MethodPost, "/api/profiles/fast/rename", map[string]any{"new_name": "quick"}, http.StatusOK, nil)
	e.detail(http.MethodPost, "/api/profiles/fast/rename", map[string]any{"new_name": "other"}, http.StatusNotFound)
	var act map[string]any
	e.call(http.MethodPost, "/api/profiles/quick/activate", nil, http.StatusOK, &act)
	if act["llm_applied"] != true {
		t.Errorf("activate: %v", act)
	}
	var list struct {
		Profiles []struct {
			Name      string `json:"name"`
			APIKeySet bool   `json:"api_key_set"`
		} `json:"profiles"`
		Active *string `json:"active_profile"`
	}
	e.call(http.MethodGet, "/api/profiles", nil, http.StatusOK, &list)
	if len(list.Profiles) != 1 || list.Profiles[0].Name != "quick" || !list.Profiles[0].APIKeySet || str(list.Active) != "quick" {
		t.Errorf("list: %+v", list)
	}
	c := e.create(nil)
	if c.Agent.LLM.Model != "openai/gpt-5-mini" || c.Agent.LLM.BaseURL != "https://proxy.example/v1" || c.Agent.LLM.APIKey != "**********" {
		t.Errorf("created after activation: %+v", c.Agent.LLM)
	}
	e.call(http.MethodDelete, "/api/profiles/quick", nil, http.StatusOK, nil)
	e.detail(http.MethodDelete, "/api/profiles/quick", nil, http.StatusNotFound)
}

// TestCatalogueRoutes checks the model catalogue.
func TestCatalogueRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	var models struct {
		Models []string `json:"models"`
	}
	e.call(http.MethodGet, "/api/llm/models?provider=anthropic", nil, http.StatusOK, &models)
	if len(models.Models) == 0 {
		t.Fatal("no anthropic models")
	}
	for _, m := range models.Models {
		if !strings.HasPrefix(m, "anthropic/") {
			t.Errorf("provider=anthropic lists %s", m)
		}
	}
	e.detail(http.MethodGet, "/api/llm/models?provider=nosuch", nil, http.StatusNotFound)
	var verified struct {
		Models map[string][]string `json:"models"`
	}
	e.call(http.MethodGet, "/api/llm/models/verified", nil, http.StatusOK, &verified)
	if len(verified.Models["openai"]) == 0 || len(verified.Models["anthropic"]) != len(models.Models) {
		t.Errorf("verified: %v", verified.Models)
	}
}

// TestSocketReplaySinceTimestamp checks resend_mode=since with
// after_timestamp: the events stamped at or after it (inclusive; a time
// without a zone is UTC), then live ones.
func TestSocketReplaySinceTimestamp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	id := e.create(nil).ID
	for _, ev := range agentMessages(10, 0, "seed") {
		e.appendEvents(id, ev) // one by one: each gets a time of its own
	}
	all := e.events(id, nil)
	for i := 1; i < len(all); i++ {
		if all[i].Timestamp == all[i-1].Timestamp {
			t.Fatalf("events %d and %d share a timestamp", all[i-1].Seq, all[i].Seq)
		}
	}
	last := all[len(all)-1].Seq
	for _, i := range []int{0, 4, len(all) - 1} {
		ts, err := time.Parse(time.RFC3339Nano, all[i].Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{ts.Format(time.RFC3339Nano), ts.Format("2006-01-02T15:04:05.999999"),
			ts.In(time.FixedZone("X", 2*3600)).Format(time.RFC3339Nano)} {
			q := "resend_mode=since&after_timestamp=" + strings.ReplaceAll(form, "+", "%2B")
			s := e.dial("/sockets/events/"+id+"?"+q, nil)
			s.fullState(id)
			checkRun(t, q, s.seqsUntil(last), all[i].Seq, last)
		}
	}
	// A time after every event replays nothing: the next frame is live.
	s := e.dial("/sockets/events/"+id+"?resend_mode=since&after_timestamp=2999-01-01T00:00:00", nil)
	s.fullState(id)
	e.appendEvents(id, agentMessages(1, 0, "live")...)
	if f := s.event(); f.Seq != last+1 {
		t.Errorf("a future after_timestamp: got %+v, want the live event %d", f, last+1)
	}
	for _, q := range []string{"resend_mode=since&after_timestamp=yesterday", "resend_mode=all&after_timestamp=2020-01-01"} {
		if status, body := e.request(http.MethodGet, "/sockets/events/"+id+"?"+q, nil, nil); status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s, want 422", q, status, body)
		}
	}
}
