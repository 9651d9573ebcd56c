package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/respjson"
	"github.com/openai/openai-go/v3/shared"

	"github.com/gohands/gohands/event"
)

// openAIClient speaks OpenAI chat completions to any compatible server.
type openAIClient struct {
	chat  openai.ChatCompletionService
	model string
}

func newOpenAI(r routed, cfg Config) *openAIClient {
	// openai.NewClient would add what the server's OPENAI_* variables say
	// (an admin key, custom headers, organization) to every request, and
	// the endpoint may be one a client chose: the chat service alone is
	// made, from our Config only. An empty key is sent as is: local servers
	// (Ollama, vLLM) take none.
	opts := []option.RequestOption{
		option.WithBaseURL(or(r.baseURL, openAIBaseURL)),
		option.WithAPIKey(cfg.APIKey),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0), // Client.Complete retries.
	}
	return &openAIClient{chat: openai.NewChatCompletionService(opts...), model: r.name}
}

func (c *openAIClient) complete(ctx context.Context, req Request, mw middleware) (Response, error) {
	params, err := c.params(req)
	if err != nil {
		return Response{}, err
	}
	if req.OnDelta != nil {
		return c.stream(ctx, params, req.OnDelta, mw)
	}
	cc, err := c.chat.New(ctx, params, option.WithMiddleware(mw))
	if err != nil {
		return Response{}, err
	}
	if len(cc.Choices) == 0 {
		return Response{}, fmt.Errorf("%w: answer %s has no choices", ErrServer, cc.ID)
	}
	return openAIResponse(cc), nil
}

// stream asks for the answer as server-sent chunks, hands each piece of
// text to onDelta and puts the chunks together into the whole answer.
func (c *openAIClient) stream(ctx context.Context, params openai.ChatCompletionNewParams, onDelta func(Delta), mw middleware) (Response, error) {
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := c.chat.NewStreaming(ctx, params, option.WithMiddleware(mw))
	defer st.Close()
	var acc openai.ChatCompletionAccumulator
	var reasoning strings.Builder
	for st.Next() {
		chunk := st.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) == 0 {
			continue
		}
		d := Delta{Content: chunk.Choices[0].Delta.Content, Reasoning: extraText(chunk.Choices[0].Delta.JSON.ExtraFields)}
		reasoning.WriteString(d.Reasoning)
		if d.Content != "" || d.Reasoning != "" {
			onDelta(d)
		}
	}
	if err := st.Err(); err != nil {
		return Response{}, err
	}
	if len(acc.Choices) == 0 {
		return Response{}, fmt.Errorf("%w: streamed answer %s has no choices", ErrServer, acc.ID)
	}
	resp := openAIResponse(&acc.ChatCompletion)
	if resp.Message.ReasoningContent == "" {
		resp.Message.ReasoningContent = reasoning.String()
	}
	return resp, nil
}

// params builds the chat completion request.
func (c *openAIClient) params(req Request) (openai.ChatCompletionNewParams, error) {
	p := openai.ChatCompletionNewParams{Model: c.model}
	if req.System != "" {
		p.Messages = append(p.Messages, openai.SystemMessage(req.System))
	}
	msgs, err := openAIMessages(req.Messages)
	if err != nil {
		return p, err
	}
	p.Messages = append(p.Messages, msgs...)
	for _, t := range req.Tools {
		schema, err := schemaObject(t)
		if err != nil {
			return p, err
		}
		def := shared.FunctionDefinitionParam{Name: t.Name, Parameters: schema}
		if t.Description != "" {
			def.Description = openai.String(t.Description)
		}
		p.Tools = append(p.Tools, openai.ChatCompletionFunctionTool(def))
	}
	if req.MaxTokens > 0 {
		// Reasoning models take only max_completion_tokens; other servers
		// (older vLLM, Ollama) know only max_tokens.
		if reasoningModel(c.model) {
			p.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
		} else {
			p.MaxTokens = openai.Int(int64(req.MaxTokens))
		}
	}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	return p, nil
}

// reasoningModel reports whether model is an OpenAI reasoning model (o1,
// o3, o4, gpt-5 families).
func reasoningModel(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndex(m, "/"); i >= 0 {
		m = m[i+1:]
	}
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if m == p || strings.HasPrefix(m, p+"-") || strings.HasPrefix(m, p+".") {
			return true
		}
	}
	return false
}

