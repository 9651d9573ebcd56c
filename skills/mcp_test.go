package skills

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMCPServers: a skill brings MCP servers as the SDK reads them: the
// front matter's mcp_tools (nested YAML) in the older format, the
// .mcp.json beside a SKILL.md in the newer, with ${SKILL_ROOT} its folder.
func TestMCPServers(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, root, ".openhands/microagents/github.md", `---
triggers: [github]
mcp_tools:
  mcpServers:
    github:
      command: github-mcp-server
      args: ["stdio", "--read-only"]
      env:
        GITHUB_TOKEN: "${GITHUB_TOKEN}"
---
Use the GitHub tools.`)
	write(t, root, ".agents/skills/docs/SKILL.md", "---\nname: docs\ndescription: Search the docs\n---\nSearch first.")
	write(t, root, ".agents/skills/docs/.mcp.json", `{"mcpServers":{"docs":{"command":"${SKILL_ROOT}/bin/docs-mcp","args":["--index","${SKILL_ROOT}/index"]}}}`)
	write(t, root, ".agents/skills/broken/SKILL.md", "---\nname: broken\ndescription: x\n---\nx")
	write(t, root, ".agents/skills/broken/.mcp.json", `{"mcpServers":`)
	set, err := Load(context.Background(), shell{}, root)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, s := range set.Skills {
		if s.MCPServers != nil {
			var v any
			if err := json.Unmarshal(s.MCPServers, &v); err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			got[s.Name] = v
		}
	}
	docs := filepath.Join(root, ".agents/skills/docs")
	want := map[string]any{
		"github": map[string]any{"mcpServers": map[string]any{"github": map[string]any{
			"command": "github-mcp-server", "args": []any{"stdio", "--read-only"},
			"env": map[string]any{"GITHUB_TOKEN": "${GITHUB_TOKEN}"}}}},
		"docs": map[string]any{"mcpServers": map[string]any{"docs": map[string]any{
			"command": docs + "/bin/docs-mcp", "args": []any{"--index", docs + "/index"}}}},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("MCP servers of the skills (-got +want):\n%s", diff)
	}
	if len(set.Problems) != 1 || !strings.Contains(set.Problems[0], "broken/.mcp.json") {
		t.Errorf("Problems = %q, want the broken .mcp.json", set.Problems)
	}

	// The server's skills folder: the same, read on the host.
	dir := t.TempDir()
	write(t, dir, "docs/SKILL.md", "---\nname: docs\ndescription: d\n---\nx")
	write(t, dir, "docs/.mcp.json", `{"mcpServers":{"docs":{"url":"https://docs.example/mcp"}}}`)
	list, problems, err := LoadDir(dir)
	if err != nil || len(problems) > 0 || len(list) != 1 || string(list[0].MCPServers) != `{"mcpServers":{"docs":{"url":"https://docs.example/mcp"}}}` {
		t.Errorf("LoadDir = %+v, %v, %v; want docs with its MCP server", list, problems, err)
	}
}

func TestMCPToolsFrontMatterErrors(t *testing.T) {
	t.Parallel()
	for _, fm := range []string{
		"mcp_tools: not a mapping",
		"mcp_tools:\n  - a\n  - b",
		"mcp_tools:\n  a: [unclosed",
	} {
		if _, err := Parse("x.md", []byte("---\n"+fm+"\n---\nbody")); err == nil {
			t.Errorf("Parse accepted front matter %q", fm)
		}
	}
}
