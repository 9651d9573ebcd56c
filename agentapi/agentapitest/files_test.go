package agentapitest

import (
	"context"
	"net/http"
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/google/go-cmp/cmp"
)

func TestFiles(t *testing.T) {
	ctx := context.Background()
	f := NewFiles()
	f.Put("/w/a.txt", "one\ntwo\nthree")
	f.Link("/w/l", "a.txt")
	f.Link("/w/out", "/nowhere")

	text, err := f.ReadFile(ctx, "/w/l", 2, -1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(text, agentapi.FileText{Path: "/w/l", Content: "two\nthree", Start: 2, End: 3, TotalLines: 3}); diff != "" {
		t.Errorf("ReadFile through a link (-got +want):\n%s", diff)
	}
	for _, tt := range []struct{ path, typ, real string }{
		{"/w/a.txt", agentapi.TypeFile, "/w/a.txt"},
		{"/w/l", agentapi.TypeSymlink, "/w/a.txt"},
		{"/w/out", agentapi.TypeSymlink, "/nowhere"},
		{"/w", agentapi.TypeDir, "/w"},
		{"/", agentapi.TypeDir, "/"},
	} {
		e, err := f.Stat(ctx, tt.path)
		if err != nil || e.Type != tt.typ || e.Real != tt.real {
			t.Errorf("Stat(%s) = type %q real %q, %v; want %q, %q", tt.path, e.Type, e.Real, err, tt.typ, tt.real)
		}
	}
	if _, err := f.Stat(ctx, "/w/out/x"); agentapi.StatusOf(err) != http.StatusNotFound {
		t.Errorf("Stat under a dangling link: %v, want 404", err)
	}
	if _, err := f.WriteFile(ctx, "/w/l", "new\n"); err != nil {
		t.Fatal(err)
	}
	if text, _ := f.ReadFile(ctx, "/w/a.txt", 0, -1); text.Content != "new\n" {
		t.Errorf("a write through a link wrote %q to its target, want %q", text.Content, "new\n")
	}
}