// schemaObject decodes a tool's parameter schema; no schema is an object
// without properties, which every server accepts.
func schemaObject(t Tool) (map[string]any, error) {
	if len(t.Parameters) == 0 || string(t.Parameters) == "null" {
		return map[string]any{"type": "object", "properties": map[string]any{}}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(t.Parameters, &m); err != nil {
		return nil, fmt.Errorf("%w: tool %s: parameters are not a JSON object: %w", ErrBadRequest, t.Name, err)
	}
	return m, nil
}

// openAIMessages maps the conversation. Tool results go one message per
// call; the images of a run of tool results (the tool role takes only text)
// follow the run as one user message, since nothing may come between an
// assistant's tool calls and their results.
func openAIMessages(in []event.LLMMessage) ([]openai.ChatCompletionMessageParamUnion, error) {
	var out []openai.ChatCompletionMessageParamUnion
	var pendingImages []openai.ChatCompletionContentPartUnionParam
	flush := func() {
		if len(pendingImages) > 0 {
			out = append(out, openai.UserMessage(pendingImages))
			pendingImages = nil
		}
	}
	for i, m := range in {
		if m.Role != "tool" {
			flush()
		}
		switch m.Role {
		case "system":
			out = append(out, openai.SystemMessage(m.Content.Text()))
		case "user":
			out = append(out, openAIUser(m.Content))
		case "assistant":
			out = append(out, openAIAssistant(m))
		case "tool":
			if m.ToolCallID == "" {
				return nil, fmt.Errorf("%w: message %d: tool result without tool_call_id", ErrBadRequest, i)
			}
			out = append(out, openai.ToolMessage(m.Content.Text(), m.ToolCallID))
			pendingImages = append(pendingImages, openAIImages(m.Content)...)
		default:
			return nil, fmt.Errorf("%w: message %d: unknown role %q", ErrBadRequest, i, m.Role)
		}
	}
	flush()
	return out, nil
}

// openAIUser sends text alone as a string, which every compatible server
// takes, and parts only when there are images.
func openAIUser(content event.ContentList) openai.ChatCompletionMessageParamUnion {
	images := openAIImages(content)
	if len(images) == 0 {
		return openai.UserMessage(content.Text())
	}
	var parts []openai.ChatCompletionContentPartUnionParam
	for _, c := range content {
		if c.Type == event.ContentText && c.Text != "" {
			parts = append(parts, openai.TextContentPart(c.Text))
		}
	}
	return openai.UserMessage(append(parts, images...))
}

func openAIImages(content event.ContentList) []openai.ChatCompletionContentPartUnionParam {
	var parts []openai.ChatCompletionContentPartUnionParam
	for _, c := range content {
		if c.Type != event.ContentImage {
			continue
		}
		for _, u := range c.ImageURLs {
			parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: u}))
		}
	}
	return parts
}

func openAIAssistant(m event.LLMMessage) openai.ChatCompletionMessageParamUnion {
	var a openai.ChatCompletionAssistantMessageParam
	if text := m.Content.Text(); text != "" || len(m.ToolCalls) == 0 {
		a.Content.OfString = openai.String(text)
	}
	for _, tc := range m.ToolCalls {
		a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
			OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: tc.ID,
				Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
					Name:      tc.Name,
					Arguments: tc.Arguments,
				},
			},
		})
	}
	return openai.ChatCompletionMessageParamUnion{OfAssistant: &a}
}

// openAIResponse maps the first choice.
func openAIResponse(cc *openai.ChatCompletion) Response {
	ch := cc.Choices[0]
	msg := event.LLMMessage{Role: "assistant"}
	if ch.Message.Content != "" {
		msg.Content = event.Text(ch.Message.Content)
	}
	if ch.Message.Refusal != "" && ch.Message.Content == "" {
		msg.Content = event.Text(ch.Message.Refusal)
	}
	for _, tc := range ch.Message.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue
		}
		msg.ToolCalls = append(msg.ToolCalls, event.ToolCall{
			ID:        tc.ID,
			Name:      tc.Function.Name,
			Arguments: tc.Function.Arguments,
			Origin:    "completion",
		})
	}
	// vLLM, DeepSeek and OpenRouter return reasoning text in a field the
	// OpenAI schema does not have.
	msg.ReasoningContent = extraText(ch.Message.JSON.ExtraFields)
	u := cc.Usage
	return Response{
		ID:      cc.ID,
		Message: msg,
		Usage: Usage{
			PromptTokens:     u.PromptTokens,
			CompletionTokens: u.CompletionTokens,
			CacheReadTokens:  u.PromptTokensDetails.CachedTokens,
			CacheWriteTokens: u.PromptTokensDetails.CacheWriteTokens,
			ReasoningTokens:  u.CompletionTokensDetails.ReasoningTokens,
		},
		FinishReason: ch.FinishReason,
	}
}

// extraText reads the reasoning text that vLLM, DeepSeek and OpenRouter
// send in a field the OpenAI schema does not have.
func extraText(fields map[string]respjson.Field) string {
	for _, k := range []string{"reasoning_content", "reasoning"} {
		if f, ok := fields[k]; ok {
			var s string
			if json.Unmarshal([]byte(f.Raw()), &s) == nil && s != "" {
				return s
			}
		}
	}
	return ""
}
