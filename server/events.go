package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/session"
)

func (s *Server) searchEvents(c *gin.Context) {
	v, ok := s.view(c)
	if !ok {
		return
	}
	q, err := parseEventQuery(c.Request.URL.Query())
	if err != nil {
		s.fail(c, err)
		return
	}
	if q.Limit, err = parseLimit(c.Query("limit")); err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := v.Events(q)
	if err != nil {
		s.fail(c, err)
		return
	}
	answer := page(items, next)
	// A full page has limit events when there is a next one; fewer means
	// the store stopped a body search at its time budget (storage.Events):
	// the client goes on with next_page_id.
	if next != "" && len(items) < q.Limit {
		answer["partial"] = true
	}
	c.JSON(http.StatusOK, answer)
}

func (s *Server) countEvents(c *gin.Context) {
	v, ok := s.view(c)
	if !ok {
		return
	}
	q, err := parseEventQuery(c.Request.URL.Query())
	if err != nil {
		s.fail(c, err)
		return
	}
	n, err := v.CountEvents(q)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, n)
}

func (s *Server) getEvent(c *gin.Context) {
	v, ok := s.view(c)
	if !ok {
		return
	}
	e, err := v.Event(c.Param("event_id"))
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

// batchEvents answers GET .../events?event_ids=a&event_ids=b (or
// event_ids=a,b): the events in order, null for an unknown id.
func (s *Server) batchEvents(c *gin.Context) {
	v, ok := s.view(c)
	if !ok {
		return
	}
	ids, err := parseIDs("event_ids", c.QueryArray("event_ids"))
	if err != nil {
		s.fail(c, err)
		return
	}
	evs, err := v.EventsByID(ids)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, evs)
}

// finalResponse answers GET .../agent_final_response: the agent's last
// answer, "" before it has given one.
func (s *Server) finalResponse(c *gin.Context) {
	v, ok := s.view(c)
	if !ok {
		return
	}
	text, err := v.FinalResponse()
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"response": text})
}
