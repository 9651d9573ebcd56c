package mcpclient

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"greet":                             "greet",
		"greet (structured)":                "greet_structured",
		"greet (content with ResourceLink)": "greet_content_with_ResourceLink",
		"fs.read_file":                      "fs_read_file",
		"héllo wörld":                       "h_llo_w_rld",
		"__x__":                             "x",
		"a-b":                               "a-b",
		"()":                                "",
		"日本":                                "",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func obj(props string) any {
	var v any
	json.Unmarshal([]byte(`{"type":"object","properties":{`+props+`}}`), &v)
	return v
}

func TestOffer(t *testing.T) {
	long := strings.Repeat("a", 70)
	lists := []listed{
		{server: "web", tools: []*mcp.Tool{
			{Name: "search", Description: "web search", InputSchema: obj(`"q":{"type":"string"}`)},
			{Name: "fetch", InputSchema: obj(``)},
			{Name: "no schema"},
			{Name: "untyped", InputSchema: map[string]any{"properties": map[string]any{}}},
			{Name: "array", InputSchema: map[string]any{"type": "array"}},
			{Name: long, InputSchema: obj(``)},
			{Name: long + "b", InputSchema: obj(``)},
			nil,
		}},
		{server: "docs.v2", tools: []*mcp.Tool{
			{Name: "search", InputSchema: obj(``)},
			{Name: "web_search", InputSchema: obj(``)},
		}},
	}
	tools, warnings := offer(lists)
	type row struct{ Name, Server, Remote, Schema string }
	var got []row
	for _, tl := range tools {
		got = append(got, row{tl.Name, tl.Server, tl.Remote, string(tl.InputSchema)})
	}
	want := []row{
		{"docs_v2_search", "docs.v2", "search", `{"properties":{},"type":"object"}`},
		{"web_search", "docs.v2", "web_search", `{"properties":{},"type":"object"}`},
		{"web_search_2", "web", "search", `{"properties":{"q":{"type":"string"}},"type":"object"}`},
		{"fetch", "web", "fetch", `{"properties":{},"type":"object"}`},
		{"no_schema", "web", "no schema", `{"type":"object","properties":{}}`},
		{"untyped", "web", "untyped", `{"properties":{},"type":"object"}`},
		{long[:64], "web", long, `{"properties":{},"type":"object"}`},
		{long[:62] + "_2", "web", long + "b", `{"properties":{},"type":"object"}`},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("offer (-got +want):\n%s", diff)
	}
	if len(warnings) != 1 || warnings[0].Tool != "array" {
		t.Errorf("warnings = %v", warnings)
	}
	for _, tl := range tools {
		if len(tl.Name) > MaxToolName {
			t.Errorf("%q is too long", tl.Name)
		}
	}
}

func TestCutMiddle(t *testing.T) {
	s := strings.Repeat("é", 20000) // 40000 bytes
	got := cutMiddle(s, 1000)
	if len(got) > 1000 || !utf8.ValidString(got) || !strings.HasPrefix(got, "éé") || !strings.HasSuffix(got, "éé") || !strings.Contains(got, "40000 bytes in all") {
		t.Errorf("cutMiddle: %d bytes: %q", len(got), got)
	}
	if cutMiddle("short", 10) != "short" {
		t.Error("cut a short text")
	}
}

func TestConvertContentKinds(t *testing.T) {
	res := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///a.txt", Text: "inside"}},
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///b.bin", MIMEType: "application/zip", Blob: []byte{1, 2, 3}}},
		&mcp.ImageContent{Data: []byte{0xff}},
	}}
	got := convert("t", res, 10000)
	want := []string{"[Tool 't' executed.]", "[resource <file:///a.txt>]\ninside", "[embedded resource <file:///b.bin> (application/zip, 3 bytes) not shown]"}
	if !got.IsError || got.Full != "" {
		t.Errorf("convert: %+v", got)
	}
	if text := got.Text(); text != strings.Join(want, "\n") {
		t.Errorf("text = %q", text)
	}
	if img := got.Content[3]; len(img.ImageURLs) != 1 || img.ImageURLs[0] != "data:application/octet-stream;base64,/w==" {
		t.Errorf("image = %+v", img)
	}
}
