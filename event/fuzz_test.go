package event

import (
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzUnmarshal checks that decoding never panics, that every error wraps a
// sentinel, and that whatever decodes re-encodes and decodes to the same
// value.
func FuzzUnmarshal(f *testing.F) {
	for _, file := range goldenFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"kind":null}`, `{"kind":"PauseEvent","timestamp":"2025-01-01T00:00:00"}`,
		`{"kind":"MessageEvent","source":"user","llm_message":{"role":"user","content":"hi"}}`,
		`{"kind":"ActionEvent","action":{"kind":"X","a":[1,{"b":null}]}}`,
		`{"kind":"ObservationEvent","observation":{"kind":"Y","content":"s","z":1e400}}`,
		`{"kind": "SystemPromptEvent"} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Unmarshal(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKind) {
				t.Fatalf("Unmarshal error %q wraps no sentinel", err)
			}
			return
		}
		enc, err := Marshal(e)
		if err != nil {
			t.Fatalf("Marshal(Unmarshal(%q)): %v", data, err)
		}
		again, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(...)) of %s: %v", enc, err)
		}
		if diff := cmp.Diff(again, e, eventOpts); diff != "" {
			t.Fatalf("round trip of %q changed the event (-got +want):\n%s", data, diff)
		}
	})
}

// FuzzDecodeV0Action does the same for V0 client frames.
func FuzzDecodeV0Action(f *testing.F) {
	for _, s := range []string{
		`{"action":"initialize","args":{"LLM_MODEL":"m","LLM_API_KEY":"k","LLM_BASE_URL":"u","AGENT":"a"}}`,
		`{"action":"initialize","args":{"model":"m","directory":"/w","agent_cls":"CodeActAgent"}}`,
		`{"action":"start","args":{"task":"t"}}`,
		`{"action":"message","args":{"content":"hi","image_urls":["u"]}}`,
		`{"action":"read","args":{"path":"/a"}}`,
		`{"action":"write","args":{"path":"/a","contents":"x"}}`,
		`{"action":"run","args":{"command":"ls","background":true}}`,
		`{"action":"kill","args":{"id":"12"}}`,
		`{"action":"browse","args":{"url":"https://go.dev"}}`,
		`{"action":"recall","args":{"query":"q"}}`,
		`{"action":"think","args":{"thought":"t"}}`,
		`{"action":"finish"}`, `{"action":"pause"}`, `{"action":"resume"}`, `{"action":"stop"}`,
		`{"action":"change_agent_state","args":{"agent_state":"paused"}}`,
		``, `[]`, `{"action":1}`, `{"action":"run","args":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeV0Action(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKind) {
				t.Fatalf("DecodeV0Action error %q wraps no sentinel", err)
			}
			return
		}
		enc, err := EncodeV0Action(a)
		if err != nil {
			t.Fatalf("EncodeV0Action(DecodeV0Action(%q)): %v", data, err)
		}
		again, err := DecodeV0Action(enc)
		if err != nil {
			t.Fatalf("DecodeV0Action(EncodeV0Action(...)) of %s: %v", enc, err)
		}
		if diff := cmp.Diff(again, a); diff != "" {
			t.Fatalf("round trip of %q changed the action (-got +want):\n%s", data, diff)
		}
	})
}
