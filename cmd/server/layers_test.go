package main

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"
)

// goContext is the build context of the go command that runs the tests.
// A test binary built with -trimpath does not know GOROOT, without which
// go/build finds no package of the module: it is asked of go env.
func goContext(t *testing.T) build.Context {
	t.Helper()
	ctx := build.Default
	if ctx.GOROOT == "" {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			t.Fatalf("go env GOROOT: %v", err)
		}
		ctx.GOROOT = strings.TrimSpace(string(out))
	}
	return ctx
}

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
		{"../../security", "each tool tells the rules its fields (tools.SecurityFields, passed in security.Options.Tools): security knows no tool",
			[]string{"github.com/gohands/gohands/tools", "github.com/gohands/gohands/session", "github.com/gohands/gohands/controller"}},
		{"../../sandbox", "sandbox is the backend seam: it knows no conversation and no engine (its owner keys are opaque)",
			[]string{"github.com/gohands/gohands/session", "github.com/gohands/gohands/controller", "github.com/gohands/gohands/storage",
				"github.com/docker/docker", "github.com/gohands/gohands/sandbox/docker"}},
		{"../../sandbox/docker", "a backend knows no conversation",
			[]string{"github.com/gohands/gohands/session", "github.com/gohands/gohands/controller", "github.com/gohands/gohands/storage"}},
		{"../../mcpsandbox", "the MCP launcher knows a sandbox only by its runtime-agent's client, and no conversation",
			[]string{"github.com/gohands/gohands/session", "github.com/gohands/gohands/sandbox", "github.com/gohands/gohands/controller"}},
		{"../../session", "session runs sandboxes through the sandbox.Backend interface, on any engine",
			[]string{"github.com/gohands/gohands/sandbox/docker", "github.com/docker/docker", "github.com/gohands/gohands/sandbox/sandboxtest"}},
	}
	ctx := goContext(t)
	for _, r := range rules {
		pkg, err := ctx.ImportDir(r.dir, 0)
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

// TestServerLinksNoDaemon walks the server's imports (tests aside): the
// runtime-agent's daemon and the in-memory sandbox backend, which serves
// that daemon in-process, stay out of the server binary.
func TestServerLinksNoDaemon(t *testing.T) {
	const module = "github.com/gohands/gohands/"
	forbid := []string{module + "agentd", module + "sandbox/sandboxtest"}
	seen := map[string]bool{}
	ctx := goContext(t)
	var walk func(path, dir string, from string)
	walk = func(path, dir, from string) {
		if seen[path] {
			return
		}
		seen[path] = true
		for _, f := range forbid {
			if path == f || strings.HasPrefix(path, f+"/") {
				t.Errorf("the server binary links %s (imported by %s)", path, from)
			}
		}
		pkg, err := ctx.Import(path, dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			if strings.HasPrefix(imp, module) {
				walk(imp, pkg.Dir, path)
			}
		}
	}
	walk(".", ".", "")
}
