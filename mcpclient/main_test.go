package mcpclient_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/mcpclient"
)

// bins holds the servers TestMain builds once per run: the Go SDK's own
// example server and this package's broken one.
var bins struct {
	everything string
	broken     string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run() // fuzzing runs no test that needs a server
	}
	dir, err := os.MkdirTemp("", "mcpclient-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins.everything = filepath.Join(dir, "everything")
	bins.broken = filepath.Join(dir, "broken")
	for out, pkg := range map[string]string{
		bins.everything: "github.com/modelcontextprotocol/go-sdk/examples/server/everything",
		bins.broken:     "github.com/gohands/gohands/mcpclient/internal/brokenserver",
	} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			return 1
		}
	}
	return m.Run()
}

// hostLauncher runs stdio servers on the host with os/exec and dials url
// servers directly: what the runtime agent does in a sandbox, without one.
type hostLauncher struct {
	mu       sync.Mutex
	procs    []*hostProcess
	requests []http.Header // headers of every HTTP request made
}

func (l *hostLauncher) Start(ctx context.Context, server string, cfg mcpclient.ServerConfig) (mcpclient.Process, error) {
	cmd := exec.Command(cfg.Command, cfg.Args...)
	cmd.Dir = cfg.Cwd
	cmd.Env = os.Environ()
	for k, v := range cfg.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// Our own pipe, so that reads see EOF when the program exits rather
	// than racing with Wait closing StdoutPipe's.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &hostProcess{cmd: cmd, stdin: stdin, stdout: r, exited: make(chan struct{})}
	cmd.Stdout = w
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	context.AfterFunc(ctx, func() { p.Close() })
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

func (l *hostLauncher) HTTPClient() *http.Client {
	return &http.Client{Transport: recorder{l}}
}

func (l *hostLauncher) started() []*hostProcess {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*hostProcess(nil), l.procs...)
}

func (l *hostLauncher) headers() []http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]http.Header(nil), l.requests...)
}

type recorder struct{ l *hostLauncher }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.l.mu.Lock()
	r.l.requests = append(r.l.requests, req.Header.Clone())
	r.l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

type hostProcess struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *os.File
	stderr  tailBuffer
	exited  chan struct{}
	waitErr error
	once    sync.Once
}

func (p *hostProcess) Read(b []byte) (int, error)  { return p.stdout.Read(b) }
func (p *hostProcess) Write(b []byte) (int, error) { return p.stdin.Write(b) }
func (p *hostProcess) Stderr() string              { return p.stderr.String() }

// Close closes stdin, gives the program a moment to exit and kills it if it
// has not.
func (p *hostProcess) Close() error {
	p.once.Do(func() {
		p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(2 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		p.stdout.Close()
	})
	return nil
}

func (p *hostProcess) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// tailBuffer keeps the last 64 to 128 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 128<<10 { // trimmed now and then, not on every write
		b.buf = append([]byte(nil), b.buf[len(b.buf)-64<<10:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.Clone(b.buf))
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startEverythingHTTP runs the SDK's example server over streamable HTTP on
// loopback and returns its URL once it answers.
func startEverythingHTTP(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bins.everything, "-http", addr)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("everything -http %s did not listen: %v\n%s", addr, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func toolNames(tools []mcpclient.Tool) []string {
	var names []string
	for _, t := range tools {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return names
}

func findTool(t *testing.T, s *mcpclient.Set, name string) mcpclient.Tool {
	t.Helper()
	for _, tool := range s.Tools() {
		if tool.Name == name {
			return tool
		}
	}
	t.Fatalf("no tool %q in %v", name, toolNames(s.Tools()))
	return mcpclient.Tool{}
}

func connect(t *testing.T, cfg mcpclient.Config, opts mcpclient.Options) (*mcpclient.Set, []mcpclient.Warning) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, warnings := mcpclient.Connect(ctx, cfg, opts)
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Close: %v", err)
		}
	})
	return s, warnings
}

func stdio(command string, args ...string) mcpclient.ServerConfig {
	return mcpclient.ServerConfig{Command: command, Args: args}
}
