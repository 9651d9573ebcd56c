package apidoc

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// wantOperations is every route of API.md sections 1 and 2. A route added
// to the server goes here and into openapi.json together.
var wantOperations = []Operation{
	{"GET", "/"},
	{"GET", "/alive"},
	{"GET", "/health"},
	{"GET", "/ready"},
	{"GET", "/server_info"},
	{"GET", "/docs"},
	{"GET", "/openapi.json"},
	{"GET", "/metrics"},

	{"GET", "/api/conversations"},
	{"POST", "/api/conversations"},
	{"GET", "/api/conversations/search"},
	{"GET", "/api/conversations/count"},
	{"GET", "/api/conversations/{conversation_id}"},
	{"PATCH", "/api/conversations/{conversation_id}"},
	{"DELETE", "/api/conversations/{conversation_id}"},
	{"POST", "/api/conversations/{conversation_id}/run"},
	{"POST", "/api/conversations/{conversation_id}/pause"},
	{"POST", "/api/conversations/{conversation_id}/restart"},
	{"POST", "/api/conversations/{conversation_id}/secrets"},
	{"POST", "/api/conversations/{conversation_id}/confirmation_policy"},
	{"POST", "/api/conversations/{conversation_id}/security_analyzer"},
	{"POST", "/api/conversations/{conversation_id}/ask_agent"},
	{"POST", "/api/conversations/{conversation_id}/generate_title"},
	{"POST", "/api/conversations/{conversation_id}/condense"},
	{"POST", "/api/conversations/{conversation_id}/fork"},
	{"POST", "/api/conversations/{conversation_id}/navigate"},
	{"POST", "/api/conversations/{conversation_id}/interrupt"},
	{"POST", "/api/conversations/{conversation_id}/switch_llm"},
	{"POST", "/api/conversations/{conversation_id}/switch_profile"},
	{"GET", "/api/conversations/{conversation_id}/agent_final_response"},
	{"GET", "/api/conversations/{conversation_id}/events"},

	{"POST", "/api/conversations/{conversation_id}/events"},
	{"GET", "/api/conversations/{conversation_id}/events/search"},
	{"GET", "/api/conversations/{conversation_id}/events/count"},
	{"GET", "/api/conversations/{conversation_id}/events/{event_id}"},
	{"POST", "/api/conversations/{conversation_id}/events/respond_to_confirmation"},

	{"POST", "/api/conversations/{conversation_id}/bash/execute_bash_command"},
	{"GET", "/api/conversations/{conversation_id}/file/download"},
	{"POST", "/api/conversations/{conversation_id}/file/upload"},
	{"GET", "/api/conversations/{conversation_id}/file/list"},
	{"GET", "/api/conversations/{conversation_id}/bash/bash_events/search"},
	{"GET", "/api/bash/bash_events/search"},
	{"POST", "/api/bash/execute_bash_command"},
	{"POST", "/api/conversations/{conversation_id}/bash/start_bash_command"},
	{"POST", "/api/bash/start_bash_command"},
	{"GET", "/api/bash/bash_events"},
	{"GET", "/api/bash/bash_events/"},
	{"DELETE", "/api/bash/bash_events"},
	{"GET", "/api/bash/bash_events/{event_id}"},
	{"GET", "/api/file/download"},
	{"POST", "/api/file/upload"},
	{"GET", "/api/file/list"},
	{"GET", "/api/conversations/{conversation_id}/git/changes"},
	{"GET", "/api/git/changes"},
	{"GET", "/api/conversations/{conversation_id}/git/diff"},
	{"GET", "/api/git/diff"},
	{"GET", "/api/conversations/{conversation_id}/git/commits"},
	{"GET", "/api/git/commits"},
	{"GET", "/api/conversations/{conversation_id}/git/commits/{sha}/changes"},
	{"GET", "/api/git/commits/{sha}/changes"},
	{"GET", "/api/conversations/{conversation_id}/file/archive"},
	{"GET", "/api/file/archive"},
	{"GET", "/api/conversations/{conversation_id}/file/home"},
	{"GET", "/api/file/home"},
	{"GET", "/api/conversations/{conversation_id}/file/search_subdirs"},
	{"GET", "/api/file/search_subdirs"},
	{"POST", "/api/conversations/{conversation_id}/file/create_directory"},
	{"POST", "/api/file/create_directory"},
	{"GET", "/api/file/download-trajectory/{conversation_id}"},
	{"GET", "/api/conversations/{conversation_id}/workspace"},
	{"GET", "/api/conversations/{conversation_id}/workspace/{path}"},
	{"GET", "/api/conversations/{conversation_id}/ports/{port}"},
	{"POST", "/api/conversations/{conversation_id}/ports/{port}"},
	{"PUT", "/api/conversations/{conversation_id}/ports/{port}"},
	{"PATCH", "/api/conversations/{conversation_id}/ports/{port}"},
	{"DELETE", "/api/conversations/{conversation_id}/ports/{port}"},
	{"OPTIONS", "/api/conversations/{conversation_id}/ports/{port}"},
	{"GET", "/api/conversations/{conversation_id}/ports/{port}/{path}"},
	{"POST", "/api/conversations/{conversation_id}/ports/{port}/{path}"},
	{"PUT", "/api/conversations/{conversation_id}/ports/{port}/{path}"},
	{"PATCH", "/api/conversations/{conversation_id}/ports/{port}/{path}"},
	{"DELETE", "/api/conversations/{conversation_id}/ports/{port}/{path}"},
	{"OPTIONS", "/api/conversations/{conversation_id}/ports/{port}/{path}"},
	{"POST", "/api/auth/workspace-session"},
	{"POST", "/api/conversations/{conversation_id}/preview"},
	{"GET", "/preview/{token}/{conversation_id}/workspace"},
	{"GET", "/preview/{token}/{conversation_id}/workspace/{path}"},
	{"GET", "/preview/{token}/{conversation_id}/ports/{port}"},
	{"POST", "/preview/{token}/{conversation_id}/ports/{port}"},
	{"PUT", "/preview/{token}/{conversation_id}/ports/{port}"},
	{"PATCH", "/preview/{token}/{conversation_id}/ports/{port}"},
	{"DELETE", "/preview/{token}/{conversation_id}/ports/{port}"},
	{"OPTIONS", "/preview/{token}/{conversation_id}/ports/{port}"},
	{"GET", "/preview/{token}/{conversation_id}/ports/{port}/{path}"},
	{"POST", "/preview/{token}/{conversation_id}/ports/{port}/{path}"},
	{"PUT", "/preview/{token}/{conversation_id}/ports/{port}/{path}"},
	{"PATCH", "/preview/{token}/{conversation_id}/ports/{port}/{path}"},
	{"DELETE", "/preview/{token}/{conversation_id}/ports/{port}/{path}"},
	{"OPTIONS", "/preview/{token}/{conversation_id}/ports/{port}/{path}"},
	{"DELETE", "/api/auth/workspace-session"},
	{"GET", "/api/tools/"},
	{"GET", "/api/conversations/{conversation_id}/tools"},
	{"POST", "/api/mcp/test"},

	{"GET", "/api/settings"},
	{"PATCH", "/api/settings"},
	{"GET", "/api/settings/agent-schema"},
	{"GET", "/api/settings/conversation-schema"},
	{"GET", "/api/settings/secrets"},
	{"PUT", "/api/settings/secrets"},
	{"GET", "/api/settings/secrets/{name}"},
	{"DELETE", "/api/settings/secrets/{name}"},
	{"GET", "/api/profiles"},
	{"GET", "/api/profiles/{name}"},
	{"POST", "/api/profiles/{name}"},
	{"DELETE", "/api/profiles/{name}"},
	{"POST", "/api/profiles/{name}/rename"},
	{"POST", "/api/profiles/{name}/activate"},
	{"GET", "/api/llm/providers"},
	{"GET", "/api/llm/models"},
	{"GET", "/api/llm/models/verified"},
	{"GET", "/api/vscode/url"},
	{"GET", "/api/vscode/status"},
	{"GET", "/api/desktop/url"},
	{"POST", "/api/skills"},
	{"POST", "/api/hooks"},

	{"GET", "/sockets/events/{conversation_id}"},
	{"GET", "/sockets/bash-events"},
	{"GET", "/sockets/bash-events/{conversation_id}"},
	{"GET", "/ws"},
}

