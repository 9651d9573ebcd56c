package terminal

import (
	"bytes"
	"strconv"
)

// The shell's prompt is a marker that cannot be mistaken for output: it is
// framed by the ASCII record separator and a random nonce chosen per shell.
// It carries the exit code of the last command, the number of the command
// the terminal typed last, and the working directory:
//
//	\x1e GH <nonce> ; <exit code> ; <command number> ; <cwd> ; <nonce> \x1e
const recordSep = 0x1e

// maxMarker bounds how long a half-seen marker is held back before the bytes
// are treated as ordinary output (a cwd is at most PATH_MAX).
const maxMarker = 4096 + 128

// prompt is one parsed marker.
type prompt struct {
	exitCode int
	cmd      int // the number of the command this prompt ends
	cwd      string
}

// scanner splits raw terminal output into output bytes and prompts.
type scanner struct {
	start []byte // "\x1eGH<nonce>;"
	end   []byte // ";<nonce>\x1e"
	carry []byte // a possible marker prefix held back from the last chunk
}

func newScanner(nonce string) *scanner {
	return &scanner{
		start: []byte("\x1eGH" + nonce + ";"),
		end:   []byte(";" + nonce + "\x1e"),
	}
}

// feed consumes p. emit is called with runs of output in order and the
// prompts seen between them. The slices passed to emit are only valid during
// the call.
func (s *scanner) feed(p []byte, emit func(out []byte, pr *prompt)) {
	data := p
	if len(s.carry) > 0 {
		data = append(s.carry, p...)
		s.carry = nil
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, recordSep)
		if i < 0 {
			emit(data, nil)
			return
		}
		if i > 0 {
			emit(data[:i], nil)
			data = data[i:]
		}
		// data starts with the record separator.
		if len(data) < len(s.start) {
			if bytes.HasPrefix(s.start, data) {
				s.carry = append([]byte(nil), data...)
				return
			}
			emit(data[:1], nil)
			data = data[1:]
			continue
		}
		if !bytes.HasPrefix(data, s.start) {
			emit(data[:1], nil)
			data = data[1:]
			continue
		}
		body := data[len(s.start):]
		j := bytes.Index(body, s.end)
		if j < 0 {
			if len(data) > maxMarker {
				emit(data[:1], nil)
				data = data[1:]
				continue
			}
			s.carry = append([]byte(nil), data...)
			return
		}
		if pr, ok := parsePrompt(body[:j]); ok {
			emit(nil, &pr)
		} else {
			emit(data[:len(s.start)+j+len(s.end)], nil)
		}
		data = body[j+len(s.end):]
	}
}

func parsePrompt(b []byte) (prompt, bool) {
	i := bytes.IndexByte(b, ';')
	if i < 0 {
		return prompt{}, false
	}
	code, err := strconv.Atoi(string(b[:i]))
	if err != nil {
		return prompt{}, false
	}
	rest := b[i+1:]
	j := bytes.IndexByte(rest, ';')
	if j < 0 {
		return prompt{}, false
	}
	cmd, err := strconv.Atoi(string(rest[:j]))
	if err != nil {
		return prompt{}, false
	}
	return prompt{exitCode: code, cmd: cmd, cwd: string(rest[j+1:])}, true
}
