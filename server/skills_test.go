package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/skills"
)

// TestSkillsAndHooksRoutes reads a workspace's guidance, skills and hooks
// file through POST /api/skills and POST /api/hooks, inside the sandbox.
func TestSkillsAndHooksRoutes(t *testing.T) {
	t.Parallel()
	serverSkill := skills.Skill{Name: "house-style", Description: "The house style", Content: "Short names.",
		Path: "/etc/gohands/skills/house-style/SKILL.md", Source: skills.SourceServer, Type: skills.TypeAgentSkills}
	e := newEnv(t, options{sandboxes: true, config: func(c *server.Config) { c.ServerSkills = []skills.Skill{serverSkill} }})
	c := e.create(nil)
	e.sh(c.ID, `mkdir -p .agents/skills/release sub/inner .openhands && printf 'Use make.\n' > AGENTS.md &&
printf -- '---\nname: release\ndescription: Cutting a release\ntriggers: [release, ship]\n---\nTag it.\n' > .agents/skills/release/SKILL.md &&
printf '{"PreToolUse": [{"matcher": "terminal", "hooks": [{"command": "true"}]}]}' > .openhands/hooks.json &&
printf 'Inner rules.\n' > sub/inner/AGENTS.md && mkdir -p sub/.openhands && printf '{"Stop": [' > sub/.openhands/hooks.json`)

	type info struct {
		Name, Type, Content string
		Triggers            []string
		Source, Description *string
		IsAgentSkills       bool `json:"is_agentskills_format"`
	}
	var got struct {
		Skills  []info
		Sources map[string]int
	}
	e.call(http.MethodPost, "/api/skills", map[string]any{"conversation_id": c.ID}, http.StatusOK, &got)
	var names []string
	for _, s := range got.Skills {
		names = append(names, s.Type+":"+s.Name)
	}
	if want := "repo:AGENTS.md repo:AGENTS.md agentskills:release agentskills:house-style"; strings.Join(names, " ") != want {
		t.Errorf("skills %q, want %q", strings.Join(names, " "), want)
	}
	if len(got.Skills) == 4 {
		r := got.Skills[2]
		if r.Content != "Tag it." || strings.Join(r.Triggers, ",") != "release,ship" || !r.IsAgentSkills ||
			r.Source == nil || *r.Source != "/workspace/.agents/skills/release/SKILL.md" || r.Description == nil || *r.Description != "Cutting a release" {
			t.Errorf("the release skill: %+v", r)
		}
	}
	if got.Sources["project"] != 3 || got.Sources["server"] != 1 {
		t.Errorf("sources %v", got.Sources)
	}
	// A folder of the workspace, and only the server's when asked so.
	e.call(http.MethodPost, "/api/skills", map[string]any{"conversation_id": c.ID, "project_dir": "/workspace/sub"}, http.StatusOK, &got)
	if len(got.Skills) != 2 || got.Skills[0].Content != "Inner rules." {
		t.Errorf("skills of sub: %+v", got.Skills)
	}
	e.call(http.MethodPost, "/api/skills", map[string]any{}, http.StatusOK, &got)
	if len(got.Skills) != 1 || got.Skills[0].Name != "house-style" {
		t.Errorf("without a conversation: %+v", got.Skills)
	}

	var hooks struct {
		HookConfig map[string]json.RawMessage `json:"hook_config"`
	}
	e.call(http.MethodPost, "/api/hooks", map[string]any{"conversation_id": c.ID}, http.StatusOK, &hooks)
	if !strings.Contains(string(hooks.HookConfig["pre_tool_use"]), `"command":"true"`) {
		t.Errorf("hook_config %s", hooks.HookConfig)
	}
	raw := e.call(http.MethodPost, "/api/hooks", map[string]any{"conversation_id": c.ID, "project_dir": "sub"}, http.StatusOK, nil)
	if string(raw) != `{"hook_config":null}` {
		t.Errorf("an invalid hooks file: %s, want hook_config null", raw)
	}

	// Bad input answers 4xx with a detail.
	for _, tc := range []struct {
		path string
		body any
		want int
	}{
		{"/api/skills", map[string]any{"conversation_id": c.ID, "project_dir": "/etc"}, http.StatusBadRequest},
		{"/api/skills", map[string]any{"conversation_id": c.ID, "project_dir": "../.."}, http.StatusBadRequest},
		{"/api/hooks", map[string]any{"conversation_id": c.ID, "project_dir": "/etc"}, http.StatusBadRequest},
		{"/api/skills", map[string]any{"project_dir": "/workspace"}, http.StatusUnprocessableEntity},
		{"/api/hooks", map[string]any{"project_dir": "/workspace"}, http.StatusUnprocessableEntity},
		{"/api/skills", map[string]any{"conversation_id": "nope"}, http.StatusNotFound},
		{"/api/skills", map[string]any{"load_project": "yes"}, http.StatusUnprocessableEntity},
		{"/api/hooks", "not an object", http.StatusUnprocessableEntity},
	} {
		status, body := e.request(http.MethodPost, tc.path, tc.body, nil)
		if status != tc.want || !strings.Contains(string(body), `"detail"`) {
			t.Errorf("POST %s %v: %d %s, want %d with a detail", tc.path, tc.body, status, body, tc.want)
		}
	}
}
