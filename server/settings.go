package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/apidoc"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/session"
)

// surfaceRoutes registers the server-wide settings, the profiles, the
// model catalogue, and the reference server's answers for what is
// switched off (VS Code, the desktop).
func (s *Server) surfaceRoutes(api *gin.RouterGroup) {
	getHead(api, "/settings", s.getSettings)
	api.PATCH("/settings", s.patchSettings)
	getHead(api, "/settings/agent-schema", s.schema("Agent"))
	getHead(api, "/settings/conversation-schema", s.schema("StartConversationRequest"))
	getHead(api, "/settings/secrets", s.listServerSecrets)
	api.PUT("/settings/secrets", s.putServerSecret)
	getHead(api, "/settings/secrets/:name", s.getServerSecret)
	api.DELETE("/settings/secrets/:name", s.deleteServerSecret)

	getHead(api, "/profiles", s.listProfiles)
	getHead(api, "/profiles/:name", s.getProfile)
	api.POST("/profiles/:name", s.saveProfile)
	api.DELETE("/profiles/:name", s.deleteProfile)
	api.POST("/profiles/:name/rename", s.renameProfile)
	api.POST("/profiles/:name/activate", s.activateProfile)

	getHead(api, "/llm/providers", s.llmProviders)
	getHead(api, "/llm/models", s.llmModels)
	getHead(api, "/llm/models/verified", s.llmVerified)

	getHead(api, "/vscode/url", s.vscodeURL)
	getHead(api, "/vscode/status", s.vscodeStatus)
	getHead(api, "/desktop/url", s.desktopURL)
}

// wantsHTML reports whether a request asks for a web page (a browser's
// Accept), rather than data.
func wantsHTML(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if mt == "text/html" || mt == "application/xhtml+xml" {
			return true
		}
	}
	return false
}

// settingsAnswer is the wire shape of the server settings, the reference
// server's SettingsResponse.
func settingsAnswer(v session.SettingsView) gin.H {
	var key any
	if v.LLM.APIKey != "" {
		key = session.Masked
	}
	llmSettings := gin.H{"model": nullable(v.LLM.Model), "base_url": nullable(v.LLM.BaseURL), "api_key": key}
	policy := session.ConfirmationPolicy{Kind: session.NeverConfirm}
	if v.ConfirmationPolicy != nil {
		policy = *v.ConfirmationPolicy
	}
	var analyzer any
	if v.SecurityAnalyzer != nil {
		analyzer = v.SecurityAnalyzer
	}
	misc := v.Misc
	if misc == nil {
		misc = map[string]json.RawMessage{}
	}
	return gin.H{
		"agent_settings": gin.H{"agent_kind": "openhands", "llm": llmSettings, "mcp_config": gin.H{}},
		"conversation_settings": gin.H{
			"confirmation_mode":   policy.Kind != session.NeverConfirm,
			"confirmation_policy": policy,
			"security_analyzer":   analyzer,
		},
		"llm_api_key_is_set":      v.KeySet,
		"active_profile":          nullable(v.ActiveProfile),
		"active_agent_profile_id": nil,
		"misc_settings":           misc,
	}
}

// nullable is s, or null when empty.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) getSettings(c *gin.Context) {
	v, err := s.convs.Settings()
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, settingsAnswer(v))
}

// patchSettings applies the reference server's settings diff to what
// GoHands keeps: the default model, endpoint and key, the confirmation
// policy, the analyzer, the active profile and the client's own data. A
// setting GoHands does not keep is refused, naming it.
func (s *Server) patchSettings(c *gin.Context) {
	var req map[string]json.RawMessage
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	u, err := settingsUpdate(req)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, err := s.convs.UpdateSettings(u)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, settingsAnswer(v))
}

// settingsUpdate reads a PATCH /api/settings body.
func settingsUpdate(req map[string]json.RawMessage) (session.SettingsUpdate, error) {
	var u session.SettingsUpdate
	if len(req) == 0 {
		return u, errorf(http.StatusBadRequest, "at least one of agent_settings_diff, conversation_settings_diff, misc_settings_diff or active_profile must be given")
	}
	for field, raw := range req {
		var err error
		switch field {
		case "agent_settings_diff":
			err = agentDiff(raw, &u)
		case "conversation_settings_diff":
			err = conversationDiff(raw, &u)
		case "misc_settings_diff":
			err = decodeField(field, raw, &u.Misc)
		case "active_profile":
			var name *string
			if err = decodeField(field, raw, &name); err == nil {
				if name == nil {
					name = new(string)
				}
				u.ActiveProfile = name
			}
		case "active_agent_profile_id":
			if string(raw) != "null" {
				err = errorf(http.StatusUnprocessableEntity, "active_agent_profile_id: GoHands has no agent profiles")
			}
		default:
			err = errorf(http.StatusUnprocessableEntity, "%s: not a settings field (agent_settings_diff, conversation_settings_diff, misc_settings_diff, active_profile)", field)
		}
		if err != nil {
			return u, err
		}
	}
	return u, nil
}

