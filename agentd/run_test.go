package agentd

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi"
)

func TestRun(t *testing.T) {
	_, c := newTestServer(t)
	tests := []struct {
		name string
		req  agentapi.RunRequest
		want agentapi.RunResult
	}{
		{"arguments reach no shell", agentapi.RunRequest{Args: []string{"printf", "%s|", "$(id)", "a b", ";rm -rf x"}},
			agentapi.RunResult{Stdout: "$(id)|a b|;rm -rf x|"}},
		{"exit code and stderr", agentapi.RunRequest{Args: []string{"sh", "-c", "echo err >&2; exit 3"}},
			agentapi.RunResult{ExitCode: 3, Stderr: "err\n"}},
		{"output cut", agentapi.RunRequest{Args: []string{"printf", "0123456789"}, MaxOutput: 4},
			agentapi.RunResult{Stdout: "0123", Truncated: true}},
		{"stdin", agentapi.RunRequest{Args: []string{"cat"}, Stdin: "{\"event_type\": \"Stop\"}"},
			agentapi.RunResult{Stdout: "{\"event_type\": \"Stop\"}"}},
		{"no stdin is end of file", agentapi.RunRequest{Args: []string{"cat"}}, agentapi.RunResult{}},
		{"dir", agentapi.RunRequest{Args: []string{"pwd"}, Dir: "/"}, agentapi.RunResult{Stdout: "/\n"}},
		{"timeout", agentapi.RunRequest{Args: []string{"sleep", "30"}, Timeout: 0.2}, agentapi.RunResult{ExitCode: -1, TimedOut: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Run(ctx(t), tc.req)
			if err != nil || got != tc.want {
				t.Errorf("run %v = %+v, %v; want %+v", tc.req.Args, got, err, tc.want)
			}
		})
	}
	if _, err := c.Run(ctx(t), agentapi.RunRequest{Args: []string{"no-such-program-here"}}); agentapi.StatusOf(err) != agentapi.ProgramNotFound {
		t.Errorf("a program that is not there: %v, want %d", err, agentapi.ProgramNotFound)
	}
	if _, err := c.Run(ctx(t), agentapi.RunRequest{}); agentapi.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("no arguments: %v, want 400", err)
	}
}

func TestPortProxy(t *testing.T) {
	_, c := newTestServer(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.RequestURI(), "auth": r.Header.Get("Authorization"), "x": r.Header.Get("X-Test")})
	}))
	defer app.Close()
	u, _ := url.Parse(app.URL)
	port := u.Port()
	var failed error
	n, _ := strconv.Atoi(port)
	h := c.PortProxy(n, func(w http.ResponseWriter, r *http.Request, err error) { failed = err; w.WriteHeader(599) })
	req := httptest.NewRequest(http.MethodGet, "/a%2Fb/c?q=1", nil)
	req.Header.Set("X-Test", "passed")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var seen map[string]string
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &seen) != nil {
		t.Fatalf("proxied: %d %s (%v)", rec.Code, rec.Body, failed)
	}
	if seen["path"] != "/a%2Fb/c?q=1" || seen["auth"] != "" || seen["x"] != "passed" {
		t.Errorf("the app saw %v: want the path as sent, no token, the other headers", seen)
	}
	// Nothing listens: the agent answers 502 and says which port.
	app.Close()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), port) {
		t.Errorf("closed port: %d %s", rec.Code, rec.Body)
	}
}
