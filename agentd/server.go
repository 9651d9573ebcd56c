package agentd

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentd/files"
	"github.com/gohands/gohands/agentd/terminal"
)

// Config is what the agent needs to serve.
type Config struct {
	Token string // required on every call but /health and /handshake
	// Binding names the endpoint the agent listens on, for the handshake:
	// SocketBinding of its Unix socket, or TCPBinding (the default).
	Binding   string
	WorkDir   string // where terminals start
	UID, GID  int    // commands run as this user; -1 means as the agent
	Env       []string
	OutputDir string // cut command output and terminal files
	// MaxTerminals bounds how many terminals may exist at once.
	MaxTerminals int
	// MaxProcesses bounds how many processes (POST /processes) may run
	// at once.
	MaxProcesses int
	// MaxBody bounds a JSON request body; uploads have their own limit in Files.
	MaxBody int64
	Files   *files.FS
	Logger  *slog.Logger
}

// Server is the runtime-agent's HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	mux     *http.ServeMux
	editor  *files.Editor
	// loopback carries the port proxy's requests; it uses no HTTP proxy.
	loopback *http.Transport

	mu        sync.Mutex
	terminals map[string]*terminal.Terminal
	streams   map[net.Conn]struct{} // upgraded connections: attachments, dials
	closed    bool

	procMu  sync.Mutex
	procs   map[string]*process
	procSeq int
	procWG  sync.WaitGroup // the processes' waiters and stderr copiers
}

// NewServer builds the agent's API. Terminals start when first used.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Token == "" {
		return nil, errors.New("agentd: a token is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Binding == "" {
		cfg.Binding = agentapi.TCPBinding
	}
	if cfg.MaxTerminals == 0 {
		cfg.MaxTerminals = 32
	}
	if cfg.MaxProcesses == 0 {
		cfg.MaxProcesses = 16
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Files == nil {
		fsys, err := files.New(files.Config{Owner: owner(cfg.UID, cfg.GID)})
		if err != nil {
			return nil, err
		}
		cfg.Files = fsys
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "agentd"),
		started:   time.Now(),
		terminals: map[string]*terminal.Terminal{},
		streams:   map[net.Conn]struct{}{},
		procs:     map[string]*process{},
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /health", s.health)
	m.Handle("POST "+agentapi.HandshakePath, handler(s.handshake))
	auth := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		m.Handle(pattern, s.authed(h))
	}
	auth("GET /terminals", s.listTerminals)
	auth("POST /terminals", s.createTerminal)
	auth("POST /terminals/{name}/exec", s.exec)
	auth("POST /terminals/{name}/keys", s.keys)
	auth("POST /terminals/{name}/reset", s.reset)
	auth("DELETE /terminals/{name}", s.closeTerminal)
	s.fileRoutes(auth)
	s.browseRoutes(auth)
	s.runRoutes(auth)
	s.processRoutes(auth)
	s.snapshotRoutes(auth)
	m.Handle("/", s.authed(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path)
	}))
	s.mux = m
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug in one handler must not end the sandbox's agent.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
			writeError(w, errorf(http.StatusInternalServerError, "internal error: %v", v))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// Close ends every terminal and the processes they started, every process
// started with POST /processes, and every stream.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	terms := s.terminals
	s.terminals = map[string]*terminal.Terminal{}
	streams := s.streams
	s.streams = map[net.Conn]struct{}{}
	s.mu.Unlock()
	for _, t := range terms {
		t.Close()
	}
	s.procMu.Lock()
	procs := s.procs
	s.procs = map[string]*process{}
	s.procMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { stop(p) })
	}
	wg.Wait()
	for conn := range streams {
		conn.Close()
	}
	s.procWG.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) authed(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	want := []byte(s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			got = r.Header.Get("X-Agent-Token")
		}
		if got == "" {
			writeError(w, errorf(http.StatusUnauthorized, "missing token: send Authorization: Bearer <token>"))
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			writeError(w, errorf(http.StatusUnauthorized, "wrong token"))
			return
		}
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	})
}

