package agentd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
)

const testToken = "test-token"

func newTestServer(t *testing.T) (*Server, *agentapi.Client) {
	t.Helper()
	srv, err := NewServer(Config{Token: testToken, WorkDir: t.TempDir(), UID: -1, GID: -1, OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return srv, agentapi.NewClient(hs.URL, testToken)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestExecOneShotAndStream(t *testing.T) {
	_, c := newTestServer(t)
	res, err := c.Exec(ctx(t), "main", agentapi.ExecRequest{Command: "echo hi"})
	if err != nil || res.Output != "hi" || res.ExitCode != 0 {
		t.Fatalf("exec: %+v, %v", res, err)
	}
	var streamed strings.Builder
	res, err = c.ExecStream(ctx(t), "main", agentapi.ExecRequest{Command: "printf 'é%.0s' $(seq 1 5000); echo; exit_code() { return 3; }; exit_code"}, func(s string) { streamed.WriteString(s) })
	if err != nil || res.ExitCode != 3 {
		t.Fatalf("stream: %+v, %v", res, err)
	}
	if want := strings.Repeat("é", 5000) + "\n"; streamed.String() != want {
		t.Fatalf("streamed %d bytes, want %d: multi-byte characters must survive chunking", streamed.Len(), len(want))
	}
}

func TestTerminalsByName(t *testing.T) {
	_, c := newTestServer(t)
	if _, err := c.Exec(ctx(t), "other", agentapi.ExecRequest{Command: "true"}); agentapi.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("unknown terminal: %v, want 404", err)
	}
	if _, err := c.CreateTerminal(ctx(t), "other", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTerminal(ctx(t), "other", ""); agentapi.StatusOf(err) != http.StatusConflict {
		t.Fatalf("duplicate terminal: %v, want 409", err)
	}
	if _, err := c.CreateTerminal(ctx(t), "../bad", ""); agentapi.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("bad name: %v, want 400", err)
	}
	c.Exec(ctx(t), "other", agentapi.ExecRequest{Command: "cd /"})
	c.Exec(ctx(t), "main", agentapi.ExecRequest{Command: "cd /tmp"})
	list, err := c.Terminals(ctx(t))
	if err != nil || len(list) != 2 || list[0].WorkingDir != "/tmp" || list[1].WorkingDir != "/" {
		t.Fatalf("terminals: %+v, %v", list, err)
	}
	if err := c.CloseTerminal(ctx(t), "other"); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseTerminal(ctx(t), "other"); agentapi.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("close twice: %v, want 404", err)
	}
}

func TestKeysAndConflicts(t *testing.T) {
	_, c := newTestServer(t)
	res, err := c.Exec(ctx(t), "main", agentapi.ExecRequest{Command: "sleep 100", Timeout: 0.2})
	if err != nil || res.ExitCode != -1 {
		t.Fatalf("sleep: %+v, %v", res, err)
	}
	if _, err := c.Exec(ctx(t), "main", agentapi.ExecRequest{Command: "echo x"}); agentapi.StatusOf(err) != http.StatusConflict {
		t.Fatalf("command while running: %v, want 409", err)
	}
	if err := c.SendKeys(ctx(t), "main", "C-?"); agentapi.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("bad key: %v, want 400", err)
	}
	if err := c.SendKeys(ctx(t), "main", "C-c"); err != nil {
		t.Fatal(err)
	}
	res, err = c.Exec(ctx(t), "main", agentapi.ExecRequest{Command: ""})
	if err != nil || res.ExitCode != 130 {
		t.Fatalf("after C-c: %+v, %v", res, err)
	}
	if err := c.ResetTerminal(ctx(t), "main"); err != nil {
		t.Fatal(err)
	}
}

// TestSyntaxErrorEnds: a command bash cannot parse answers with its error
// and status 2, and the terminal takes the next command (it used to wait
// for the whole timeout, then answer 409 to every command after).
func TestSyntaxErrorEnds(t *testing.T) {
	_, c := newTestServer(t)
	res, err := c.Exec(ctx(t), "main", agentapi.ExecRequest{Command: "echo a( done", Timeout: 10})
	if err != nil || res.ExitCode != 2 || !strings.Contains(res.Output, "syntax error") {
		t.Fatalf("echo a( done: %+v, %v; want exit code 2 and a syntax error", res, err)
	}
	res, err = c.Exec(ctx(t), "main", agentapi.ExecRequest{Command: "echo ok", Timeout: 10})
	if err != nil || res.ExitCode != 0 || res.Output != "ok" {
		t.Fatalf("the command after: %+v, %v", res, err)
	}
}

func TestBadRequests(t *testing.T) {
	srv, _ := newTestServer(t)
	tests := []struct {
		name, method, path, token, body string
		want                            int
		detail                          string
	}{
		{"no token", "POST", "/terminals/main/exec", "", `{"command":"true"}`, 401, "missing token"},
		{"wrong token", "POST", "/terminals/main/exec", "nope", `{"command":"true"}`, 401, "wrong token"},
		{"health needs none", "GET", "/health", "", "", 200, ""},
		{"malformed", "POST", "/terminals/main/exec", testToken, `{"command":`, 400, "malformed JSON"},
		{"empty", "POST", "/terminals/main/exec", testToken, ``, 400, "empty body"},
		{"wrong type", "POST", "/terminals/main/exec", testToken, `{"command":5}`, 422, `want string`},
		{"unknown field", "POST", "/terminals/main/exec", testToken, `{"cmd":"ls"}`, 422, `unknown field`},
		{"negative timeout", "POST", "/terminals/main/exec", testToken, `{"command":"ls","timeout":-1}`, 422, "negative"},
		{"two values", "POST", "/terminals/main/exec", testToken, `{} {}`, 400, "more than one"},
		{"huge body", "POST", "/terminals/main/exec", testToken, `{"command":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "over the limit"},
		{"no route", "GET", "/nowhere", testToken, "", 404, "no route"},
		{"unknown terminal keys", "POST", "/terminals/zzz/keys", testToken, `{"keys":"C-c"}`, 404, "does not exist"},
		{"no keys", "POST", "/terminals/main/keys", testToken, `{"keys":""}`, 422, "keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.detail) {
				t.Fatalf("body %s does not say %q", rec.Body, tc.detail)
			}
		})
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"command":"ls","timeout":1.5}`, `{"command":`, `{}`, `[]`, `{"is_input":true}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req agentapi.ExecRequest
		err := decodeJSON(strings.NewReader(string(data)), 1<<20, &req)
		if err != nil {
			he, ok := err.(*agentapi.HTTPError)
			if !ok || he.Status < 400 || he.Status > 499 || he.Detail == "" {
				t.Fatalf("error %v is not a 4xx with a message", err)
			}
		}
	})
}
