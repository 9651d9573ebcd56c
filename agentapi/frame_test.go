package agentapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeOutputFrame(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string
		ok   bool
	}{
		{`{"type":"output","data":"hi"}`, "hi", true},
		{`{"type":"output","data":""}`, "", true},
		{`{"type":"output","data":"a\nb\t\"c\"\\d\/e"}`, "a\nb\t\"c\"\\d/e", true},
		{`{"type":"output","data":"héllo <b> & 世界"}`, "héllo <b> & 世界", true},
		{`{"type":"output","data":"\u001b[1m"}`, "", false},         // \u: the full decoder
		{"{\"type\":\"output\",\"data\":\"a\nb\"}", "", false},      // a raw newline is not JSON
		{"{\"type\":\"output\",\"data\":\"\xff\"}", "", false},      // invalid UTF-8
		{`{"type":"output","data":"a","type":"result"}`, "", false}, // another shape
		{`{"type":"output","data":"\"}`, "", false},                 // unterminated
		{`{"type":"result","result":{"output":"x","exit_code":0}}`, "", false},
	} {
		got, ok := decodeOutputFrame([]byte(tc.line))
		if got != tc.want || ok != tc.ok {
			t.Errorf("decodeOutputFrame(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzOutputFrame: what the fast path takes, encoding/json reads the same
// way; and every frame the agent writes of text with only short escapes is
// taken.
func FuzzOutputFrame(f *testing.F) {
	for _, s := range []string{`{"type":"output","data":"x\ny"}`, `{"type":"output","data":"\/\b\f\r"}`,
		`{"type":"output","data":"\u00e9"}`, `{"type":"output","data":"a\"}`, `{"type":"output","data":"\\"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if data, ok := decodeOutputFrame(line); ok {
			var fr StreamFrame
			if err := json.Unmarshal(line, &fr); err != nil {
				t.Fatalf("fast path took %q, encoding/json refuses it: %v", line, err)
			}
			if fr.Type != "output" || fr.Data != data {
				t.Fatalf("fast path read %q as %q; encoding/json as type %q data %q", line, data, fr.Type, fr.Data)
			}
		}
		// The line's bytes as output text, framed the way the agent does.
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		text := strings.ToValidUTF8(string(line), "?")
		if text == "" {
			return // the agent sends no empty output frame
		}
		if err := enc.Encode(StreamFrame{Type: "output", Data: text}); err != nil {
			t.Fatal(err)
		}
		framed := strings.TrimSuffix(b.String(), "\n")
		data, ok := decodeOutputFrame([]byte(framed))
		if !ok {
			if !strings.Contains(framed, `\u`) {
				t.Fatalf("the agent's frame %q without \\u escapes was not taken", framed)
			}
			return
		}
		if data != text {
			t.Fatalf("the agent's frame of %q read back as %q", text, data)
		}
	})
}
