package server

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/session"
)

// inWorkspace runs fn on the workspace of the conversation the request
// names (by its path, or conversation_id) or, without one, on the
// workspace sandbox of the path query, answering a failure that has not
// yet been answered.
func (s *Server) inWorkspace(c *gin.Context, fn func(w session.SandboxWorkspace) error) {
	a, ok := s.workspaceFor(c, conversationID(c), c.Query("path"), false)
	if !ok {
		return
	}
	err := a.WithWorkspace(c.Request.Context(), fn)
	if err != nil && !c.Writer.Written() {
		s.fail(c, sandboxErr(err))
	}
}

// gitChanges answers GET .../git/changes?path=&ref=: the files of the
// repository at path that differ from ref (HEAD by default).
func (s *Server) gitChanges(c *gin.Context) {
	s.inWorkspace(c, func(w session.SandboxWorkspace) error {
		changes, err := w.GitChanges(c.Request.Context(), c.Query("path"), c.Query("ref"))
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, changes)
		return nil
	})
}

// gitDiff answers GET .../git/diff?path=&ref= (or &commit=): a file's
// content before and after.
func (s *Server) gitDiff(c *gin.Context) {
	s.inWorkspace(c, func(w session.SandboxWorkspace) error {
		d, err := w.GitDiff(c.Request.Context(), c.Query("path"), c.Query("ref"), c.Query("commit"))
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, d)
		return nil
	})
}

// gitCommits answers GET .../git/commits?path=&limit=: the newest commits.
func (s *Server) gitCommits(c *gin.Context) {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			s.fail(c, errorf(http.StatusUnprocessableEntity, "limit: %q is not a number from 1 to 200", v))
			return
		}
		limit = n
	}
	s.inWorkspace(c, func(w session.SandboxWorkspace) error {
		page, err := w.GitCommits(c.Request.Context(), c.Query("path"), limit)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, page)
		return nil
	})
}

// gitCommitChanges answers GET .../git/commits/{sha}/changes?path=: the
// files one commit changed.
func (s *Server) gitCommitChanges(c *gin.Context) {
	if err := session.CheckSHA("sha", c.Param("sha")); err != nil {
		s.fail(c, err)
		return
	}
	s.inWorkspace(c, func(w session.SandboxWorkspace) error {
		changes, err := w.GitCommitChanges(c.Request.Context(), c.Query("path"), c.Param("sha"))
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, changes)
		return nil
	})
}
