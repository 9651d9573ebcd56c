package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/session"
)

// fork answers POST /api/conversations/{id}/fork: 201 with the fork's
// info, or, for a count above 1, with the list of the forks' infos.
func (s *Server) fork(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req session.ForkRequest
	if c.Request.ContentLength != 0 {
		if err := s.bind(c, &req); err != nil {
			s.fail(c, err)
			return
		}
	}
	infos, err := a.Fork(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	if req.Count > 1 {
		c.JSON(http.StatusCreated, infos)
		return
	}
	c.JSON(http.StatusCreated, infos[0])
}

// navigate answers POST /api/conversations/{id}/navigate {event_id}: the
// conversation's info with its new leaf_event_id.
func (s *Server) navigate(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		EventID string `json:"event_id"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	info, err := a.Navigate(c.Request.Context(), req.EventID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}
