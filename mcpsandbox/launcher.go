// Package mcpsandbox starts a conversation's MCP servers in its sandbox,
// through the sandbox's runtime-agent: a stdio server is a process of the
// agent whose stdin and stdout are attached over the agent's connection,
// and a remote server is dialled from inside the sandbox. It is the
// Launcher the MCP client (package mcpclient) is given, so that nothing
// of a server runs on the GoHands host.
package mcpsandbox

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/mcpclient"
)

// Launcher starts MCP servers in one sandbox through its runtime-agent. A
// remote server is dialled from the sandbox (its network rules apply)
// unless the launcher is direct: then the GoHands server dials it itself.
type Launcher struct {
	cl     *agentapi.Client
	direct bool
}

var _ mcpclient.Launcher = (*Launcher)(nil)

// New returns the Launcher of the sandbox whose agent cl reaches.
func New(cl *agentapi.Client, direct bool) *Launcher { return &Launcher{cl: cl, direct: direct} }

// stopTimeout bounds stopping a server's process when its connection ends.
const stopTimeout = 5 * time.Second

// Start runs cfg's command in the sandbox. ctx bounds the program's life.
func (l *Launcher) Start(ctx context.Context, server string, cfg mcpclient.ServerConfig) (mcpclient.Process, error) {
	if l.cl == nil {
		return nil, fmt.Errorf("the sandbox cannot be reached")
	}
	info, err := l.cl.StartProcess(ctx, agentapi.ProcessSpec{Name: "mcp-" + server,
		Argv: append([]string{cfg.Command}, cfg.Args...), Env: cfg.Env, Dir: cfg.Cwd})
	if err != nil {
		return nil, fmt.Errorf("start in the sandbox: %w", err)
	}
	stdio, err := l.cl.AttachProcess(ctx, info.ID)
	if err != nil {
		l.stop(info.ID)
		return nil, fmt.Errorf("attach to the program in the sandbox: %w", err)
	}
	p := &process{l: l, id: info.ID, stdio: stdio}
	context.AfterFunc(ctx, func() { p.Close() })
	return p, nil
}

func (l *Launcher) stop(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	l.cl.StopProcess(ctx, id)
}

// HTTPClient dials remote servers from the sandbox, or directly when the
// server is set so.
func (l *Launcher) HTTPClient() *http.Client {
	if l.direct || l.cl == nil {
		return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // the sandbox's network view, not the server's proxy settings
	t.DialContext = l.cl.Dial
	return &http.Client{Transport: t}
}

// process is a stdio server's program in the sandbox.
type process struct {
	l     *Launcher
	id    string
	stdio io.ReadWriteCloser
	once  sync.Once
}

func (p *process) Read(b []byte) (int, error)  { return p.stdio.Read(b) }
func (p *process) Write(b []byte) (int, error) { return p.stdio.Write(b) }

// Close ends the attachment and the program.
func (p *process) Close() error {
	var err error
	p.once.Do(func() {
		err = p.stdio.Close()
		p.l.stop(p.id)
	})
	return err
}

// Stderr returns the end of what the program wrote to stderr, as the
// agent keeps it.
func (p *process) Stderr() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := p.l.cl.Process(ctx, p.id)
	if err != nil {
		return ""
	}
	return info.Stderr
}
