package agentapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// fuzzMaxFrame is the line limit of the fuzzed stream decoder: small, so
// that inputs reach it.
const fuzzMaxFrame = 1024

// endless is a reader that never ends: an agent that keeps sending one line
// without a newline. It counts what was read from it.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += len(p)
	return len(p), nil
}

// streamOutcome is what readExecStream made of a stream.
type streamOutcome struct {
	Outputs []string
	Result  ExecResult
	Err     string
}

func decodeStream(r io.Reader, maxFrame int) (streamOutcome, error) {
	var o streamOutcome
	res, err := readExecStream(r, maxFrame, func(s string) { o.Outputs = append(o.Outputs, s) })
	o.Result = res
	if err != nil {
		o.Err = err.Error()
	}
	return o, err
}

// FuzzExecStream feeds arbitrary bytes to the decoder of a streamed exec, as
// the sandbox's agent (whose bytes are not to be trusted) could send them.
// The decoder must return a result or an error that says what went wrong
// (an *HTTPError with a 4xx or 5xx status and a detail, or an "exec
// stream:" error), whatever the reads' sizes; decide on what it read
// before more bytes (an endless line) arrive; hold no line past its limit;
// and what it decoded, encoded again as the agent does, must decode the
// same.
func FuzzExecStream(f *testing.F) {
	var agent bytes.Buffer
	enc := json.NewEncoder(&agent)
	enc.Encode(StreamFrame{Type: "output", Data: "hi\r\n"})
	enc.Encode(StreamFrame{Type: "output", Data: "é<&>\x1b[0m"})
	enc.Encode(StreamFrame{Type: "result", Result: &ExecResult{Output: "hi\né", ExitCode: 3, WorkingDir: "/workspace", PID: 7, Message: "m"}})
	for _, seed := range []string{
		agent.String(),
		`{"type":"output","data":"a"}` + "\n" + `{"type":"error","status":409,"detail":"busy"}` + "\n",
		`{"type":"result","result":{"output":"","exit_code":-1,"running":true,"timed_out":true}}`, // no newline at the end
		`{"type":"result"}` + "\n",
		`{"type":"result","result":null}` + "\n",
		`{"type":"error"}` + "\n",
		`{"type":"error","status":200,"detail":"ok?"}` + "\n",
		`{"type":"error","status":599}` + "\n",
		`{"type":"output","data":"a"}` + "\r\n" + `{"type":"result","result":{}}` + "\r\n",
		`{"type":"later","data":"x"}` + "\n" + `{}` + "\n" + `null` + "\n" + `{"type":"result","result":{"exit_code":0}}` + "\n",
		`{"type":"output","data":"\ud800\u0000"}` + "\n",
		`{"type":"output","data":1}` + "\n",
		`{"type":"output","data":"` + strings.Repeat("x", fuzzMaxFrame) + `"}` + "\n",
		`{"type":"output","data":"a"}` + "\n\n",
		`{"type":"result","result":{"exit_code":1e400}}` + "\n",
		`[]` + "\n",
		"",
		"\n",
		"\xff\xfe",
		`{"type":"output","data":"partial`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeStream(bytes.NewReader(data), fuzzMaxFrame)
		if err != nil {
			var he *HTTPError
			switch {
			case errors.As(err, &he):
				if he.Status < 400 || he.Status > 599 || he.Detail == "" {
					t.Fatalf("agent error %#v: want a 4xx or 5xx status and a detail", he)
				}
			case !strings.HasPrefix(err.Error(), "exec stream: ") || len(err.Error()) == len("exec stream: "):
				t.Fatalf("error %q does not say what went wrong", err)
			}
		}

		// Reads of any size decode the same.
		half, _ := decodeStream(iotest.HalfReader(bytes.NewReader(data)), fuzzMaxFrame)
		if diff := cmp.Diff(half, got); diff != "" {
			t.Fatalf("half reads decode otherwise (-got +want):\n%s", diff)
		}

		// The last line may end at the end of the answer, without a
		// newline; given one, it decodes the same.
		lines := data
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines = append(data[:len(data):len(data)], '\n')
		}
		ended, _ := decodeStream(bytes.NewReader(lines), fuzzMaxFrame)
		if diff := cmp.Diff(ended, got); diff != "" {
			t.Fatalf("a newline at the end changed the answer (-got +want):\n%s", diff)
		}

		// An answer that goes on for ever after these lines: the decoder
		// decides on what it read, reading no more than a line's limit of
		// the rest, and says the line is too long where it would have
		// waited for more.
		tail := &endless{}
		more, _ := decodeStream(io.MultiReader(bytes.NewReader(lines), tail), fuzzMaxFrame)
		want := got
		if got.Err == "exec stream: ended without a result" {
			want.Err = fmt.Sprintf("exec stream: a line is longer than %d bytes", fuzzMaxFrame)
		}
		if diff := cmp.Diff(more, want); diff != "" {
			t.Fatalf("with an endless line after the answer (-got +want):\n%s", diff)
		}
		if tail.n > fuzzMaxFrame {
			t.Fatalf("read %d bytes of an endless line; the limit is %d", tail.n, fuzzMaxFrame)
		}

		// What was decoded, written as the agent writes it, reads back the
		// same. JSON escapes may make it longer than these bytes.
		var again bytes.Buffer
		enc := json.NewEncoder(&again)
		for _, s := range got.Outputs {
			enc.Encode(StreamFrame{Type: "output", Data: s})
		}
		var he *HTTPError
		switch {
		case err == nil:
			enc.Encode(StreamFrame{Type: "result", Result: &got.Result})
		case errors.As(err, &he):
			enc.Encode(StreamFrame{Type: "error", Status: he.Status, Detail: he.Detail})
		default:
			return
		}
		round, _ := decodeStream(&again, 8*fuzzMaxFrame)
		if diff := cmp.Diff(round, got); diff != "" {
			t.Fatalf("re-encoded stream decodes otherwise (-got +want):\n%s", diff)
		}
	})
}

