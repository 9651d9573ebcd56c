package server_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gohands/gohands/apidoc"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// TestOpenAPIMatchesRoutes checks that the OpenAPI document describes
// every registered route and nothing that is not registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	store, err := storage.Open(t.TempDir()+"/state.db", storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := session.New(session.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(t.Context())
	srv := server.New(server.Config{Conversations: m, OpenAPI: apidoc.OpenAPI(), Docs: apidoc.Handler("/docs"),
		Metrics: nil})
	param := regexp.MustCompile(`:[a-z_]+|\*[a-z_]+`)
	var routes []string
	for _, r := range srv.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if strings.HasPrefix(path, "/docs/") {
			continue // Swagger UI's assets
		}
		if method == "HEAD" {
			continue // the GET of every route, without the body; the document lists the GETs
		}
		// The document names every conversation id {conversation_id}.
		path = param.ReplaceAllStringFunc(path, func(p string) string {
			if p == ":id" {
				return "{conversation_id}"
			}
			return "{" + p[1:] + "}"
		})
		routes = append(routes, method+" "+path)
	}
	var documented []string
	for _, op := range apidoc.Operations() {
		if op.Path == "/" || op.Path == "/metrics" {
			continue // served when the web page and metrics are configured
		}
		documented = append(documented, op.Method+" "+op.Path)
	}
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("the OpenAPI document has %s, which is not a route", d)
		}
	}
}
