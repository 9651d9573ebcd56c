package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi/agentapitest"
)

// TestSandboxPathRules checks sandboxPath's rules without a sandbox, on an
// in-memory tree (the Docker tests in workspace_test.go replay them on a
// real agent).
func TestSandboxPathRules(t *testing.T) {
	t.Parallel()
	fs := agentapitest.NewFiles()
	fs.Put("/workspace/a.txt", "a\n")
	fs.Put("/workspace/src/main.go", "package main\n")
	fs.Put("/outside/secret.txt", "s\n")
	fs.Link("/workspace/link", "/outside")
	fs.Link("/workspace/rel", "..")
	fs.Link("/workspace/chain", "link")
	fs.Link("/workspace/inner", "src")
	fs.Link("/workspace/dangling", "/outside/new.txt")
	tests := []struct {
		path   string
		want   string // the path returned; "" when refused
		status int    // the status of a refusal
	}{
		{"a.txt", "/workspace/a.txt", 0},
		{"/workspace/src/../a.txt", "/workspace/a.txt", 0},
		{"src/new/deeper.go", "/workspace/src/new/deeper.go", 0},
		{"inner/main.go", "/workspace/inner/main.go", 0},
		{"/etc/passwd", "/etc/passwd", 0},
		{"../outside/secret.txt", "", http.StatusBadRequest},
		{"link/secret.txt", "", http.StatusBadRequest},
		{"link/new.txt", "", http.StatusBadRequest},
		{"/workspace/link", "", http.StatusBadRequest},
		{"rel/outside/secret.txt", "", http.StatusBadRequest},
		{"chain/secret.txt", "", http.StatusBadRequest},
		{"dangling", "", http.StatusBadRequest},
		{"a.txt\x00.png", "", http.StatusBadRequest},
		{strings.Repeat("a", 4097), "", http.StatusBadRequest},
		{"", "", http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		got, err := sandboxPath(context.Background(), fs, "/workspace", tt.path)
		var ae *apiError
		switch {
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("sandboxPath(%.40q) = %q, %v; want %q", tt.path, got, err, tt.want)
		case tt.want == "" && (!errors.As(err, &ae) || ae.status != tt.status):
			t.Errorf("sandboxPath(%.40q) = %q, %v; want a refusal with %d", tt.path, got, err, tt.status)
		}
	}
}
