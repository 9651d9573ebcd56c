package mcpclient_test

import (
	"strings"
	"testing"

	"github.com/gohands/gohands/mcpclient"
	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	off := false
	tests := []struct {
		name string
		in   string
		want mcpclient.Config
	}{
		{"mcpServers", `{"mcpServers":{"fs":{"command":"npx","args":["-y","server-fs","/w"],"env":{"A":"1"},"cwd":"/w"},"gh":{"url":"https://api.example.com/mcp","headers":{"Authorization":"Bearer $T"},"timeout":30}}}`,
			mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
				"fs": {Command: "npx", Args: []string{"-y", "server-fs", "/w"}, Env: map[string]string{"A": "1"}, Cwd: "/w"},
				"gh": {URL: "https://api.example.com/mcp", Headers: map[string]string{"Authorization": "Bearer $T"}, Timeout: 30},
			}}},
		{"bare map, upstream's type and unknown fields", `{"old":{"url":"http://h/sse","type":"sse","description":"x","keep_alive":true},"off":{"command":"x","enabled":false}}`,
			mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
				"old": {URL: "http://h/sse", Transport: "sse"},
				"off": {Command: "x", Enabled: &off},
			}}},
		{"shttp", `{"mcpServers":{"a":{"url":"http://h","transport":"shttp"}}}`,
			mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"a": {URL: "http://h", Transport: "shttp"}}}},
		{"empty", ``, mcpclient.Config{}},
		{"null servers", `{"mcpServers":null}`, mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mcpclient.ParseConfig([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`[1]`, "MCP config"},
		{`{"mcpServers":{"":{"command":"x"}}}`, "name is empty"},
		{`{"mcpServers":{"a b":{"command":"x"}}}`, `"a b" may hold only`},
		{`{"mcpServers":{"a":{}}}`, `"a": needs either "command"`},
		{`{"mcpServers":{"a":{"command":"x","url":"http://h"}}}`, `"a": has both`},
		{`{"mcpServers":{"a":{"url":"ftp://h"}}}`, `not http(s)`},
		{`{"mcpServers":{"a":{"url":"http://"}}}`, `no host`},
		{`{"mcpServers":{"a":{"url":"http://h","transport":"websocket"}}}`, `unknown transport "websocket"`},
		{`{"mcpServers":{"a":{"url":"http://h","transport":"stdio"}}}`, `transport stdio needs "command"`},
		{`{"mcpServers":{"a":{"command":"x","transport":"sse"}}}`, `needs "url"`},
		{`{"mcpServers":{"a":{"command":"x","timeout":-1}}}`, `timeout`},
		{`{"mcpServers":{"a":{"command":"x","env":{"A=B":"1"}}}}`, `env name`},
		{`{"mcpServers":{"a":{"url":"http://h","headers":{"Bad Header":"1"}}}}`, `header name`},
		{`{"mcpServers":{"a":{"url":"http://h","headers":{"X":"a\nb"}}}}`, `control characters`},
		{`{"mcpServers":{"a":null}}`, `"a": is null`},
		{`{"mcpServers":{"a":{"command":1}}}`, `"a": json`},
	} {
		_, err := mcpclient.ParseConfig([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%s) = %v, want an error with %q", tt.in, err, tt.want)
		}
	}
}

func TestMergeAndEmpty(t *testing.T) {
	off := false
	base := mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"a": {Command: "a"}, "b": {Command: "b"}}}
	over := mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"b": {URL: "http://b"}, "c": {Command: "c", Enabled: &off}}}
	got := base.Merge(over)
	want := mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"a": {Command: "a"}, "b": {URL: "http://b"}, "c": {Command: "c", Enabled: &off}}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Merge (-got +want):\n%s", diff)
	}
	if base.Servers["b"].Command != "b" {
		t.Error("Merge changed its receiver")
	}
	if got.Empty() || !(mcpclient.Config{}).Empty() || !over.Merge(mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"b": {Command: "b", Enabled: &off}}}).Empty() {
		t.Error("Empty is wrong")
	}
}

