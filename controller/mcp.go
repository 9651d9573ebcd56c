package controller

import (
	"context"
	"slices"

	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/tools"
)

// mcpTools are the MCP tools a run offers the model, beside the built-in
// ones.
type mcpTools struct {
	servers tools.MCPServers // nil: the conversation has none
	offered []tools.MCPTool
	byName  map[string]tools.MCPTool
}

// loadMCP connects the conversation's MCP servers (on the run's first
// use) and offers their tools. A sandbox that cannot be reached leaves
// the run with its built-in tools only: the model is not kept from
// working by an MCP server.
func (r *run) loadMCP(ctx context.Context) {
	var fromSkills []session.SkillMCP
	for _, s := range r.repo.Skills {
		if s.MCPServers != nil {
			fromSkills = append(fromSkills, session.SkillMCP{Skill: s.Name, Config: s.MCPServers})
		}
	}
	r.conv.SetSkillMCP(fromSkills)
	r.refreshMCP(ctx)
}

// refreshMCP offers the MCP servers' tools as they are now, when they
// changed since the run last offered them (a server's tools/list_changed,
// servers started again with a new sandbox). It reports whether they
// changed. Servers that cannot be reached leave the run with the tools it
// offered: their calls fail and say why.
func (r *run) refreshMCP(ctx context.Context) bool {
	servers, err := r.conv.ToolWorkspace().MCP(ctx)
	if err != nil {
		r.log.Warn("MCP servers not reached; their tools stay as they were", "err", err)
		return false
	}
	r.mcp.servers = servers
	var now []tools.MCPTool
	if servers != nil {
		now = servers.Tools()
	}
	if slices.EqualFunc(now, r.mcp.offered, sameMCPTool) {
		return false
	}
	byName := make(map[string]tools.MCPTool, len(now))
	var kept []tools.MCPTool
	for _, t := range now {
		if slices.Contains(r.names, t.Name) {
			r.log.Warn("an MCP tool has the name of a built-in tool and is left out", "tool", t.Name, "server", t.Server)
			continue
		}
		byName[t.Name] = t
		kept = append(kept, t)
	}
	r.mcp.offered, r.mcp.byName = now, byName
	builtIn, shown := tools.Specs(r.names, r.rateRisk)
	mcpSpecs, mcpShown := tools.MCPSpecs(kept, r.rateRisk)
	r.llmTools, r.shown = append(builtIn, mcpSpecs...), append(shown, mcpShown...)
	return true
}

func sameMCPTool(a, b tools.MCPTool) bool {
	return a.Name == b.Name && a.Server == b.Server && a.Remote == b.Remote &&
		a.Description == b.Description && string(a.InputSchema) == string(b.InputSchema)
}

// lookup returns the tool of a name the run offers: a built-in one or an
// MCP tool.
func (r *run) lookup(name string) (tools.Tool, bool) {
	if slices.Contains(r.names, name) {
		return tools.Lookup(name)
	}
	if t, ok := r.mcp.byName[name]; ok {
		return tools.MCP(t), true
	}
	return nil, false
}

// offered names every tool the run offers.
func (r *run) offered() []string {
	names := slices.Clone(r.names)
	for _, t := range r.mcp.offered {
		if _, ok := r.mcp.byName[t.Name]; ok {
			names = append(names, t.Name)
		}
	}
	return names
}
