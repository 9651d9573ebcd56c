package server

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// eventQuery reads the filters of the event search and count routes.
func eventQuery(c *gin.Context) (storage.EventQuery, error) {
	var q storage.EventQuery
	if k := c.Query("kind"); k != "" {
		kind, err := event.ParseKind(k)
		if err != nil {
			return q, errorf(http.StatusUnprocessableEntity, "kind: %q is not an event kind", k)
		}
		q.Kinds = []event.Kind{kind}
	}
	switch src := c.Query("source"); src {
	case "", string(event.SourceAgent), string(event.SourceUser), string(event.SourceEnvironment):
		q.Source = src
	default:
		return q, errorf(http.StatusUnprocessableEntity, "source: %q is not agent, user or environment", src)
	}
	q.Body = c.Query("body")
	switch so := c.Query("sort_order"); so {
	case "", "TIMESTAMP":
	case "TIMESTAMP_DESC":
		q.Desc = true
	default:
		return q, errorf(http.StatusUnprocessableEntity, "sort_order: %q is not TIMESTAMP or TIMESTAMP_DESC", so)
	}
	var err error
	if q.Since, err = timeParam(c, "timestamp__gte"); err != nil {
		return q, err
	}
	if q.Until, err = timeParam(c, "timestamp__lt"); err != nil {
		return q, err
	}
	q.PageID = c.Query("page_id")
	return q, nil
}

// timeParam reads a timestamp: RFC 3339, or without a zone (taken as UTC).
func timeParam(c *gin.Context, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errorf(http.StatusUnprocessableEntity, "%s: %q is not a timestamp (RFC 3339)", name, v)
}

func (s *Server) searchEvents(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	q, err := eventQuery(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if q.Limit, err = limitParam(c); err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.convs.Store().Events(a.ID(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page(items, next))
}

func (s *Server) countEvents(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	q, err := eventQuery(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	n, err := s.convs.Store().CountEvents(a.ID(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, n)
}

func (s *Server) getEvent(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	e, err := s.convs.Store().Event(a.ID(), c.Param("event_id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, e)
}

// postMessage answers POST .../events: a user message, run only when it
// says so.
func (s *Server) postMessage(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req session.MessageRequest
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if _, err := a.SendMessage(c.Request.Context(), req); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

func (s *Server) respondToConfirmation(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		Accept *bool  `json:"accept"`
		Reason string `json:"reason"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.Accept == nil {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "accept: missing"))
		return
	}
	if err := a.RespondToConfirmation(c.Request.Context(), *req.Accept, req.Reason); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}
