package main

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportRules checks the layers' import rules: what a package must not
// import directly (tests aside), a forbidden path with everything below it.
func TestImportRules(t *testing.T) {
	rules := []struct {
		dir, why string
		forbid   []string
	}{
		{"../../session", "session speaks no HTTP: its errors carry a Kind, and the server turns kinds into statuses",
			[]string{"net/http", "github.com/gin-gonic"}},
		{"../../server", "the server reads events and conversations through session",
			[]string{"github.com/gohands/gohands/storage"}},
		{"../../controller", "the agent loop reaches events and the sandbox through session",
			[]string{"github.com/gohands/gohands/storage", "github.com/gohands/gohands/sandbox/docker"}},
		{"../../tools", "tools know no sessions and no HTTP: a conversation reaches them as a Workspace",
			[]string{"github.com/gohands/gohands/session", "github.com/gohands/gohands/server", "github.com/gohands/gohands/storage",
				"github.com/gohands/gohands/sandbox", "net/http"}},
	}
	for _, r := range rules {
		pkg, err := build.Default.ImportDir(r.dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			for _, f := range r.forbid {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					t.Errorf("%s imports %s: %s", strings.TrimPrefix(r.dir, "../../"), imp, r.why)
				}
			}
		}
	}
}
