package apidoc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBrowserSchemas: every browser action and observation the event
// package writes (its golden files) fits the schema of its kind here:
// each field is a property of the right type and value, each required
// field is there. A field added to the Go types without its schema fails.
func TestBrowserSchemas(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "event", "testdata", "golden", "Browser*.json"))
	if err != nil || len(files) < 11 {
		t.Fatalf("browser golden files: %d, %v", len(files), err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Action      map[string]any `json:"action"`
			Observation map[string]any `json:"observation"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		v := ev.Action
		if v == nil {
			v = ev.Observation
		}
		kind, _ := v["kind"].(string)
		seen[kind] = true
		schema, ok := components()[kind].(map[string]any)
		if !ok {
			t.Errorf("%s: no schema %q", filepath.Base(file), kind)
			continue
		}
		for _, problem := range fits(v, schema) {
			t.Errorf("%s: %s", filepath.Base(file), problem)
		}
		if _, err := JSONSchema(kind); err != nil {
			t.Errorf("JSONSchema(%s): %v", kind, err)
		}
	}
	for _, kind := range []string{"BrowserNavigateAction", "BrowserClickAction", "BrowserTypeAction", "BrowserGetStateAction",
		"BrowserGetContentAction", "BrowserScrollAction", "BrowserGoBackAction", "BrowserListTabsAction",
		"BrowserSwitchTabAction", "BrowserCloseTabAction", "BrowserObservation"} {
		if !seen[kind] {
			t.Errorf("no golden file checked against %s", kind)
		}
	}
	// The checker itself catches what it should.
	bad := map[string]any{"kind": "BrowserScrollAction", "direction": "sideways", "speed": 2.0}
	if got := fits(bad, components()["BrowserScrollAction"].(map[string]any)); len(got) != 2 {
		t.Errorf("a bad scroll action: %q, want 2 problems", got)
	}
}

// fits lists how v does not fit an object schema of this document's
// simple form: typed properties, enums, required fields, nothing else.
func fits(v map[string]any, schema map[string]any) []string {
	var out []string
	props, _ := schema["properties"].(map[string]any)
	req, _ := schema["required"].([]any)
	for _, r := range req {
		if _, ok := v[r.(string)]; !ok {
			out = append(out, "missing required field "+r.(string))
		}
	}
	for name, val := range v {
		p, ok := props[name].(map[string]any)
		if !ok {
			out = append(out, "field "+name+" is not in the schema")
			continue
		}
		want, _ := p["type"].(string)
		if got := jsonType(val); got != want && (want != "number" || got != "integer") {
			out = append(out, "field "+name+" is "+got+", want "+want)
		}
		if enum, ok := p["enum"].([]any); ok && !slices.Contains(enum, val) {
			out = append(out, "field "+name+" has a value outside its enum")
		}
	}
	slices.Sort(out)
	return out
}

func jsonType(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) && !strings.Contains(jsonText(x), ".") {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
