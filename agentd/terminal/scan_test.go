package terminal

import (
	"bytes"
	"testing"
)

// scanAll feeds data to a scanner in chunks of the given sizes and
// returns the output and the prompts it saw.
func scanAll(s *scanner, data []byte, chunk int) ([]byte, []prompt) {
	var out []byte
	var prompts []prompt
	for len(data) > 0 {
		n := min(max(chunk, 1), len(data))
		s.feed(data[:n], func(o []byte, pr *prompt) {
			out = append(out, o...)
			if pr != nil {
				prompts = append(prompts, *pr)
			}
		})
		data = data[n:]
	}
	out = append(out, s.carry...)
	return out, prompts
}

func TestScannerSplitsOutputAndPrompts(t *testing.T) {
	const nonce = "abc123"
	marker := func(code, cmd, cwd string) string {
		return "\x1eGH" + nonce + ";" + code + ";" + cmd + ";" + cwd + ";" + nonce + "\x1e"
	}
	data := []byte("hello\n" + marker("0", "1", "/tmp") + "x\x1ey" + marker("2", "7", "/a;b") + "\x1eGHother;1;1;/;other\x1e" + "tail")
	for _, chunk := range []int{1, 2, 3, 7, 64, len(data)} {
		out, prompts := scanAll(newScanner(nonce), data, chunk)
		if want := "hello\nx\x1ey\x1eGHother;1;1;/;other\x1etail"; string(out) != want {
			t.Errorf("chunk %d: output %q, want %q", chunk, out, want)
		}
		if len(prompts) != 2 || prompts[0] != (prompt{0, 1, "/tmp"}) || prompts[1] != (prompt{2, 7, "/a;b"}) {
			t.Errorf("chunk %d: prompts %+v", chunk, prompts)
		}
	}
}

// FuzzScanner checks that the scanner never loses or invents output:
// without markers of its nonce, what goes in comes out, however it is
// split.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("hello\x1eGHn0nce;0;1;/;n0nce\x1e"), 3)
	f.Add([]byte("\x1e\x1eGH\x1eGHn0"), 1)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		chunk = chunk%64 + 1
		if chunk < 1 {
			chunk = 1
		}
		out, prompts := scanAll(newScanner("n0nce"), data, chunk)
		whole, wholePrompts := scanAll(newScanner("n0nce"), data, len(data)+1)
		if !bytes.Equal(out, whole) || len(prompts) != len(wholePrompts) {
			t.Fatalf("chunking changed the result: %q/%d vs %q/%d", out, len(prompts), whole, len(wholePrompts))
		}
		if !bytes.Contains(data, []byte("\x1eGHn0nce;")) && !bytes.Equal(out, data) {
			t.Fatalf("output %q, want the input %q", out, data)
		}
	})
}
