package llm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/gohands/gohands/event"
)

// anthropicClient speaks the Anthropic messages API.
type anthropicClient struct {
	sdk   anthropic.Client
	model string
}

// maxCacheBreakpoints is how many cache_control marks Anthropic takes in one
// request.
const maxCacheBreakpoints = 4

func newAnthropic(r routed, cfg Config) *anthropicClient {
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(), // the key and URL are ours to give
		option.WithAPIKey(cfg.APIKey),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0), // Client.Complete retries.
		// A request timeout of our own also stops the SDK from refusing
		// non-streaming calls with a large max_tokens; Complete bounds each
		// attempt with the same timeout anyway.
		option.WithRequestTimeout(cfg.Timeout),
	}
	if r.baseURL != "" {
		// The SDK appends "v1/messages": a base URL given with its "/v1"
		// (as for OpenAI-style servers) would double it.
		base := strings.TrimSuffix(strings.TrimRight(r.baseURL, "/"), "/v1")
		opts = append(opts, option.WithBaseURL(base))
	}
	return &anthropicClient{sdk: anthropic.NewClient(opts...), model: r.name}
}

func (c *anthropicClient) complete(ctx context.Context, req Request, mw middleware) (Response, error) {
	params, err := c.params(req)
	if err != nil {
		return Response{}, err
	}
	if req.OnDelta != nil {
		return c.stream(ctx, params, req.OnDelta, mw)
	}
	msg, err := c.sdk.Messages.New(ctx, params, option.WithMiddleware(mw))
	if err != nil {
		return Response{}, err
	}
	return anthropicResponse(msg), nil
}

// stream asks for the answer as server-sent events, hands each piece of
// text or thinking to onDelta and puts the events together into the
// whole message.
func (c *anthropicClient) stream(ctx context.Context, params anthropic.MessageNewParams, onDelta func(Delta), mw middleware) (Response, error) {
	st := c.sdk.Messages.NewStreaming(ctx, params, option.WithMiddleware(mw))
	defer st.Close()
	var msg anthropic.Message
	for st.Next() {
		ev := st.Current()
		if err := msg.Accumulate(ev); err != nil {
			return Response{}, fmt.Errorf("%w: streamed answer: %v", ErrServer, err)
		}
		if ev.Type != "content_block_delta" {
			continue
		}
		switch ev.Delta.Type {
		case "text_delta":
			if ev.Delta.Text != "" {
				onDelta(Delta{Content: ev.Delta.Text})
			}
		case "thinking_delta":
			if ev.Delta.Thinking != "" {
				onDelta(Delta{Reasoning: ev.Delta.Thinking})
			}
		}
	}
	if err := st.Err(); err != nil {
		return Response{}, err
	}
	return anthropicResponse(&msg), nil
}

// params builds the messages request.
func (c *anthropicClient) params(req Request) (anthropic.MessageNewParams, error) {
	p := anthropic.MessageNewParams{
		Model:     anthropic.Model(c.model),
		MaxTokens: int64(req.MaxTokens),
	}
	if p.MaxTokens <= 0 {
		p.MaxTokens = DefaultAnthropicMaxTokens
	}
	if req.Temperature != nil {
		p.Temperature = anthropic.Float(*req.Temperature)
	}
	b := anthropicBuilder{marks: cacheMarks(req.Messages)}
	system := req.System
	for _, m := range req.Messages {
		if m.Role == "system" {
			system = joinNonEmpty(system, m.Content.Text())
		}
	}
	if system != "" {
		block := anthropic.TextBlockParam{Text: system}
		if len(b.marks) > 0 {
			// Caching the messages is worth little if the system prompt
			// (and the tools before it) are not cached too.
			block.CacheControl = anthropic.NewCacheControlEphemeralParam()
		}
		p.System = []anthropic.TextBlockParam{block}
	}
	for i, m := range req.Messages {
		if err := b.add(i, m); err != nil {
			return p, err
		}
	}
	p.Messages = b.out
	for _, t := range req.Tools {
		schema, err := schemaObject(t)
		if err != nil {
			return p, err
		}
		tp := anthropic.ToolParam{Name: t.Name, InputSchema: anthropicSchema(schema)}
		if t.Description != "" {
			tp.Description = anthropic.String(t.Description)
		}
		p.Tools = append(p.Tools, anthropic.ToolUnionParam{OfTool: &tp})
	}
	return p, nil
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n\n" + b
}