// doc decodes the document into generic JSON.
func doc(t *testing.T) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(OpenAPI(), &d); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return d
}

func TestDocumentHeader(t *testing.T) {
	t.Parallel()
	d := doc(t)
	if v, _ := d["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Errorf("openapi = %q, want 3.x", v)
	}
	info, _ := d["info"].(map[string]any)
	if info["title"] != "GoHands" || info["version"] == "" {
		t.Errorf("info = %v, want title GoHands and a version", info)
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	want := slices.Clone(wantOperations)
	slices.SortFunc(want, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return slices.Index(methods, strings.ToLower(a.Method)) - slices.Index(methods, strings.ToLower(b.Method))
	})
	if diff := cmp.Diff(Operations(), want); diff != "" {
		t.Errorf("Operations() (-got +want)\n%s", diff)
	}
	var wantPaths []string
	for _, op := range want {
		if !slices.Contains(wantPaths, op.Path) {
			wantPaths = append(wantPaths, op.Path)
		}
	}
	slices.Sort(wantPaths)
	if diff := cmp.Diff(Paths(), wantPaths); diff != "" {
		t.Errorf("Paths() (-got +want)\n%s", diff)
	}
}

func TestOpenAPIIsACopy(t *testing.T) {
	t.Parallel()
	b := OpenAPI()
	b[0] = 'x'
	if OpenAPI()[0] == 'x' {
		t.Error("changing the returned slice changed the document")
	}
}

