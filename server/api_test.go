package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
)

// conversationPage is the answer of a conversation search.
type conversationPage struct {
	Items      []session.Info `json:"items"`
	NextPageID *string        `json:"next_page_id"`
}

func ids(infos []session.Info) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.ID
	}
	return out
}

// searchAll walks every page of a conversation search.
func (e *env) searchAll(query url.Values) (items []session.Info, pages int) {
	e.t.Helper()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for range 100 {
		var p conversationPage
		e.call(http.MethodGet, "/api/conversations/search?"+q.Encode(), nil, http.StatusOK, &p)
		items = append(items, p.Items...)
		pages++
		if p.NextPageID == nil {
			return items, pages
		}
		q.Set("page_id", *p.NextPageID)
	}
	e.t.Fatal("conversation search does not end")
	return nil, 0
}

func TestCreateConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	body := map[string]any{
		"conversation_id": "conv-create",
		"agent":           map[string]any{"llm": map[string]any{"model": "test-model", "api_key": "sk-secret"}, "tools": []map[string]any{{"name": "TerminalTool"}}},
		"workspace":       map[string]any{"working_dir": "/workspace/project"},
		"initial_message": map[string]any{"role": "user", "content": []map[string]any{{"type": "text", "text": "hello there"}}},
		"secrets":         map[string]any{"GITHUB_TOKEN": "ghp-x", "OTHER": map[string]any{"value": "v"}},
	}
	created := e.create(body)
	if created.ID != "conv-create" {
		t.Errorf("id %q, want conv-create", created.ID)
	}
	want := session.Info{
		ID: "conv-create", ExecutionStatus: session.StatusIdle,
		Agent: session.Agent{LLM: session.LLM{Model: "test-model", APIKey: session.Masked},
			Tools: []session.Tool{{Name: event.ToolTerminal}}},
		Workspace: session.Workspace{WorkingDir: "/workspace/project"}, MaxIterations: 500, StuckDetection: true,
		ConfirmationPolicy: session.ConfirmationPolicy{Kind: session.NeverConfirm},
		CreatedAt:          created.CreatedAt, UpdatedAt: created.UpdatedAt,
		Sandbox: session.SandboxInfo{Status: "none", Image: "gohands/sandbox:bookworm"},
		Secrets: []string{"GITHUB_TOKEN", "OTHER"},
		Tools:   []string{event.ToolTerminal, event.ToolThink, event.ToolFinish},
		Stats:   session.Stats{UsageToMetrics: map[string]session.UsageMetrics{}}, Tags: map[string]string{},
		// The initial message is the head; a server without sandboxes
		// takes no checkpoints.
		LeafEventID: created.LeafEventID, Checkpoints: "off",
	}
	if diff := cmp.Diff(created, want); diff != "" {
		t.Errorf("created conversation (-got +want):\n%s", diff)
	}
	if created.LeafEventID == nil {
		t.Error("leaf_event_id is null after the initial message")
	}
	if created.CreatedAt.IsZero() {
		t.Error("created_at is zero")
	}

	// The same id again: 200 and the same conversation, not a second one.
	var again session.Info
	e.call(http.MethodPost, "/api/conversations", body, http.StatusOK, &again)
	if diff := cmp.Diff(again, created); diff != "" {
		t.Errorf("second create (-got +want):\n%s", diff)
	}
	var n int
	e.call(http.MethodGet, "/api/conversations/count", nil, http.StatusOK, &n)
	if n != 1 {
		t.Errorf("count %d after creating the same id twice, want 1", n)
	}

	// The initial message is stored, once, as a MessageEvent from the user.
	msgs := e.events(created.ID, url.Values{"kind": {"MessageEvent"}})
	if len(msgs) != 1 || msgs[0].text() != "hello there" || msgs[0].Source != "user" || msgs[0].LLMMessage.Role != "user" {
		t.Errorf("stored messages %+v, want the initial message once", msgs)
	}

	var got session.Info
	e.call(http.MethodGet, "/api/conversations/conv-create", nil, http.StatusOK, &got)
	if diff := cmp.Diff(got, created); diff != "" {
		t.Errorf("GET (-got +want):\n%s", diff)
	}
	if d := e.detail(http.MethodGet, "/api/conversations/no-such-conversation", nil, http.StatusNotFound); !strings.Contains(d, "no-such-conversation") {
		t.Errorf("404 detail %q does not name the id", d)
	}
	// A conversation created without an id gets a fresh one.
	other := e.create(nil)
	if other.ID == "" || other.ID == created.ID {
		t.Errorf("generated id %q", other.ID)
	}
	e.detail(http.MethodPost, "/api/conversations", map[string]any{"conversation_id": "bad id/"}, http.StatusUnprocessableEntity)
}

func TestPatchAndDeleteConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	c := e.create(map[string]any{"title": "first"})
	var patched session.Info
	e.call(http.MethodPatch, "/api/conversations/"+c.ID, map[string]any{"title": "renamed"}, http.StatusOK, &patched)
	if patched.Title != "renamed" || !patched.UpdatedAt.After(c.UpdatedAt) {
		t.Errorf("patched: title %q updated_at %v (was %v)", patched.Title, patched.UpdatedAt, c.UpdatedAt)
	}
	var got session.Info
	e.call(http.MethodGet, "/api/conversations/"+c.ID, nil, http.StatusOK, &got)
	if got.Title != "renamed" {
		t.Errorf("title after PATCH %q, want renamed", got.Title)
	}
	e.detail(http.MethodPatch, "/api/conversations/"+c.ID, map[string]any{}, http.StatusUnprocessableEntity)
	e.detail(http.MethodPatch, "/api/conversations/nope", map[string]any{"title": "x"}, http.StatusNotFound)

	var ok map[string]bool
	e.call(http.MethodDelete, "/api/conversations/"+c.ID, nil, http.StatusOK, &ok)
	if !ok["success"] {
		t.Errorf("delete answered %v", ok)
	}
	e.detail(http.MethodGet, "/api/conversations/"+c.ID, nil, http.StatusNotFound)
	e.detail(http.MethodGet, "/api/conversations/"+c.ID+"/events/search", nil, http.StatusNotFound)
	e.detail(http.MethodDelete, "/api/conversations/"+c.ID, nil, http.StatusNotFound)
}

