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
	m    *matcher
	with string
	// escapes widens a match that starts or ends inside a backslash
	// escape ("\n", "\u00e9") to the whole escape, so that replacing in
	// JSON text never leaves half an escape behind.
	escapes bool
}

// newReplacer returns a replacer of the values at least minLen bytes long,
// with, if jsonForms, the forms they take inside a JSON string; nil if
// there is nothing to replace. Building it takes time linear in the
// length of the values and their forms.
func newReplacer(values []string, with string, minLen int, jsonForms bool) *replacer {
	pats := patterns(values, minLen, jsonForms)
	if len(pats) == 0 {
		return nil
	}
	return &replacer{m: newMatcher(pats), with: with, escapes: jsonForms}
}

// patterns returns the strings a replacer of the values looks for: those
// at least minLen bytes long (and never empty) with, if jsonForms, the
// forms they take inside a JSON string. There may be duplicates.
func patterns(values []string, minLen int, jsonForms bool) []string {
	var pats []string
	for _, v := range values {
		if len(v) < max(minLen, 1) {
			continue
		}
		pats = append(pats, v)
		if jsonForms {
			pats = append(pats, jsonEscaped(v)...)
		}
	}
	return pats
}

// jsonEscaped returns v as it appears inside a JSON string, escaped as
// encoding/json writes it, with and without HTML escaping: the forms that
// differ from v, each once.
func jsonEscaped(v string) []string {
	if !needsEscape(v) {
		return nil
	}
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
		if s != v && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// needsEscape reports whether encoding/json may write v otherwise inside
// a JSON string: whether it has a byte that is not printable ASCII, or
// one of " \ < > &.
func needsEscape(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || strings.IndexByte(`"\<>&`, c) >= 0 {
			return true
		}
	}
	return false
}

// replace returns s with every match replaced, and whether there was one.
// It reads s twice: once backwards to find the longest match at each
// position, then forwards to replace them, left to right.
func (r *replacer) replace(s string) (string, bool) {
	if r == nil {
		return s, false
	}
	found := r.m.scan(s, nil) // by position, last first
	if len(found) == 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
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
	next := len(found) - 1
	for i := 0; i < len(s); i++ {
		if r.escapes {
			track(i)
		}
		for next >= 0 && found[next].at < i {
			next--
		}
		if next < 0 {
			break
		}
		if found[next].at != i {
			if !r.escapes {
				i = found[next].at - 1 // nothing to track on the way
			}
			continue
		}
		start, end := i, i+found[next].n
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
		b.WriteString(s[last:start])
		b.WriteString(r.with)
		last = end
		i = end - 1
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// Masker hides secret values in text: every occurrence of a value, and of
// the value as escaped inside a JSON string, becomes <secret-hidden>.
// Where values overlap, the longest is hidden first. Values shorter than
// MinSecretLen are not hidden. Masking reads the text twice whatever the
// number of values; making a Masker takes time and memory linear in
// their length (see MaskedBytes). A Masker is immutable and safe for
// concurrent use; a nil or empty Masker changes nothing and costs nothing.
type Masker struct {
	pats []string // what r looks for, for Union
	r    *replacer
}

// NewMasker returns a Masker of the values of secrets (the names do not
// matter).
func NewMasker(secrets map[string]string) *Masker {
	values := make([]string, 0, len(secrets))
	for _, v := range secrets {
		values = append(values, v)
	}
	return newMasker(patterns(values, MinSecretLen, true))
}

func newMasker(pats []string) *Masker {
	if len(pats) == 0 {
		return &Masker{}
	}
	return &Masker{pats: pats, r: &replacer{m: newMatcher(pats), with: HiddenText, escapes: true}}
}

// Union returns a Masker that hides what every one of ms hides.
func Union(ms ...*Masker) *Masker {
	var pats []string
	for _, m := range ms {
		if m != nil {
			pats = append(pats, m.pats...)
		}
	}
	return newMasker(pats)
}

// MaskedBytes returns how many bytes of text a Masker looks for to hide
// value: the value and the distinct forms it takes escaped in a JSON
// string; 0 for a value shorter than MinSecretLen. The memory a Masker
// takes is about 25 times the sum over its values.
func MaskedBytes(value string) int {
	n := 0
	for _, p := range patterns([]string{value}, MinSecretLen, true) {
		n += len(p)
	}
	return n
}

// Empty reports whether m hides nothing.
func (m *Masker) Empty() bool { return m == nil || m.r == nil }

// Contains reports whether s holds a secret value.
func (m *Masker) Contains(s string) bool {
	return !m.Empty() && len(m.r.m.scan(s, nil)) > 0
}

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
	return &maskHandler{h: h, all: m}
}

// ScopedMaskHandler is MaskHandler for records that may belong to a
// scope, such as a conversation: a record that carries the attribute key
// with a string value, given to it or bound with Logger.With, is masked
// with scoped(value) as well as with all(). Both are asked on every
// record, so scoped can hide a scope's new secrets at once while all,
// which hides everyone's, is rebuilt in the background.
func ScopedMaskHandler(h slog.Handler, all func() *Masker, key string, scoped func(string) *Masker) slog.Handler {
	return &maskHandler{h: h, all: all, key: key, scoped: scoped}
}

type maskHandler struct {
	h      slog.Handler
	all    func() *Masker
	key    string
	scoped func(string) *Masker
	scope  string // the value of key bound with WithAttrs
}

// maskers returns the Maskers of a record in the scopes, the empty ones
// left out.
func (h *maskHandler) maskers(scopes ...string) maskers {
	var ms maskers
	add := func(m *Masker) {
		if !m.Empty() && !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	if h.all != nil {
		add(h.all())
	}
	for _, scope := range scopes {
		if h.scoped != nil && scope != "" {
			add(h.scoped(scope))
		}
	}
	return ms
}

// scopeOf returns the last scope attrs name, or "".
func (h *maskHandler) scopeOf(attrs func(func(slog.Attr) bool)) string {
	scope := ""
	if h.scoped != nil {
		attrs(func(a slog.Attr) bool {
			if a.Key == h.key && a.Value.Kind() == slog.KindString {
				scope = a.Value.String()
			}
			return true
		})
	}
	return scope
}

func (h *maskHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *maskHandler) Handle(ctx context.Context, r slog.Record) error {
	ms := h.maskers(h.scope, h.scopeOf(r.Attrs))
	if len(ms) == 0 {
		return h.h.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, ms.mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(ms.maskAttr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *maskHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	scope := cmp.Or(h.scopeOf(slices.Values(attrs)), h.scope)
	if ms := h.maskers(scope); len(ms) > 0 {
		masked := make([]slog.Attr, len(attrs))
		for i, a := range attrs {
			masked[i] = ms.maskAttr(a)
		}
		attrs = masked
	}
	c := *h
	c.h, c.scope = h.h.WithAttrs(attrs), scope
	return &c
}

func (h *maskHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.h = h.h.WithGroup(name)
	return &c
}

// maskers are applied one after the other.
type maskers []*Masker

func (ms maskers) mask(s string) string {
	for _, m := range ms {
		s = m.Mask(s)
	}
	return s
}

func (ms maskers) maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, ms.mask(v.String()))
	case slog.KindGroup:
		group := v.Group()
		masked := make([]slog.Attr, len(group))
		for i, g := range group {
			masked[i] = ms.maskAttr(g)
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
		if masked := ms.mask(s); masked != s {
			return slog.String(a.Key, masked)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
