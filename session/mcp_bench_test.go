package session

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// BenchmarkMCPCall measures one call of the everything server's greet
// through GoHands (the conversation's MCP servers: the runtime-agent's
// attached stdio, the MCP client, the result turned into content) against
// the same call made directly with the SDK's client over the program's own
// stdio, in the same run, each iteration making one of each. Both
// programs run on this host (the in-memory sandbox's agent runs here), so
// the difference is what GoHands adds: added-p50-µs and x-sdk.
func BenchmarkMCPCall(b *testing.B) {
	bin, err := everythingServer()
	if err != nil {
		b.Fatalf("build the everything MCP server: %v", err)
	}
	ctx := b.Context()
	args := json.RawMessage(`{"name":"bench"}`)

	client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: exec.Command(bin)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()

	be := sandboxtest.New(b)
	m, err := New(Options{Store: openStore(b), Sandboxes: be})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(context.Background()) })
	cfg := json.RawMessage(`{"mcpServers":{"everything":{"command":"` + bin + `"}}}`)
	a, _, err := m.Create(ctx, CreateRequest{Agent: &Agent{MCPConfig: cfg}})
	if err != nil {
		b.Fatal(err)
	}
	servers, err := a.ToolWorkspace().MCP(ctx)
	if err != nil || servers == nil {
		b.Fatal(servers, err)
	}

	var direct, through []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: args}); err != nil {
			b.Fatal(err)
		}
		direct = append(direct, time.Since(start))
		start = time.Now()
		if r := servers.Call(ctx, "greet", args); r.IsError {
			b.Fatal(r.Content.Text())
		}
		through = append(through, time.Since(start))
	}
	d, g := median(direct), median(through)
	b.ReportMetric(float64(d.Microseconds()), "sdk-p50-µs")
	b.ReportMetric(float64(g.Microseconds()), "p50-µs")
	b.ReportMetric(float64((g - d).Microseconds()), "added-p50-µs")
	if d > 0 {
		b.ReportMetric(float64(g)/float64(d), "x-sdk")
	}
}

func median(times []time.Duration) time.Duration {
	if len(times) == 0 {
		return 0
	}
	slices.Sort(times)
	return times[len(times)/2]
}