func TestSearchConversations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	var made []string // oldest first
	for i := range 5 {
		made = append(made, e.create(map[string]any{"title": fmt.Sprintf("c%d", i)}).ID)
	}
	newestFirst := slices.Clone(made)
	slices.Reverse(newestFirst)

	// Paging: limit=2 walks 3 pages, each conversation once, newest first.
	items, pages := e.searchAll(url.Values{"limit": {"2"}})
	if diff := cmp.Diff(ids(items), newestFirst); diff != "" {
		t.Errorf("default order, paged by 2 (-got +want):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("%d pages of 2 for 5 conversations, want 3", pages)
	}
	var first conversationPage
	e.call(http.MethodGet, "/api/conversations/search?limit=2", nil, http.StatusOK, &first)
	if len(first.Items) != 2 || first.NextPageID == nil {
		t.Errorf("first page: %d items, next %v", len(first.Items), first.NextPageID)
	}

	for _, tc := range []struct {
		sort string
		want []string
	}{
		{"CREATED_AT", made},
		{"CREATED_AT_DESC", newestFirst},
	} {
		items, _ := e.searchAll(url.Values{"sort_order": {tc.sort}, "limit": {"2"}})
		if diff := cmp.Diff(ids(items), tc.want); diff != "" {
			t.Errorf("sort_order=%s (-got +want):\n%s", tc.sort, diff)
		}
	}

	// Touch the oldest: it is first by UPDATED_AT_DESC, last by UPDATED_AT.
	e.call(http.MethodPatch, "/api/conversations/"+made[0], map[string]any{"title": "touched"}, http.StatusOK, nil)
	items, _ = e.searchAll(url.Values{"sort_order": {"UPDATED_AT_DESC"}})
	if len(items) != 5 || items[0].ID != made[0] {
		t.Errorf("UPDATED_AT_DESC: %v, want %s first", ids(items), made[0])
	}
	items, _ = e.searchAll(url.Values{"sort_order": {"UPDATED_AT"}})
	if len(items) != 5 || items[4].ID != made[0] {
		t.Errorf("UPDATED_AT: %v, want %s last", ids(items), made[0])
	}

	// Status: pause two.
	for _, id := range []string{made[1], made[3]} {
		e.call(http.MethodPost, "/api/conversations/"+id+"/pause", nil, http.StatusOK, nil)
	}
	items, _ = e.searchAll(url.Values{"status": {"paused"}, "limit": {"1"}})
	got := ids(items)
	slices.Sort(got)
	want := []string{made[1], made[3]}
	slices.Sort(want)
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("status=paused (-got +want):\n%s", diff)
	}
	for _, info := range items {
		if info.ExecutionStatus != session.StatusPaused {
			t.Errorf("%s: execution_status %q in a status=paused search", info.ID, info.ExecutionStatus)
		}
	}
	for status, want := range map[string]int{"": 5, "paused": 2, "idle": 3, "running": 0} {
		var n int
		e.call(http.MethodGet, "/api/conversations/count?status="+status, nil, http.StatusOK, &n)
		if n != want {
			t.Errorf("count status=%q: %d, want %d", status, n, want)
		}
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "sort_order=SIDEWAYS", "status=dancing", "page_id=%21%21garbage"} {
		e.detail(http.MethodGet, "/api/conversations/search?"+q, nil, http.StatusUnprocessableEntity)
	}
	e.detail(http.MethodGet, "/api/conversations/count?status=dancing", nil, http.StatusUnprocessableEntity)
}

func TestBatchGetConversations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	a := e.create(map[string]any{"title": "a"})
	b := e.create(map[string]any{"title": "b"})
	for _, q := range []string{
		"ids=" + a.ID + "&ids=unknown&ids=" + b.ID,
		"ids=" + a.ID + ",unknown," + b.ID,
		"ids=" + a.ID + ",unknown&ids=" + b.ID,
	} {
		var got []*session.Info
		e.call(http.MethodGet, "/api/conversations?"+q, nil, http.StatusOK, &got)
		if len(got) != 3 || got[0] == nil || got[0].ID != a.ID || got[1] != nil || got[2] == nil || got[2].ID != b.ID {
			t.Errorf("?%s: got %d items %v, want [a, null, b]", q, len(got), got)
		}
	}
	e.detail(http.MethodGet, "/api/conversations", nil, http.StatusUnprocessableEntity)
}

func TestEventRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	c := e.create(map[string]any{"initial_message": message("first words", false)})
	base := "/api/conversations/" + c.ID + "/events"

	// POST a message (not run), then an agent message and a pause.
	var ok map[string]bool
	e.call(http.MethodPost, base, message("second words with a Needle", false), http.StatusOK, &ok)
	if !ok["success"] {
		t.Errorf("POST message answered %v", ok)
	}
	a, err := e.convs.Get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	reply := &event.Message{LLMMessage: event.LLMMessage{Role: "assistant", Content: event.Text("an answer")}}
	reply.Source = event.SourceAgent
	if err := a.Append(reply); err != nil {
		t.Fatal(err)
	}
	e.call(http.MethodPost, "/api/conversations/"+c.ID+"/pause", nil, http.StatusOK, nil)
	e.call(http.MethodPost, base, message("third words", false), http.StatusOK, nil)

	all := e.events(c.ID, nil)
	if len(all) < 6 {
		t.Fatalf("%d events, want at least 6: %+v", len(all), all)
	}
	for i, ev := range all {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: %+v", i, ev.Seq, ev)
		}
		if ev.ID == "" || ev.Timestamp == "" || ev.Source == "" {
			t.Errorf("event %d lacks id, timestamp or source: %+v", i, ev)
		}
	}
	seqs := func(fs []frame) []int64 {
		out := make([]int64, len(fs))
		for i, f := range fs {
			out[i] = f.Seq
		}
		return out
	}
	filter := func(keep func(frame) bool) []int64 {
		var out []int64
		for _, f := range all {
			if keep(f) {
				out = append(out, f.Seq)
			}
		}
		return out
	}
	kind := func(k string) func(frame) bool { return func(f frame) bool { return f.Kind == k } }

	for _, tc := range []struct {
		name  string
		query url.Values
		want  []int64
	}{
		{"kind short", url.Values{"kind": {"MessageEvent"}}, filter(kind("MessageEvent"))},
		{"kind qualified", url.Values{"kind": {"openhands.sdk.event.llm_convertible.message.MessageEvent"}}, filter(kind("MessageEvent"))},
		{"kind package", url.Values{"kind": {"openhands.sdk.event.PauseEvent"}}, filter(kind("PauseEvent"))},
		{"source user", url.Values{"source": {"user"}}, filter(func(f frame) bool { return f.Source == "user" })},
		{"source agent", url.Values{"source": {"agent"}}, filter(func(f frame) bool { return f.Source == "agent" })},
		{"body", url.Values{"body": {"needle"}}, filter(func(f frame) bool { return strings.Contains(f.text(), "Needle") })},
		{"paged", url.Values{"limit": {"2"}}, seqs(all)},
		{"kind and source paged", url.Values{"kind": {"MessageEvent"}, "source": {"user"}, "limit": {"1"}},
			filter(func(f frame) bool { return f.Kind == "MessageEvent" && f.Source == "user" })},
		{"timestamp range", url.Values{"timestamp__gte": {all[1].Timestamp}, "timestamp__lt": {all[4].Timestamp}},
			filter(func(f frame) bool { return f.Timestamp >= all[1].Timestamp && f.Timestamp < all[4].Timestamp })},
		{"timestamp gte", url.Values{"timestamp__gte": {all[3].Timestamp}},
			filter(func(f frame) bool { return f.Timestamp >= all[3].Timestamp })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			got := seqs(e.events(c.ID, tc.query))
			if len(tc.want) == 0 {
				t.Fatalf("the test expects no events for %v; seed better", tc.query)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("search %v (-got +want):\n%s", tc.query, diff)
			}
			var n int
			e.call(http.MethodGet, base+"/count?"+tc.query.Encode(), nil, http.StatusOK, &n)
			if n != len(tc.want) {
				t.Errorf("count %v: %d, want %d", tc.query, n, len(tc.want))
			}
		})
	}
	if got := filter(kind("PauseEvent")); len(got) != 1 {
		t.Errorf("pause events at %v, want one", got)
	}
	if got := filter(func(f frame) bool { return f.Timestamp > all[1].Timestamp && f.Timestamp < all[4].Timestamp }); len(got) == 0 {
		t.Error("timestamps do not increase")
	}

	// Newest first, a page at a time.
	desc := seqs(e.events(c.ID, url.Values{"sort_order": {"TIMESTAMP_DESC"}, "limit": {"2"}}))
	want := seqs(all)
	slices.Reverse(want)
	if diff := cmp.Diff(desc, want); diff != "" {
		t.Errorf("TIMESTAMP_DESC (-got +want):\n%s", diff)
	}

	// One event by id.
	var one frame
	e.call(http.MethodGet, base+"/"+all[2].ID, nil, http.StatusOK, &one)
	if diff := cmp.Diff(one, all[2]); diff != "" {
		t.Errorf("GET event (-got +want):\n%s", diff)
	}
	e.detail(http.MethodGet, base+"/no-such-event", nil, http.StatusNotFound)
	e.detail(http.MethodGet, "/api/conversations/nope/events/search", nil, http.StatusNotFound)
	e.detail(http.MethodGet, "/api/conversations/nope/events/count", nil, http.StatusNotFound)
	e.detail(http.MethodPost, "/api/conversations/nope/events", message("x", false), http.StatusNotFound)

	for _, q := range []string{"kind=NoSuchEvent", "kind=os.path.MessageEvent", "source=robot", "sort_order=UP",
		"timestamp__gte=yesterday", "limit=0", "page_id=%21%21"} {
		e.detail(http.MethodGet, base+"/search?"+q, nil, http.StatusUnprocessableEntity)
	}
	e.detail(http.MethodPost, base, map[string]any{"role": "assistant", "content": []map[string]any{{"type": "text", "text": "x"}}}, http.StatusUnprocessableEntity)
	e.detail(http.MethodPost, base, map[string]any{"role": "user", "content": []any{}}, http.StatusUnprocessableEntity)
	e.detail(http.MethodPost, base, `{"role": "user", "content": 7}`, http.StatusUnprocessableEntity)
	if n := len(e.events(c.ID, nil)); n != len(all) {
		t.Errorf("%d events after refused posts, want %d", n, len(all))
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{config: func(c *server.Config) { c.MaxBodyBytes = 1024 }})
	const create = "/api/conversations"
	for _, tc := range []struct {
		name, body, field string
	}{
		{"malformed", `{"title": `, ""},
		{"not an object", `[1, 2]`, ""},
		{"trailing garbage", `{"title": "x"} {`, ""},
		{"empty", ``, ""},
		{"wrong type", `{"max_iterations": "x"}`, "max_iterations"},
		{"nested wrong type", `{"agent": {"llm": {"model": 5}}}`, "agent.llm.model"},
		{"list for object", `{"workspace": []}`, "workspace"},
		{"bad secret", `{"secrets": {"A": 5}}`, "secrets"},
		{"bad value", `{"max_iterations": 0}`, "max_iterations"},
		{"unknown tool", `{"agent": {"llm": {"model": "m"}, "tools": [{"name": "hammer"}]}}`, "tools"},
		{"relative working dir", `{"workspace": {"working_dir": "work"}}`, "working_dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			d := e.detail(http.MethodPost, create, tc.body, http.StatusUnprocessableEntity)
			if !strings.Contains(d, tc.field) {
				t.Errorf("detail %q does not name %q", d, tc.field)
			}
		})
	}
	big := `{"title": "` + strings.Repeat("x", 2048) + `"}`
	e.detail(http.MethodPost, create, big, http.StatusRequestEntityTooLarge)
	c := e.create(nil)
	e.detail(http.MethodPatch, "/api/conversations/"+c.ID, big, http.StatusRequestEntityTooLarge)
	e.detail(http.MethodPost, "/api/conversations/"+c.ID+"/events", big, http.StatusRequestEntityTooLarge)
	e.detail(http.MethodGet, "/api/no/such/route", nil, http.StatusNotFound)
	e.detail(http.MethodGet, "/nowhere", nil, http.StatusNotFound)
	e.detail(http.MethodPut, "/api/conversations/"+c.ID, `{}`, http.StatusNotFound)

	var n int
	e.call(http.MethodGet, "/api/conversations/count", nil, http.StatusOK, &n)
	if n != 1 {
		t.Errorf("%d conversations after refused creates, want 1", n)
	}
}

