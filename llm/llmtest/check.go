package llmtest

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// toolName is the name rule both APIs enforce on tools.
var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// checkOpenAI returns why the real API would refuse body, or "".
func checkOpenAI(body map[string]any) string {
	if m, _ := body["model"].(string); m == "" {
		return "model is required"
	}
	msgs, ok := body["messages"].([]any)
	if !ok || len(msgs) == 0 {
		return "messages must be a non-empty array"
	}
	// open holds the tool calls of the last assistant message not answered yet.
	open := map[string]bool{}
	for i, e := range msgs {
		m, ok := e.(map[string]any)
		if !ok {
			return fmt.Sprintf("messages[%d] is not an object", i)
		}
		role, _ := m["role"].(string)
		if role != "tool" && len(open) > 0 {
			return fmt.Sprintf("messages[%d]: an assistant message with tool_calls must be followed by tool messages answering each tool_call_id (missing %s)", i, keys(open))
		}
		switch role {
		case "system", "developer", "user":
			if m["content"] == nil {
				return fmt.Sprintf("messages[%d]: content is required", i)
			}
		case "assistant":
			calls, _ := m["tool_calls"].([]any)
			if m["content"] == nil && len(calls) == 0 {
				return fmt.Sprintf("messages[%d]: assistant message needs content or tool_calls", i)
			}
			for j, c := range calls {
				id, why := checkOpenAICall(c)
				if why != "" {
					return fmt.Sprintf("messages[%d].tool_calls[%d]: %s", i, j, why)
				}
				open[id] = true
			}
		case "tool":
			id, _ := m["tool_call_id"].(string)
			if !open[id] {
				return fmt.Sprintf("messages[%d]: tool message with tool_call_id %q does not answer a tool call of the assistant message before it", i, id)
			}
			delete(open, id)
			if m["content"] == nil {
				return fmt.Sprintf("messages[%d]: content is required", i)
			}
		default:
			return fmt.Sprintf("messages[%d]: unknown role %q", i, role)
		}
	}
	if len(open) > 0 {
		return fmt.Sprintf("tool calls %s have no tool message", keys(open))
	}
	tools, _ := body["tools"].([]any)
	for i, e := range tools {
		t, _ := e.(map[string]any)
		if t["type"] != "function" {
			return fmt.Sprintf("tools[%d]: type must be \"function\"", i)
		}
		f, _ := t["function"].(map[string]any)
		if name, _ := f["name"].(string); !toolName.MatchString(name) {
			return fmt.Sprintf("tools[%d]: invalid function name %q", i, name)
		}
		if p, ok := f["parameters"]; ok {
			if _, ok := p.(map[string]any); !ok {
				return fmt.Sprintf("tools[%d]: parameters must be an object", i)
			}
		}
	}
	return ""
}

func checkOpenAICall(c any) (id, why string) {
	m, _ := c.(map[string]any)
	id, _ = m["id"].(string)
	if id == "" {
		return "", "id is required"
	}
	if m["type"] != "function" {
		return "", "type must be \"function\""
	}
	f, _ := m["function"].(map[string]any)
	if name, _ := f["name"].(string); name == "" {
		return "", "function.name is required"
	}
	if _, ok := f["arguments"].(string); !ok {
		return "", "function.arguments must be a string"
	}
	return id, ""
}

