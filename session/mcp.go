package session

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/mcpclient"
	"github.com/gohands/gohands/mcpsandbox"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/tools"
)

// MCPErrorCode is the code of the ConversationErrorEvent that tells the
// user an MCP server could not be used (it did not start, a tool was left
// out). The conversation goes on with the tools that work.
const MCPErrorCode = "MCPServerError"

// mcpConnectTimeout bounds connecting a conversation's MCP servers, all of
// them (each has mcpclient's own connect timeout too).
const mcpConnectTimeout = 60 * time.Second

// mcpServers is a conversation's MCP servers: connected on first use, in
// the sandbox they run in (stdio servers) or dial from (remote ones), and
// closed when that sandbox stops or goes, to be connected again on next
// use.
type mcpServers struct {
	op sync.Mutex // serialises connecting

	mu  sync.Mutex
	set *mcpclient.Set
	sb  sandbox.Sandbox // where set's servers run
	cfg string          // the configuration set was connected with
	gen int             // counts closes, so that a set connected meanwhile is not kept
}

// mcp returns the conversation's connected MCP servers, connecting them
// first when there are none for its sandbox and configuration now. It is
// nil when the conversation has no MCP server. Servers that do not start,
// and tools left out, are told in a ConversationErrorEvent; the rest work.
func (a *AgentSession) mcp(ctx context.Context) (*mcpclient.Set, error) {
	cfg, problems := a.mcpConfig()
	if cfg.Empty() {
		a.closeMCP()
		return nil, nil
	}
	key, _ := json.Marshal(cfg)
	h := &a.mcps
	h.mu.Lock()
	if set := h.set; set != nil && h.cfg == string(key) && h.sb == a.sb.current() && a.sb.running() {
		h.mu.Unlock()
		return set, nil // connected in the sandbox that runs now
	}
	h.mu.Unlock()
	h.op.Lock()
	defer h.op.Unlock()
	var set *mcpclient.Set
	err := a.WithSandbox(ctx, func(*agentapi.Client) error {
		sb := a.sb.current()
		h.mu.Lock()
		if h.set != nil && h.sb == sb && h.cfg == string(key) {
			set = h.set
			h.mu.Unlock()
			return nil
		}
		old, gen := h.set, h.gen
		h.set, h.sb, h.cfg = nil, nil, ""
		h.mu.Unlock()
		if old != nil {
			old.Close()
		}
		if sb == nil {
			return &Error{Kind: KindUnavailable, Detail: "the sandbox is gone"}
		}
		expanded, left := expand(cfg, a.secret)
		problems = append(problems, left...)
		cctx, cancel := context.WithTimeout(ctx, mcpConnectTimeout)
		defer cancel()
		s, warns := mcpclient.Connect(cctx, expanded, mcpclient.Options{
			Launcher: mcpsandbox.New(sb.Client(), a.m.opts.MCPRemoteDirect),
			Logger:   a.log,
		})
		h.mu.Lock()
		if h.gen != gen {
			h.mu.Unlock()
			s.Close() // the sandbox stopped meanwhile: these servers are gone with it
			return &Error{Kind: KindUnavailable, Detail: "the sandbox stopped while its MCP servers started"}
		}
		h.set, h.sb, h.cfg = s, sb, string(key)
		h.mu.Unlock()
		set = s
		for _, w := range warns {
			problems = append(problems, w.String())
		}
		if len(problems) > 0 {
			a.mcpError("Some MCP servers or tools cannot be used:\n" + strings.Join(problems, "\n"))
		}
		a.log.Info("MCP servers connected", "servers", len(cfg.Servers), "tools", len(s.Tools()), "warnings", len(warns))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return set, nil
}

// expand takes each server's secrets from secret; a server that names a
// secret the conversation does not have is left out, and said so.
func expand(cfg mcpclient.Config, secret func(string) (string, bool)) (mcpclient.Config, []string) {
	out := mcpclient.Config{Servers: make(map[string]mcpclient.ServerConfig, len(cfg.Servers))}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(cfg.Servers)) {
		one, err := mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{name: cfg.Servers[name]}}.Expand(secret)
		if err != nil {
			problems = append(problems, fmt.Sprintf("MCP server %q is left out: %v", name, err))
			continue
		}
		out.Servers[name] = one.Servers[name]
	}
	return out, problems
}