// handler serves h without a token.
func handler(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, agentapi.Health{Status: "ok", Version: Version, PID: os.Getpid(), Uptime: time.Since(s.started).Round(time.Second).String()})
}

var terminalName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// terminal returns the named terminal; "main" is made on first use.
func (s *Server) terminal(name string) (*terminal.Terminal, error) {
	s.mu.Lock()
	t, ok := s.terminals[name]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	if name != agentapi.DefaultTerminal {
		return nil, errorf(http.StatusNotFound, "terminal %q does not exist: create it with POST /terminals", name)
	}
	return s.newTerminal(name, "")
}

func (s *Server) newTerminal(name, dir string) (*terminal.Terminal, error) {
	if !terminalName.MatchString(name) {
		return nil, errorf(http.StatusBadRequest, "bad terminal name %q: use 1-64 letters, digits, '.', '_' or '-'", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errorf(http.StatusServiceUnavailable, "agent is shutting down")
	}
	if t, ok := s.terminals[name]; ok {
		return t, nil
	}
	if len(s.terminals) >= s.cfg.MaxTerminals {
		return nil, errorf(http.StatusTooManyRequests, "too many terminals (%d): close one first", s.cfg.MaxTerminals)
	}
	if dir == "" {
		dir = s.cfg.WorkDir
	}
	t, err := terminal.New(name, terminal.Options{
		Dir:       dir,
		Env:       s.cfg.Env,
		UID:       s.cfg.UID,
		GID:       s.cfg.GID,
		OutputDir: s.cfg.OutputDir,
		Logger:    s.log,
	})
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	s.terminals[name] = t
	return t, nil
}

func (s *Server) listTerminals(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	out := make([]agentapi.TerminalInfo, 0, len(s.terminals))
	for _, t := range s.terminals {
		out = append(out, t.Info())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createTerminal(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.CreateTerminalRequest
	if err := s.decode(r, &req); err != nil {
		return err
	}
	s.mu.Lock()
	_, exists := s.terminals[req.Name]
	s.mu.Unlock()
	if exists {
		return errorf(http.StatusConflict, "terminal %q already exists", req.Name)
	}
	t, err := s.newTerminal(req.Name, req.Dir)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t.Info())
	return nil
}

func (s *Server) exec(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.ExecRequest
	if err := s.decode(r, &req); err != nil {
		return err
	}
	if req.Timeout < 0 || req.HardTimeout < 0 {
		return errorf(http.StatusUnprocessableEntity, "timeout and hard_timeout must not be negative")
	}
	t, err := s.terminal(r.PathValue("name"))
	if err != nil {
		return err
	}
	treq := terminal.Request{
		Command:     req.Command,
		IsInput:     req.IsInput,
		Timeout:     seconds(req.Timeout),
		HardTimeout: seconds(req.HardTimeout),
	}
	if !req.Stream {
		res, err := t.Exec(r.Context(), treq)
		if err != nil {
			return terminalError(err)
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	return streamExec(w, r, t, treq)
}

// streamExec answers with NDJSON: output frames as they come, then the result.
func streamExec(w http.ResponseWriter, r *http.Request, t *terminal.Terminal, treq terminal.Request) error {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // output is text for a terminal, not for a page
	var pending []byte       // an incomplete UTF-8 sequence held for the next chunk
	treq.OnOutput = func(p []byte) {
		data := append(pending, p...)
		cut := completeUTF8(data)
		pending = append([]byte(nil), data[cut:]...)
		if cut == 0 {
			return
		}
		if enc.Encode(agentapi.StreamFrame{Type: "output", Data: string(data[:cut])}) == nil {
			rc.Flush()
		}
	}
	res, err := t.Exec(r.Context(), treq)
	if len(pending) > 0 {
		enc.Encode(agentapi.StreamFrame{Type: "output", Data: string(pending)})
	}
	if err != nil {
		he := terminalError(err)
		enc.Encode(agentapi.StreamFrame{Type: "error", Detail: he.Detail, Status: he.Status})
		return nil
	}
	enc.Encode(agentapi.StreamFrame{Type: "result", Result: &res})
	rc.Flush()
	return nil
}

func (s *Server) keys(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.KeysRequest
	if err := s.decode(r, &req); err != nil {
		return err
	}
	if req.Keys == "" {
		return errorf(http.StatusUnprocessableEntity, "keys: give keys such as \"C-c\"")
	}
	t, err := s.terminal(r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := t.SendKeys(req.Keys); err != nil {
		return terminalError(err)
	}
	writeJSON(w, http.StatusOK, t.Info())
	return nil
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) error {
	t, err := s.terminal(r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := t.Reset(); err != nil {
		return terminalError(err)
	}
	writeJSON(w, http.StatusOK, t.Info())
	return nil
}

func (s *Server) closeTerminal(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	s.mu.Lock()
	t, ok := s.terminals[name]
	delete(s.terminals, name)
	s.mu.Unlock()
	if !ok {
		return errorf(http.StatusNotFound, "terminal %q does not exist", name)
	}
	t.Close()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func terminalError(err error) *agentapi.HTTPError {
	switch {
	case errors.Is(err, terminal.ErrBusy), errors.Is(err, terminal.ErrStillRunning):
		return errorf(http.StatusConflict, "%v", err)
	case errors.Is(err, terminal.ErrNotRunning), errors.Is(err, terminal.ErrInvalid):
		return errorf(http.StatusBadRequest, "%v", err)
	case errors.Is(err, terminal.ErrClosed):
		return errorf(http.StatusGone, "%v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(499, "request ended: %v", err)
	}
	return errorf(http.StatusInternalServerError, "%v", err)
}

// decode reads a JSON body into v: one object, known fields, within MaxBody.
func (s *Server) decode(r *http.Request, v any) error {
	return decodeJSON(io.LimitReader(r.Body, s.cfg.MaxBody+1), s.cfg.MaxBody, v)
}

// decodeJSON is the one decoder of request bodies (and a fuzz target).
func decodeJSON(r io.Reader, limit int64, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return errorf(http.StatusBadRequest, "read body: %v", err)
	}
	if int64(len(data)) > limit {
		return errorf(http.StatusRequestEntityTooLarge, "body is over the limit of %d bytes", limit)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf(http.StatusBadRequest, "empty body: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errorf(http.StatusBadRequest, "malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return errorf(http.StatusUnprocessableEntity, "field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return errorf(http.StatusUnprocessableEntity, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return errorf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "malformed JSON: more than one value in the body")
	}
	return nil
}

func errorf(status int, format string, args ...any) *agentapi.HTTPError {
	return &agentapi.HTTPError{Status: status, Detail: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	var he *agentapi.HTTPError
	if !errors.As(err, &he) {
		he = errorf(http.StatusInternalServerError, "%v", err)
	}
	writeJSON(w, he.Status, he)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// completeUTF8 returns the length of the longest prefix of p that does not
// end inside a UTF-8 sequence.
func completeUTF8(p []byte) int {
	n := len(p)
	for i := n - 1; i >= 0 && i >= n-3; i-- {
		c := p[i]
		if c < 0x80 {
			return n
		}
		if c >= 0xC0 { // a lead byte: is its sequence complete?
			need := 2
			if c >= 0xE0 {
				need = 3
			}
			if c >= 0xF0 {
				need = 4
			}
			if n-i < need {
				return i
			}
			return n
		}
	}
	return n
}

func owner(uid, gid int) *files.Owner {
	if uid < 0 || os.Geteuid() != 0 || uid == os.Geteuid() {
		return nil
	}
	return &files.Owner{UID: uid, GID: max(gid, 0)}
}
