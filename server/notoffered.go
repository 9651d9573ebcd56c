package server

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// upstreamRoute is a route of the OpenHands agent-server that GoHands does
// not serve (or does not serve yet). A request that matches none of the
// registered routes but matches one of these is answered 501 naming the
// route, never a bare 404, so a client built for the reference server
// learns at once what is missing.
type upstreamRoute struct {
	method  string
	pattern string // {name} matches one segment; {name:path} the rest
	why     string // what is not offered, said after the route
}

// Why a route is not offered.
const (
	notOffered      = "GoHands does not offer it"
	notOfferedYet   = "GoHands does not offer it yet"
	noMarketplace   = "GoHands does not offer it: no plugin or skill marketplace, no installs"
	noMCPOAuth      = "GoHands does not offer it: no MCP OAuth"
	noSubscription  = "GoHands does not offer it: no OpenAI subscription login"
	noProviderConns = "GoHands does not offer it: no provider connections"
	noGoal          = "GoHands does not offer it: no goal loop"
	noACP           = "GoHands does not offer it: no ACP agents"
)

// upstreamRoutes lists the reference server's routes GoHands answers 501.
// Routes GoHands registers are matched first, so a route that is added
// later simply shadows its line here.
var upstreamRoutes = []upstreamRoute{
	{"GET", "/api/agent-profiles", notOfferedYet},
	{"DELETE", "/api/agent-profiles/{name}", notOfferedYet},
	{"GET", "/api/agent-profiles/{name}", notOfferedYet},
	{"POST", "/api/agent-profiles/{name}", notOfferedYet},
	{"POST", "/api/agent-profiles/{name}/materialize", notOfferedYet},
	{"POST", "/api/agent-profiles/{name}/rename", notOfferedYet},
	{"POST", "/api/agent-profiles/{profile_id}/activate", notOfferedYet},
	{"DELETE", "/api/auth/workspace-session", notOfferedYet},
	{"POST", "/api/auth/workspace-session", notOfferedYet},
	{"POST", "/api/conversations/prepare-for-sandbox-pause", notOffered},
	{"PUT", "/api/conversations/{conversation_id}/credential-bindings/{secret_name}", notOffered},
	{"POST", "/api/conversations/{conversation_id}/goal", noGoal},
	{"POST", "/api/conversations/{conversation_id}/goal/resume", noGoal},
	{"POST", "/api/conversations/{conversation_id}/goal/stop", noGoal},
	{"POST", "/api/conversations/{conversation_id}/load_plugin", noMarketplace},
	{"POST", "/api/conversations/{conversation_id}/switch_acp_model", noACP},
	{"GET", "/api/conversations/{conversation_id}/workspace", notOfferedYet},
	{"GET", "/api/conversations/{conversation_id}/workspace/{file_path:path}", notOfferedYet},
	{"GET", "/api/file/archive", notOfferedYet},
	{"POST", "/api/file/create_directory", notOfferedYet},
	{"GET", "/api/file/download-trajectory/{conversation_id}", notOfferedYet},
	{"GET", "/api/file/home", notOfferedYet},
	{"GET", "/api/file/search_subdirs", notOfferedYet},
	{"GET", "/api/git/changes", notOfferedYet},
	{"GET", "/api/git/commits", notOfferedYet},
	{"GET", "/api/git/commits/{sha}/changes", notOfferedYet},
	{"GET", "/api/git/diff", notOfferedYet},
	{"GET", "/api/init", notOffered},
	{"POST", "/api/init", notOffered},
	{"GET", "/api/llm/provider-connections", noProviderConns},
	{"POST", "/api/llm/provider-connections", noProviderConns},
	{"DELETE", "/api/llm/provider-connections/{connection_id}", noProviderConns},
	{"PATCH", "/api/llm/provider-connections/{connection_id}", noProviderConns},
	{"POST", "/api/llm/subscription/openai/device/poll", noSubscription},
	{"POST", "/api/llm/subscription/openai/device/start", noSubscription},
	{"POST", "/api/llm/subscription/openai/logout", noSubscription},
	{"GET", "/api/llm/subscription/openai/models", noSubscription},
	{"GET", "/api/llm/subscription/openai/status", noSubscription},
	{"POST", "/api/mcp/oauth/callback/{job_id}", noMCPOAuth},
	{"POST", "/api/mcp/oauth/start", noMCPOAuth},
	{"GET", "/api/mcp/oauth/status/{job_id}", noMCPOAuth},
	{"POST", "/api/plugins", noMarketplace},
	{"POST", "/api/plugins/install", noMarketplace},
	{"GET", "/api/plugins/installed", noMarketplace},
	{"DELETE", "/api/plugins/installed/{plugin_name}", noMarketplace},
	{"GET", "/api/plugins/installed/{plugin_name}", noMarketplace},
	{"PATCH", "/api/plugins/installed/{plugin_name}", noMarketplace},
	{"POST", "/api/plugins/installed/{plugin_name}/refresh", noMarketplace},
	{"GET", "/api/plugins/marketplace", noMarketplace},
	{"POST", "/api/profiles/{name}/validate", notOfferedYet},
	{"POST", "/api/settings/mcp/{settings_key}", notOfferedYet},
	{"PATCH", "/api/settings/mcp/{settings_key}", notOfferedYet},
	{"DELETE", "/api/settings/mcp/{settings_key}", notOfferedYet},
	{"POST", "/api/skills/install", noMarketplace},
	{"GET", "/api/skills/installed", noMarketplace},
	{"DELETE", "/api/skills/installed/{skill_name}", noMarketplace},
	{"GET", "/api/skills/installed/{skill_name}", noMarketplace},
	{"PATCH", "/api/skills/installed/{skill_name}", noMarketplace},
	{"POST", "/api/skills/installed/{skill_name}/refresh", noMarketplace},
	{"GET", "/api/skills/marketplace", noMarketplace},
	{"POST", "/api/skills/sync", noMarketplace},
	{"POST", "/api/sub-agents", notOfferedYet},
	{"POST", "/v1/chat/completions", notOffered},
	{"GET", "/v1/models", notOffered},
	{"DELETE", "/api/workspaces", notOfferedYet},
	{"GET", "/api/workspaces", notOfferedYet},
	{"POST", "/api/workspaces", notOfferedYet},
	{"DELETE", "/api/workspaces/parents", notOfferedYet},
	{"POST", "/api/workspaces/parents", notOfferedYet},
}

