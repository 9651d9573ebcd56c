package session

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gohands/gohands/security"
)

// DefaultBashOutputMaxBytes is how many bytes of one command's output the
// server holds in its bash events when Options.BashOutputMaxBytes is 0.
const DefaultBashOutputMaxBytes = 1 << 20

// MinBashOutputMaxBytes is the least Options.BashOutputMaxBytes may be.
const MinBashOutputMaxBytes = 4 << 10

// bashOutput bounds what the bash events of one command hold of its
// output, counted as they hold it: as JSON text, where a control byte
// may take six. The first part of the output (the head, three quarters
// of the bound) goes out as it comes. Past it, output is no longer
// published: only its last bytes are kept, in a buffer of fixed size, and
// go out when the command ends (the tail, a quarter of the bound), with a
// note saying how much was left out and where the sandbox keeps the
// whole. Whatever the command prints, its events hold at most the bound
// and two notes.
type bashOutput struct {
	headLeft int // JSON bytes of the head still to publish
	keep     int // JSON bytes of the tail
	tail     []byte
	tailPos  int   // where the next tail byte goes
	tailFull bool  // the tail buffer has wrapped
	total    int64 // bytes of output seen
	sent     int64 // bytes of output published as it came
	cut      bool  // the head is spent
}

func newBashOutput(limit int) *bashOutput {
	keep := limit / 4
	return &bashOutput{headLeft: limit - keep, keep: keep, tail: make([]byte, keep)}
}

// add takes a chunk of output and returns what of it goes out now, and,
// the first time the head is spent, the note that says so.
func (o *bashOutput) add(chunk string) (now, note string) {
	o.total += int64(len(chunk))
	if !o.cut {
		n, size := jsonPrefix(chunk, o.headLeft)
		o.headLeft -= size
		o.sent += int64(n)
		if n == len(chunk) {
			return chunk, ""
		}
		now, chunk = chunk[:n], chunk[n:]
		o.cut = true
		note = fmt.Sprintf("\n[... this command's output is past %d bytes: the rest is not streamed; its end comes when it ends ...]\n", o.sent)
	}
	o.keepTail(chunk)
	return now, note
}

// keepTail writes s into the tail's ring buffer.
func (o *bashOutput) keepTail(s string) {
	if len(o.tail) == 0 {
		return
	}
	if len(s) >= len(o.tail) {
		copy(o.tail, s[len(s)-len(o.tail):])
		o.tailPos, o.tailFull = 0, true
		return
	}
	n := copy(o.tail[o.tailPos:], s)
	if n < len(s) {
		copy(o.tail, s[n:])
		o.tailFull = true
	}
	o.tailPos = (o.tailPos + len(s)) % len(o.tail)
}

// tailText is the end of the kept tail that takes at most o.keep bytes as
// JSON, from a whole character.
func (o *bashOutput) tailText() string {
	var s string
	if o.tailFull {
		s = string(o.tail[o.tailPos:]) + string(o.tail[:o.tailPos])
	} else {
		s = string(o.tail[:o.tailPos])
	}
	i := 0
	for i < len(s) && i < utf8.UTFMax-1 && !utf8.RuneStart(s[i]) {
		i++
	}
	s = s[i:]
	over := jsonLen(s) - o.keep
	for i = 0; over > 0 && i < len(s); {
		n, size := jsonRune(s, i)
		over -= n
		i += size
	}
	return s[i:]
}

// end returns the text of the command's last event: "" when nothing was
// left out, else a note naming fullPath, the sandbox file that holds the
// whole output, and the tail. The agent keeps such a file when the output
// without its terminal control sequences (cleaned, what it answers with)
// is long; the raw stream counted here may be long when that is not. Then
// there is no file, cleaned is the whole output, and its end is the tail.
func (o *bashOutput) end(fullPath, cleaned string) string {
	if !o.cut {
		return ""
	}
	if fullPath == "" {
		o.tailPos, o.tailFull = 0, false
		o.keepTail(cleaned)
		tail := o.tailText()
		return fmt.Sprintf("\n[... %d bytes of output in all, the first %d streamed; the sandbox kept no full-output file: without terminal control sequences the output is only %d bytes, and ends with the %d that follow ...]\n",
			o.total, o.sent, len(cleaned), len(tail)) + tail
	}
	tail := o.tailText()
	return fmt.Sprintf("\n[... %d bytes of output in all: the %d between the first %d and the last %d are left out here; the full output (without terminal control sequences) is in the sandbox at %s ...]\n",
		o.total, o.total-o.sent-int64(len(tail)), o.sent, len(tail), fullPath) + tail
}

