package agentapitest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"sort"

	"github.com/gohands/gohands/agentapi"
)

// Program is the body of a fake program that StartProcess runs in the
// test's process: it reads its standard input from stdin until it ends,
// writes its output to stdout and its diagnostics to stderr, and returns
// its exit code. ctx ends when the process is stopped.
type Program func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

// process is a Program running for StartProcess.
type process struct {
	info     agentapi.ProcessInfo
	stderr   []byte
	cancel   context.CancelFunc
	stdinW   *io.PipeWriter
	stdoutR  *io.PipeReader
	attached bool
}

// StartProcess runs the Program of Programs named by spec.Argv[0] (its
// base name); any other is not installed.
func (a *Agent) StartProcess(_ context.Context, spec agentapi.ProcessSpec) (agentapi.ProcessInfo, error) {
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return agentapi.ProcessInfo{}, bad("argv: missing")
	}
	prog, ok := a.Programs[path.Base(spec.Argv[0])]
	if !ok {
		return agentapi.ProcessInfo{}, &agentapi.HTTPError{Status: agentapi.ProgramNotFound, Detail: fmt.Sprintf("no such program %q in the sandbox", spec.Argv[0])}
	}
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.procs == nil {
		a.procs = make(map[string]*process)
	}
	a.procSeq++
	p := &process{
		info:    agentapi.ProcessInfo{ID: fmt.Sprintf("p%04d", a.procSeq), Name: cmp.Or(spec.Name, path.Base(spec.Argv[0])), PID: 1000 + a.procSeq, Running: true},
		cancel:  cancel,
		stdinW:  stdinW,
		stdoutR: stdoutR,
	}
	a.procs[p.info.ID] = p
	go func() {
		code := prog(ctx, spec.Argv[1:], stdinR, stdoutW, stderrWriter{a, p})
		stdoutW.Close()
		stdinR.Close()
		a.mu.Lock()
		p.info.Running, p.info.ExitCode = false, code
		a.mu.Unlock()
	}()
	return p.snapshot(), nil
}

// snapshot is p's info with its stderr; the caller holds a.mu.
func (p *process) snapshot() agentapi.ProcessInfo {
	info := p.info
	info.Stderr = string(p.stderr)
	return info
}

// stderrWriter keeps the last MaxProcessStderr bytes a program writes.
type stderrWriter struct {
	a *Agent
	p *process
}

func (w stderrWriter) Write(b []byte) (int, error) {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	w.p.stderr = append(w.p.stderr, b...)
	if over := len(w.p.stderr) - agentapi.MaxProcessStderr; over > 0 {
		w.p.stderr = append([]byte(nil), w.p.stderr[over:]...)
	}
	return len(b), nil
}

func (a *Agent) process(id string) (*process, error) {
	p, ok := a.procs[id]
	if !ok {
		return nil, &agentapi.HTTPError{Status: http.StatusNotFound, Detail: fmt.Sprintf("process %q does not exist", id)}
	}
	return p, nil
}

// Process describes a process.
func (a *Agent) Process(_ context.Context, id string) (agentapi.ProcessInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, err := a.process(id)
	if err != nil {
		return agentapi.ProcessInfo{}, err
	}
	return p.snapshot(), nil
}

// Processes lists the processes in the order they started.
func (a *Agent) Processes(_ context.Context) ([]agentapi.ProcessInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]agentapi.ProcessInfo, 0, len(a.procs))
	for _, p := range a.procs {
		out = append(out, p.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// StopProcess ends a process's context and pipes and forgets it.
func (a *Agent) StopProcess(_ context.Context, id string) error {
	a.mu.Lock()
	p, err := a.process(id)
	delete(a.procs, id)
	a.mu.Unlock()
	if err != nil {
		return err
	}
	p.cancel()
	p.stdinW.Close()
	p.stdoutR.Close()
	return nil
}

// AttachProcess connects to a process's standard input and output, once.
func (a *Agent) AttachProcess(_ context.Context, id string) (io.ReadWriteCloser, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, err := a.process(id)
	if err != nil {
		return nil, err
	}
	if p.attached {
		return nil, &agentapi.HTTPError{Status: http.StatusConflict, Detail: fmt.Sprintf("process %q is attached already", id)}
	}
	p.attached = true
	return attachment{p.stdoutR, p.stdinW}, nil
}

// attachment reads a program's output and writes its input; Close ends
// its input.
type attachment struct {
	*io.PipeReader
	w *io.PipeWriter
}

func (s attachment) Write(b []byte) (int, error) { return s.w.Write(b) }

// CloseWrite ends the program's input and leaves its output readable.
func (s attachment) CloseWrite() error { return s.w.Close() }

func (s attachment) Close() error {
	s.w.Close()
	return s.PipeReader.Close()
}

// Dial connects through Dialer; with none, every address is unreachable
// from the sandbox, as with no network.
func (a *Agent) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if a.Dialer == nil {
		return nil, &agentapi.HTTPError{Status: http.StatusBadGateway, Detail: fmt.Sprintf("dial %s %s from the sandbox: network is unreachable", network, address)}
	}
	return a.Dialer(ctx, network, address)
}
