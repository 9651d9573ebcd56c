package session

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi/agentapitest"
)

// TestWorkspacePathRules checks ResolveWorkspacePath's rules without a
// sandbox, on an in-memory tree (the Docker tests in the server's
// workspace_test.go replay them on a real agent, with their statuses).
func TestWorkspacePathRules(t *testing.T) {
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
		path string
		want string // the path returned; "" when refused
		kind Kind   // the kind of a refusal (KindRejected is answered 400, KindInvalid 422)
	}{
		{"a.txt", "/workspace/a.txt", 0},
		{"/workspace/src/../a.txt", "/workspace/a.txt", 0},
		{"src/new/deeper.go", "/workspace/src/new/deeper.go", 0},
		{"inner/main.go", "/workspace/inner/main.go", 0},
		{"/etc/passwd", "/etc/passwd", 0},
		{"../outside/secret.txt", "", KindRejected},
		{"link/secret.txt", "", KindRejected},
		{"link/new.txt", "", KindRejected},
		{"/workspace/link", "", KindRejected},
		{"rel/outside/secret.txt", "", KindRejected},
		{"chain/secret.txt", "", KindRejected},
		{"dangling", "", KindRejected},
		{"a.txt\x00.png", "", KindRejected},
		{strings.Repeat("a", 4097), "", KindRejected},
		{"", "", KindInvalid},
	}
	for _, tt := range tests {
		got, err := ResolveWorkspacePath(context.Background(), fs, "/workspace", tt.path)
		var se *Error
		switch {
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("ResolveWorkspacePath(%.40q) = %q, %v; want %q", tt.path, got, err, tt.want)
		case tt.want == "" && (!errors.As(err, &se) || se.Kind != tt.kind):
			t.Errorf("ResolveWorkspacePath(%.40q) = %q, %v; want a refusal of kind %v", tt.path, got, err, tt.kind)
		}
	}
}
