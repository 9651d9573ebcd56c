package server

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/mcpclient"
)

// testMCP answers POST /api/mcp/test (upstream's body and answer): connect
// to one MCP server, list its tools, make the optional tool call, and say
// so, or why not, with ok false. The server runs in a workspace sandbox,
// never on this host.
func (s *Server) testMCP(c *gin.Context) {
	var raw json.RawMessage
	if err := s.bind(c, &raw); err != nil {
		s.fail(c, err)
		return
	}
	req, err := mcpclient.ParseTestRequest(raw)
	if err != nil {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "%v", err))
		return
	}
	resp, err := s.convs.TestMCP(c.Request.Context(), req)
	if err != nil {
		s.fail(c, sandboxErr(err))
		return
	}
	c.JSON(http.StatusOK, resp)
}

// conversationTools answers GET /api/conversations/{id}/tools: the tools
// the conversation's model is offered, its MCP servers' among them
// (connected first if need be, which starts the sandbox).
func (s *Server) conversationTools(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	ts, err := a.Tools(c.Request.Context())
	if err != nil {
		s.fail(c, sandboxErr(err))
		return
	}
	c.JSON(http.StatusOK, ts)
}