// closeMCP ends the conversation's MCP servers, if they run; the next use
// connects them again. It does not wait for a connecting in progress.
func (a *AgentSession) closeMCP() {
	h := &a.mcps
	h.mu.Lock()
	old := h.set
	h.set, h.sb, h.cfg = nil, nil, ""
	h.gen++
	h.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// connectedMCP returns the set if it is connected now, without
// connecting.
func (a *AgentSession) connectedMCP() *mcpclient.Set {
	h := &a.mcps
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.set
}

// mcpError records what went wrong with the MCP servers for the user to
// see.
func (a *AgentSession) mcpError(detail string) {
	e := &event.ConversationError{Code: MCPErrorCode, Detail: detail}
	if err := a.Append(e); err != nil {
		a.log.Warn("MCP warning not recorded", "err", err)
	}
}

// secret returns the value of one of the conversation's secrets.
func (a *AgentSession) secret(name string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.secrets[name]
	return v, ok && name != apiKeySecret
}

// SkillMCP is the MCP servers one of the conversation's skills brings.
type SkillMCP struct {
	Skill  string
	Config json.RawMessage // an mcpServers map
}

// SetSkillMCP sets the MCP servers the conversation's skills bring, as
// the run that loaded the skills found them; they count from the next
// use of the servers.
func (a *AgentSession) SetSkillMCP(l []SkillMCP) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.skillMCP = slices.Clone(l)
}

// mcpConfig is the conversation's MCP configuration: the server's default
// servers, then those of its skills, then its agent's mcp_config, each
// replacing the servers of the same name before it. problems says what
// was left out.
func (a *AgentSession) mcpConfig() (cfg mcpclient.Config, problems []string) {
	a.mu.Lock()
	own, fromSkills := a.settings.Agent.MCPConfig, a.skillMCP
	a.mu.Unlock()
	cfg = a.m.opts.MCPServers
	for _, s := range fromSkills {
		c, err := mcpclient.ParseConfig(s.Config)
		if err != nil {
			problems = append(problems, fmt.Sprintf("the MCP servers of the skill %s are left out: %v", s.Skill, err))
			continue
		}
		cfg = cfg.Merge(c)
	}
	if len(own) == 0 || string(own) == "null" {
		return cfg, problems
	}
	c, err := mcpclient.ParseConfig(own)
	if err != nil {
		return cfg, append(problems, fmt.Sprintf("agent.mcp_config is left out: %v", err))
	}
	return cfg.Merge(c), problems
}

// mcpTools converts a set's tools for the tools package.
func mcpTools(set *mcpclient.Set) []tools.MCPTool {
	if set == nil {
		return nil
	}
	ts := set.Tools()
	out := make([]tools.MCPTool, len(ts))
	for i, t := range ts {
		out[i] = tools.MCPTool{Name: t.Name, Server: t.Server, Remote: t.Remote, Description: t.Description, InputSchema: t.InputSchema}
	}
	return out
}

// mcpSet is a set as tools see it, with the conversation's secrets.
type mcpSet struct {
	s      *mcpclient.Set
	secret func(string) (string, bool)
}

func (m mcpSet) Tools() []tools.MCPTool { return mcpTools(m.s) }

// Call calls a tool with the secrets its arguments name ($NAME, ${NAME})
// put in, as the SDK does: the model sees secrets masked, so it names
// them, as in a terminal command.
func (m mcpSet) Call(ctx context.Context, tool string, args json.RawMessage) tools.MCPResult {
	r := m.s.Call(ctx, tool, withSecrets(args, m.secret))
	return tools.MCPResult{Content: r.Content, Structured: r.Structured, IsError: r.IsError, Full: r.Full}
}

// MCP returns the conversation's MCP servers for its tools; see
// tools.Workspace.
func (w toolWorkspace) MCP(ctx context.Context) (tools.MCPServers, error) {
	set, err := w.a.mcp(ctx)
	if err != nil || set == nil {
		return nil, err
	}
	return mcpSet{s: set, secret: w.a.secret}, nil
}

// secretRef matches $NAME and ${NAME}.
var secretRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// withSecrets returns args with every $NAME and ${NAME} in its strings
// that names a secret replaced by the secret's value; other text, and
// names that are no secret, stay.
func withSecrets(args json.RawMessage, secret func(string) (string, bool)) json.RawMessage {
	if !strings.Contains(string(args), "$") {
		return args
	}
	dec := json.NewDecoder(strings.NewReader(string(args)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return args
	}
	changed := false
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			out := secretRef.ReplaceAllStringFunc(t, func(ref string) string {
				name := strings.Trim(ref, "${}")
				if val, ok := secret(name); ok {
					changed = true
					return val
				}
				return ref
			})
			return out
		case map[string]any:
			for k, x := range t {
				t[k] = walk(x)
			}
		case []any:
			for i, x := range t {
				t[i] = walk(x)
			}
		}
		return v
	}
	v = walk(v)
	if !changed {
		return args
	}
	out, err := json.Marshal(v)
	if err != nil {
		return args
	}
	return out
}

