// Command brokenserver is an MCP server over stdio that misbehaves on
// purpose, for mcpclient's tests: by -mode it never answers initialize or
// prints garbage; otherwise it serves tools that send a huge result, exit
// mid-call, sleep past a timeout, change the tool list, and lists tools
// whose schemas or names cannot be offered.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type config struct {
	mode     string
	bigBytes int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.mode, "mode", "serve", "serve, hang (never answer initialize) or garbage (print non-JSON on stdout)")
	flag.IntVar(&cfg.bigBytes, "big", 50<<20, "bytes of text the big tool returns")
	flag.Parse()
	if err := run(context.Background(), cfg); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg config) error {
	fmt.Fprintln(os.Stderr, "brokenserver starting in mode", cfg.mode)
	switch cfg.mode {
	case "hang":
		_, err := io.Copy(io.Discard, os.Stdin) // reads everything, answers nothing
		return err
	case "garbage":
		fmt.Println("Welcome to brokenserver! This is not JSON.")
		_, err := io.Copy(io.Discard, os.Stdin)
		return err
	case "exit":
		fmt.Fprintln(os.Stderr, "brokenserver: missing configuration, giving up")
		os.Exit(2)
	}
	return serve(ctx, cfg)
}

type echoArgs struct {
	Text string `json:"text"`
}

type sleepArgs struct {
	Seconds float64 `json:"seconds"`
}

func serve(ctx context.Context, cfg config) error {
	server := mcp.NewServer(&mcp.Implementation{Name: "brokenserver", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echoes text, with an image, audio and a resource link"},
		func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{
				&mcp.TextContent{Text: "echo: " + a.Text},
				&mcp.ImageContent{MIMEType: "image/png", Data: []byte("\x89PNG fake")},
				&mcp.AudioContent{MIMEType: "audio/wav", Data: []byte("RIFF")},
				&mcp.ResourceLink{URI: "file:///tmp/x.txt", Name: "x.txt"},
			}}, map[string]any{"echoed": a.Text}, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "big", Description: "returns a huge text"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			text := "HEAD" + strings.Repeat("x", cfg.bigBytes-8) + "TAIL"
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "crash", Description: "exits in the middle of the call"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			fmt.Fprintln(os.Stderr, "brokenserver: crashing on purpose")
			os.Exit(3)
			return nil, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "sleep", Description: "sleeps"},
		func(ctx context.Context, req *mcp.CallToolRequest, a sleepArgs) (*mcp.CallToolResult, any, error) {
			select {
			case <-time.After(time.Duration(a.Seconds * float64(time.Second))):
			case <-ctx.Done():
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "fail", Description: "reports an error"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, fmt.Errorf("the widget is broken")
		})
	mcp.AddTool(server, &mcp.Tool{Name: "add tool", Description: "adds a tool, which sends tools/list_changed"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			mcp.AddTool(server, &mcp.Tool{Name: "added", Description: "added later"},
				func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "I was added"}}}, nil, nil
				})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "added"}}}, nil, nil
		})
	// Tools the SDK's server would refuse to register, put straight into
	// the tools/list answer.
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if r, ok := res.(*mcp.ListToolsResult); ok && err == nil {
				r.Tools = append(r.Tools,
					&mcp.Tool{Name: "string schema", InputSchema: map[string]any{"type": "string"}},
					&mcp.Tool{Name: "huge schema", InputSchema: map[string]any{"type": "object", "description": strings.Repeat("d", 70<<10)}},
					&mcp.Tool{Name: "()", InputSchema: map[string]any{"type": "object"}},
				)
			}
			return res, err
		}
	})
	return server.Run(ctx, &mcp.StdioTransport{MaxLineLength: -1})
}
