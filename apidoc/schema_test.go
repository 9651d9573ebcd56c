package apidoc

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONSchema checks that a component comes out as a document of its
// own: every reference resolves inside it, and the parts are there.
func TestJSONSchema(t *testing.T) {
	for _, name := range []string{"Agent", "StartConversationRequest"} {
		raw, err := JSONSchema(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc["title"] != name || doc["type"] != "object" {
			t.Errorf("%s: title %v, type %v", name, doc["title"], doc["type"])
		}
		defs, _ := doc["$defs"].(map[string]any)
		for _, ref := range refsIn(doc) {
			dep, ok := strings.CutPrefix(ref, "#/$defs/")
			if !ok {
				t.Errorf("%s: reference %s points outside the document", name, ref)
				continue
			}
			if defs[dep] == nil {
				t.Errorf("%s: reference %s has no definition", name, ref)
			}
		}
	}
	raw, _ := JSONSchema("StartConversationRequest")
	if !strings.Contains(string(raw), `"#/$defs/Agent"`) || !strings.Contains(string(raw), `"LLMConfig"`) {
		t.Errorf("StartConversationRequest does not carry Agent and its LLMConfig: %s", raw)
	}
	if _, err := JSONSchema("NoSuchThing"); err == nil {
		t.Error("JSONSchema(NoSuchThing) did not fail")
	}
}

func refsIn(v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "$ref" {
				out = append(out, s)
			}
			out = append(out, refsIn(x)...)
		}
	case []any:
		for _, x := range t {
			out = append(out, refsIn(x)...)
		}
	}
	return out
}
