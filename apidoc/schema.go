package apidoc

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
)

// refPrefix starts a reference to a component schema in the document.
const refPrefix = "#/components/schemas/"

// components are the document's component schemas, decoded once.
var components = sync.OnceValue(func() map[string]any {
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(document, &doc); err != nil {
		panic(fmt.Sprintf("apidoc: embedded openapi.json: %v", err))
	}
	return doc.Components.Schemas
})

// JSONSchema returns the document's component schema of the given name
// as a JSON Schema document of its own: the component, with every schema
// it refers to (directly or not) under "$defs" and its references pointed
// there. It is how a client learns the shape of a request part (a settings
// form) from the same description the OpenAPI document gives.
func JSONSchema(name string) ([]byte, error) {
	all := components()
	root, ok := all[name]
	if !ok {
		return nil, fmt.Errorf("apidoc: no component schema %q", name)
	}
	defs := make(map[string]any)
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(t))
			for k, x := range t {
				if ref, ok := x.(string); ok && k == "$ref" && strings.HasPrefix(ref, refPrefix) {
					dep := strings.TrimPrefix(ref, refPrefix)
					out[k] = "#/$defs/" + dep
					if _, seen := defs[dep]; !seen && dep != name {
						defs[dep] = nil // mark before walking: schemas may refer to each other
						defs[dep] = walk(all[dep])
					}
					continue
				}
				out[k] = walk(x)
			}
			return out
		case []any:
			out := make([]any, len(t))
			for i, x := range t {
				out[i] = walk(x)
			}
			return out
		}
		return v
	}
	schema := walk(root).(map[string]any)
	out := map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": name}
	maps.Copy(out, schema)
	if len(defs) > 0 {
		out["$defs"] = defs
	}
	return json.Marshal(out)
}
