package agentd

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentd/terminal"
)

// outputGrace is how long an attachment may still read a program's
// standard output after the program exited, for what it wrote last; a
// program it started outside its process group may hold the pipe open
// for longer, and the stream ends regardless.
const outputGrace = 2 * time.Second

// process is a long-lived program started by POST /processes, whose
// standard input and output wait for an attachment.
type process struct {
	id, name string
	seq      int // start order, for listings
	pid      int
	stdin    *os.File // the write end of the program's standard input
	stdout   *os.File // the read end of its standard output
	stderr   *ring
	errPipe  *os.File      // the read end of its standard error
	errDone  chan struct{} // closed once its standard error is read to the end
	done     chan struct{} // closed once it exited and its status is known

	mu       sync.Mutex
	running  bool
	exitCode int
	attached bool // an attachment holds stdin and stdout now
	detached bool // an attachment ended, and with it the program's stdin
}

func (p *process) info() agentapi.ProcessInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return agentapi.ProcessInfo{ID: p.id, Name: p.name, PID: p.pid, Running: p.running, ExitCode: p.exitCode, Stderr: p.stderr.String()}
}

// credential is the sandbox user's, for the programs the agent starts; nil
// runs them as the agent.
func (s *Server) credential() *syscall.Credential {
	if s.cfg.UID < 0 || s.cfg.UID == os.Getuid() {
		return nil
	}
	gid := s.cfg.GID
	if gid < 0 {
		gid = s.cfg.UID
	}
	return &syscall.Credential{Uid: uint32(s.cfg.UID), Gid: uint32(gid), Groups: []uint32{}}
}

// kill ends the program's process group.
func (p *process) kill() {
	syscall.Kill(-p.pid, syscall.SIGKILL)
}

// release closes the agent's ends of the program's pipes.
func (p *process) release() {
	p.stdin.Close()
	p.stdout.Close()
}

func (s *Server) processRoutes(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /processes", s.listProcesses)
	auth("POST /processes", s.startProcess)
	auth("GET /processes/{id}", s.getProcess)
	auth("DELETE /processes/{id}", s.stopProcess)
	auth("GET /processes/{id}/stdio", s.attachProcess)
	auth("GET /dial", s.dial)
}

func (s *Server) startProcess(w http.ResponseWriter, r *http.Request) error {
	var spec agentapi.ProcessSpec
	if err := s.decode(r, &spec); err != nil {
		return err
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return errorf(http.StatusBadRequest, "argv: missing: give the program and its arguments")
	}
	if len(spec.Name) > 128 || strings.ContainsFunc(spec.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return errorf(http.StatusBadRequest, "name: at most 128 printable characters")
	}
	env := append([]string(nil), s.cfg.Env...)
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(spec.Env[k], 0) {
			return errorf(http.StatusBadRequest, "env: bad variable %q: a name holds no '=' or NUL, a value no NUL", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+spec.Env[k]) // the last of a name wins
	}
	dir := cmp.Or(spec.Dir, s.cfg.WorkDir)
	path, err := lookProgram(spec.Argv[0], dir, env)
	if err != nil {
		return errorf(agentapi.ProgramNotFound, "no such program %q in the sandbox: %v", spec.Argv[0], err)
	}
	p, err := s.spawn(spec, path, dir, env)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p.info())
	return nil
}

// spawn starts the program if a slot is free and registers it.
func (s *Server) spawn(spec agentapi.ProcessSpec, path, dir string, env []string) (*process, error) {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	if s.isClosed() {
		return nil, errorf(http.StatusServiceUnavailable, "agent is shutting down")
	}
	running := 0
	for _, p := range s.procs {
		if p.info().Running {
			running++
		}
	}
	if running >= s.cfg.MaxProcesses {
		return nil, errorf(http.StatusTooManyRequests, "too many processes running (%d): stop one first", s.cfg.MaxProcesses)
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, err
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		stdoutR.Close()
		stdoutW.Close()
		return nil, err
	}
	// Every stream is a file, so exec copies none and Wait returns as soon
	// as the program exits.
	cmd := &exec.Cmd{Path: path, Args: spec.Argv, Dir: dir, Env: env, Stdin: stdinR, Stdout: stdoutW, Stderr: stderrW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.credential()}
	started := time.Now()
	err = cmd.Start()
	stdinR.Close()
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdinW.Close()
		stdoutR.Close()
		stderrR.Close()
		return nil, errorf(http.StatusBadRequest, "start %s: %v", spec.Argv[0], err)
	}
	s.procSeq++
	p := &process{
		id:      newProcessID(),
		name:    cmp.Or(spec.Name, filepath.Base(spec.Argv[0])),
		seq:     s.procSeq,
		pid:     cmd.Process.Pid,
		stdin:   stdinW,
		stdout:  stdoutR,
		stderr:  &ring{size: agentapi.MaxProcessStderr},
		errPipe: stderrR,
		errDone: make(chan struct{}),
		done:    make(chan struct{}),
		running: true,
	}
	s.procs[p.id] = p
	s.procWG.Add(2)
	go func() {
		defer s.procWG.Done()
		defer close(p.errDone)
		defer stderrR.Close()
		io.Copy(p.stderr, stderrR)
	}()
	go func() {
		defer s.procWG.Done()
		s.wait(p, cmd, started)
	}()
	return p, nil
}

