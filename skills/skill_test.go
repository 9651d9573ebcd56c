package skills

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, data string
		want             Skill
	}{
		{"agentskills", "/w/.agents/skills/release/SKILL.md",
			"---\nname: release\ndescription: How to cut a release\ntriggers:\n  - release\n  - \"ship it\"\nlicense: MIT\n---\n# Release\nTag it.\n",
			Skill{Name: "release", Description: "How to cut a release", Triggers: []string{"release", "ship it"}, Content: "# Release\nTag it.",
				Path: "/w/.agents/skills/release/SKILL.md", Type: TypeAgentSkills}},
		{"name from folder, inline list, folded description", "/w/.openhands/skills/db-tools/SKILL.md",
			"---\ndescription: >\n  Tools for\n  the database\ntriggers: [psql, 'migrate']\nmetadata:\n  name: not-this\n---\nBody",
			Skill{Name: "db-tools", Description: "Tools for the database", Triggers: []string{"psql", "migrate"}, Content: "Body",
				Path: "/w/.openhands/skills/db-tools/SKILL.md", Type: TypeAgentSkills}},
		{"legacy microagent with triggers", "/w/.openhands/microagents/docker.md",
			"---\ntriggers:\n- docker\n---\nUse compose.", Skill{Name: "docker", Triggers: []string{"docker"}, Content: "Use compose.",
				Path: "/w/.openhands/microagents/docker.md", Type: TypeKnowledge}},
		{"no front matter", "/w/.openhands/microagents/repo.md", "Always run make.",
			Skill{Name: "repo", Content: "Always run make.", Path: "/w/.openhands/microagents/repo.md", Type: TypeRepo}},
		{"unclosed front matter is text", "/s/x.md", "---\nname: y\n", Skill{Name: "x", Content: "---\nname: y", Path: "/s/x.md", Type: TypeRepo}},
		{"CRLF", "/s/a/SKILL.md", "---\r\nname: a\r\ndescription: d\r\n---\r\ntext", Skill{Name: "a", Description: "d", Content: "text", Path: "/s/a/SKILL.md", Type: TypeAgentSkills}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.file, []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Parse (-got +want):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		"---\nname: \"open\n---\nx",
		"---\njust words\n---\nx",
		"---\ntriggers: [a, b\n---\nx",
		"---\ntriggers:\n  not an item\n---\nx",
	} {
		if s, err := Parse("/w/SKILL.md", []byte(data)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", data, s)
		}
	}
}

func TestMatched(t *testing.T) {
	t.Parallel()
	s := Skill{Triggers: []string{"git", "/deploy", "Ship It"}}
	tests := []struct{ msg, want string }{
		{"please use git here", "git"},
		{"GIT!", "git"},
		{"push to github", ""},
		{"run /deploy now", "/deploy"},
		{"ok, ship it.", "Ship It"},
		{"digits git2 do not count", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := s.Matched(tt.msg); got != tt.want {
			t.Errorf("Matched(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("---\nname: a\ndescription: |\n  x\n  y\ntriggers: [p, 'q']\n---\nbody")
	f.Add("---\ntriggers:\n- a\n- \"b\"\n---\n")
	f.Add("\ufeff---\r\nname: 'it''s'\r\n---\r\n")
	f.Add("---\nmcp_tools:\n  mcpServers:\n    gh:\n      command: gh-mcp\n      args: [stdio]\n      env: {T: \"${T}\"}\n---\n")
	f.Add("---\nmcp_tools:\n  a: &x {b: *x}\n---\n")
	f.Fuzz(func(t *testing.T, data string) {
		s, err := Parse("/w/.agents/skills/x/SKILL.md", []byte(data))
		if err != nil {
			return
		}
		if s.MCPServers != nil && !json.Valid(s.MCPServers) {
			t.Fatalf("Parse(%q): MCP servers %q are not JSON", data, s.MCPServers)
		}
		if s.Name == "" || len(s.Name) > maxNameLen || len(s.Description) > maxDescLen || len(s.Triggers) > maxTriggers {
			t.Fatalf("Parse(%q) = %+v: out of bounds", data, s)
		}
		for _, tr := range s.Triggers {
			if tr == "" {
				t.Fatalf("Parse(%q): an empty trigger", data)
			}
			if s.Matched(tr) == "" && containsWord(tr, tr) {
				t.Fatalf("Parse(%q): trigger %q does not match itself", data, tr)
			}
		}
	})
}