// checkAnthropic returns why the real API would refuse body, or "".
func checkAnthropic(body map[string]any, h http.Header) string {
	if h.Get("anthropic-version") == "" {
		return "anthropic-version header is required"
	}
	if m, _ := body["model"].(string); m == "" {
		return "model: field required"
	}
	if n, _ := body["max_tokens"].(float64); n < 1 {
		return "max_tokens: field required, at least 1"
	}
	msgs, ok := body["messages"].([]any)
	if !ok || len(msgs) == 0 {
		return "messages: at least one message is required"
	}
	breakpoints := 0
	if sys, ok := body["system"].([]any); ok {
		for i, b := range sys {
			bm, _ := b.(map[string]any)
			if why := checkTextBlock(bm); why != "" {
				return fmt.Sprintf("system[%d]: %s", i, why)
			}
			if bm["cache_control"] != nil {
				breakpoints++
			}
		}
	}
	// open holds the tool_use ids of the assistant message just before.
	open := map[string]bool{}
	for i, e := range msgs {
		m, _ := e.(map[string]any)
		role, _ := m["role"].(string)
		if role != "user" && role != "assistant" {
			return fmt.Sprintf("messages[%d]: role must be user or assistant, not %q", i, role)
		}
		blocks, why := anthropicBlocks(m["content"])
		if why != "" {
			return fmt.Sprintf("messages[%d]: %s", i, why)
		}
		answered := map[string]bool{}
		var uses []string
		for j, b := range blocks {
			typ, _ := b["type"].(string)
			if b["cache_control"] != nil {
				breakpoints++
			}
			where := fmt.Sprintf("messages[%d].content[%d]", i, j)
			switch typ {
			case "text":
				if why := checkTextBlock(b); why != "" {
					return where + ": " + why
				}
			case "image":
				src, _ := b["source"].(map[string]any)
				if src["type"] != "base64" && src["type"] != "url" {
					return where + ": image source must be base64 or url"
				}
			case "tool_use":
				if role != "assistant" {
					return where + ": tool_use blocks belong to assistant messages"
				}
				id, _ := b["id"].(string)
				name, _ := b["name"].(string)
				if id == "" || !toolName.MatchString(name) {
					return where + ": tool_use needs an id and a valid name"
				}
				if _, ok := b["input"].(map[string]any); !ok {
					return where + ": tool_use input must be an object"
				}
				uses = append(uses, id)
			case "tool_result":
				if role != "user" {
					return where + ": tool_result blocks belong to user messages"
				}
				id, _ := b["tool_use_id"].(string)
				if !open[id] {
					return fmt.Sprintf("%s: unexpected tool_use_id %q in tool_result blocks: each tool_result block must have a corresponding tool_use block in the previous message", where, id)
				}
				answered[id] = true
				if c, ok := b["content"].([]any); ok {
					for k, cb := range c {
						cbm, _ := cb.(map[string]any)
						if cbm["type"] == "text" {
							if why := checkTextBlock(cbm); why != "" {
								return fmt.Sprintf("%s.content[%d]: %s", where, k, why)
							}
						}
					}
				}
			case "thinking", "redacted_thinking":
			default:
				return fmt.Sprintf("%s: unknown block type %q", where, typ)
			}
		}
		for id := range open {
			if !answered[id] {
				return fmt.Sprintf("messages[%d]: tool_use ids were found without tool_result blocks immediately after: %s", i, id)
			}
		}
		open = map[string]bool{}
		for _, id := range uses {
			open[id] = true
		}
	}
	if len(open) > 0 {
		return fmt.Sprintf("tool_use ids %s have no tool_result", keys(open))
	}
	if breakpoints > 4 {
		return fmt.Sprintf("a maximum of 4 blocks with cache_control may be provided, found %d", breakpoints)
	}
	tools, _ := body["tools"].([]any)
	for i, e := range tools {
		t, _ := e.(map[string]any)
		if name, _ := t["name"].(string); !toolName.MatchString(name) {
			return fmt.Sprintf("tools[%d]: invalid name %q", i, name)
		}
		schema, _ := t["input_schema"].(map[string]any)
		if schema["type"] != "object" {
			return fmt.Sprintf("tools[%d]: input_schema.type must be \"object\"", i)
		}
	}
	return ""
}

// anthropicBlocks reads a message's content: a non-empty string or a
// non-empty list of blocks.
func anthropicBlocks(content any) ([]map[string]any, string) {
	switch c := content.(type) {
	case string:
		if strings.TrimSpace(c) == "" {
			return nil, "content must not be empty"
		}
		return []map[string]any{{"type": "text", "text": c}}, ""
	case []any:
		if len(c) == 0 {
			return nil, "content must not be empty"
		}
		out := make([]map[string]any, 0, len(c))
		for _, b := range c {
			m, ok := b.(map[string]any)
			if !ok {
				return nil, "content blocks must be objects"
			}
			out = append(out, m)
		}
		return out, ""
	}
	return nil, "content must be a string or a list of blocks"
}

func checkTextBlock(b map[string]any) string {
	if t, _ := b["text"].(string); strings.TrimSpace(t) == "" {
		return "text content blocks must contain non-whitespace text"
	}
	return ""
}

func keys(m map[string]bool) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
