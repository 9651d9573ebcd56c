// Package apidoc holds the OpenAPI 3.0 description of GoHands' HTTP API and
// serves it with Swagger UI.
//
// The document (openapi.json, embedded) is written by hand from the wire
// contract; it is not generated from the handlers. Paths and Operations let
// a test compare it with the routes the server registers, so the two cannot
// drift apart unnoticed. Swagger UI's files come from the
// github.com/swaggo/files/v2 module, embedded in the binary: the page works
// without network access.
package apidoc

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

//go:embed openapi.json
var document []byte

// OpenAPI returns the OpenAPI 3.0 document as JSON. The slice is a copy:
// callers may keep or change it.
func OpenAPI() []byte { return slices.Clone(document) }

// Operation is one method on one path of the document.
type Operation struct {
	Method string // upper case: GET, POST, ...
	Path   string // OpenAPI template: /api/conversations/{conversation_id}
}

// methods are the operation keys of an OpenAPI path item, in the order
// Operations lists them.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Paths returns the path templates of the document, sorted. Templates use
// OpenAPI's {name} syntax; gin's is :name.
func Paths() []string {
	var paths []string
	for p := range parsed().Paths {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// Operations returns every method and path of the document, sorted by path
// and then method.
func Operations() []Operation {
	doc := parsed()
	var ops []Operation
	for _, p := range Paths() {
		for _, m := range methods {
			if _, ok := doc.Paths[p][m]; ok {
				ops = append(ops, Operation{Method: strings.ToUpper(m), Path: p})
			}
		}
	}
	return ops
}

// skeleton is the part of the document Paths and Operations read.
type skeleton struct {
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

// parsed decodes the embedded document once. It cannot fail at run time:
// the tests parse the same bytes.
var parsed = sync.OnceValue(func() skeleton {
	var doc skeleton
	if err := json.Unmarshal(document, &doc); err != nil {
		panic(fmt.Sprintf("apidoc: embedded openapi.json: %v", err))
	}
	return doc
})
