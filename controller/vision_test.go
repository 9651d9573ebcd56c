package controller_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/session"
)

// TestDisableVision: a model that takes no images (llm.disable_vision)
// is sent a note in place of each image; another model gets the image.
func TestDisableVision(t *testing.T) {
	const pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	for _, disable := range []bool{false, true} {
		f := newFixture(t, setup{}, call("finish", `{"message":"seen"}`))
		req := session.CreateRequest{InitialMessage: &session.MessageRequest{Role: "user", Content: event.ContentList{
			{Type: event.ContentText, Text: "what is in this picture?"},
			{Type: event.ContentImage, ImageURLs: []string{pixel}},
		}}}
		req.Agent = &session.Agent{LLM: session.LLM{DisableVision: disable}}
		a, _, err := f.m.Create(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if st := wait(t, a); st != session.StatusFinished {
			t.Fatalf("disable_vision %v: status %s", disable, st)
		}
		raw := f.model.Requests()[0].Raw
		if got := bytes.Contains(raw, []byte("data:image/png")); got == disable {
			t.Errorf("disable_vision %v: the image was sent: %v", disable, got)
		}
		if got := bytes.Contains(raw, []byte("this model takes no images")); got != disable {
			t.Errorf("disable_vision %v: the note was sent: %v", disable, got)
		}
	}
}
