package agentd

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentd/terminal"
)

func (s *Server) runRoutes(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	s.loopback = &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	auth("POST /run", s.run)
	auth(agentapi.ProxyPath+"/{port}/{path...}", s.proxy)
	auth(agentapi.ProxyPath+"/{port}", s.proxy)
}

// run runs one program by its arguments, as the sandbox's user, with no
// shell and no terminal, and answers its exit code and bounded output.
func (s *Server) run(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.RunRequest
	if err := decodeJSON(r.Body, s.cfg.MaxBody, &req); err != nil {
		return err
	}
	if len(req.Args) == 0 || req.Args[0] == "" {
		return errorf(http.StatusBadRequest, "args: missing")
	}
	timeout := req.Timeout
	switch {
	case timeout < 0:
		return errorf(http.StatusBadRequest, "timeout: %v is negative", timeout)
	case timeout == 0:
		timeout = agentapi.DefaultRunTimeout
	case timeout > agentapi.MaxRunTimeout:
		timeout = agentapi.MaxRunTimeout
	}
	limit := req.MaxOutput
	if limit <= 0 || limit > agentapi.MaxRunOutput {
		limit = agentapi.MaxRunOutput
	}
	path, err := exec.LookPath(req.Args[0])
	if err != nil {
		return errorf(agentapi.ProgramNotFound, "%s is not installed in the sandbox", req.Args[0])
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(timeout*float64(time.Second)))
	defer cancel()
	cmd := exec.CommandContext(ctx, path, req.Args[1:]...)
	cmd.Args[0] = req.Args[0]
	cmd.Dir = req.Dir
	if cmd.Dir == "" {
		cmd.Dir = s.cfg.WorkDir
	}
	cmd.Env = s.cfg.Env
	cmd.Stdin = nil
	if req.Stdin != "" {
		cmd.Stdin = strings.NewReader(req.Stdin)
	}
	stdout := &capped{left: limit}
	stderr := &capped{left: agentapi.MaxRunStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.credential()}
	// The whole group goes when the time is up: git may start helpers.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	started := time.Now()
	err = cmd.Run()
	res := agentapi.RunResult{Stdout: stdout.buf.String(), Stderr: stderr.buf.String(), Truncated: stdout.over}
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.ExitCode, res.TimedOut = -1, true
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
	case errors.Is(err, syscall.ECHILD) && cmd.Process != nil:
		// As PID 1 the agent's reaper may have collected the program
		// before its Wait did: the status is the reaper's.
		ws, ok := terminal.ReapedStatus(cmd.Process.Pid, started)
		if !ok {
			return errorf(http.StatusInternalServerError, "run %s: its exit status was lost", req.Args[0])
		}
		res.ExitCode = ws.ExitStatus()
		if ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
		}
	case err != nil:
		return errorf(http.StatusBadRequest, "run %s: %v", req.Args[0], err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// capped keeps the first left bytes written to it and drops the rest,
// noting that it did.
type capped struct {
	buf  bytes.Buffer
	left int64
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if int64(len(p)) > c.left {
		p = p[:c.left]
		c.over = true
	}
	c.buf.Write(p)
	c.left -= int64(len(p))
	return n, nil
}