// decodeField decodes one field of a body, naming it in the error.
func decodeField(field string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return errorf(http.StatusUnprocessableEntity, "%s: %v", field, jsonError(err))
	}
	return nil
}

// agentDiff reads agent_settings_diff: only its llm's model, base_url and
// api_key are kept by GoHands.
func agentDiff(raw json.RawMessage, u *session.SettingsUpdate) error {
	var diff map[string]json.RawMessage
	if err := decodeField("agent_settings_diff", raw, &diff); err != nil {
		return err
	}
	for k, v := range diff {
		switch k {
		case "agent_kind":
			var kind string
			if json.Unmarshal(v, &kind) != nil || kind != "openhands" {
				return errorf(http.StatusUnprocessableEntity, "agent_settings_diff.agent_kind: GoHands runs openhands agents only")
			}
		case "llm":
			var l map[string]json.RawMessage
			if err := decodeField("agent_settings_diff.llm", v, &l); err != nil {
				return err
			}
			for lk, lv := range l {
				var p *string
				if err := decodeField("agent_settings_diff.llm."+lk, lv, &p); err != nil {
					return err
				}
				if p == nil {
					p = new(string)
				}
				switch lk {
				case "model":
					u.Model = p
				case "base_url":
					u.BaseURL = p
				case "api_key":
					u.APIKey = p
				default:
					return errorf(http.StatusUnprocessableEntity, "agent_settings_diff.llm.%s: GoHands keeps model, base_url and api_key as server settings; give the rest with each conversation", lk)
				}
			}
		default:
			return errorf(http.StatusUnprocessableEntity, "agent_settings_diff.%s: GoHands keeps only llm as a server setting", k)
		}
	}
	return nil
}

// conversationDiff reads conversation_settings_diff: the confirmation
// policy (or the reference server's confirmation_mode) and the analyzer.
func conversationDiff(raw json.RawMessage, u *session.SettingsUpdate) error {
	var diff map[string]json.RawMessage
	if err := decodeField("conversation_settings_diff", raw, &diff); err != nil {
		return err
	}
	for k, v := range diff {
		switch k {
		case "confirmation_policy":
			if string(v) == "null" {
				u.ClearConfirmation = true
				continue
			}
			var p session.ConfirmationPolicy
			if err := decodeField("conversation_settings_diff.confirmation_policy", v, &p); err != nil {
				return err
			}
			u.ConfirmationPolicy = &p
		case "confirmation_mode":
			var on bool
			if err := decodeField("conversation_settings_diff.confirmation_mode", v, &on); err != nil {
				return err
			}
			if _, both := diff["confirmation_policy"]; both {
				return errorf(http.StatusUnprocessableEntity, "conversation_settings_diff: give confirmation_mode or confirmation_policy, not both")
			}
			kind := session.NeverConfirm
			if on {
				kind = session.AlwaysConfirm
			}
			u.ConfirmationPolicy = &session.ConfirmationPolicy{Kind: kind}
		case "security_analyzer":
			var name string
			switch {
			case string(v) == "null":
				u.ClearAnalyzer = true
			case json.Unmarshal(v, &name) == nil:
				switch {
				case name == "" || strings.EqualFold(name, "none"):
					u.ClearAnalyzer = true
				case strings.EqualFold(name, "llm"): // the reference server's name
					u.SecurityAnalyzer = &session.SecurityAnalyzer{Kind: "LLMSecurityAnalyzer"}
				default:
					u.SecurityAnalyzer = &session.SecurityAnalyzer{Kind: name}
				}
			default:
				var a session.SecurityAnalyzer
				if err := decodeField("conversation_settings_diff.security_analyzer", v, &a); err != nil {
					return err
				}
				u.SecurityAnalyzer = &a
			}
		default:
			return errorf(http.StatusUnprocessableEntity, "conversation_settings_diff.%s: GoHands keeps confirmation_policy (or confirmation_mode) and security_analyzer as server settings; give the rest with each conversation", k)
		}
	}
	return nil
}

