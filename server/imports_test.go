package server

import (
	"go/build"
	"testing"
)

// TestReadsNoStorage checks that the server reads events and conversations
// through session: it does not import the store.
func TestReadsNoStorage(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if imp == "github.com/gohands/gohands/storage" {
			t.Errorf("server imports %s; it should go through session", imp)
		}
	}
}