// match reports whether a request for method and path is this route. A
// HEAD matches a GET route.
func (r upstreamRoute) match(method, path string) bool {
	if method != r.method && (method != http.MethodHead || r.method != http.MethodGet) {
		return false
	}
	want := strings.Split(r.pattern, "/")
	got := strings.Split(path, "/")
	for i, w := range want {
		if strings.HasPrefix(w, "{") && strings.HasSuffix(w, ":path}") {
			return len(got) > i && strings.Join(got[i:], "") != ""
		}
		if i >= len(got) {
			return false
		}
		if strings.HasPrefix(w, "{") {
			if got[i] == "" {
				return false
			}
			continue
		}
		if w != got[i] {
			return false
		}
	}
	return len(got) == len(want)
}

// notOfferedRoute finds the upstream route a request is for, if any.
func notOfferedRoute(method, path string) (upstreamRoute, bool) {
	for _, r := range upstreamRoutes {
		if r.match(method, path) {
			return r, true
		}
	}
	return upstreamRoute{}, false
}

// answerNotOffered answers a request for an upstream route GoHands does
// not serve with 501, after the key check the route would have had; it
// reports whether the request was such a route.
func (s *Server) answerNotOffered(c *gin.Context) bool {
	r, ok := notOfferedRoute(c.Request.Method, c.Request.URL.Path)
	if !ok {
		return false
	}
	if strings.HasPrefix(c.Request.URL.Path, "/api/") || strings.HasPrefix(c.Request.URL.Path, "/v1/") {
		s.requireKey(c)
		if c.IsAborted() {
			return true
		}
	}
	c.JSON(http.StatusNotImplemented, gin.H{"detail": r.method + " " + r.pattern + ": " + r.why})
	return true
}

// The reference server's answers for features that are switched off.
func (s *Server) vscodeURL(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"url": nil}) }

func (s *Server) desktopURL(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"url": nil}) }

func (s *Server) vscodeStatus(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"running": false, "enabled": false, "message": "GoHands does not offer VS Code"})
}
