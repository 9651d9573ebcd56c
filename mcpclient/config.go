// Package mcpclient connects GoHands conversations to Model Context Protocol
// servers: it reads the mcpServers configuration users write, starts or dials
// each server through a Launcher (so stdio servers run where the caller says,
// in the conversation's sandbox), lists their tools under names a model API
// accepts, and calls them with bounded time and size. The protocol itself is
// the official Go SDK's; this package knows nothing of sessions, HTTP routes
// or sandboxes.
package mcpclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// DefaultTimeout is how long one tool call may take when a server sets no
// timeout of its own.
const DefaultTimeout = 120 * time.Second

// Transports a ServerConfig may name, after normalising upstream's aliases.
const (
	TransportStdio = "stdio"
	TransportHTTP  = "http"
	TransportSSE   = "sse"
)

// ServerConfig is one MCP server as users write it in an mcpServers map.
type ServerConfig struct {
	Command   string            `json:"command,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Cwd       string            `json:"cwd,omitempty"`
	URL       string            `json:"url,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Transport string            `json:"transport,omitempty"` // "" (stdio for command, streamable HTTP for url), "stdio", "http"/"streamable-http"/"shttp", "sse"
	Timeout   float64           `json:"timeout,omitempty"`   // seconds per call; default 120
	// Auth is upstream's credentials object for a remote server.
	Auth *Auth `json:"auth,omitempty"`
	// Enabled false keeps a server configured but not connected, as
	// upstream's settings allow; absent means enabled.
	Enabled *bool `json:"enabled,omitempty"`
}

// Config is an mcpServers map.
type Config struct {
	Servers map[string]ServerConfig `json:"mcpServers"`
}

// Empty reports whether c names no server that would be connected.
func (c Config) Empty() bool {
	for _, s := range c.Servers {
		if s.enabled() {
			return false
		}
	}
	return true
}

// Names returns the servers' names in order.
func (c Config) Names() []string {
	names := make([]string, 0, len(c.Servers))
	for n := range c.Servers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s ServerConfig) enabled() bool { return s.Enabled == nil || *s.Enabled }

// Kind returns the server's transport: TransportStdio, TransportHTTP or
// TransportSSE. It is meaningful for a validated config.
func (s ServerConfig) Kind() string {
	switch strings.ToLower(s.Transport) {
	case "":
		if s.Command != "" {
			return TransportStdio
		}
		return TransportHTTP
	case "stdio":
		return TransportStdio
	case "http", "streamable-http", "streamable_http", "shttp":
		return TransportHTTP
	case "sse":
		return TransportSSE
	}
	return ""
}

// CallTimeout returns the server's per-call timeout.
func (s ServerConfig) CallTimeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(s.Timeout * float64(time.Second))
}

var serverName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// maxServerName bounds a server's name so that "<server>_<tool>" stays readable.
const maxServerName = 64

// Validate reports what is wrong with the server called name, if anything.
// ParseConfig calls it for every server; a caller building a ServerConfig by
// hand calls it too.
func (s ServerConfig) Validate(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("MCP server %q: %s", name, fmt.Sprintf(format, a...))
	}
	switch {
	case s.Command == "" && s.URL == "":
		return fail("needs either \"command\" (a stdio server) or \"url\" (a remote server)")
	case s.Command != "" && s.URL != "":
		return fail("has both \"command\" and \"url\"; give one")
	}
	kind := s.Kind()
	switch {
	case kind == "":
		return fail("unknown transport %q (want stdio, http, streamable-http, shttp or sse)", s.Transport)
	case kind == TransportStdio && s.Command == "":
		return fail("transport stdio needs \"command\"")
	case kind != TransportStdio && s.URL == "":
		return fail("transport %s needs \"url\"", s.Transport)
	}
	if strings.TrimSpace(s.Command) != s.Command && s.Command != "" {
		return fail("command %q has leading or trailing spaces", s.Command)
	}
	if s.URL != "" {
		// A url holding ${SECRET} is checked again after Expand.
		if err := checkURL(s.URL); err != nil && !strings.Contains(s.URL, "$") {
			return fail("%v", err)
		}
	}
	if math.IsNaN(s.Timeout) || math.IsInf(s.Timeout, 0) || s.Timeout < 0 {
		return fail("timeout must be a positive number of seconds")
	}
	if s.Timeout > 24*3600 {
		return fail("timeout %g s is over a day", s.Timeout)
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fail("env name %q is not a valid variable name", k)
		}
	}
	for k, v := range s.Headers {
		if !httpguts.ValidHeaderFieldName(k) {
			return fail("header name %q is not valid", k)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return fail("header %q has a value with control characters", k)
		}
	}
	if s.Auth != nil {
		if kind == TransportStdio {
			return fail("\"auth\" is for url servers; give a stdio server its credentials in \"env\"")
		}
		if err := s.Auth.validate(); err != nil {
			return fail("%v", err)
		}
		if hasAuthorization(s.Headers) && s.Auth.Strategy != "none" {
			return fail("\"auth\" cannot be combined with an Authorization header; use auth strategy \"header\"")
		}
	}
	if s.Cwd != "" && strings.ContainsRune(s.Cwd, 0) {
		return fail("cwd has a NUL byte")
	}
	return nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("MCP server name is empty")
	case len(name) > maxServerName:
		return fmt.Errorf("MCP server name %.20q... is over %d characters", name, maxServerName)
	case !serverName.MatchString(name):
		return fmt.Errorf("MCP server name %q may hold only letters, digits, '_', '.' and '-'", name)
	}
	return nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q is not http(s)", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("url %q has no host", raw)
	}
	return nil
}

// ParseConfig reads an mcpServers configuration: {"mcpServers": {...}} as
// MCP clients write it, or the bare map of servers that upstream also
// accepts. Upstream's "type" is read as "transport" and fields GoHands does
// not use (description, icon, ...) are ignored, as upstream ignores unknown
// ones. Every server is validated; the error names the first bad one.
func ParseConfig(raw []byte) (Config, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return Config{}, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return Config{}, fmt.Errorf("MCP config: %w", err)
	}
	servers := top
	if inner, ok := top["mcpServers"]; ok {
		servers = nil
		if err := json.Unmarshal(inner, &servers); err != nil {
			return Config{}, fmt.Errorf("MCP config: mcpServers: %w", err)
		}
	}
	cfg := Config{Servers: make(map[string]ServerConfig, len(servers))}
	for name, body := range servers {
		s, err := parseServer(body)
		if err != nil {
			return Config{}, fmt.Errorf("MCP server %q: %w", name, err)
		}
		if err := s.Validate(name); err != nil {
			return Config{}, err
		}
		cfg.Servers[name] = s
	}
	return cfg, nil
}

// wireServer is a server as written, with upstream's spellings.
type wireServer struct {
	ServerConfig
	Type string `json:"type,omitempty"`
}

func parseServer(body json.RawMessage) (ServerConfig, error) {
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return ServerConfig{}, errors.New("is null")
	}
	var w wireServer
	if err := json.Unmarshal(body, &w); err != nil {
		return ServerConfig{}, err
	}
	s := w.ServerConfig
	if s.Transport == "" {
		s.Transport = w.Type
	}
	return s, nil
}

// Merge returns c with the servers of over added; a server of over replaces
// c's server of the same name.
func (c Config) Merge(over Config) Config {
	out := Config{Servers: make(map[string]ServerConfig, len(c.Servers)+len(over.Servers))}
	for n, s := range c.Servers {
		out.Servers[n] = s
	}
	for n, s := range over.Servers {
		out.Servers[n] = s
	}
	return out
}
