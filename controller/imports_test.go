package controller_test

import (
	"go/build"
	"testing"
)

// TestReadsNoStorage checks that the agent loop reaches events and the
// sandbox through session alone: it imports neither the store nor the
// Docker backend.
func TestReadsNoStorage(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		switch imp {
		case "github.com/gohands/gohands/storage", "github.com/gohands/gohands/sandbox/docker":
			t.Errorf("controller imports %s; it should go through session", imp)
		}
	}
}