// schema answers the JSON Schema of a part of the create request, taken
// from the OpenAPI document's components.
func (s *Server) schema(component string) gin.HandlerFunc {
	return func(c *gin.Context) {
		doc, err := apidoc.JSONSchema(component)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Data(http.StatusOK, "application/json", doc)
	}
}

func (s *Server) listServerSecrets(c *gin.Context) {
	secrets, err := s.convs.ServerSecrets()
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secrets": secrets})
}

func (s *Server) putServerSecret(c *gin.Context) {
	var req struct {
		Name        string  `json:"name"`
		Value       *string `json:"value"`
		Description *string `json:"description"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.Value == nil {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "value: missing"))
		return
	}
	if err := s.convs.PutServerSecret(req.Name, *req.Value, req.Description); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, session.ServerSecret{Name: req.Name, Description: req.Description})
}

func (s *Server) getServerSecret(c *gin.Context) {
	v, err := s.convs.ServerSecretValue(c.Param("name"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(v))
}

func (s *Server) deleteServerSecret(c *gin.Context) {
	if err := s.convs.DeleteServerSecret(c.Param("name")); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": true})
}

// profileLLM is a profile's model settings on the wire, the key masked
// (null when there is none).
func profileLLM(p session.Profile) gin.H {
	raw, _ := json.Marshal(p.LLM)
	var out gin.H
	json.Unmarshal(raw, &out)
	if p.KeySet {
		out["api_key"] = session.Masked
	} else {
		out["api_key"] = nil
	}
	out["base_url"] = nullable(p.LLM.BaseURL)
	return out
}

func (s *Server) listProfiles(c *gin.Context) {
	profiles, active, err := s.convs.Profiles()
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]gin.H, 0, len(profiles))
	for _, p := range profiles {
		items = append(items, gin.H{"name": p.Name, "model": nullable(p.LLM.Model), "base_url": nullable(p.LLM.BaseURL),
			"provider_connection_id": nil, "provider_connection_broken": false, "api_key_set": p.KeySet})
	}
	c.JSON(http.StatusOK, gin.H{"profiles": items, "active_profile": nullable(active)})
}

func (s *Server) getProfile(c *gin.Context) {
	p, err := s.convs.GetProfile(c.Param("name"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": p.Name, "config": profileLLM(p), "api_key_set": p.KeySet})
}

func (s *Server) saveProfile(c *gin.Context) {
	var req struct {
		LLM            *session.LLM `json:"llm"`
		IncludeSecrets *bool        `json:"include_secrets"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.LLM == nil {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "llm: missing"))
		return
	}
	name := c.Param("name")
	if err := s.convs.SaveProfile(name, *req.LLM, req.IncludeSecrets == nil || *req.IncludeSecrets); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"name": name, "message": "Profile '" + name + "' saved"})
}

func (s *Server) deleteProfile(c *gin.Context) {
	name := c.Param("name")
	if err := s.convs.DeleteProfile(name); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": name, "message": "Profile '" + name + "' deleted"})
}

func (s *Server) renameProfile(c *gin.Context) {
	var req struct {
		NewName string `json:"new_name"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	name := c.Param("name")
	if err := s.convs.RenameProfile(name, req.NewName); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": req.NewName, "message": "Profile '" + name + "' renamed to '" + req.NewName + "'"})
}

func (s *Server) activateProfile(c *gin.Context) {
	name := c.Param("name")
	if _, err := s.convs.ActivateProfile(name); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": name, "message": "Profile '" + name + "' activated and applied to current settings", "llm_applied": true})
}

func (s *Server) llmProviders(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"providers": llm.Providers()})
}

func (s *Server) llmModels(c *gin.Context) {
	provider := c.Query("provider")
	if provider != "" && !slices.Contains(llm.Providers(), provider) {
		s.fail(c, errorf(http.StatusNotFound, "provider: %q is not one of %s", provider, strings.Join(llm.Providers(), ", ")))
		return
	}
	c.JSON(http.StatusOK, gin.H{"models": llm.CatalogueModels(provider)})
}

func (s *Server) llmVerified(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"models": llm.Catalogue()})
}
