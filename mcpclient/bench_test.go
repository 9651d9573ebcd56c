package mcpclient_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/gohands/gohands/mcpclient"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkCall is one trivial tool call through a Set, to compare with
// BenchmarkSDKCall, the same call made with the SDK's client directly.
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	s, warnings := mcpclient.Connect(ctx, mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"everything": stdio(bins.everything)}}, mcpclient.Options{Launcher: &hostLauncher{}})
	if len(warnings) != 0 {
		b.Fatal(warnings)
	}
	defer s.Close()
	args := json.RawMessage(`{"name":"bench"}`)
	for b.Loop() {
		if r := s.Call(ctx, "greet", args); r.IsError {
			b.Fatal(r)
		}
	}
}

func BenchmarkSDKCall(b *testing.B) {
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	session, err := client.Connect(ctx, &mcp.CommandTransport{Command: exec.Command(bins.everything)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer session.Close()
	for b.Loop() {
		r, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "bench"}})
		if err != nil || r.IsError {
			b.Fatal(r, err)
		}
	}
}
