package security

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/gohands/gohands/event"
)

// HiddenText replaces secret values in masked text.
const HiddenText = "<secret-hidden>"

// redactedText replaces the text post_observation hooks ask to redact.
const redactedText = "<redacted>"

// MinSecretLen is the length below which a secret value is not masked:
// hiding every "a" or "12" would wreck the text and hide nothing.
const MinSecretLen = 4

// replacer replaces every occurrence of a set of strings, the longest
// first where several start at the same place.
type replacer struct {
	// byFirst holds the strings by their first byte, longest first.
	byFirst [256][]string
	with    string
	// escapes widens a match that starts or ends inside a backslash
	// escape ("\n", "\u00e9") to the whole escape, so that replacing in
	// JSON text never leaves half an escape behind.
	escapes bool
}

// newReplacer returns a replacer of the values at least minLen bytes long,
// with, if jsonForms, the forms they take inside a JSON string; nil if
// there is nothing to replace.
func newReplacer(values []string, with string, minLen int, jsonForms bool) *replacer {
	var pats []string
	add := func(s string) {
		if len(s) >= minLen && s != "" && !slices.Contains(pats, s) {
			pats = append(pats, s)
		}
	}
	for _, v := range values {
		add(v)
		if jsonForms && len(v) >= minLen {
			for _, f := range jsonEscaped(v) {
				add(f)
			}
		}
	}
	if len(pats) == 0 {
		return nil
	}
	slices.SortFunc(pats, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	r := &replacer{with: with, escapes: jsonForms}
	for _, p := range pats {
		r.byFirst[p[0]] = append(r.byFirst[p[0]], p)
	}
	return r
}

// jsonEscaped returns v as it appears inside a JSON string, escaped as
// encoding/json writes it, with and without HTML escaping.
func jsonEscaped(v string) []string {
	var out []string
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(v) != nil {
			continue
		}
		s := strings.TrimSuffix(b.String(), "\n")
		s = s[1 : len(s)-1] // the quotes
		if s != v {
			out = append(out, s)
		}
	}
	return out
}