// jsonRune returns how many bytes the character at s[i] takes inside a
// JSON string as encoding/json writes it, and how many it takes in s.
func jsonRune(s string, i int) (n, size int) {
	c := s[i]
	if c < utf8.RuneSelf {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			return 2, 1
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			return 6, 1 // \u00XX
		}
		return 1, 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size == 1 {
		return 6, 1 // \ufffd
	}
	if r == '\u2028' || r == '\u2029' {
		return 6, size
	}
	return size, size
}

// jsonLen is how many bytes s takes inside a JSON string.
func jsonLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		k, size := jsonRune(s, i)
		n += k
		i += size
	}
	return n
}

// jsonPrefix returns the length of the longest prefix of s, in whole
// characters, that takes at most limit bytes inside a JSON string, and
// how many it takes.
func jsonPrefix(s string, limit int) (n, size int) {
	for n < len(s) {
		k, w := jsonRune(s, n)
		if size+k > limit {
			break
		}
		size += k
		n += w
	}
	return n, size
}

// streamMasker hides secrets in output that comes in chunks: a secret
// split between two chunks is held back until it is whole, so that
// neither chunk shows a piece of it. Only the longest end of the output
// that could start a secret is held, so output that cannot does not wait.
type streamMasker struct {
	masker *security.Masker
	values []string // the secrets, to know what could be one
	held   string
}

func newStreamMasker(m *security.Masker, values []string) *streamMasker {
	vs := make([]string, 0, len(values))
	for _, v := range values {
		if len(v) > 1 {
			vs = append(vs, v)
		}
	}
	return &streamMasker{masker: m, values: vs}
}

// add returns the masked output that can go out now.
func (s *streamMasker) add(chunk string) string {
	if s.masker.Empty() {
		return chunk
	}
	t := s.held + chunk
	cut := s.safeEnd(t)
	s.held = t[cut:]
	return s.masker.Mask(t[:cut])
}

// flush returns what is held, masked.
func (s *streamMasker) flush() string {
	t := s.held
	s.held = ""
	return s.masker.Mask(t)
}

// safeEnd returns where t may be cut with no secret across the cut: before
// the longest end of t that starts a secret, and before any secret that
// would straddle that point. Only the places where a secret's first byte
// is are compared, so that the cost stays about linear in the length of
// the secrets.
func (s *streamMasker) safeEnd(t string) int {
	cut := len(t)
	for _, v := range s.values {
		// The earliest start, in [len(t)-len(v)+1, cut), of an end of t
		// that is the start of v.
		if i := firstAt(t, max(0, len(t)-len(v)+1), cut, v[0], func(i int) bool { return strings.HasPrefix(v, t[i:]) }); i >= 0 {
			cut = i
		}
	}
	for moved := true; moved; {
		moved = false
		for _, v := range s.values {
			if i := firstAt(t, max(0, cut-len(v)+1), cut, v[0], func(i int) bool { return strings.HasPrefix(t[i:], v) }); i >= 0 {
				cut, moved = i, true
			}
		}
	}
	return cut
}

// firstAt returns the first i in [from, to) where t has the byte c and ok
// holds, or -1.
func firstAt(t string, from, to int, c byte, ok func(int) bool) int {
	for i := from; i < to; i++ {
		j := strings.IndexByte(t[i:to], c)
		if j < 0 {
			return -1
		}
		i += j
		if ok(i) {
			return i
		}
	}
	return -1
}
