package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/server"
)

// TestNoKeyGuard sends what a web page of another site can make a browser
// send to a server without an API key, and what clients that are not
// browsers send.
func TestNoKeyGuard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{config: func(c *server.Config) {
		c.CORSOrigins = []string{"https://app.example/"}
		c.AllowedHosts = []string{"gohands.example", "*.corp.example"}
	}})
	port := strconv.Itoa(e.hs.Listener.Addr().(*net.TCPAddr).Port)
	post := func(host string, header http.Header) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.url+"/api/conversations", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/plain") // a simple request: no preflight
		for k, v := range header {
			req.Header[k] = v
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	origin := func(o ...string) http.Header { return http.Header{"Origin": o} }
	tests := []struct {
		name   string
		host   string // "" is the address dialled (127.0.0.1:port)
		header http.Header
		want   int
	}{
		{"no Origin (curl, SDKs)", "", nil, http.StatusCreated},
		{"same origin (the built-in page)", "", origin("http://127.0.0.1:" + port), http.StatusCreated},
		{"same origin by name", "localhost:" + port, origin("http://localhost:" + port), http.StatusCreated},
		{"allowed origin", "", origin("https://app.example"), http.StatusCreated},
		{"allowed origin, other case", "", origin("HTTPS://App.Example"), http.StatusCreated},
		{"localhost", "localhost:" + port, nil, http.StatusCreated},
		{"a .localhost name", "gohands.localhost", nil, http.StatusCreated},
		{"loopback IPv6", "[::1]:" + port, nil, http.StatusCreated},
		{"another loopback address", "127.1.2.3", nil, http.StatusCreated},
		{"allowed host", "GoHands.example.:" + port, nil, http.StatusCreated},
		{"allowed subdomain", "a.corp.example", nil, http.StatusCreated},

		{"cross-site", "", origin("https://evil.example"), http.StatusForbidden},
		{"null origin (sandboxed frame, file://)", "", origin("null"), http.StatusForbidden},
		{"another port of localhost", "localhost:" + port, origin("http://localhost:5173"), http.StatusForbidden},
		{"same host, another port", "", origin("http://127.0.0.1:1"), http.StatusForbidden},
		{"allowed origin and another one", "", origin("https://app.example", "https://evil.example"), http.StatusForbidden},
		{"DNS rebinding", "evil.example:" + port, nil, http.StatusForbidden},
		{"DNS rebinding, same origin", "evil.example:" + port, origin("http://evil.example:" + port), http.StatusForbidden},
		{"a name ending in localhost", "evillocalhost", nil, http.StatusForbidden},
		{"localhost as a subdomain", "localhost.evil.example", nil, http.StatusForbidden},
		{"the allowed subdomains' parent", "corp.example", nil, http.StatusForbidden},
		{"another address", "192.0.2.1:" + port, nil, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(tt.host, tt.header)
			if status != tt.want {
				t.Errorf("POST with Host %q and %v: %d %s, want %d", tt.host, tt.header, status, body, tt.want)
			}
			if status == http.StatusForbidden && !strings.Contains(body, `"detail"`) {
				t.Errorf("403 without a detail: %s", body)
			}
		})
	}
	// An allowed origin may read the answers.
	req, _ := http.NewRequest(http.MethodOptions, e.url+"/api/conversations", nil)
	req.Header.Set("Origin", "HTTPS://App.Example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "HTTPS://App.Example" {
		t.Errorf("preflight from an allowed origin: %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}

	// Nothing refused made a conversation.
	want := 0
	for _, tt := range tests {
		if tt.want == http.StatusCreated {
			want++
		}
	}
	var count int
	e.call(http.MethodGet, "/api/conversations/count", nil, http.StatusOK, &count)
	if count != want {
		t.Errorf("%d conversations, want %d", count, want)
	}

	// Sockets: a page of another site, or one rebound to this server, is
	// refused before the upgrade; websocat and the built-in page are not.
	dial := func(path string, h http.Header) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.DefaultDialer.DialContext(ctx, e.wsURL(path), h)
		if c != nil {
			c.Close()
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, err
	}
	c := e.create(nil)
	for _, path := range []string{"/ws", "/sockets/events/" + c.ID} {
		for _, tt := range []struct {
			name   string
			header http.Header
			want   int
		}{
			{"no Origin", nil, http.StatusSwitchingProtocols},
			{"same origin", origin("http://127.0.0.1:" + port), http.StatusSwitchingProtocols},
			{"cross-site", origin("https://evil.example"), http.StatusForbidden},
			{"DNS rebinding", http.Header{"Host": {"evil.example:" + port}, "Origin": {"http://evil.example:" + port}}, http.StatusForbidden},
		} {
			if status, err := dial(path, tt.header); status != tt.want {
				t.Errorf("%s %s: %d (%v), want %d", path, tt.name, status, err, tt.want)
			}
		}
	}
}

// TestKeyedServerIgnoresOrigin: with a key, the key guards the server, as
// before, whatever Host and Origin say.
func TestKeyedServerIgnoresOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{config: func(c *server.Config) { c.APIKeys = []string{"k"} }})
	evil := http.Header{"Origin": {"https://evil.example"}, "Content-Type": {"text/plain"}}
	if status, body := e.raw(http.MethodPost, "/api/conversations", "{}", evil, false); status != http.StatusUnauthorized {
		t.Errorf("cross-site POST without the key: %d %s, want 401", status, body)
	}
	if status, body := e.raw(http.MethodPost, "/api/conversations", "{}", evil, true); status != http.StatusCreated {
		t.Errorf("cross-site POST with the key: %d %s, want 201", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/api/conversations/count", nil)
	req.Host = "evil.example"
	req.Header.Set("X-Session-API-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("another Host with the key: %d, want 200", resp.StatusCode)
	}
}

// TestHead answers HEAD wherever GET answers, without a body.
func TestHead(t *testing.T) {
	t.Parallel()
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>page</html>") })
	e := newEnv(t, options{config: func(c *server.Config) { c.Web = web }})
	routes := make(map[string]bool)
	for _, r := range e.srv.Routes() {
		routes[r] = true
	}
	for r := range routes {
		p, ok := strings.CutPrefix(r, "GET ")
		if !ok || strings.HasPrefix(p, "/sockets/") || p == "/ws" {
			continue // a socket opens with a GET only
		}
		if !routes["HEAD "+p] {
			t.Errorf("GET %s has no HEAD route", p)
		}
	}
	for _, p := range []string{"/alive", "/server_info", "/api/conversations/count", "/api/conversations?ids=x", "/", "/some/page"} {
		get, getBody := e.request(http.MethodGet, p, nil, nil)
		req, _ := http.NewRequest(http.MethodHead, e.url+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != get || len(body) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes, want %d (as GET) and none", p, resp.StatusCode, len(body), get)
		}
		if cl := resp.ContentLength; (p == "/alive" || p == "/") && cl != int64(len(getBody)) {
			t.Errorf("HEAD %s: Content-Length %d, GET sent %d bytes", p, cl, len(getBody))
		}
	}
}
