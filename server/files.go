package server

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/session"
)

// attachment names the file a download is saved as.
func attachment(c *gin.Context, name, contentType string) {
	c.Header("Content-Type", contentType)
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
}

// archive answers GET .../file/archive?path=&format=: a folder as one
// tar.gz (the default) or zip, streamed as it is read from the sandbox.
func (s *Server) archive(c *gin.Context) {
	if c.Query("path") == "" {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "path: missing"))
		return
	}
	s.inWorkspace(c, func(w session.SandboxWorkspace) error {
		ar, err := w.Archive(c.Request.Context(), c.Query("path"), c.Query("format"))
		if err != nil {
			return err
		}
		defer ar.Close()
		attachment(c, ar.Name, ar.ContentType)
		c.Status(http.StatusOK)
		_, err = ar.WriteTo(c.Writer)
		return err
	})
}

// downloadTrajectory answers GET /api/file/download-trajectory/{id}: the
// conversation's events as one zip.
func (s *Server) downloadTrajectory(c *gin.Context) {
	a, ok := s.conversationByID(c, c.Param("conversation_id"))
	if !ok {
		return
	}
	attachment(c, strings.ReplaceAll(a.ID(), "-", "")+".zip", "application/zip")
	c.Status(http.StatusOK)
	if err := a.WriteTrajectory(c.Writer); err != nil {
		if !c.Writer.Written() {
			c.Header("Content-Disposition", "")
			s.fail(c, err)
			return
		}
		s.log.WarnContext(c.Request.Context(), "trajectory cut short", "conversation", a.ID(), "err", err)
	}
}

// home answers GET .../file/home: the sandbox user's home and its folders.
func (s *Server) home(c *gin.Context) {
	hidden, err := boolQuery(c, "include_hidden")
	if err != nil {
		s.fail(c, err)
		return
	}
	s.inWorkspace(c, func(w session.SandboxWorkspace) error {
		h, err := w.Home(c.Request.Context(), hidden)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, h)
		return nil
	})
}

// searchSubdirs answers GET .../file/search_subdirs?path=&query=: the
// folders in a folder, a page at a time.
func (s *Server) searchSubdirs(c *gin.Context) {
	hidden, err := boolQuery(c, "include_hidden")
	if err != nil {
		s.fail(c, err)
		return
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if c.Query("path") == "" {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "path: missing"))
		return
	}
	s.inWorkspace(c, func(w session.SandboxWorkspace) error {
		items, next, err := w.SearchSubdirs(c.Request.Context(), session.SubdirQuery{Path: c.Query("path"),
			Query: c.Query("query"), PageID: c.Query("page_id"), Limit: limit, IncludeHidden: hidden})
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, page(items, next))
		return nil
	})
}

// createDirectory answers POST .../file/create_directory?path=: the
// folder and its missing parents are made.
func (s *Server) createDirectory(c *gin.Context) {
	s.inWorkspace(c, func(w session.SandboxWorkspace) error {
		if _, err := w.CreateDirectory(c.Request.Context(), c.Query("path")); err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"success": true})
		return nil
	})
}

// boolQuery reads a true/false query parameter; absent is false.
func boolQuery(c *gin.Context, name string) (bool, error) {
	v := c.Query(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf(http.StatusUnprocessableEntity, "%s: %q is not true or false", name, v)
	}
	return b, nil
}
