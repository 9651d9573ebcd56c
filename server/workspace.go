package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/session"
)

// executeBash answers POST .../bash/execute_bash_command: the command
// runs in the conversation's sandbox or, on the global route without a
// conversation_id, in the workspace sandbox of its cwd.
func (s *Server) executeBash(c *gin.Context) {
	w, req, ok := s.bashRequest(c)
	if !ok {
		return
	}
	res, err := w.Bash(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// searchBashEvents answers GET .../bash/bash_events/search: the
// conversation's recent bash events, oldest first, a page (limit, at most
// 100) at a time.
func (s *Server) searchBashEvents(c *gin.Context) {
	if conversationID(c) == "" {
		s.searchWorkspaceBash(c)
		return
	}
	v, ok := s.view(c)
	if !ok {
		return
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := v.BashEvents(c.Query("page_id"), limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page(items, next))
}

// sandboxErr turns an agent error into one for the client: the agent's 4xx
// answers keep their status, anything else is the sandbox failing. A
// session error (the workspace path policy's) is one for the client already.
func sandboxErr(err error) error {
	var se *session.Error
	if errors.As(err, &se) {
		return err
	}
	var he *agentapi.HTTPError
	if errors.As(err, &he) && he.Status >= 400 && he.Status < 500 {
		return &apiError{status: he.Status, detail: he.Detail}
	}
	return &apiError{status: http.StatusBadGateway, detail: "sandbox: " + err.Error()}
}

func (s *Server) download(c *gin.Context) {
	a, ok := s.workspaceFor(c, conversationID(c), c.Query("path"), false)
	if !ok {
		return
	}
	err := a.WithSandbox(c.Request.Context(), func(cl *agentapi.Client) error {
		ctx := c.Request.Context()
		p, err := session.ResolveWorkspacePath(ctx, cl, a.WorkingDir(), c.Query("path"))
		if err != nil {
			return sandboxErr(err)
		}
		st, err := cl.Stat(ctx, p)
		if err != nil {
			return sandboxErr(err)
		}
		asTar := st.Type == "dir"
		body, size, err := cl.Download(ctx, p, asTar)
		if err != nil {
			return sandboxErr(err)
		}
		defer body.Close()
		name := path.Base(p)
		ctype := "application/octet-stream"
		if asTar {
			name += ".tar"
			ctype = "application/x-tar"
		}
		// The length is the agent's, which it measured: the size stat
		// gave is not the content's for the files of /proc and /sys.
		if size >= 0 {
			c.Header("Content-Length", strconv.FormatInt(size, 10))
		}
		c.Header("Content-Type", ctype)
		c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		c.Status(http.StatusOK)
		_, err = io.Copy(c.Writer, body)
		return err
	})
	if err != nil && !c.Writer.Written() {
		s.fail(c, err)
	}
}

// upload answers POST .../file/upload?path=: the multipart field "file"
// is written to path (a file, or a folder to put it in).
func (s *Server) upload(c *gin.Context) {
	a, ok := s.workspaceFor(c, conversationID(c), c.Query("path"), false)
	if !ok {
		return
	}
	streamBody(c) // a big file may take long; it must only keep coming
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxUploadBytes+1<<20)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "body: a multipart/form-data body with a \"file\" field is required"))
		return
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			s.fail(c, errorf(http.StatusUnprocessableEntity, "file: missing (the multipart field \"file\")"))
			return
		}
		if err != nil {
			s.fail(c, uploadError(err, s.cfg.MaxUploadBytes))
			return
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		res, err := s.receive(c, a, part)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, res)
		return
	}
}