// anthropicSchema splits a JSON schema object into the SDK's fields.
func anthropicSchema(schema map[string]any) anthropic.ToolInputSchemaParam {
	s := anthropic.ToolInputSchemaParam{ExtraFields: map[string]any{}}
	for k, v := range schema {
		switch k {
		case "type":
			// Always "object"; the SDK writes it.
		case "properties":
			s.Properties = v
		case "required":
			if list, ok := v.([]any); ok {
				for _, r := range list {
					if name, ok := r.(string); ok {
						s.Required = append(s.Required, name)
					}
				}
			}
		default:
			s.ExtraFields[k] = v
		}
	}
	if s.Properties == nil {
		s.Properties = map[string]any{}
	}
	return s
}

// partRef names one content part of one message.
type partRef struct{ msg, part int }

// cacheMarks picks the content parts whose CachePrompt is honoured: the last
// ones, leaving one breakpoint for the system prompt.
func cacheMarks(msgs []event.LLMMessage) map[partRef]bool {
	var refs []partRef
	for i, m := range msgs {
		for j, c := range m.Content {
			if c.CachePrompt {
				refs = append(refs, partRef{i, j})
			}
		}
	}
	if len(refs) > maxCacheBreakpoints-1 {
		refs = refs[len(refs)-(maxCacheBreakpoints-1):]
	}
	marks := make(map[partRef]bool, len(refs))
	for _, r := range refs {
		marks[r] = true
	}
	return marks
}

// anthropicBuilder turns the conversation into Anthropic messages.
// Anthropic has no tool role: results are tool_result blocks in a user
// message, and consecutive messages of one side are merged into one, so that
// the results of several calls (and any user text after them) go together.
type anthropicBuilder struct {
	marks map[partRef]bool
	out   []anthropic.MessageParam
}

func (b *anthropicBuilder) add(i int, m event.LLMMessage) error {
	var role anthropic.MessageParamRole
	var blocks []anthropic.ContentBlockParamUnion
	switch m.Role {
	case "system":
		return nil // in the system prompt
	case "user":
		role = anthropic.MessageParamRoleUser
		for j, c := range m.Content {
			blocks = append(blocks, contentBlocks(c, b.marks[partRef{i, j}])...)
		}
	case "assistant":
		role = anthropic.MessageParamRoleAssistant
		if text := m.Content.Text(); strings.TrimSpace(text) != "" {
			blocks = append(blocks, anthropic.NewTextBlock(text))
		}
		for _, tc := range m.ToolCalls {
			blocks = append(blocks, anthropic.ContentBlockParamUnion{OfToolUse: &anthropic.ToolUseBlockParam{
				ID:    tc.ID,
				Name:  tc.Name,
				Input: toolInput(tc.Arguments),
			}})
		}
		if len(blocks) > 0 && b.marked(i, m) {
			setCache(blocks[len(blocks)-1])
		}
	case "tool":
		if m.ToolCallID == "" {
			return fmt.Errorf("%w: message %d: tool result without tool_call_id", ErrBadRequest, i)
		}
		role = anthropic.MessageParamRoleUser
		r := &anthropic.ToolResultBlockParam{ToolUseID: m.ToolCallID}
		for _, c := range m.Content {
			for _, cb := range contentBlocks(c, false) {
				switch {
				case cb.OfText != nil:
					r.Content = append(r.Content, anthropic.ToolResultBlockParamContentUnion{OfText: cb.OfText})
				case cb.OfImage != nil:
					r.Content = append(r.Content, anthropic.ToolResultBlockParamContentUnion{OfImage: cb.OfImage})
				}
			}
		}
		if b.marked(i, m) {
			r.CacheControl = anthropic.NewCacheControlEphemeralParam()
		}
		blocks = append(blocks, anthropic.ContentBlockParamUnion{OfToolResult: r})
	default:
		return fmt.Errorf("%w: message %d: unknown role %q", ErrBadRequest, i, m.Role)
	}
	if len(blocks) == 0 {
		// Anthropic refuses empty messages and empty text blocks.
		return nil
	}
	if n := len(b.out); n > 0 && b.out[n-1].Role == role {
		b.out[n-1].Content = append(b.out[n-1].Content, blocks...)
		return nil
	}
	b.out = append(b.out, anthropic.MessageParam{Role: role, Content: blocks})
	return nil
}

// marked reports whether any part of message i carries a cache mark.
func (b *anthropicBuilder) marked(i int, m event.LLMMessage) bool {
	for j := range m.Content {
		if b.marks[partRef{i, j}] {
			return true
		}
	}
	return false
}

