package security

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gohands/gohands/event"
)

func TestMask(t *testing.T) {
	m := NewMasker(map[string]string{
		"API_KEY": "sk-live-1234",
		"SHORT":   "abc", // too short to mask
		"PREFIX":  "sk-live",
		"QUOTED":  `pa"ss\word`,
		"HTML":    "<tok&en>",
		"LINES":   "line1\nline2",
		"EMPTY":   "",
	})
	tests := []struct{ in, want string }{
		{"", ""},
		{"nothing here", "nothing here"},
		{"key sk-live-1234 and sk-live-9", "key <secret-hidden> and <secret-hidden>-9"}, // longest first
		{"abc abc", "abc abc"},
		{"sk-live-1234sk-live-1234", "<secret-hidden><secret-hidden>"},
		{`raw pa"ss\word`, "raw <secret-hidden>"},
		{`json "pa\"ss\\word"`, `json "<secret-hidden>"`},
		{`html "\u003ctok\u0026en\u003e" plain "<tok&en>"`, `html "<secret-hidden>" plain "<secret-hidden>"`},
		{`"line1\nline2"`, `"<secret-hidden>"`},
		{"line1\nline2", "<secret-hidden>"},
	}
	for _, tt := range tests {
		if got := m.Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := m.MaskBytes([]byte(tt.in)); string(got) != tt.want {
			t.Errorf("MaskBytes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMaskJSONBytes checks that masking the JSON of an event hides the
// secret wherever encoding/json put it.
func TestMaskJSONBytes(t *testing.T) {
	secret := `s3cr<e>t"\value`
	m := NewMasker(map[string]string{"S": secret})
	obs := &event.Observation{ToolName: "terminal", ActionID: "a",
		Observation: &event.TerminalObservation{ToolOutput: event.ToolOutput{Content: event.Text("the key is " + secret + "\n")}, Command: "echo $S"}}
	data, err := event.Marshal(obs)
	if err != nil {
		t.Fatal(err)
	}
	for name, masked := range map[string][]byte{"MaskBytes": m.MaskBytes(data), "MaskJSON": m.MaskJSON(data)} {
		if !json.Valid(masked) {
			t.Fatalf("%s: not JSON: %s", name, masked)
		}
		e, err := event.Unmarshal(masked)
		if err != nil {
			t.Fatal(err)
		}
		text := e.(*event.Observation).Observation.Output().Content[0].Text
		if text != "the key is <secret-hidden>\n" {
			t.Errorf("%s: text %q", name, text)
		}
	}
}

func TestMaskJSON(t *testing.T) {
	m := NewMasker(map[string]string{"PIN": "123456", "TOKEN": "null-token", "WORD": "true"})
	tests := []struct{ in, want string }{
		{`{"a":"x 123456 y","n":1234567,"m":12345,"t":true,"k":"true"}`, `{"a":"x <secret-hidden> y","n":"<secret-hidden>","m":12345,"t":true,"k":"<secret-hidden>"}`},
		{`["null-token", null]`, `["<secret-hidden>", null]`},
		{`{"123456": 1}`, `{"<secret-hidden>": 1}`},
		{`{"a":"\n123456"}`, `{"a":"\n<secret-hidden>"}`},
		{`"unterminated 123456`, `"unterminated <secret-hidden>`},
		{`{}`, `{}`},
	}
	for _, tt := range tests {
		if got := string(m.MaskJSON([]byte(tt.in))); got != tt.want {
			t.Errorf("MaskJSON(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// A secret that would break an escape sequence takes the escape with it.
	m = NewMasker(map[string]string{"X": "nabcd", "Y": "00e9zz", "Z": `abcd\`})
	for _, in := range []string{`"\nabcd"`, `"\u00e9zz"`, `"abcd\""`, `"abcd\\"`} {
		out := m.MaskJSON([]byte(in))
		if !json.Valid(out) || !strings.Contains(string(out), HiddenText) {
			t.Errorf("MaskJSON(%s) = %s", in, out)
		}
		if out := m.MaskBytes([]byte(in)); !json.Valid(out) {
			t.Errorf("MaskBytes(%s) = %s", in, out)
		}
	}
}

func TestMaskCheap(t *testing.T) {
	data := []byte("nothing secret here")
	for _, m := range []*Masker{nil, NewMasker(nil), NewMasker(map[string]string{"a": "ab"}), NewMasker(map[string]string{"a": "zzzzzz"})} {
		if got := m.MaskBytes(data); &got[0] != &data[0] {
			t.Errorf("MaskBytes copied when there was nothing to hide")
		}
		if got := m.MaskJSON(data); &got[0] != &data[0] {
			t.Errorf("MaskJSON copied when there was nothing to hide")
		}
	}
	if !NewMasker(map[string]string{"a": "abc"}).Empty() || NewMasker(map[string]string{"a": "abcd"}).Empty() {
		t.Error("Empty")
	}
	if n := testing.AllocsPerRun(100, func() { NewMasker(nil).Mask("some log line") }); n > 2 {
		t.Errorf("%v allocations masking with no secrets", n)
	}
}

func TestMaskConcurrent(t *testing.T) {
	m := NewMasker(map[string]string{"a": "secret-value"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := m.Mask("x secret-value y"); got != "x <secret-hidden> y" {
					t.Errorf("got %q", got)
				}
			}
		})
	}
	wg.Wait()
}

type secretStringer struct{ v string }

func (s secretStringer) String() string { return "stringer " + s.v }

func TestMaskHandler(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	masker := NewMasker(map[string]string{"K": "sk-abcdef"})
	current := func() *Masker { mu.Lock(); defer mu.Unlock(); return masker }
	log := slog.New(MaskHandler(slog.NewJSONHandler(&buf, nil), current))

	log.With("bound", "with sk-abcdef").WithGroup("g").Info("calling with sk-abcdef",
		"key", "sk-abcdef", "n", 42, "err", errors.New("401 for sk-abcdef"), "plain", errors.New("fine"),
		"s", secretStringer{"sk-abcdef"}, "raw", json.RawMessage(`{"k":"sk-abcdef"}`),
		slog.Group("inner", "x", "sk-abcdef!"), "lazy", slog.AnyValue(lazy{}))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if strings.Contains(buf.String(), "sk-abcdef") {
		t.Errorf("secret logged: %s", buf.String())
	}
	g := got["g"].(map[string]any)
	checks := map[string]any{
		"msg":   got["msg"],
		"bound": got["bound"],
		"key":   g["key"], "n": g["n"], "err": g["err"], "plain": g["plain"], "s": g["s"], "raw": g["raw"],
		"inner.x": g["inner"].(map[string]any)["x"], "lazy": g["lazy"],
	}
	want := map[string]any{
		"msg":   "calling with <secret-hidden>",
		"bound": "with <secret-hidden>",
		"key":   "<secret-hidden>", "n": 42.0, "err": "401 for <secret-hidden>", "plain": "fine", "s": "stringer <secret-hidden>",
		"raw": `{"k":"<secret-hidden>"}`, "inner.x": "<secret-hidden>!", "lazy": "resolved <secret-hidden>",
	}
	for k, w := range want {
		if fmt.Sprint(checks[k]) != fmt.Sprint(w) {
			t.Errorf("%s = %v, want %v", k, checks[k], w)
		}
	}

	// Secrets added later are hidden from then on; no Masker, no change.
	buf.Reset()
	mu.Lock()
	masker = NewMasker(map[string]string{"K": "sk-abcdef", "N": "new-secret"})
	mu.Unlock()
	log.Info("new-secret")
	if !strings.Contains(buf.String(), `"msg":"<secret-hidden>"`) {
		t.Errorf("later secret: %s", buf.String())
	}
	buf.Reset()
	slog.New(MaskHandler(slog.NewTextHandler(&buf, nil), nil)).Info("sk-abcdef")
	if !strings.Contains(buf.String(), "sk-abcdef") {
		t.Errorf("nil masker func: %s", buf.String())
	}
}

type lazy struct{}

func (lazy) LogValue() slog.Value { return slog.StringValue("resolved sk-abcdef") }

// TestScopedMaskHandler checks that a record of a conversation is masked
// with that conversation's Masker as well as with the Masker of all,
// which may not have caught up with it yet.
func TestScopedMaskHandler(t *testing.T) {
	var buf bytes.Buffer
	all := NewMasker(map[string]string{"OLD": "old-secret"}) // built before c1 and c2 got theirs
	byConv := map[string]*Masker{
		"c1": NewMasker(map[string]string{"K": "c1-secret"}),
		"c2": NewMasker(map[string]string{"K": "c2-secret"}),
	}
	log := slog.New(ScopedMaskHandler(slog.NewTextHandler(&buf, nil), func() *Masker { return all }, "conversation",
		func(id string) *Masker { return byConv[id] }))
	line := func(l *slog.Logger, msg string, args ...any) string {
		buf.Reset()
		l.Info(msg, args...)
		return strings.TrimSpace(buf.String())
	}
	c1 := log.With("conversation", "c1")
	tests := []struct{ got, want string }{
		{line(c1, "c1-secret old-secret", "v", "c1-secret"), `msg="<secret-hidden> <secret-hidden>" conversation=c1 v=<secret-hidden>`},
		{line(log, "c2-secret", "conversation", "c2"), `msg=<secret-hidden> conversation=c2`},
		{line(c1.WithGroup("g"), "c1-secret", "conversation", "c2", "x", "c2-secret"), `msg=<secret-hidden> conversation=c1 g.conversation=c2 g.x=<secret-hidden>`},
		{line(log, "old-secret", "conversation", "nobody"), `msg=<secret-hidden> conversation=nobody`},
		{line(log, "old-secret", "conversation", 5), `msg=<secret-hidden> conversation=5`},
		// Until the Masker of all is rebuilt, a record of no conversation
		// shows a secret that only a conversation's Masker has.
		{line(log, "c1-secret old-secret"), `msg="c1-secret <secret-hidden>"`},
	}
	for _, tt := range tests {
		if _, after, _ := strings.Cut(tt.got, " level=INFO "); after != tt.want {
			t.Errorf("logged %q, want %q", after, tt.want)
		}
	}
	// A scoped record with no Masker at all is passed on as it is.
	all, byConv = nil, nil
	if got := line(c1, "c1-secret"); !strings.Contains(got, "msg=c1-secret") {
		t.Errorf("logged %q", got)
	}
}