// TestSecretLimits checks that a conversation's secrets are bounded (the
// defaults: 1,000 secrets, 64 KiB a value, 1 MiB in all): past them, a
// create or a change is refused with 422 naming secrets, and stores
// nothing.
func TestSecretLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	secrets := func(n, size int) map[string]any {
		out := make(map[string]any, n)
		for i := range n {
			v := fmt.Sprintf("value-%d-", i)
			out[fmt.Sprintf("S%d", i)] = v + strings.Repeat("x", max(size-len(v), 0))
		}
		return out
	}
	for _, tc := range []struct {
		name, field string
		body        map[string]any
	}{
		{"too many", "secrets", map[string]any{"secrets": secrets(1001, 16)}},
		{"far too many", "secrets", map[string]any{"secrets": secrets(100_000, 16)}},
		{"too long", "secrets", map[string]any{"secrets": secrets(1, 64<<10+1)}},
		{"too much in all", "secrets", map[string]any{"secrets": secrets(17, 64<<10)}},
		{"LLM key too long", "agent.llm.api_key", map[string]any{"agent": map[string]any{"llm": map[string]any{"model": "m", "api_key": strings.Repeat("k", 64<<10+1)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			if d := e.detail(http.MethodPost, "/api/conversations", tc.body, http.StatusUnprocessableEntity); !strings.HasPrefix(d, tc.field+":") {
				t.Errorf("detail %q does not name %s", d, tc.field)
			}
		})
	}
	var n int
	e.call(http.MethodGet, "/api/conversations/count", nil, http.StatusOK, &n)
	if n != 0 {
		t.Fatalf("%d conversations after refused creates, want none", n)
	}

	c := e.create(map[string]any{"secrets": secrets(1000, 16)})
	path := "/api/conversations/" + c.ID + "/secrets"
	for _, body := range []map[string]any{
		{"secrets": map[string]any{"ONE_MORE": "one-more-value"}},
		{"secrets": map[string]any{"S0": strings.Repeat("y", 64<<10+1)}},
	} {
		if d := e.detail(http.MethodPost, path, body, http.StatusUnprocessableEntity); !strings.HasPrefix(d, "secrets:") {
			t.Errorf("detail %q does not name secrets", d)
		}
	}
	var got session.Info
	e.call(http.MethodGet, "/api/conversations/"+c.ID, nil, http.StatusOK, &got)
	if len(got.Secrets) != 1000 || slices.Contains(got.Secrets, "ONE_MORE") {
		t.Errorf("%d secrets after refused changes, want the 1000 there were", len(got.Secrets))
	}
	stored, err := e.store.Secrets(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1000 || stored["S0"] != secrets(1, 16)["S0"] {
		t.Errorf("%d secrets stored, S0 %.20q...: the refused changes were stored", len(stored), stored["S0"])
	}
	// One out, one in: still 1,000.
	var ok map[string]bool
	e.call(http.MethodPost, path, map[string]any{"secrets": map[string]any{"S0": "", "ONE_MORE": "one-more-value"}}, http.StatusOK, &ok)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{config: func(c *server.Config) { c.APIKeys = []string{"key-one", "key-two"} }})
	c := e.create(nil)

	var routes int
	for _, r := range e.srv.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(path, "/api/") {
			continue
		}
		routes++
		path = strings.NewReplacer(":id", c.ID, ":event_id", "some-event").Replace(path)
		for name, h := range map[string]http.Header{
			"missing":      nil,
			"wrong":        {"X-Session-Api-Key": {"key-three"}},
			"wrong bearer": {"Authorization": {"Bearer key-three"}},
			"empty bearer": {"Authorization": {"Bearer "}},
			"other scheme": {"Authorization": {"Basic key-one"}},
		} {
			status, body := e.raw(method, path, `{}`, h, false)
			if status != http.StatusUnauthorized || (method != http.MethodHead && !strings.Contains(string(body), `"detail"`)) {
				t.Errorf("%s %s with a %s key: %d %s, want 401 with a detail", method, path, name, status, body)
			}
		}
	}
	if routes < 20 {
		t.Errorf("only %d /api/ routes registered", routes)
	}
	for name, h := range map[string]http.Header{
		"header":        {"X-Session-Api-Key": {"key-one"}},
		"second key":    {"X-Session-Api-Key": {"key-two"}},
		"bearer":        {"Authorization": {"Bearer key-one"}},
		"bearer spaced": {"Authorization": {"bearer  key-two"}},
	} {
		status, body := e.raw(http.MethodGet, "/api/conversations/"+c.ID, nil, h, false)
		if status != http.StatusOK {
			t.Errorf("GET with the key in the %s: %d %s", name, status, body)
		}
	}
	for _, path := range []string{"/alive", "/health", "/ready", "/server_info"} {
		if status, body := e.raw(http.MethodGet, path, nil, nil, false); status != http.StatusOK {
			t.Errorf("open route %s without a key: %d %s", path, status, body)
		}
	}

	t.Run("sockets", func(t *testing.T) {
		e := e.in(t)
		events := "/sockets/events/" + c.ID
		for name, dial := range map[string]func() *socket{
			"wrong key in query":  func() *socket { return e.dial(events+"?session_api_key=key-three", nil) },
			"wrong key in header": func() *socket { return e.dial(events, http.Header{"X-Session-Api-Key": {"key-three"}}) },
			"wrong auth frame": func() *socket {
				s := e.dial(events, nil)
				s.send(map[string]any{"type": "auth", "session_api_key": "key-three"})
				return s
			},
			"no auth frame": func() *socket {
				s := e.dial(events, nil)
				s.send(message("hello", false))
				return s
			},
			"v0 wrong key": func() *socket { return e.dial("/ws?session_api_key=nope", nil) },
			"bash-events wrong key": func() *socket {
				return e.dial("/sockets/bash-events/"+c.ID+"?session_api_key=nope", nil)
			},
			"bash-events no key": func() *socket {
				s := e.dial("/sockets/bash-events?conversation_id="+c.ID, nil)
				s.send(map[string]any{"command": "echo hi"})
				return s
			},
		} {
			if code, _ := dial().closed(nil); code != 4001 {
				t.Errorf("%s: close code %d, want 4001", name, code)
			}
		}
		for name, dial := range map[string]func() *socket{
			"query":  func() *socket { return e.dial(events+"?session_api_key=key-two", nil) },
			"header": func() *socket { return e.dial(events, http.Header{"X-Session-Api-Key": {"key-one"}}) },
			"bearer": func() *socket { return e.dial(events, http.Header{"Authorization": {"Bearer key-one"}}) },
			"auth frame": func() *socket {
				s := e.dial(events, nil)
				s.send(map[string]any{"type": "auth", "session_api_key": "key-one"})
				return s
			},
		} {
			if f := dial().event(); f.Kind != "ConversationStateUpdateEvent" || f.Key != "full_state" {
				t.Errorf("key in the %s: first frame %+v, want the full state", name, f)
			}
		}
		s := e.dial("/sockets/events/no-such-conversation?session_api_key=key-one", nil)
		if code, _ := s.closed(nil); code != 4004 {
			t.Errorf("unknown conversation: close code %d, want 4004", code)
		}
		s = e.dial("/sockets/events/no-such-conversation", nil)
		s.send(map[string]any{"type": "auth", "session_api_key": "key-one"})
		if code, _ := s.closed(nil); code != 4004 {
			t.Errorf("unknown conversation after an auth frame: close code %d, want 4004", code)
		}
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{config: func(c *server.Config) {
		c.APIKeys = []string{"k"}
		c.CORSOrigins = []string{"https://app.example"}
	}})
	preflight := func(origin string) (int, http.Header) {
		req, err := http.NewRequest(http.MethodOptions, e.url+"/api/conversations", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, x-session-api-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, origin := range []string{"http://localhost:5173", "http://127.0.0.1:3000", "https://app.example"} {
		status, h := preflight(origin)
		if status/100 != 2 || h.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("preflight from %s: %d, Allow-Origin %q", origin, status, h.Get("Access-Control-Allow-Origin"))
		}
		if !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "x-session-api-key") ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight from %s: allows headers %q, methods %q", origin, h.Get("Access-Control-Allow-Headers"), h.Get("Access-Control-Allow-Methods"))
		}
	}
	for _, origin := range []string{"http://evil.example", "http://localhost.evil.example", "null", "file://localhost"} {
		status, h := preflight(origin)
		if status/100 == 2 || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d, Allow-Origin %q; want it refused", origin, status, h.Get("Access-Control-Allow-Origin"))
		}
	}
	// A simple request from an unlisted origin gets no CORS headers.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/alive", nil)
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("GET from an unlisted origin: Allow-Origin %q", v)
	}
}