// fuzzAnswerLimit is the size limit of the fuzzed answer decoder.
const fuzzAnswerLimit = 256

// FuzzAnswer feeds arbitrary bytes to the decoder of the agent's JSON
// answers. Within the limit it must decode as encoding/json does; past
// it, it must refuse with an error that says so, or give the value that
// ended within the limit; and it must not read on into an endless answer.
func FuzzAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"output":"hi","exit_code":0,"working_dir":"/w","pid":1}`,
		`{"output":"` + strings.Repeat("x", fuzzAnswerLimit) + `"}`,
		`{"exit_code":` + strings.Repeat("9", fuzzAnswerLimit) + `}`,
		`{"exit_code":"x"}`,
		`{"output":"a"} trailing`,
		`{"output":"a"}` + strings.Repeat(" ", fuzzAnswerLimit),
		`{"output":`,
		`null`,
		`[]`,
		"",
		"\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want ExecResult
		wantErr := json.NewDecoder(bytes.NewReader(data)).Decode(&want)
		var got ExecResult
		err := readAnswer(bytes.NewReader(data), fuzzAnswerLimit, &got)
		tooLong := err != nil && strings.Contains(err.Error(), "longer than")
		switch {
		case tooLong && len(data) <= fuzzAnswerLimit:
			t.Fatalf("%d bytes refused as too long (limit %d): %v", len(data), fuzzAnswerLimit, err)
		case tooLong:
		case (err != nil) != (wantErr != nil):
			t.Fatalf("error %v, encoding/json says %v", err, wantErr)
		case err != nil && !strings.HasPrefix(err.Error(), "decode answer: "):
			t.Fatalf("error %q does not say where it comes from", err)
		case err == nil:
			if diff := cmp.Diff(got, want); diff != "" {
				t.Fatalf("decoded otherwise than encoding/json (-got +want):\n%s", diff)
			}
		}

		// An answer that goes on for ever: at most limit+1 bytes are read.
		cr := &counter{r: io.MultiReader(bytes.NewReader(data), &endless{})}
		var more ExecResult
		err2 := readAnswer(cr, fuzzAnswerLimit, &more)
		if cr.n > fuzzAnswerLimit+1 {
			t.Fatalf("read %d bytes; the limit is %d", cr.n, fuzzAnswerLimit)
		}
		if err == nil && err2 == nil {
			if diff := cmp.Diff(more, got); diff != "" {
				t.Fatalf("bytes after the answer changed it (-got +want):\n%s", diff)
			}
		}
	})
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
