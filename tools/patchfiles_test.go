package tools

import (
	"context"
	"errors"
	"testing"

	"github.com/gohands/gohands/agentapi/agentapitest"
	"github.com/gohands/gohands/patch"
)

// TestSandboxFiles: patch.Apply reads the sandbox's files relative to the
// working directory, and a missing file is patch.ErrNotFound.
func TestSandboxFiles(t *testing.T) {
	t.Parallel()
	fs := agentapitest.NewFiles()
	fs.Put("/workspace/app/main.go", "package main\n")
	fs.Put("/etc/hosts", "127.0.0.1 localhost\n")
	files := sandboxFiles{ctx: context.Background(), cl: fs, wd: "/workspace/app"}
	for _, p := range []string{"main.go", "/workspace/app/main.go", "../app/main.go"} {
		if got, err := files.Read(p); err != nil || got != "package main\n" {
			t.Errorf("Read(%q) = %q, %v; want the file", p, got, err)
		}
	}
	if got, err := files.Read("/etc/hosts"); err != nil || got != "127.0.0.1 localhost\n" {
		t.Errorf("Read(/etc/hosts) = %q, %v", got, err)
	}
	if _, err := files.Read("missing.go"); !errors.Is(err, patch.ErrNotFound) {
		t.Errorf("Read(missing.go): err = %v, want patch.ErrNotFound", err)
	}
	if !files.Exists("main.go") || files.Exists("missing.go") {
		t.Errorf("Exists(main.go) = %v, Exists(missing.go) = %v; want true, false", files.Exists("main.go"), files.Exists("missing.go"))
	}
}
