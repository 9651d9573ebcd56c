package mcpclient

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Process is a stdio server's program running in the sandbox: its stdin
// (Write) and stdout (Read), Close to end it, and its stderr so far.
// Read returns an error (io.EOF) once the program has exited, so that a
// dead server is seen; Close ends the program and may be called more than
// once. Stderr should keep a bounded tail: some servers log every message.
type Process interface {
	io.ReadWriteCloser
	Stderr() string
}

// Launcher starts what the servers need where they must run (the sandbox).
type Launcher interface {
	// Start runs cfg's command with its args, env and cwd. ctx bounds the
	// start and the program's life: when it is done the program may be
	// ended.
	Start(ctx context.Context, server string, cfg ServerConfig) (Process, error)
	// HTTPClient is the client for url servers: it dials from the
	// sandbox's network view.
	HTTPClient() *http.Client
}

// MaxMessage bounds one message from a server, on any transport: a larger
// one ends the connection with an error rather than exhausting memory.
const MaxMessage = 64 << 20

// pipe is a Process as the SDK's transport holds it: Close ends the program
// once however often it is called, and the bytes written are counted so a
// failed call can tell whether any of it reached the server.
type pipe struct {
	Process
	once     sync.Once
	closeErr error
	written  atomic.Int64
}

func (p *pipe) Write(b []byte) (int, error) {
	n, err := p.Process.Write(b)
	p.written.Add(int64(n))
	return n, err
}

func (p *pipe) Close() error {
	p.once.Do(func() { p.closeErr = p.Process.Close() })
	return p.closeErr
}

// transport returns the SDK transport for a remote server: the launcher's
// HTTP client with the configured headers on every request.
func remoteTransport(cfg ServerConfig, l Launcher) mcp.Transport {
	var base *http.Client
	if l != nil {
		base = l.HTTPClient()
	}
	client := &http.Client{}
	if base != nil {
		c := *base
		client = &c
	}
	// A whole-request timeout would end the long-lived event streams;
	// calls are bounded by their contexts instead.
	client.Timeout = 0
	if headers := cfg.RequestHeaders(); len(headers) > 0 {
		rt := client.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		client.Transport = headerTransport{base: rt, headers: headers}
	}
	if cfg.Kind() == TransportSSE {
		return &mcp.SSEClientTransport{Endpoint: cfg.URL, HTTPClient: client, MaxEventSize: MaxMessage}
	}
	return &mcp.StreamableClientTransport{Endpoint: cfg.URL, HTTPClient: client, MaxEventSize: MaxMessage}
}

// headerTransport adds a server's configured headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.base.RoundTrip(r)
}