// wait waits for the program to exit, records its status, and ends what it
// left behind in its process group, so that its output ends too.
func (s *Server) wait(p *process, cmd *exec.Cmd, started time.Time) {
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = exitCode(ee.Sys().(syscall.WaitStatus))
	case errors.Is(err, syscall.ECHILD):
		// As PID 1 the agent's reaper may have collected the program first.
		if ws, ok := terminal.ReapedStatus(p.pid, started); ok {
			code = exitCode(ws)
		} else {
			code = -1
		}
	case err != nil:
		code = -1
	}
	p.kill()
	p.stdout.SetReadDeadline(time.Now().Add(outputGrace))
	p.errPipe.SetReadDeadline(time.Now().Add(outputGrace))
	// What it wrote to standard error before it ended belongs to its exit
	// status; the deadline bounds the wait for a descendant that holds the
	// pipe open.
	<-p.errDone
	p.mu.Lock()
	p.running, p.exitCode = false, code
	p.mu.Unlock()
	close(p.done)
	s.log.Info("process exited", "id", p.id, "name", p.name, "pid", p.pid, "exit_code", code)
	s.pruneProcesses()
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// pruneProcesses forgets the oldest exited processes past MaxProcesses of
// them, so that a program restarted again and again cannot grow the list.
func (s *Server) pruneProcesses() {
	s.procMu.Lock()
	var exited []*process
	for _, p := range s.procs {
		if !p.info().Running {
			exited = append(exited, p)
		}
	}
	sort.Slice(exited, func(i, j int) bool { return exited[i].seq < exited[j].seq })
	var gone []*process
	for len(exited) > s.cfg.MaxProcesses {
		gone = append(gone, exited[0])
		delete(s.procs, exited[0].id)
		exited = exited[1:]
	}
	s.procMu.Unlock()
	for _, p := range gone {
		p.release()
	}
}

func (s *Server) process(id string) (*process, error) {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	p, ok := s.procs[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "process %q does not exist", id)
	}
	return p, nil
}

func (s *Server) listProcesses(w http.ResponseWriter, r *http.Request) error {
	s.procMu.Lock()
	ps := make([]*process, 0, len(s.procs))
	for _, p := range s.procs {
		ps = append(ps, p)
	}
	s.procMu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].seq < ps[j].seq })
	out := make([]agentapi.ProcessInfo, len(ps))
	for i, p := range ps {
		out[i] = p.info()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getProcess(w http.ResponseWriter, r *http.Request) error {
	p, err := s.process(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.info())
	return nil
}

func (s *Server) stopProcess(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	s.procMu.Lock()
	p, ok := s.procs[id]
	delete(s.procs, id)
	s.procMu.Unlock()
	if !ok {
		return errorf(http.StatusNotFound, "process %q does not exist", id)
	}
	stop(p)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stop kills a process's group, waits a moment for its status, and
// releases its pipes, which ends an attachment.
func stop(p *process) {
	p.kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	p.release()
}

// attachProcess upgrades the connection into the process's standard input
// and output.
func (s *Server) attachProcess(w http.ResponseWriter, r *http.Request) error {
	if err := wantUpgrade(r, agentapi.StdioProtocol); err != nil {
		return err
	}
	p, err := s.process(r.PathValue("id"))
	if err != nil {
		return err
	}
	p.mu.Lock()
	switch {
	case p.attached:
		p.mu.Unlock()
		return errorf(http.StatusConflict, "process %q is attached already: one attachment at a time", p.id)
	case p.detached:
		p.mu.Unlock()
		return errorf(http.StatusConflict, "process %q had an attachment, whose end closed the program's standard input: start it again", p.id)
	}
	p.attached = true
	p.mu.Unlock()
	conn, in, ok := s.hijack(w, agentapi.StdioProtocol)
	p.mu.Lock()
	p.attached = ok
	p.detached = ok
	p.mu.Unlock()
	if !ok {
		return nil
	}
	defer s.unhijack(conn)
	defer func() {
		p.mu.Lock()
		p.attached = false
		p.mu.Unlock()
	}()
	relayStdio(conn, in, p.stdin, p.stdout, p.done)
	return nil
}

func newProcessID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "p" + hex.EncodeToString(b)
}

// lookProgram finds the program name runs: a path (relative to dir) or a
// name looked up in the PATH of env.
func lookProgram(name, dir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return exec.LookPath(name)
	}
	path := os.Getenv("PATH")
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" || !filepath.IsAbs(d) {
			continue // a relative PATH entry would depend on the agent's folder
		}
		if found, err := exec.LookPath(filepath.Join(d, name)); err == nil {
			return found, nil
		}
	}
	return "", errors.New("not found in PATH")
}

// ring keeps the last size bytes written to it.
type ring struct {
	mu   sync.Mutex
	size int
	buf  []byte
	cut  bool // bytes were dropped from the front
}

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	if len(r.buf) > 2*r.size {
		r.buf = append(r.buf[:0], r.buf[len(r.buf)-r.size:]...)
		r.cut = true
	}
	return len(p), nil
}

// String is the last size bytes, from the first whole UTF-8 character.
func (r *ring) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buf
	if len(b) > r.size {
		b = b[len(b)-r.size:]
	}
	if r.cut || len(r.buf) > r.size {
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	return string(b)
}
