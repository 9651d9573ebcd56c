package event

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ContentType says what a Content part holds.
type ContentType string

// The content types of the SDK's TextContent and ImageContent.
const (
	ContentText  ContentType = "text"
	ContentImage ContentType = "image"
)

// Content is one part of a message or tool result: text, or images given by
// URL (http(s) or data: URLs). On the wire it is the SDK's TextContent
// {type:"text", text} or ImageContent {type:"image", image_urls}.
type Content struct {
	Type      ContentType
	Text      string   // when Type is ContentText
	ImageURLs []string // when Type is ContentImage
	// CachePrompt asks the LLM provider to cache the prompt up to here.
	CachePrompt bool
}

// Text returns a content list of one text part.
func Text(s string) ContentList {
	return ContentList{{Type: ContentText, Text: s}}
}

type wireContent struct {
	Type        ContentType `json:"type"`
	Text        *string     `json:"text,omitempty"`
	ImageURLs   []string    `json:"image_urls,omitempty"`
	CachePrompt bool        `json:"cache_prompt,omitempty"`
}

// MarshalJSON writes c as TextContent or ImageContent.
func (c Content) MarshalJSON() ([]byte, error) {
	w := wireContent{Type: c.Type, CachePrompt: c.CachePrompt}
	switch c.Type {
	case ContentText:
		w.Text = &c.Text
	case ContentImage:
		w.ImageURLs = c.ImageURLs
		if w.ImageURLs == nil {
			// image_urls is required: write [] rather than leave it out.
			return encode(struct {
				Type        ContentType `json:"type"`
				ImageURLs   []string    `json:"image_urls"`
				CachePrompt bool        `json:"cache_prompt,omitempty"`
			}{c.Type, []string{}, c.CachePrompt})
		}
	default:
		return nil, fmt.Errorf("event: content type %q is neither %q nor %q", c.Type, ContentText, ContentImage)
	}
	return encode(w)
}

// UnmarshalJSON reads TextContent or ImageContent. A part without "type" is
// text if it has "text" and an image if it has "image_urls".
func (c *Content) UnmarshalJSON(data []byte) error {
	var w wireContent
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	switch {
	case w.Type == ContentText, w.Type == "" && w.Text != nil:
		if w.Text == nil {
			return typeError("text content without \"text\"", c)
		}
		*c = Content{Type: ContentText, Text: *w.Text, CachePrompt: w.CachePrompt}
	case w.Type == ContentImage, w.Type == "" && w.ImageURLs != nil:
		*c = Content{Type: ContentImage, ImageURLs: w.ImageURLs, CachePrompt: w.CachePrompt}
		if len(c.ImageURLs) == 0 {
			c.ImageURLs = nil
		}
	default:
		return typeError(fmt.Sprintf("content type %q", w.Type), c)
	}
	return nil
}

// ContentList is the content of a message or tool result.
//
// The current SDK writes a list of parts, and so does GoHands. Older SDK
// versions wrote a tool observation's content as a plain string, and the SDK
// still accepts a string as a message's content; both read here as one text
// part (or no parts, for the empty string).
type ContentList []Content

// Text returns the text parts joined, without separator, as the SDK's
// Observation.text does.
func (l ContentList) Text() string {
	var b strings.Builder
	for _, c := range l {
		if c.Type == ContentText {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// MarshalJSON writes l as a list; an empty or nil list is [].
func (l ContentList) MarshalJSON() ([]byte, error) {
	if len(l) == 0 {
		return []byte("[]"), nil
	}
	return encode([]Content(l))
}

// UnmarshalJSON reads a list of parts, a string, or null.
func (l *ContentList) UnmarshalJSON(data []byte) error {
	switch kindOf(data) {
	case "null":
		*l = nil
		return nil
	case "string":
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		if s == "" {
			*l = nil
		} else {
			*l = Text(s)
		}
		return nil
	}
	var parts []Content
	if err := json.Unmarshal(data, &parts); err != nil {
		return err
	}
	if len(parts) == 0 {
		parts = nil
	}
	*l = parts
	return nil
}

// LLMMessage is a message as sent to or received from the model: the SDK's
// Message.
type LLMMessage struct {
	// Role is "user", "system", "assistant" or "tool".
	Role    string      `json:"role"`
	Content ContentList `json:"content"`
	// ToolCalls are the calls the model made in this message (assistant).
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID and Name tie a tool result to its call (role "tool").
	ToolCallID string `json:"tool_call_id,omitempty"`
	Name       string `json:"name,omitempty"`
	// ReasoningContent is the reasoning text of reasoning models.
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

// ToolCall is one tool call as the model returned it: the SDK's
// MessageToolCall.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the JSON text of the arguments, as the model wrote it.
	Arguments string `json:"arguments"`
	// Origin is the API family the call came from: "completion" (chat
	// completions) or "responses".
	Origin string `json:"origin,omitempty"`
	// ResponsesItemID is the Responses API's own id for the call, if any.
	ResponsesItemID string `json:"responses_item_id,omitempty"`
}
