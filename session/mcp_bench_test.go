package session

import (
	"encoding/json"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// BenchmarkMCPCall measures one call of the everything server's greet:
// made directly with the SDK's client over the program's stdio, and made
// through GoHands (the conversation's MCP servers: the runtime-agent's
// attached stdio, the MCP client, the result turned into content), the
// program running in the in-memory sandbox in both. p50-ns is the median
// call; compare the two in the same run.
func BenchmarkMCPCall(b *testing.B) {
	bin, err := everythingServer()
	if err != nil {
		b.Fatalf("build the everything MCP server: %v", err)
	}
	args := json.RawMessage(`{"name":"bench"}`)

	b.Run("sdk-direct", func(b *testing.B) {
		ctx := b.Context()
		client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: exec.Command(bin)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		var times []time.Duration
		b.ResetTimer()
		for b.Loop() {
			start := time.Now()
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: args}); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		reportMedian(b, times)
	})

	b.Run("gohands", func(b *testing.B) {
		ctx := b.Context()
		be := sandboxtest.New(b)
		m, err := New(Options{Store: openStore(b), Sandboxes: be})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close(ctx) })
		cfg := json.RawMessage(`{"mcpServers":{"everything":{"command":"` + bin + `"}}}`)
		a, _, err := m.Create(ctx, CreateRequest{Agent: &Agent{MCPConfig: cfg}})
		if err != nil {
			b.Fatal(err)
		}
		servers, err := a.ToolWorkspace().MCP(ctx)
		if err != nil || servers == nil {
			b.Fatal(servers, err)
		}
		var times []time.Duration
		b.ResetTimer()
		for b.Loop() {
			start := time.Now()
			if r := servers.Call(ctx, "greet", args); r.IsError {
				b.Fatal(r.Content.Text())
			}
			times = append(times, time.Since(start))
		}
		reportMedian(b, times)
	})
}

func reportMedian(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
}
