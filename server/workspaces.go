package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/session"
)

// workspace is what the workspace routes act on: a conversation's
// sandbox (*session.AgentSession), or, for a global route given no
// conversation_id, a shared workspace sandbox (*session.SharedWorkspace).
type workspace interface {
	WithSandbox(ctx context.Context, fn func(*agentapi.Client) error) error
	WithWorkspace(ctx context.Context, fn func(session.SandboxWorkspace) error) error
	WorkingDir() string
	Bash(ctx context.Context, req session.BashRequest) (session.BashResult, error)
	StartBash(req session.BashRequest) (session.BashCommand, error)
}

var (
	_ workspace = (*session.AgentSession)(nil)
	_ workspace = (*session.SharedWorkspace)(nil)
)

// workspaceFor returns the workspace a request acts on: the conversation
// id names or, when id is empty, the workspace sandbox of the path p
// (dir: p is a command's folder). It answers the request when there is
// none.
func (s *Server) workspaceFor(c *gin.Context, id, p string, dir bool) (workspace, bool) {
	if id != "" {
		return s.conversationByID(c, id)
	}
	w, err := s.convs.Workspace(p, dir)
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	return w, true
}

// bashRequest reads the body of execute_bash_command and
// start_bash_command, and the workspace it runs in: the conversation the
// path, the query or the body names, or else the workspace sandbox of
// its cwd.
func (s *Server) bashRequest(c *gin.Context) (workspace, session.BashRequest, bool) {
	var req struct {
		session.BashRequest
		ConversationID string `json:"conversation_id"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return nil, req.BashRequest, false
	}
	id := conversationID(c)
	if id == "" {
		id = req.ConversationID
	}
	w, ok := s.workspaceFor(c, id, req.Cwd, true)
	return w, req.BashRequest, ok
}

// startBash answers POST .../bash/start_bash_command: the command's
// BashCommand at once; its output comes as bash events.
func (s *Server) startBash(c *gin.Context) {
	w, req, ok := s.bashRequest(c)
	if !ok {
		return
	}
	cmd, err := w.StartBash(req)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, cmd)
}

// searchWorkspaceBash answers GET /api/bash/bash_events/search without a
// conversation_id: the workspace sandboxes' bash events, with the
// reference server's filters.
func (s *Server) searchWorkspaceBash(c *gin.Context) {
	q := session.BashQuery{Kind: c.Query("kind__eq"), CommandID: c.Query("command_id__eq"), PageID: c.Query("page_id")}
	var err error
	if q.Limit, err = parseLimit(c.Query("limit")); err != nil {
		s.fail(c, err)
		return
	}
	switch q.Kind {
	case "", "BashCommand", "BashOutput", "BashError":
	default:
		s.fail(c, errorf(http.StatusUnprocessableEntity, "kind__eq: %q is not BashCommand, BashOutput or BashError", q.Kind))
		return
	}
	switch so := c.Query("sort_order"); so {
	case "", "TIMESTAMP":
	case "TIMESTAMP_DESC":
		q.Desc = true
	default:
		s.fail(c, errorf(http.StatusUnprocessableEntity, "sort_order: %q is not TIMESTAMP or TIMESTAMP_DESC", so))
		return
	}
	for _, f := range []struct {
		name string
		to   **time.Time
	}{{"timestamp__gte", &q.TimestampGTE}, {"timestamp__lt", &q.TimestampLT}} {
		v := c.Query(f.name)
		if v == "" {
			continue
		}
		t, err := parseTime(f.name, v)
		if err != nil {
			s.fail(c, err)
			return
		}
		*f.to = &t
	}
	if v := c.Query("order__gt"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.fail(c, errorf(http.StatusUnprocessableEntity, "order__gt: %q is not a whole number", v))
			return
		}
		q.OrderGT = &n
	}
	items, next, err := s.convs.WorkspaceBash().Search(q)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page(items, next))
}

// workspaceBashEvent answers GET /api/bash/bash_events/{id}.
func (s *Server) workspaceBashEvent(c *gin.Context) {
	raw, err := s.convs.WorkspaceBash().Get(c.Param("event_id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", raw)
}

// batchWorkspaceBash answers GET /api/bash/bash_events?event_ids=: the
// events in the order asked, null for one not kept.
func (s *Server) batchWorkspaceBash(c *gin.Context) {
	var ids []string
	for _, v := range c.QueryArray("event_ids") {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 || len(ids) > maxBatchIDs {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "event_ids: give 1 to %d bash event ids (event_ids=a&event_ids=b or event_ids=a,b), got %d", maxBatchIDs, len(ids)))
		return
	}
	c.JSON(http.StatusOK, s.convs.WorkspaceBash().Batch(ids))
}

// clearWorkspaceBash answers DELETE /api/bash/bash_events.
func (s *Server) clearWorkspaceBash(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"cleared_count": s.convs.WorkspaceBash().Clear()})
}
