package security

import (
	"bytes"
	"context"
	"encoding/json"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/gohands/gohands/event"
)

// toolFields lists, per tool, the fields rules can match: the action's
// JSON fields, and for terminal and apply_patch the fields GoHands derives
// from them.
var toolFields = map[string][]string{
	event.ToolTerminal:    {"command", "is_input", "timeout", "reset", "program", "args", "line", "assign", "redirect", "input"},
	event.ToolFileEditor:  {"command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range"},
	event.ToolApplyPatch:  {"patch", "path"},
	event.ToolBrowser:     {"url", "new_tab", "extract_links", "start_from_char"},
	event.ToolGlob:        {"pattern", "path"},
	event.ToolGrep:        {"pattern", "path", "include"},
	event.ToolTaskTracker: {"command", "task_list"},
	event.ToolThink:       {"thought"},
	event.ToolFinish:      {"message"},
}

// knownTools are the tools of toolFields, in a fixed order.
var knownTools = []string{
	event.ToolTerminal, event.ToolFileEditor, event.ToolApplyPatch, event.ToolBrowser,
	event.ToolGlob, event.ToolGrep, event.ToolTaskTracker, event.ToolThink, event.ToolFinish,
}

// segmentFields are the terminal fields that belong to one simple command
// of the command line rather than to the whole action.
var segmentFields = map[string]bool{"program": true, "args": true, "line": true, "assign": true, "redirect": true, "input": true}

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
// event that names none (see toolOf).
func newView(a *event.Action, kinds func(string) (string, bool)) *view {
	v := &view{tool: toolOf(a, kinds), fields: actionFields(a.Action)}
	switch act := a.Action.(type) {
	case *event.TerminalAction:
		for _, s := range parseShell(act.Command) {
			v.segs = append(v.segs, segmentView(&s))
		}
		if v.segs == nil {
			v.segs = []map[string][]string{}
		}
	case *event.ApplyPatchAction:
		v.fields["path"] = withClean(patchPaths(act.Patch))
	case *event.FileEditorAction:
		v.fields["path"] = withClean([]string{act.Path})
	}
	return v
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

// patchPaths returns the files an apply_patch patch adds, updates,
// deletes or moves to.
func patchPaths(patch string) []string {
	var paths []string
	for line := range strings.Lines(patch) {
		line = strings.TrimRight(line, "\r\n")
		for _, prefix := range []string{"*** Add File:", "*** Update File:", "*** Delete File:", "*** Move to:"} {
			if p, ok := strings.CutPrefix(line, prefix); ok {
				if p = strings.TrimSpace(p); p != "" {
					paths = append(paths, p)
				}
			}
		}
	}
	return paths
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
}

// NewRuleAnalyzer returns an analyzer that applies rules, in order.
func NewRuleAnalyzer(rules []*Rule) *RuleAnalyzer {
	return &RuleAnalyzer{rules: rules}
}

// Rules returns the analyzer's rules.
func (r *RuleAnalyzer) Rules() []*Rule { return r.rules }

// Match returns the rules that match a, in order.
func (r *RuleAnalyzer) Match(a *event.Action) []*Rule {
	if a == nil || a.Action == nil {
		return nil
	}
	v := newView(a, r.kinds)
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
	if tool := toolOf(a, r.kinds); toolFields[tool] == nil {
		return Verdict{Risk: event.RiskUnknown, Reason: "no rule covers the tool " + tool, Analyzer: "rules"}
	}
	return Verdict{Risk: event.RiskLow, Reason: "no rule matched", Analyzer: "rules"}
}