func TestServerInfoIdleTime(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	e := newEnv(t, options{config: func(c *server.Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	}})
	info := func() server.Info {
		var i server.Info
		e.call(http.MethodGet, "/server_info", nil, http.StatusOK, &i)
		return i
	}
	at(10 * time.Second)
	e.call(http.MethodGet, "/api/conversations/count", nil, http.StatusOK, nil)
	at(15 * time.Second)
	e.call(http.MethodGet, "/alive", nil, http.StatusOK, nil) // a probe is not activity
	if i := info(); i.Uptime != 25 || i.IdleTime != 15 {
		t.Errorf("uptime %v idle %v, want 25 and 15", i.Uptime, i.IdleTime)
	}
	at(time.Second)
	e.call(http.MethodPost, "/api/conversations", map[string]any{}, http.StatusCreated, nil)
	if i := info(); i.IdleTime != 0 {
		t.Errorf("idle %v right after a request, want 0", i.IdleTime)
	}
}

// TestAgentRoutesNeedHistory: generate_title and condense on a
// conversation that has too little to work with are the client's problem
// (409 with a detail), not the server's (500).
func TestAgentRoutesNeedHistory(t *testing.T) {
	t.Parallel()
	// The model is never called: both routes stop before. Its address is
	// one nothing listens on, should it be.
	e := newEnv(t, options{loop: controller.New(controller.Options{})})
	c := e.create(map[string]any{"agent": map[string]any{"llm": map[string]any{
		"model": "openai/gpt-4o", "api_key": "k", "base_url": "http://127.0.0.1:9/v1"}}})
	base := "/api/conversations/" + c.ID
	if d := e.detail(http.MethodPost, base+"/generate_title", nil, http.StatusConflict); !strings.Contains(d, "no user message") {
		t.Errorf("generate_title with no message: %q", d)
	}
	e.call(http.MethodPost, base+"/events", message("hello", false), http.StatusOK, nil)
	if d := e.detail(http.MethodPost, base+"/condense", nil, http.StatusConflict); !strings.Contains(d, "too little history") {
		t.Errorf("condense with one message: %q", d)
	}
	// A model that cannot be reached is the model's failure, not the
	// server's: 502, saying so.
	if d := e.detail(http.MethodPost, base+"/generate_title", nil, http.StatusBadGateway); !strings.Contains(d, "model") {
		t.Errorf("generate_title with a model that does not answer: %q", d)
	}
	if d := e.detail(http.MethodPost, base+"/ask_agent", map[string]any{"question": "why?"}, http.StatusBadGateway); !strings.Contains(d, "model") {
		t.Errorf("ask_agent with a model that does not answer: %q", d)
	}
	// A conversation without a model has nothing to ask: 409.
	none := e.create(nil)
	e.call(http.MethodPost, "/api/conversations/"+none.ID+"/events", message("hello", false), http.StatusOK, nil)
	if d := e.detail(http.MethodPost, "/api/conversations/"+none.ID+"/generate_title", nil, http.StatusConflict); !strings.Contains(d, "no model") {
		t.Errorf("generate_title without a model: %q", d)
	}
}
