package security

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/gohands/gohands/event"
)

// segmentFields are the fields that belong to one simple command of a
// command line rather than to the whole action; see ToolFields.Command.
var segmentFields = func() map[string]bool {
	m := make(map[string]bool)
	for _, f := range commandFields {
		m[f] = true
	}
	return m
}()

// normalizeTool returns the tool name GoHands uses for name ("TerminalTool"
// and "execute_bash" are "terminal"); a name it does not know, lower-cased.
func normalizeTool(name string) string {
	if t, ok := event.ToolName(name); ok {
		return t
	}
	return strings.ToLower(name)
}

// toolOf returns the tool of an action event: the one it names, else the
// one kinds gives for its action's kind (nil: the tool whose name the
// kind spells, see kindTool), else the kind lower-cased.
func toolOf(a *event.Action, kinds func(kind string) (tool string, ok bool)) string {
	if a.ToolName != "" {
		return normalizeTool(a.ToolName)
	}
	if a.Action == nil {
		return ""
	}
	if kinds == nil {
		kinds = kindTool
	}
	if t, ok := kinds(a.Action.Kind()); ok {
		return t
	}
	return strings.ToLower(a.Action.Kind())
}

// kindTool returns the tool whose name an action kind spells
// ("TerminalAction" is terminal, "ApplyPatchAction" apply_patch), for
// callers not given the tools' own table (Options.ToolOf).
func kindTool(kind string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSuffix(kind, "Action") {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return event.ToolName(b.String())
}

// view is what rules see of an action.
type view struct {
	tool   string
	fields map[string][]string
	// segs holds the fields of each simple command of a terminal
	// command; nil for other tools.
	segs []map[string][]string
}

// newView reads an action's fields; kinds names the tool of an action
// event that names none (see toolOf), and tools say what the rules read
// of each tool's actions beyond their JSON fields.
func newView(a *event.Action, kinds func(string) (string, bool), tools []ToolFields) *view {
	v := &view{tool: toolOf(a, kinds), fields: actionFields(a.Action)}
	name, ok := "", false
	if kinds != nil {
		name, ok = kinds(a.Action.Kind())
	}
	if !ok {
		name, _ = kindTool(a.Action.Kind())
	}
	f := lookupTool(tools, name)
	if f == nil {
		return v
	}
	if f.Derive != nil {
		for k, vals := range f.Derive(a.Action) {
			v.fields[k] = vals
		}
	}
	for _, p := range f.Paths {
		if vals, ok := v.fields[p]; ok {
			v.fields[p] = withClean(vals)
		}
	}
	if f.Command != "" {
		var line string
		if c := v.fields[f.Command]; len(c) > 0 {
			line = c[0]
		}
		v.segs = []map[string][]string{}
		for _, s := range parseShell(line) {
			v.segs = append(v.segs, segmentView(&s))
		}
	}
	return v
}

// SecretField is the field in which rules see the names of an action's
// fields that hold one of the conversation's secrets (Options.Secrets):
// "secret ~ ^url$" matches a URL with a secret in it.
const SecretField = "secret"

// secretFields returns, sorted, the names of the fields one of whose
// values holds a secret of m, as written or URL-encoded.
func secretFields(fields map[string][]string, m *Masker) []string {
	if m.Empty() {
		return nil
	}
	var out []string
	for name, vals := range fields {
		if slices.ContainsFunc(vals, func(v string) bool {
			if m.Contains(v) {
				return true
			}
			dec, err := url.QueryUnescape(v)
			return err == nil && dec != v && m.Contains(dec)
		}) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// actionFields returns the action's JSON fields: strings as they are,
// lists element by element, other values as JSON text.
func actionFields(act event.ToolAction) map[string][]string {
	fields := make(map[string][]string)
	var m map[string]any
	if u, ok := act.(*event.UnknownAction); ok {
		m = u.Fields
	} else if act != nil {
		data, err := json.Marshal(act)
		if err != nil {
			return fields
		}
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		if d.Decode(&m) != nil {
			return fields
		}
	}
	for k, val := range m {
		if list, ok := val.([]any); ok {
			for _, e := range list {
				fields[k] = append(fields[k], jsonText(e))
			}
			continue
		}
		if val != nil {
			fields[k] = []string{jsonText(val)}
		}
	}
	return fields
}

func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

// segmentView returns the fields of one simple command.
func segmentView(s *segment) map[string][]string {
	f := map[string][]string{
		"assign":   s.assigns,
		"redirect": withClean(s.redirOut),
		"input":    withClean(s.redirIn),
	}
	if len(s.words) > 0 {
		prog := s.program()
		f["program"] = []string{prog}
		f["args"] = withClean(s.words[1:])
		f["line"] = []string{strings.Join(append([]string{prog}, s.words[1:]...), " ")}
	}
	return f
}

// withClean returns paths with every absolute one cleaned
// ("/workspace/../etc" is "/etc", "//boot/" is "/boot"), so that rules
// about a path also catch it written the long way round.
func withClean(paths []string) []string {
	out := paths
	for i, p := range paths {
		if !strings.HasPrefix(p, "/") {
			continue
		}
		if c := path.Clean(p); c != p {
			if &out[0] == &paths[0] {
				out = slices.Clone(paths)
			}
			out[i] = c
		}
	}
	return out
}

// matches reports whether r matches the action seen as v.
func (r *Rule) matches(v *view) bool {
	if len(r.Tools) > 0 && !slices.Contains(r.Tools, v.tool) {
		return false
	}
	perSegment := false
	for i := range r.conds {
		c := &r.conds[i]
		if v.segs != nil && segmentFields[c.field] {
			perSegment = true
			continue
		}
		if !c.holds(v.fields[c.field]) {
			return false
		}
	}
	if !perSegment {
		return true
	}
	for _, seg := range v.segs {
		if r.segmentMatches(seg) {
			return true
		}
	}
	return false
}

func (r *Rule) segmentMatches(seg map[string][]string) bool {
	for i := range r.conds {
		c := &r.conds[i]
		if segmentFields[c.field] && !c.holds(seg[c.field]) {
			return false
		}
	}
	return true
}

// RuleAnalyzer rates actions with rules. The highest-rated matching rule
// decides; an action no rule matches is LOW when the rules know its tool
// and UNKNOWN when they do not (an MCP tool).
type RuleAnalyzer struct {
	rules []*Rule
	// kinds names the tool of an action event that names none (see
	// toolOf); Options.ToolOf.
	kinds func(string) (string, bool)
	// tools are the tools the rules cover.
	tools []ToolFields
	// secrets gives the conversation's secrets; Options.Secrets.
	secrets func() *Masker
}

// NewRuleAnalyzer returns an analyzer that applies rules, in order, to
// actions of tools (see ToolFields).
func NewRuleAnalyzer(rules []*Rule, tools []ToolFields) *RuleAnalyzer {
	return &RuleAnalyzer{rules: rules, tools: tools}
}

// Rules returns the analyzer's rules.
func (r *RuleAnalyzer) Rules() []*Rule { return r.rules }

// Match returns the rules that match a, in order.
func (r *RuleAnalyzer) Match(a *event.Action) []*Rule {
	if a == nil || a.Action == nil {
		return nil
	}
	v := newView(a, r.kinds, r.tools)
	if r.secrets != nil {
		if names := secretFields(v.fields, r.secrets()); len(names) > 0 {
			v.fields[SecretField] = names
		}
	}
	var out []*Rule
	for _, rule := range r.rules {
		if rule.matches(v) {
			out = append(out, rule)
		}
	}
	return out
}

// Analyze rates a with the highest-rated rule that matches it; among rules
// of the same rating, the first.
func (r *RuleAnalyzer) Analyze(_ context.Context, a *event.Action) Verdict {
	if a == nil || a.Action == nil {
		return Verdict{Risk: event.RiskUnknown, Reason: "there is no action to rate", Analyzer: "rules"}
	}
	var best *Rule
	for _, rule := range r.Match(a) {
		if best == nil || Rank(rule.Risk) > Rank(best.Risk) {
			best = rule
		}
	}
	if best != nil {
		return Verdict{Risk: best.Risk, Reason: best.Name + ": " + best.Reason, Analyzer: "rules", Rule: best.Name}
	}
	if tool := toolOf(a, r.kinds); lookupTool(r.tools, tool) == nil {
		return Verdict{Risk: event.RiskUnknown, Reason: "no rule covers the tool " + tool, Analyzer: "rules"}
	}
	return Verdict{Risk: event.RiskLow, Reason: "no rule matched", Analyzer: "rules"}
}
