package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/skills"
)

// repoRoutes are the routes that say what a workspace offers its agent.
func (s *Server) repoRoutes(api *gin.RouterGroup) {
	api.POST("/skills", s.listSkills)
	api.POST("/hooks", s.getHooks)
}

// skillsRequest is the reference server's SkillsRequest, with the
// conversation whose workspace is read (GoHands reads a workspace inside
// its conversation's sandbox). The public, user and organisation sources
// of the reference server do not exist here; their flags are accepted
// and ignored.
type skillsRequest struct {
	ConversationID string `json:"conversation_id"`
	ProjectDir     string `json:"project_dir"`
	LoadProject    *bool  `json:"load_project"`
	// LoadUser stands for the server's skills folder here.
	LoadUser               *bool   `json:"load_user"`
	LoadPublic             *bool   `json:"load_public"`
	LoadOrg                *bool   `json:"load_org"`
	MarketplacePath        *string `json:"marketplace_path"`
	RegisteredMarketplaces []any   `json:"registered_marketplaces"`
	OrgConfigs             []any   `json:"org_configs"`
	OrgConfig              any     `json:"org_config"`
	SandboxConfig          any     `json:"sandbox_config"`
}

// skillInfo is the reference server's SkillInfo.
type skillInfo struct {
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	Content                string   `json:"content"`
	Triggers               []string `json:"triggers"`
	Source                 *string  `json:"source"`
	Description            *string  `json:"description"`
	IsAgentSkillsFormat    bool     `json:"is_agentskills_format"`
	DisableModelInvocation bool     `json:"disable_model_invocation"`
}

type skillsResponse struct {
	Skills  []skillInfo    `json:"skills"`
	Sources map[string]int `json:"sources"`
}

// listSkills answers POST /api/skills: the guidance files and skills of a
// conversation's workspace (project_dir, in the workspace, or its root)
// and of the server's skills folder.
func (s *Server) listSkills(c *gin.Context) {
	var req skillsRequest
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.ConversationID == "" {
		req.ConversationID = c.Query("conversation_id")
	}
	out := skillsResponse{Skills: []skillInfo{}, Sources: map[string]int{}}
	add := func(list []skills.Skill, source string) {
		for _, sk := range list {
			out.Skills = append(out.Skills, infoOf(sk, source))
		}
		if len(list) > 0 {
			out.Sources[source] += len(list)
		}
	}
	if req.LoadProject == nil || *req.LoadProject {
		if req.ConversationID == "" {
			if req.ProjectDir != "" {
				s.fail(c, errorf(http.StatusUnprocessableEntity, "conversation_id: missing; GoHands reads a workspace inside its conversation's sandbox"))
				return
			}
		} else {
			set, ok := s.repository(c, req.ConversationID, req.ProjectDir)
			if !ok {
				return
			}
			add(set.Guidance, skills.SourceProject)
			add(set.Nested, skills.SourceProject)
			add(set.Skills, skills.SourceProject)
		}
	}
	if req.LoadUser == nil || *req.LoadUser {
		add(s.cfg.ServerSkills, skills.SourceServer)
	}
	c.JSON(http.StatusOK, out)
}

func infoOf(sk skills.Skill, source string) skillInfo {
	info := skillInfo{Name: sk.Name, Type: sk.Type, Content: sk.Content, Triggers: sk.Triggers,
		IsAgentSkillsFormat: sk.Type == skills.TypeAgentSkills}
	if info.Triggers == nil {
		info.Triggers = []string{}
	}
	src := sk.Path
	if src == "" {
		src = source
	}
	info.Source = &src
	if sk.Description != "" {
		d := sk.Description
		info.Description = &d
	}
	return info
}

// repository reads a conversation's workspace, answering a failure.
func (s *Server) repository(c *gin.Context, id, dir string) (skills.Set, bool) {
	a, ok := s.conversationByID(c, id)
	if !ok {
		return skills.Set{}, false
	}
	var set skills.Set
	err := a.WithWorkspace(c.Request.Context(), func(w session.SandboxWorkspace) error {
		var err error
		set, err = w.Repository(c.Request.Context(), dir)
		return err
	})
	if err != nil {
		s.fail(c, sandboxErr(err))
		return skills.Set{}, false
	}
	return set, true
}

// getHooks answers POST /api/hooks: the hooks file of a conversation's
// workspace (project_dir, in the workspace, or its root), or null when it
// has none, or one that is empty or not valid, as the reference server
// answers.
func (s *Server) getHooks(c *gin.Context) {
	var req struct {
		ConversationID string `json:"conversation_id"`
		ProjectDir     string `json:"project_dir"`
	}
	if err := s.bind(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.ConversationID == "" {
		req.ConversationID = c.Query("conversation_id")
	}
	var out struct {
		HookConfig *security.HookConfig `json:"hook_config"`
	}
	if req.ConversationID == "" {
		if req.ProjectDir != "" {
			s.fail(c, errorf(http.StatusUnprocessableEntity, "conversation_id: missing; GoHands reads a workspace inside its conversation's sandbox"))
			return
		}
		c.JSON(http.StatusOK, out) // no project, no hooks: the reference server's answer
		return
	}
	set, ok := s.repository(c, req.ConversationID, req.ProjectDir)
	if !ok {
		return
	}
	if len(set.Hooks) > 0 {
		if cfg, err := security.ParseHookConfig(set.Hooks); err == nil && !cfg.Empty() {
			out.HookConfig = &cfg
		}
	}
	c.JSON(http.StatusOK, out)
}