func TestExpand(t *testing.T) {
	secrets := map[string]string{"TOKEN": "t0k", "HOST": "api.example.com", "PATH_PART": "v1"}
	lookup := func(n string) (string, bool) { v, ok := secrets[n]; return v, ok }
	cfg := mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
		"gh": {URL: "https://${HOST}/$PATH_PART/mcp", Headers: map[string]string{"Authorization": "Bearer ${TOKEN}", "X-Cost": "$$5 and $ and ${MISSING:-fallback}"}},
		"fs": {Command: "server-$TOKEN", Args: []string{"$TOKEN"}, Env: map[string]string{"API_KEY": "$TOKEN", "PLAIN": "plain"}},
	}}
	got, err := cfg.Expand(lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
		"gh": {URL: "https://api.example.com/v1/mcp", Headers: map[string]string{"Authorization": "Bearer t0k", "X-Cost": "$5 and $ and fallback"}},
		// command and args are the user's program line, not expanded.
		"fs": {Command: "server-$TOKEN", Args: []string{"$TOKEN"}, Env: map[string]string{"API_KEY": "t0k", "PLAIN": "plain"}},
	}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
	if cfg.Servers["fs"].Env["API_KEY"] != "$TOKEN" {
		t.Error("Expand changed its receiver")
	}
	for _, bad := range []struct {
		s    mcpclient.ServerConfig
		want string
	}{
		{mcpclient.ServerConfig{Command: "x", Env: map[string]string{"K": "${NOPE}"}}, `MCP server "s": env K: no secret named NOPE`},
		{mcpclient.ServerConfig{URL: "http://h", Headers: map[string]string{"H": "$NOPE2"}}, `header H: no secret named NOPE2`},
		{mcpclient.ServerConfig{URL: "http://h/$NOPE3"}, `url: no secret named NOPE3`},
		{mcpclient.ServerConfig{URL: "http://h", Headers: map[string]string{"H": "${TOKEN"}}, `unclosed`},
		{mcpclient.ServerConfig{URL: "$TOKEN"}, `not http(s)`},
	} {
		_, err := mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"s": bad.s}}.Expand(lookup)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Expand(%+v) = %v, want %q", bad.s, err, bad.want)
		}
	}
}

// FuzzParseConfig: any input is parsed or refused, never a panic, and what
// is accepted is valid and survives a round trip through JSON.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		`{"mcpServers":{"fs":{"command":"npx","args":["a"],"env":{"A":"1"}}}}`,
		`{"gh":{"url":"https://h/mcp","headers":{"A":"b"},"type":"shttp","timeout":3}}`,
		`{"mcpServers":{"a":{"url":"http://h","transport":"sse","enabled":false}}}`,
		`{"mcpServers":null}`, `[]`, `{"a":null}`, `{"a":{"command":"x","timeout":1e309}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := mcpclient.ParseConfig(raw)
		if err != nil {
			return
		}
		for name, s := range cfg.Servers {
			if err := s.Validate(name); err != nil {
				t.Fatalf("accepted an invalid server: %v", err)
			}
			if k := s.Kind(); k != mcpclient.TransportStdio && k != mcpclient.TransportHTTP && k != mcpclient.TransportSSE {
				t.Fatalf("server %q has kind %q", name, k)
			}
			if s.CallTimeout() <= 0 {
				t.Fatalf("server %q has timeout %v", name, s.CallTimeout())
			}
		}
		_ = cfg.Empty()
		_, _ = cfg.Expand(func(string) (string, bool) { return "v", true })
	})
}

func TestAuth(t *testing.T) {
	cfg, err := mcpclient.ParseConfig([]byte(`{"mcpServers":{
		"bearer":{"url":"http://h","auth":{"strategy":"bearer","value":"${TOKEN}"}},
		"key":{"url":"http://h","auth":{"strategy":"api_key","value":"k"}},
		"named":{"url":"http://h","headers":{"X-A":"1"},"auth":{"strategy":"api_key","value":"k","header_name":"X-Key"}},
		"basic":{"url":"http://h","auth":{"strategy":"basic","username":"u","password":"p"}},
		"header":{"url":"http://h","auth":{"strategy":"header","headers":{"X-H":"$TOKEN"}}},
		"none":{"url":"http://h","headers":{"Authorization":"Token x"},"auth":{"strategy":"none"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = cfg.Expand(func(n string) (string, bool) { return "t", n == "TOKEN" })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for name, s := range cfg.Servers {
		got[name] = s.RequestHeaders()
	}
	want := map[string]map[string]string{
		"bearer": {"Authorization": "Bearer t"},
		"key":    {"Authorization": "Bearer k"},
		"named":  {"X-A": "1", "X-Key": "k"},
		"basic":  {"Authorization": "Basic dTpw"},
		"header": {"X-H": "t"},
		"none":   {"Authorization": "Token x"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("headers (-got +want):\n%s", diff)
	}
	for _, bad := range []struct{ in, want string }{
		{`{"a":{"url":"http://h","auth":{"strategy":"oauth2"}}}`, `"oauth2" is not supported`},
		{`{"a":{"url":"http://h","auth":{"strategy":"magic"}}}`, `unknown auth strategy "magic"`},
		{`{"a":{"command":"x","auth":{"strategy":"bearer","value":"v"}}}`, `"auth" is for url servers`},
		{`{"a":{"url":"http://h","headers":{"authorization":"x"},"auth":{"strategy":"bearer","value":"v"}}}`, `cannot be combined`},
	} {
		if _, err := mcpclient.ParseConfig([]byte(bad.in)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseConfig(%s) = %v, want %q", bad.in, err, bad.want)
		}
	}
	_, err = mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"s": {URL: "http://h", Auth: &mcpclient.Auth{Strategy: "bearer", Value: "$NOPE"}}}}.Expand(nil)
	if err == nil || !strings.Contains(err.Error(), "auth value: no secret named NOPE") {
		t.Errorf("Expand of an unknown auth secret = %v", err)
	}
}
