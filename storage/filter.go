package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gohands/gohands/event"
)

// matcher applies the filters of an EventQuery to stored records.
type matcher struct {
	kinds   map[string]bool // nil: all
	source  string
	since   time.Time
	until   time.Time
	body    string // lower case; "" means all
	rawBody []byte // body, when a record's raw JSON can rule it out
	buf     []byte // scratch for lower-casing raw JSON
	// actionTexts are the texts of a tool action body is looked for in.
	actionTexts func(event.ToolAction) []string
}

func newMatcher(q EventQuery, actionTexts func(event.ToolAction) []string) (*matcher, error) {
	m := &matcher{source: q.Source, since: q.Since, until: q.Until, actionTexts: actionTexts}
	if len(q.Kinds) > 0 {
		m.kinds = make(map[string]bool, len(q.Kinds))
		for _, k := range q.Kinds {
			kind, err := event.ParseKind(string(k))
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			m.kinds[string(kind)] = true
		}
	}
	if q.Body != "" {
		m.body = strings.ToLower(q.Body)
		if !strings.ContainsFunc(m.body, escapedInJSON) {
			m.rawBody = []byte(m.body)
		}
	}
	return m, nil
}

// escapedInJSON reports whether r may be written as an escape by a JSON
// encoder, so that it may not appear as itself in an event's raw JSON.
func escapedInJSON(r rune) bool {
	return r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' ||
		r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// match reports whether rec passes the filters. To test Body it decodes
// the event, and returns it so the caller need not decode it again.
func (m *matcher) match(rec eventRecord) (bool, event.Event, error) {
	if m.kinds != nil && !m.kinds[string(rec.kind)] {
		return false, nil, nil
	}
	if m.source != "" && string(rec.source) != m.source {
		return false, nil, nil
	}
	if !m.since.IsZero() || !m.until.IsZero() {
		ts := time.UnixMicro(rec.micros)
		if !m.since.IsZero() && ts.Before(m.since) {
			return false, nil, nil
		}
		if !m.until.IsZero() && !ts.Before(m.until) {
			return false, nil, nil
		}
	}
	if m.body == "" {
		return true, nil, nil
	}
	// Every piece of text is a JSON string in the raw record, written as
	// itself unless escaped; a body with nothing that could be escaped must
	// then appear in the lower-cased raw JSON. Most records are ruled out
	// here, without decoding.
	if m.rawBody != nil {
		m.buf = appendLower(m.buf[:0], rec.json)
		if !bytes.Contains(m.buf, m.rawBody) {
			return false, nil, nil
		}
	}
	e, err := event.Unmarshal(rec.json)
	if err != nil {
		return false, nil, err
	}
	for text := range texts(e, m.actionTexts) {
		if strings.Contains(strings.ToLower(text), m.body) {
			return true, e, nil
		}
	}
	return false, nil, nil
}

// appendLower appends to dst the UTF-8 text b in lower case, rune by rune as
// strings.ToLower maps it.
func appendLower(dst, b []byte) []byte {
	for len(b) > 0 {
		c := b[0]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, b[0])
		} else {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
		b = b[n:]
	}
	return dst
}

// texts yields the pieces of text of e that EventQuery.Body searches,
// actionTexts giving those of a tool action.
func texts(e event.Event, actionTexts func(event.ToolAction) []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		parts := func(l event.ContentList) bool {
			for _, c := range l {
				if c.Type == event.ContentText && !yield(c.Text) {
					return false
				}
			}
			return true
		}
		each := func(ss ...string) bool {
			for _, s := range ss {
				if s != "" && !yield(s) {
					return false
				}
			}
			return true
		}
		switch e := e.(type) {
		case *event.Message:
			_ = parts(e.LLMMessage.Content) && parts(e.ExtendedContent)
		case *event.Action:
			_ = parts(e.Thought) && each(e.Summary) && each(actionTexts(e.Action)...)
		case *event.Observation:
			if e.Observation == nil {
				return
			}
			if !parts(e.Observation.Output().Content) {
				return
			}
			if t, ok := e.Observation.(*event.TerminalObservation); ok {
				each(t.Command)
			}
		case *event.UserReject:
			each(e.RejectionReason)
		case *event.AgentError:
			each(e.Error)
		case *event.ConversationError:
			each(e.Code, e.Detail)
		case *event.CondensationSummary:
			each(e.Summary)
		case *event.Condensation:
			each(e.Summary)
		case *event.SystemPrompt:
			each(e.SystemPrompt.Text)
		case *event.SandboxStatus:
			each(e.Message)
		}
	}
}

// stringFields returns the string fields of a tool action, for a store
// not told which of them are texts (Options.ActionTexts).
func stringFields(a event.ToolAction) []string {
	fields := map[string]any{}
	if u, ok := a.(*event.UnknownAction); ok {
		fields = u.Fields
	} else if data, err := json.Marshal(a); err != nil || json.Unmarshal(data, &fields) != nil {
		return nil
	}
	var out []string
	for k, v := range fields {
		if s, ok := v.(string); ok && k != "kind" {
			out = append(out, s)
		}
	}
	return out
}
