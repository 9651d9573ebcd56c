package session

import (
	"go/build"
	"strings"
	"testing"
)

// TestSpeaksNoHTTP checks that the package chooses no HTTP status: its
// errors carry a Kind, and the server alone turns kinds into statuses.
func TestSpeaksNoHTTP(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if imp == "net/http" || strings.HasPrefix(imp, "net/http/") || strings.HasPrefix(imp, "github.com/gin-gonic/") {
			t.Errorf("session imports %s; it should speak no HTTP", imp)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindInternal: "internal", KindInvalid: "invalid", KindRefused: "refused by the agent", KindRejected: "rejected", Kind(99): "Kind(99)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