// ToolSpec is one tool of a conversation as clients see it.
type ToolSpec struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	// MCPServer and MCPTool name an MCP tool's server and its name there.
	MCPServer string `json:"mcp_server,omitempty"`
	MCPTool   string `json:"mcp_tool,omitempty"`
}

// Tools lists the conversation's tools: the built-in ones it has, then
// those of its MCP servers, connected first if need be (which starts the
// sandbox).
func (a *AgentSession) Tools(ctx context.Context) ([]ToolSpec, error) {
	var names []string
	for _, t := range a.Settings().Agent.Tools {
		names = append(names, t.Name)
	}
	out := []ToolSpec{}
	for _, n := range tools.Offer(tools.Names(names), a.ToolWorkspace()) {
		if t, ok := tools.Lookup(n); ok {
			s := t.Spec()
			out = append(out, ToolSpec{Name: s.Name, Kind: s.Kind, Description: s.Description, Parameters: s.Parameters})
		}
	}
	set, err := a.mcp(ctx)
	if err != nil {
		return nil, err
	}
	return append(out, mcpSpecs(set)...), nil
}

func mcpSpecs(set *mcpclient.Set) []ToolSpec {
	var out []ToolSpec
	for _, t := range mcpTools(set) {
		s := tools.MCP(t).Spec()
		out = append(out, ToolSpec{Name: s.Name, Kind: s.Kind, Description: s.Description, Parameters: s.Parameters,
			MCPServer: t.Server, MCPTool: t.Remote})
	}
	return out
}

// checkMCPConfig validates a create request's agent.mcp_config and
// returns it in canonical form ({"mcpServers": {...}}), its literal env
// and header values moved to secrets (the map given, added to) and
// named there by reference, so that they are stored encrypted and
// masked like every secret.
func checkMCPConfig(raw json.RawMessage, secrets map[string]string) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	cfg, err := mcpclient.ParseConfig(raw)
	if err != nil {
		return nil, invalid("agent.mcp_config: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Servers)) {
		srv := cfg.Servers[name]
		srv.Env = hoist(secrets, name, "ENV", srv.Env)
		srv.Headers = hoist(secrets, name, "HEADER", srv.Headers)
		cfg.Servers[name] = srv
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode agent.mcp_config: %w", err)
	}
	return out, nil
}

// notName matches what may not be in a secret's name.
var notName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// hoist moves the literal values of m (env or headers of server) to
// secrets, leaving ${NAME} in their place. A value that names secrets
// ($NAME, ${NAME}) itself, or holds no text, stays.
func hoist(secrets map[string]string, server, what string, m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if strings.TrimSpace(v) == "" || strings.Contains(v, "$") {
			out[k] = v
			continue
		}
		name := strings.ToUpper(notName.ReplaceAllString("MCP_"+server+"_"+what+"_"+k, "_"))
		secrets[name] = v
		out[k] = "${" + name + "}"
	}
	return out
}

// mcpTestTimeout bounds a test of an MCP server past its own timeouts:
// the sandbox's start and the server's stop.
const mcpTestTimeout = 2 * time.Minute

// TestMCP answers POST /api/mcp/test: it connects to one MCP server, lists
// its tools and makes the test's tool call, if any, then closes it. A
// stdio server runs in the workspace sandbox of its cwd (the default one
// without), a remote one is reached from that sandbox; nothing runs on
// the server's host. Failing to connect is an answer (OK false), not an
// error; the error is the sandbox's.
func (m *ConversationManager) TestMCP(ctx context.Context, req mcpclient.TestRequest) (mcpclient.TestResponse, error) {
	ws, err := m.Workspace(req.Server.Cwd, true)
	if err != nil {
		return mcpclient.TestResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, mcpTestTimeout)
	defer cancel()
	var resp mcpclient.TestResponse
	err = ws.WithSandbox(ctx, func(cl *agentapi.Client) error {
		resp = mcpclient.Probe(ctx, req, mcpsandbox.New(cl, m.opts.MCPRemoteDirect))
		return nil
	})
	return resp, err
}