// replace returns s with every match replaced, and whether there was one.
func (r *replacer) replace(s string) (string, bool) {
	if r == nil {
		return s, false
	}
	var b strings.Builder
	last := 0
	escStart, escEnd := 0, 0 // the backslash escape last seen: s[escStart:escEnd]
	track := func(p int) {
		if p >= escEnd && s[p] == '\\' {
			n := 2
			if p+1 < len(s) && s[p+1] == 'u' {
				n = 6
			}
			escStart, escEnd = p, min(p+n, len(s))
		}
	}
	for i := 0; i < len(s); i++ {
		if r.escapes {
			track(i)
		}
		n := r.matchAt(s, i)
		if n == 0 {
			continue
		}
		start, end := i, i+n
		if r.escapes {
			if escStart < i && i < escEnd {
				start = max(escStart, last)
			}
			for p := i + 1; p < end; p++ {
				track(p)
			}
			if escStart < end && end < escEnd {
				end = escEnd
			}
		}
		if last == 0 && b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		b.WriteString(r.with)
		last = end
		i = end - 1
	}
	if b.Len() == 0 {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// matchAt returns the length of the longest string that occurs in s at i,
// or 0.
func (r *replacer) matchAt(s string, i int) int {
	for _, p := range r.byFirst[s[i]] {
		if strings.HasPrefix(s[i:], p) {
			return len(p)
		}
	}
	return 0
}

// Masker hides secret values in text: every occurrence of a value, and of
// the value as escaped inside a JSON string, becomes <secret-hidden>.
// Where values overlap, the longest is hidden first. Values shorter than
// MinSecretLen are not hidden. A Masker is immutable and safe for
// concurrent use; a nil or empty Masker changes nothing and costs nothing.
type Masker struct {
	r *replacer
}

// NewMasker returns a Masker of the values of secrets (the names do not
// matter).
func NewMasker(secrets map[string]string) *Masker {
	values := make([]string, 0, len(secrets))
	for _, v := range secrets {
		values = append(values, v)
	}
	return &Masker{r: newReplacer(values, HiddenText, MinSecretLen, true)}
}

// Empty reports whether m hides nothing.
func (m *Masker) Empty() bool { return m == nil || m.r == nil }

// Mask returns s with every secret value hidden. A match that starts or
// ends inside a backslash escape takes the whole escape with it, so that
// masking JSON text leaves no broken escape.
func (m *Masker) Mask(s string) string {
	if m.Empty() {
		return s
	}
	out, _ := m.r.replace(s)
	return out
}

// MaskBytes is Mask for bytes. It returns b itself when there is nothing
// to hide. For a JSON document, MaskJSON keeps it valid in all cases.
func (m *Masker) MaskBytes(b []byte) []byte {
	if m.Empty() {
		return b
	}
	out, ok := m.r.replace(string(b))
	if !ok {
		return b
	}
	return []byte(out)
}

// MaskJSON hides secret values in a JSON document, looking only inside
// its strings and numbers so that the result stays valid JSON: a number
// that holds a secret becomes the string "<secret-hidden>". It returns
// data itself when there is nothing to hide. Text that is not JSON is
// masked in its quoted parts and numbers only; use MaskBytes for it.
func (m *Masker) MaskJSON(data []byte) []byte {
	if m.Empty() {
		return data
	}
	var out []byte
	last := 0
	for i := 0; i < len(data); {
		switch c := data[i]; {
		case c == '"':
			j := i + 1
			for j < len(data) && data[j] != '"' {
				if data[j] == '\\' {
					j++
				}
				j++
			}
			end := min(j, len(data))
			if masked, ok := m.r.replace(string(data[i+1 : end])); ok {
				out = append(out, data[last:i+1]...)
				out = append(out, masked...)
				last = end
			}
			i = end + 1
		case c == '-' || (c >= '0' && c <= '9'):
			j := i
			for j < len(data) && strings.IndexByte("+-.eE0123456789", data[j]) >= 0 {
				j++
			}
			if _, ok := m.r.replace(string(data[i:j])); ok {
				out = append(out, data[last:i]...)
				out = append(out, `"`+HiddenText+`"`...)
				last = j
			}
			i = j
		default:
			i++
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// Redact returns s with every occurrence of the values replaced by
// <redacted>, the longest first.
func Redact(s string, values []string) string {
	out, _ := newReplacer(values, redactedText, 1, false).replace(s)
	return out
}

// RedactObservation replaces, in place, the values by <redacted> in what
// the model and clients are shown of an observation: its text content,
// and a file editor's old and new content.
func RedactObservation(o event.ToolObservation, values []string) {
	r := newReplacer(values, redactedText, 1, false)
	if r == nil || o == nil {
		return
	}
	out := o.Output()
	for i := range out.Content {
		if out.Content[i].Type == event.ContentText {
			out.Content[i].Text, _ = r.replace(out.Content[i].Text)
		}
	}
	if fe, ok := o.(*event.FileEditorObservation); ok {
		for _, p := range []*string{fe.OldContent, fe.NewContent} {
			if p != nil {
				*p, _ = r.replace(*p)
			}
		}
	}
}

// MaskHandler returns a slog.Handler that hides secrets in the messages
// and string values of records before h sees them. m is asked for the
// current Masker on every record, so secrets added later are hidden from
// then on; attributes bound with Logger.With are masked once, with the
// Masker of that moment. Errors, Stringers and other values are masked
// through their text, and replaced by the masked text only when it hides
// something.
func MaskHandler(h slog.Handler, m func() *Masker) slog.Handler {
	return &maskHandler{h: h, m: m}
}

type maskHandler struct {
	h slog.Handler
	m func() *Masker
}

func (h *maskHandler) masker() *Masker {
	if h.m == nil {
		return nil
	}
	return h.m()
}

func (h *maskHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *maskHandler) Handle(ctx context.Context, r slog.Record) error {
	m := h.masker()
	if m.Empty() {
		return h.h.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, m.Mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(m, a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *maskHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	m := h.masker()
	if !m.Empty() {
		masked := make([]slog.Attr, len(attrs))
		for i, a := range attrs {
			masked[i] = maskAttr(m, a)
		}
		attrs = masked
	}
	return &maskHandler{h: h.h.WithAttrs(attrs), m: h.m}
}

func (h *maskHandler) WithGroup(name string) slog.Handler {
	return &maskHandler{h: h.h.WithGroup(name), m: h.m}
}

func maskAttr(m *Masker, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, m.Mask(v.String()))
	case slog.KindGroup:
		group := v.Group()
		masked := make([]slog.Attr, len(group))
		for i, g := range group {
			masked[i] = maskAttr(m, g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(masked...)}
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case []byte:
			s = string(x)
		case json.RawMessage:
			s = string(x)
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if masked := m.Mask(s); masked != s {
			return slog.String(a.Key, masked)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