func (s *Server) receive(c *gin.Context, a workspace, part io.Reader) (gin.H, error) {
	filename := ""
	if p, ok := part.(interface{ FileName() string }); ok {
		filename = path.Base(p.FileName())
	}
	var out gin.H
	err := a.WithSandbox(c.Request.Context(), func(cl *agentapi.Client) error {
		ctx := c.Request.Context()
		wd := a.WorkingDir()
		target := c.Query("path")
		if target == "" {
			target = wd + "/"
		}
		dest, err := session.ResolveWorkspacePath(ctx, cl, wd, target)
		if err != nil {
			return sandboxErr(err)
		}
		isDir := strings.HasSuffix(target, "/")
		if !isDir {
			if st, err := cl.Stat(ctx, dest); err == nil && st.Type == "dir" {
				isDir = true
			}
		}
		if isDir {
			if filename == "" || filename == "." || filename == ".." || filename == "/" {
				return errorf(http.StatusUnprocessableEntity, "file: the upload has no file name and path names a folder")
			}
			dest = path.Join(dest, filename)
			if dest, err = session.ResolveWorkspacePath(ctx, cl, wd, dest); err != nil {
				return sandboxErr(err)
			}
		}
		if len(s.cfg.AllowedUploadTypes) > 0 {
			ext := strings.ToLower(path.Ext(dest))
			if !slices.ContainsFunc(s.cfg.AllowedUploadTypes, func(t string) bool { return strings.EqualFold(t, ext) }) {
				return errorf(http.StatusUnsupportedMediaType, "file type %q is not allowed; allowed: %s", ext, strings.Join(s.cfg.AllowedUploadTypes, ", "))
			}
		}
		lr := &limitReader{r: part, left: s.cfg.MaxUploadBytes}
		res, err := cl.UploadFile(ctx, dest, lr)
		if lr.over {
			return errorf(http.StatusRequestEntityTooLarge, "the file is larger than %d bytes", s.cfg.MaxUploadBytes)
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) || errors.Is(err, errBodyTimeout) {
				return uploadError(err, s.cfg.MaxUploadBytes)
			}
			return sandboxErr(err)
		}
		out = gin.H{"success": true, "path": res.Path, "bytes": res.Bytes}
		return nil
	})
	return out, err
}

func uploadError(err error, limit int64) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return errorf(http.StatusRequestEntityTooLarge, "the upload is larger than %d bytes", limit)
	}
	if errors.Is(err, errBodyTimeout) {
		return errorf(http.StatusRequestTimeout, "the upload stalled: %v", errBodyTimeout)
	}
	return errorf(http.StatusBadRequest, "reading the upload: %v", err)
}

// limitReader fails once more than left bytes are read.
type limitReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return n, fmt.Errorf("upload larger than the limit")
	}
	return n, err
}

func (s *Server) listFiles(c *gin.Context) {
	a, ok := s.workspaceFor(c, conversationID(c), c.Query("path"), false)
	if !ok {
		return
	}
	err := a.WithSandbox(c.Request.Context(), func(cl *agentapi.Client) error {
		ctx := c.Request.Context()
		wd := a.WorkingDir()
		p := c.Query("path")
		if p == "" {
			p = wd
		}
		p, err := session.ResolveWorkspacePath(ctx, cl, wd, p)
		if err != nil {
			return sandboxErr(err)
		}
		l, err := cl.ListFiles(ctx, p, 1)
		if err != nil {
			return sandboxErr(err)
		}
		c.JSON(http.StatusOK, l)
		return nil
	})
	if err != nil {
		s.fail(c, err)
	}
}

// tools answers GET /api/tools/: the tools an agent can be given or, with
// conversation_id, the names of those a conversation's model is offered,
// its MCP servers' among them. browser_tool_set is the real browser where
// the deployment has one.
func (s *Server) tools(c *gin.Context) {
	if conversationID(c) == "" {
		c.JSON(http.StatusOK, []string{event.ToolTerminal, event.ToolFileEditor, event.ToolTaskTracker,
			event.ToolGlob, event.ToolGrep, event.ToolApplyPatch, event.ToolBrowserToolSet, event.ToolThink, event.ToolFinish})
		return
	}
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	ts, err := a.Tools(c.Request.Context())
	if err != nil {
		s.fail(c, sandboxErr(err))
		return
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	c.JSON(http.StatusOK, names)
}
