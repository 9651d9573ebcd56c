package mcpclient

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gohands/gohands/event"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultMaxText is how many bytes of text a result keeps when
// Options.MaxText is zero.
const DefaultMaxText = 30000

// Result is a tool call's outcome, ready for an observation.
type Result struct {
	Content    event.ContentList // text parts and image parts (ImageURLs data: URLs)
	Structured json.RawMessage   // structuredContent, if any
	IsError    bool
	Full       string // when the text was cut (over Options.MaxText): the whole text, for the caller to save to a file
}

// Text returns the text parts of r joined by newlines.
func (r Result) Text() string {
	var parts []string
	for _, c := range r.Content {
		if c.Type == event.ContentText {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// executed is the first text of every result, as upstream's observation
// starts: it tells the model which tool answered even when the answer is
// empty.
func executed(tool string) event.Content {
	return event.Content{Type: event.ContentText, Text: fmt.Sprintf("[Tool '%s' executed.]", tool)}
}

// failed is a call that got no result from the server.
func failed(format string, a ...any) Result {
	return Result{Content: event.Text(fmt.Sprintf(format, a...)), IsError: true}
}

// convert turns the server's result into a Result: text kept (cut past
// maxText bytes, the whole in Full), images as data: URLs, and a short note
// for each kind of content the model cannot be shown.
func convert(tool string, r *mcp.CallToolResult, maxText int) Result {
	out := Result{IsError: r.IsError, Content: event.ContentList{executed(tool)}}
	textBytes := 0
	for _, c := range r.Content {
		part := content(c)
		if part.Type == event.ContentText {
			textBytes += len(part.Text)
		}
		out.Content = append(out.Content, part)
	}
	if r.StructuredContent != nil {
		if raw, err := json.Marshal(r.StructuredContent); err == nil {
			out.Structured = raw
		}
	}
	if textBytes > maxText {
		out.cutText(maxText)
	}
	return out
}

// cutText joins the text parts after the first into one, keeping its head
// and tail within maxText bytes, and keeps the whole in Full.
func (r *Result) cutText(maxText int) {
	var texts []string
	kept := event.ContentList{r.Content[0]}
	for _, c := range r.Content[1:] {
		if c.Type == event.ContentText {
			texts = append(texts, c.Text)
		} else {
			kept = append(kept, c)
		}
	}
	r.Full = strings.Join(texts, "\n")
	cut := cutMiddle(r.Full, maxText)
	r.Content = append(event.ContentList{kept[0], {Type: event.ContentText, Text: cut}}, kept[1:]...)
}

// cutMiddle keeps the head and tail of s around a note of what was left
// out, within limit bytes where limit leaves room for the note, and never
// splits a UTF-8 character.
func cutMiddle(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	note := fmt.Sprintf("\n\n[... MCP tool result cut: %d bytes in all, the head and tail kept ...]\n\n", len(s))
	keep := max(limit-len(note), 0) / 2
	head := s[:keep]
	for len(head) > 0 && !utf8.ValidString(head[max(len(head)-utf8.UTFMax, 0):]) {
		head = head[:len(head)-1]
	}
	tail := s[len(s)-keep:]
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return strings.ToValidUTF8(head, "\uFFFD") + note + strings.ToValidUTF8(tail, "\uFFFD")
}

// content turns one MCP content block into an event content part.
func content(c mcp.Content) event.Content {
	text := func(s string) event.Content { return event.Content{Type: event.ContentText, Text: s} }
	switch c := c.(type) {
	case *mcp.TextContent:
		return text(c.Text)
	case *mcp.ImageContent:
		mime := c.MIMEType
		if mime == "" {
			mime = "application/octet-stream"
		}
		return event.Content{Type: event.ContentImage, ImageURLs: []string{"data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(c.Data)}}
	case *mcp.AudioContent:
		return text(fmt.Sprintf("[audio content (%s, %d bytes) not shown]", c.MIMEType, len(c.Data)))
	case *mcp.ResourceLink:
		s := fmt.Sprintf("[resource link: %s <%s>", c.Name, c.URI)
		if c.MIMEType != "" {
			s += " (" + c.MIMEType + ")"
		}
		if c.Description != "" {
			s += ": " + c.Description
		}
		return text(s + "]")
	case *mcp.EmbeddedResource:
		if c.Resource == nil {
			return text("[embedded resource without contents]")
		}
		if c.Resource.Text != "" || len(c.Resource.Blob) == 0 {
			return text(fmt.Sprintf("[resource <%s>]\n%s", c.Resource.URI, c.Resource.Text))
		}
		return text(fmt.Sprintf("[embedded resource <%s> (%s, %d bytes) not shown]", c.Resource.URI, c.Resource.MIMEType, len(c.Resource.Blob)))
	case nil:
		return text("[empty content part]")
	}
	return text(fmt.Sprintf("[%T content not shown]", c))
}
