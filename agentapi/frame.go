package agentapi

import (
	"bytes"
	"unicode/utf8"
)

// outputPrefix and outputSuffix frame an output line exactly as the agent
// writes it: {"type":"output","data":"..."}.
var (
	outputPrefix = []byte(`{"type":"output","data":"`)
	outputSuffix = []byte(`"}`)
)

// decodeOutputFrame is the fast path of the streamed exec reader: most
// lines of a busy stream are output frames, and the general JSON decoder
// spends more on them than the rest of the stream does. It decodes a line
// of exactly the agent's output frame shape whose string has only the
// short escapes (\" \\ \/ \b \f \n \r \t) and valid UTF-8. For every other
// line it reports false, and the caller decodes it in full; for a line it
// takes, the result is what encoding/json makes of it (FuzzOutputFrame).
func decodeOutputFrame(line []byte) (string, bool) {
	if !bytes.HasPrefix(line, outputPrefix) || !bytes.HasSuffix(line, outputSuffix) || len(line) < len(outputPrefix)+len(outputSuffix) {
		return "", false
	}
	s := line[len(outputPrefix) : len(line)-len(outputSuffix)]
	// JSON carries no raw control characters, and the full decoder would
	// replace invalid UTF-8: both are left to it.
	for _, c := range s {
		if c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(s) {
		return "", false
	}
	if !bytes.ContainsAny(s, "\"\\") {
		return string(s), true
	}
	out := make([]byte, 0, len(s))
	for len(s) > 0 {
		i := bytes.IndexAny(s, "\"\\")
		if i < 0 {
			out = append(out, s...)
			break
		}
		if s[i] == '"' || i+1 == len(s) {
			return "", false // an unescaped quote, or a lone backslash at the end
		}
		out = append(out, s[:i]...)
		switch s[i+1] {
		case '"', '\\', '/':
			out = append(out, s[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			return "", false // \u and anything else: the full decoder
		}
		s = s[i+2:]
	}
	return string(out), true
}
