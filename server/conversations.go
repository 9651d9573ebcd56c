package server

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/session"
)

var success = gin.H{"success": true}

// conversation returns the conversation named by the :id parameter or the
// conversation_id query (the global workspace routes).
func (s *Server) conversation(c *gin.Context) (*session.AgentSession, bool) {
	return s.conversationByID(c, conversationID(c))
}

// view is conversation for the routes that only read: a conversation the
// server does not hold is read from storage, not loaded.
func (s *Server) view(c *gin.Context) (*session.View, bool) {
	id := conversationID(c)
	if id == "" {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "conversation_id: missing"))
		return nil, false
	}
	v, err := s.convs.View(id)
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	return v, true
}

// conversationID is the :id parameter or the conversation_id query.
func conversationID(c *gin.Context) string {
	if id := c.Param("id"); id != "" {
		return id
	}
	return c.Query("conversation_id")
}

// conversationByID returns the conversation id names, answering the
// request with 422 or 404 when there is none.
func (s *Server) conversationByID(c *gin.Context, id string) (*session.AgentSession, bool) {
	if id == "" {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "conversation_id: missing"))
		return nil, false
	}
	a, err := s.convs.Get(id)
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	return a, true
}

func (s *Server) createConversation(c *gin.Context) {
	var req session.CreateRequest
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	a, created, err := s.convs.Create(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, a.Info())
}

// batchConversations answers GET /api/conversations?ids=a&ids=b (or
// ids=a,b): the conversations in order, null for an unknown id.
func (s *Server) batchConversations(c *gin.Context) {
	ids, err := parseIDs("ids", c.QueryArray("ids"))
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]*session.Info, len(ids))
	for i, id := range ids {
		v, err := s.convs.View(id)
		if err != nil {
			if status, _ := statusOf(err); status == http.StatusNotFound {
				continue
			}
			s.fail(c, err)
			return
		}
		info := v.Info()
		out[i] = &info
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) searchConversations(c *gin.Context) {
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		s.fail(c, err)
		return
	}
	sort, err := parseConversationSort(c.Query("sort_order"))
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.convs.Search(session.ConversationQuery{Status: c.Query("status"),
		Sort: sort, Limit: limit, PageID: c.Query("page_id")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page(items, next))
}

// page is the shape of every search answer.
func page[T any](items []T, next string) gin.H {
	if items == nil {
		items = []T{}
	}
	var np any
	if next != "" {
		np = next
	}
	return gin.H{"items": items, "next_page_id": np}
}

func (s *Server) countConversations(c *gin.Context) {
	n, err := s.convs.Count(c.Query("status"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, n)
}

func (s *Server) getConversation(c *gin.Context) {
	v, ok := s.view(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, v.Info())
}

func (s *Server) patchConversation(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		Title *string            `json:"title"`
		Tags  *map[string]string `json:"tags"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.Title == nil && req.Tags == nil {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "title: missing"))
		return
	}
	if req.Tags != nil {
		if err := a.SetTags(*req.Tags); err != nil {
			s.fail(c, err)
			return
		}
	}
	if req.Title != nil {
		if err := a.SetTitle(*req.Title); err != nil {
			s.fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, a.Info())
}

func (s *Server) deleteConversation(c *gin.Context) {
	if err := s.convs.Delete(c.Request.Context(), c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

func (s *Server) runConversation(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	if err := a.Run(c.Request.Context()); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

func (s *Server) pauseConversation(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	if err := a.Pause(c.Request.Context()); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

// interruptConversation answers POST .../interrupt: unlike a pause, the
// model call and the action in flight end at once.
func (s *Server) interruptConversation(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	if err := a.Interrupt(c.Request.Context()); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

// switchLLM answers POST .../switch_llm {"llm": {...}}: the agent's next
// step uses that model.
func (s *Server) switchLLM(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		LLM *session.LLM `json:"llm"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.LLM == nil {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "llm: missing"))
		return
	}
	if err := a.SwitchLLM(*req.LLM); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

// switchProfile answers POST .../switch_profile {"profile_name": NAME}:
// the agent's next step uses the saved profile's model.
func (s *Server) switchProfile(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		ProfileName string `json:"profile_name"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.ProfileName == "" {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "profile_name: missing"))
		return
	}
	if err := a.SwitchProfile(req.ProfileName); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

func (s *Server) restartConversation(c *gin.Context) {
	if err := s.convs.Restart(c.Request.Context(), c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

func (s *Server) setSecrets(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		Secrets map[string]session.Secret `json:"secrets"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.Secrets == nil {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "secrets: missing"))
		return
	}
	if err := a.SetSecrets(req.Secrets); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

func (s *Server) setConfirmationPolicy(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var raw map[string]json.RawMessage
	if err := s.bind(c, &raw); err != nil {
		s.fail(c, err)
		return
	}
	data, ok := raw["policy"]
	if !ok {
		// the bare policy
		data, _ = json.Marshal(raw)
	}
	var p session.ConfirmationPolicy
	if err := json.Unmarshal(data, &p); err != nil {
		s.fail(c, jsonError(err))
		return
	}
	if err := a.SetConfirmationPolicy(p); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

func (s *Server) setSecurityAnalyzer(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		SecurityAnalyzer *session.SecurityAnalyzer `json:"security_analyzer"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.SecurityAnalyzer != nil && req.SecurityAnalyzer.Kind == "" {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "security_analyzer.kind: missing"))
		return
	}
	if err := a.SetSecurityAnalyzer(req.SecurityAnalyzer); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}

func (s *Server) askAgent(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		Question string `json:"question"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	resp, err := a.Ask(c.Request.Context(), req.Question)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"response": resp})
}

func (s *Server) generateTitle(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	var req struct {
		MaxLength int `json:"max_length"`
	}
	if c.Request.ContentLength != 0 {
		if err := s.bind(c, &req); err != nil {
			s.fail(c, err)
			return
		}
	}
	if req.MaxLength < 0 {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "max_length: %d is negative", req.MaxLength))
		return
	}
	title, err := a.GenerateTitle(c.Request.Context(), req.MaxLength)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"title": title})
}

func (s *Server) condense(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	if err := a.Condense(c.Request.Context()); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, success)
}