// contentBlocks maps one content part: text (if not blank) or its images.
// The cache mark goes on the last block.
func contentBlocks(c event.Content, cache bool) []anthropic.ContentBlockParamUnion {
	var blocks []anthropic.ContentBlockParamUnion
	switch c.Type {
	case event.ContentText:
		if strings.TrimSpace(c.Text) != "" {
			blocks = append(blocks, anthropic.NewTextBlock(c.Text))
		}
	case event.ContentImage:
		for _, u := range c.ImageURLs {
			if b, ok := imageBlock(u); ok {
				blocks = append(blocks, b)
			}
		}
	}
	if cache && len(blocks) > 0 {
		setCache(blocks[len(blocks)-1])
	}
	return blocks
}

func setCache(b anthropic.ContentBlockParamUnion) {
	cc := anthropic.NewCacheControlEphemeralParam()
	switch {
	case b.OfText != nil:
		b.OfText.CacheControl = cc
	case b.OfImage != nil:
		b.OfImage.CacheControl = cc
	case b.OfToolUse != nil:
		b.OfToolUse.CacheControl = cc
	case b.OfToolResult != nil:
		b.OfToolResult.CacheControl = cc
	}
}

// imageBlock maps an image URL: a data: URL becomes a base64 source, an
// http(s) URL a URL source. Anything else is left out.
func imageBlock(u string) (anthropic.ContentBlockParamUnion, bool) {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: u}), true
	}
	mediaType, data, ok := parseDataURL(u)
	if !ok {
		return anthropic.ContentBlockParamUnion{}, false
	}
	return anthropic.NewImageBlockBase64(mediaType, data), true
}

// parseDataURL returns the media type and the base64 data of a data: URL.
func parseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	params := strings.Split(meta, ";")
	mediaType = strings.ToLower(strings.TrimSpace(params[0]))
	if mediaType == "image/jpg" {
		mediaType = "image/jpeg"
	}
	if mediaType == "" {
		return "", "", false
	}
	for _, p := range params[1:] {
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			return mediaType, payload, true
		}
	}
	raw, err := url.PathUnescape(payload)
	if err != nil {
		return "", "", false
	}
	return mediaType, base64.StdEncoding.EncodeToString([]byte(raw)), true
}

// toolInput is the tool_use input of a call sent back to the model: the
// arguments as written if they are a JSON object, else an empty object
// (a call the model wrote malformed cannot be replayed as it was).
func toolInput(args string) json.RawMessage {
	a := bytes.TrimSpace([]byte(args))
	if len(a) > 0 && a[0] == '{' && json.Valid(a) {
		return json.RawMessage(a)
	}
	return json.RawMessage("{}")
}

// anthropicStop maps stop reasons to the OpenAI vocabulary.
var anthropicStop = map[anthropic.StopReason]string{
	anthropic.StopReasonEndTurn:      "stop",
	anthropic.StopReasonStopSequence: "stop",
	anthropic.StopReasonToolUse:      "tool_calls",
	anthropic.StopReasonMaxTokens:    "length",
	anthropic.StopReasonRefusal:      "content_filter",
}

func anthropicResponse(m *anthropic.Message) Response {
	msg := event.LLMMessage{Role: "assistant"}
	var reasoning []string
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			if b.Text != "" {
				msg.Content = append(msg.Content, event.Content{Type: event.ContentText, Text: b.Text})
			}
		case "thinking":
			reasoning = append(reasoning, b.Thinking)
		case "tool_use":
			msg.ToolCalls = append(msg.ToolCalls, event.ToolCall{
				ID:        b.ID,
				Name:      b.Name,
				Arguments: toolArguments(b.Input),
				Origin:    "completion",
			})
		}
	}
	msg.ReasoningContent = strings.Join(reasoning, "\n")
	finish, ok := anthropicStop[m.StopReason]
	if !ok {
		finish = string(m.StopReason)
	}
	u := m.Usage
	return Response{
		ID:      m.ID,
		Message: msg,
		Usage: Usage{
			PromptTokens:     u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
			CompletionTokens: u.OutputTokens,
			CacheReadTokens:  u.CacheReadInputTokens,
			CacheWriteTokens: u.CacheCreationInputTokens,
		},
		FinishReason: finish,
	}
}

// toolArguments is the JSON text of a tool_use input. Anthropic sends an
// object; a proxy that passed the model's text through as a JSON string gets
// that text back, malformed or not.
func toolArguments(input json.RawMessage) string {
	in := bytes.TrimSpace(input)
	if len(in) == 0 || string(in) == "null" {
		return "{}"
	}
	if in[0] == '"' {
		var s string
		if json.Unmarshal(in, &s) == nil {
			return s
		}
	}
	return string(in)
}
