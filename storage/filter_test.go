package storage

import (
	"testing"

	"github.com/gohands/gohands/event"
)

// TestActionTextsSearched: a search reads the texts of a tool action
// that Options.ActionTexts gives, and no other field of the action;
// without it, every string field.
func TestActionTextsSearched(t *testing.T) {
	path := "/srv/notes.txt"
	act := &event.Action{Action: &event.FileEditorAction{Command: event.EditorView, Path: path}, ToolName: event.ToolFileEditor}
	act.Source = event.SourceAgent
	pathOnly := func(a event.ToolAction) []string { return []string{a.(*event.FileEditorAction).Path} }
	tests := []struct {
		name  string
		texts func(event.ToolAction) []string
		body  string
		found bool
	}{
		{"told, a text", pathOnly, "NOTES.txt", true},
		{"told, another field", pathOnly, event.EditorView, false},
		{"not told, a string field", nil, event.EditorView, true},
		{"not told, the kind", nil, "FileEditorAction", false},
	}
	for _, tt := range tests {
		s, _ := openStore(t, Options{ActionTexts: tt.texts})
		mustCreate(t, s, "c")
		mustAppend(t, s, "c", act)
		evs, _, err := s.Events("c", EventQuery{Body: tt.body})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(evs) == 1; got != tt.found {
			t.Errorf("%s: search for %q found %d events, want found %v", tt.name, tt.body, len(evs), tt.found)
		}
	}
}
