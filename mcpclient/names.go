package mcpclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool is one MCP tool as offered to the model.
type Tool struct {
	Name        string          // as offered to the model: ^[a-zA-Z0-9_-]{1,64}$, unique in the Set
	Server      string          // the server's name in the config
	Remote      string          // the tool's name on its server
	Description string          // the server's description, kept as it is
	InputSchema json.RawMessage // a JSON object schema with "type":"object"
}

// Warning is something the caller should show but that stopped nothing
// else: a server that could not be reached, a tool left out.
type Warning struct{ Server, Tool, Message string }

func (w Warning) String() string {
	if w.Tool != "" {
		return fmt.Sprintf("MCP server %q, tool %q: %s", w.Server, w.Tool, w.Message)
	}
	return fmt.Sprintf("MCP server %q: %s", w.Server, w.Message)
}

// MaxToolName is the longest tool name model APIs accept.
const MaxToolName = 64

// MaxSchema bounds a tool's input schema: a larger one is left out rather
// than sent to the model with every request.
const MaxSchema = 64 << 10

// sanitize turns an MCP tool name into one a model API accepts: each run of
// characters outside [a-zA-Z0-9_-] becomes one '_', with none left at the
// ends ("greet (structured)" -> "greet_structured").
func sanitize(name string) string {
	var b strings.Builder
	pending := false
	for _, r := range name {
		ok := r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		if !ok {
			pending = true
			continue
		}
		if pending && b.Len() > 0 {
			b.WriteByte('_')
		}
		pending = false
		b.WriteRune(r)
	}
	return strings.Trim(b.String(), "_")
}

// inputSchema returns the tool's input schema as the model API needs it: a
// JSON object whose "type" is "object". A schema without "type" gets it.
func inputSchema(t *mcp.Tool) (json.RawMessage, error) {
	raw, err := json.Marshal(t.InputSchema)
	if err != nil {
		return nil, fmt.Errorf("input schema is not JSON: %v", err)
	}
	if len(raw) > MaxSchema {
		return nil, fmt.Errorf("input schema is %d bytes, over the %d-byte limit", len(raw), MaxSchema)
	}
	if bytes.Equal(raw, []byte("null")) {
		return json.RawMessage(`{"type":"object","properties":{}}`), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("input schema is not a JSON object: %.80s", raw)
	}
	typ, ok := obj["type"]
	if !ok {
		obj["type"] = json.RawMessage(`"object"`)
		if _, ok := obj["properties"]; !ok {
			obj["properties"] = json.RawMessage(`{}`)
		}
		return json.Marshal(obj)
	}
	var s string
	if json.Unmarshal(typ, &s) != nil || s != "object" {
		return nil, fmt.Errorf("input schema has type %s, not \"object\"", typ)
	}
	return raw, nil
}

// listed is one server's tools as its last tools/list gave them.
type listed struct {
	server string
	tools  []*mcp.Tool
}

// offer names every tool of every server for the model. A name two servers
// share is prefixed with "<server>_" in both; names still clashing, or cut
// to MaxToolName, get a numeric suffix. Tools whose schema cannot be offered
// are left out with a Warning.
func offer(lists []listed) ([]Tool, []Warning) {
	sort.Slice(lists, func(i, j int) bool { return lists[i].server < lists[j].server })
	var (
		tools    []Tool
		warnings []Warning
		servers  = map[string]map[string]bool{} // sanitised name -> servers offering it
	)
	for _, l := range lists {
		seen := map[string]bool{}
		for _, t := range l.tools {
			if t == nil {
				continue
			}
			name := sanitize(t.Name)
			if name == "" {
				warnings = append(warnings, Warning{l.server, t.Name, "tool name has no letter or digit to offer; left out"})
				continue
			}
			if seen[t.Name] {
				warnings = append(warnings, Warning{l.server, t.Name, "tool listed twice; the second left out"})
				continue
			}
			seen[t.Name] = true
			schema, err := inputSchema(t)
			if err != nil {
				warnings = append(warnings, Warning{l.server, t.Name, err.Error() + "; left out"})
				continue
			}
			if servers[name] == nil {
				servers[name] = map[string]bool{}
			}
			servers[name][l.server] = true
			tools = append(tools, Tool{Name: name, Server: l.server, Remote: t.Name, Description: t.Description, InputSchema: schema})
		}
	}
	taken := map[string]bool{}
	for i := range tools {
		t := &tools[i]
		if len(servers[t.Name]) > 1 {
			t.Name = sanitize(t.Server) + "_" + t.Name
		}
		t.Name = unique(t.Name, taken)
		taken[t.Name] = true
	}
	return tools, warnings
}

// unique cuts name to MaxToolName and, if it is taken, adds _2, _3, ...
func unique(name string, taken map[string]bool) string {
	base := name
	if len(base) > MaxToolName {
		base = base[:MaxToolName]
	}
	if !taken[base] {
		return base
	}
	for n := 2; ; n++ {
		suffix := "_" + strconv.Itoa(n)
		b := base
		if len(b)+len(suffix) > MaxToolName {
			b = b[:MaxToolName-len(suffix)]
		}
		if !taken[b+suffix] {
			return b + suffix
		}
	}
}
