package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gohands/gohands/llm/llmtest"
)

// TestServerKeyGoesOnlyWhereTheOperatorSentIt runs the server with an LLM
// key and checks, through the HTTP API, where that key travels: to the
// server's own endpoint and to an allowed one, never to an endpoint a
// client names. A conversation that names another endpoint and no key is
// refused with 422; one that brings its own key sends that key, for title
// generation as for every other model call.
func TestServerKeyGoesOnlyWhereTheOperatorSentIt(t *testing.T) {
	engine, dir, agent := dockerSetup(t)
	const serverKey = "sk-operator-key-0123456789"
	title := llmtest.Reply{Text: "A short title"}
	own, allowed, evil := llmtest.New(t), llmtest.New(t), llmtest.New(t)
	for _, m := range []*llmtest.Server{own, allowed, evil} {
		m.SetDefault(title)
	}
	g := start(t, map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"), "GOHANDS_AGENT_BINARY": agent,
		"SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
		"LLM_MODEL": "openai/scripted", "LLM_API_KEY": serverKey, "LLM_BASE_URL": own.URL() + "/v1",
		"GOHANDS_LLM_BASE_URLS": allowed.URL() + "/v1",
	})
	defer g.shutdown()

	create := func(llmJSON string) (int, string, string) {
		t.Helper()
		body := `{"initial_message":{"role":"user","content":[{"type":"text","text":"fix the bug"}],"run":false}`
		if llmJSON != "" {
			body += `,"agent":{"llm":` + llmJSON + `}`
		}
		body += `}`
		req, _ := http.NewRequest("POST", g.url+"/api/conversations", strings.NewReader(body))
		req.Header.Set("X-Session-API-Key", "key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			ID     string `json:"id"`
			Detail string `json:"detail"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("create: status %d: %v", resp.StatusCode, err)
		}
		if out.ID != "" {
			t.Cleanup(func() { removeConversationContainers(engine, out.ID) })
		}
		return resp.StatusCode, out.ID, out.Detail
	}
	generateTitle := func(id string) {
		t.Helper()
		var out struct {
			Title string `json:"title"`
		}
		if st := g.do("POST", "/api/conversations/"+id+"/generate_title", "", &out); st != http.StatusOK || out.Title == "" {
			t.Fatalf("generate_title: status %d, %+v", st, out)
		}
	}

	// A client's endpoint and no key: refused, and nothing is sent there.
	for _, llmJSON := range []string{
		`{"model":"openai/gpt-4o","base_url":"` + evil.URL() + `/v1"}`,
		`{"base_url":"` + evil.URL() + `/v1"}`,
		`{"model":"openai/gpt-4o","base_url":"` + evil.URL() + `/v1","api_key":""}`,
	} {
		st, id, detail := create(llmJSON)
		if st != http.StatusUnprocessableEntity || !strings.Contains(detail, "agent.llm.api_key") {
			t.Errorf("create with %s: status %d, detail %q; want 422 naming agent.llm.api_key", llmJSON, st, detail)
		}
		if id != "" {
			t.Errorf("a refused create made conversation %s", id)
		}
	}

	// Its own key: that key goes to its endpoint.
	st, id, detail := create(`{"model":"openai/gpt-4o","base_url":"` + evil.URL() + `/v1","api_key":"sk-client-own-key"}`)
	if st != http.StatusCreated {
		t.Fatalf("create with the client's own key: status %d, %s", st, detail)
	}
	generateTitle(id)

	// The server's endpoint (named or not) and an allowed one get the server's key.
	for _, llmJSON := range []string{"", `{"model":"openai/other"}`, `{"model":"openai/x","base_url":"` + allowed.URL() + `/v1"}`} {
		st, id, detail := create(llmJSON)
		if st != http.StatusCreated {
			t.Fatalf("create with %q: status %d, %s", llmJSON, st, detail)
		}
		generateTitle(id)
	}

	authOf := func(m *llmtest.Server) []string {
		var got []string
		for _, r := range m.Requests() {
			got = append(got, r.Header.Get("Authorization"))
		}
		return got
	}
	check := func(name string, m *llmtest.Server, want ...string) {
		got := authOf(m)
		b1, _ := json.Marshal(got)
		b2, _ := json.Marshal(want)
		if string(b1) != string(b2) {
			t.Errorf("%s endpoint got Authorization %s, want %s", name, b1, b2)
		}
	}
	check("the client's", evil, "Bearer sk-client-own-key")
	check("the server's", own, "Bearer "+serverKey, "Bearer "+serverKey)
	check("the allowed", allowed, "Bearer "+serverKey)
}