// Every $ref points at something in the document.
func TestReferencesResolve(t *testing.T) {
	t.Parallel()
	d := doc(t)
	var refs []string
	walk(d, func(m map[string]any) {
		if r, ok := m["$ref"].(string); ok {
			refs = append(refs, r)
		}
	})
	if len(refs) == 0 {
		t.Fatal("no $ref found")
	}
	for _, r := range refs {
		if !strings.HasPrefix(r, "#/") {
			t.Errorf("$ref %q is not local", r)
			continue
		}
		var cur any = d
		for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[part]
		}
		if cur == nil {
			t.Errorf("$ref %q does not resolve", r)
		}
	}
}

// Each operation has an id, responses, and exactly the path parameters its
// template names.
func TestOperationsWellFormed(t *testing.T) {
	t.Parallel()
	d := doc(t)
	params := d["components"].(map[string]any)["parameters"].(map[string]any)
	resolve := func(p any) map[string]any {
		m := p.(map[string]any)
		if r, ok := m["$ref"].(string); ok {
			return params[strings.TrimPrefix(r, "#/components/parameters/")].(map[string]any)
		}
		return m
	}
	templateVar := regexp.MustCompile(`\{([^}]+)\}`)
	ids := map[string]string{}
	for path, item := range d["paths"].(map[string]any) {
		item := item.(map[string]any)
		var want []string
		for _, m := range templateVar.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		slices.Sort(want)
		shared, _ := item["parameters"].([]any)
		for _, method := range methods {
			op, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			name := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q already used by %s", name, id, other)
			}
			ids[id] = name
			if r, _ := op["responses"].(map[string]any); len(r) == 0 {
				t.Errorf("%s: no responses", name)
			}
			own, _ := op["parameters"].([]any)
			var got []string
			for _, p := range append(slices.Clone(shared), own...) {
				p := resolve(p)
				if p["in"] == "path" {
					got = append(got, p["name"].(string))
					if p["required"] != true {
						t.Errorf("%s: path parameter %v not required", name, p["name"])
					}
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("%s: path parameters (-got +want)\n%s", name, diff)
			}
		}
	}
}

// Routes under /api/ need the key (the document's default); the open ones
// say so with an empty security list.
func TestSecurity(t *testing.T) {
	t.Parallel()
	d := doc(t)
	schemes := d["components"].(map[string]any)["securitySchemes"].(map[string]any)
	header := schemes["SessionApiKey"].(map[string]any)
	if header["in"] != "header" || header["name"] != "X-Session-API-Key" {
		t.Errorf("SessionApiKey = %v, want header X-Session-API-Key", header)
	}
	if bearer := schemes["BearerAuth"].(map[string]any); bearer["scheme"] != "bearer" {
		t.Errorf("BearerAuth = %v, want http bearer", bearer)
	}
	for _, op := range Operations() {
		o := d["paths"].(map[string]any)[op.Path].(map[string]any)[strings.ToLower(op.Method)].(map[string]any)
		sec, overridden := o["security"].([]any)
		switch {
		case strings.HasPrefix(op.Path, "/api/"):
			if overridden {
				t.Errorf("%s %s overrides the default security with %v", op.Method, op.Path, sec)
			}
		case strings.HasPrefix(op.Path, "/sockets/") || op.Path == "/ws":
			if len(sec) == 0 {
				t.Errorf("%s %s: a socket needs the key schemes listed", op.Method, op.Path)
			}
		default:
			if !overridden || len(sec) != 0 {
				t.Errorf("%s %s is open and should say security: []", op.Method, op.Path)
			}
		}
	}
}

func TestEventDiscriminator(t *testing.T) {
	t.Parallel()
	schemas := doc(t)["components"].(map[string]any)["schemas"].(map[string]any)
	ev := schemas["Event"].(map[string]any)
	disc := ev["discriminator"].(map[string]any)
	if disc["propertyName"] != "kind" {
		t.Errorf("Event discriminator = %v, want kind", disc["propertyName"])
	}
	mapping := disc["mapping"].(map[string]any)
	oneOf := ev["oneOf"].([]any)
	if len(mapping) != len(oneOf) {
		t.Errorf("%d kinds mapped, %d in oneOf", len(mapping), len(oneOf))
	}
	for kind, ref := range mapping {
		if ref != "#/components/schemas/"+kind {
			t.Errorf("kind %s maps to %v", kind, ref)
		}
	}
	for _, kind := range []string{"MessageEvent", "ActionEvent", "ObservationEvent", "ConversationStateUpdateEvent", "SandboxStatusEvent"} {
		if _, ok := mapping[kind]; !ok {
			t.Errorf("kind %s missing from the discriminator", kind)
		}
	}
}

// walk calls f on every object in v.
func walk(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for _, c := range v {
			walk(c, f)
		}
	case []any:
		for _, c := range v {
			walk(c, f)
		}
	}
}
