package security

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/gohands/gohands/event"
)

//go:embed rules/default.rules
var defaultRules []byte

// DefaultRulesName is the name under which the built-in rules report their
// lines, and the argument of "include" that brings them into a rules file.
const DefaultRulesName = "default"

// DefaultWorkspace is the workspace {workspace} stands for in rules when
// none is given: the sandbox's working directory.
const DefaultWorkspace = "/workspace"

// A Rule rates the actions it matches. Rules come from a rules file; see
// the package documentation for the format.
type Rule struct {
	// Name identifies the rule in verdicts and in "disable".
	Name string
	// Risk is the rating of a matching action: LOW, MEDIUM or HIGH.
	Risk event.Risk
	// Reason says, for people, why such an action is risky.
	Reason string
	// Tools limits the rule to these tools; empty means every tool.
	Tools []string
	// Source is where the rule was written, "file:line".
	Source string

	conds []condition
}

// condition is one "field ~ regexp [except regexp]" or "field !~ ..." line.
type condition struct {
	field  string
	neg    bool
	re     *regexp.Regexp
	except *regexp.Regexp
	line   int
}

// holds reports whether the condition holds for a field's values: for ~,
// some value matches re and not except; for !~, none does.
func (c *condition) holds(values []string) bool {
	found := false
	for _, v := range values {
		if c.re.MatchString(v) && (c.except == nil || !c.except.MatchString(v)) {
			found = true
			break
		}
	}
	return found != c.neg
}

// ParseError is a mistake in a rules file, at a line.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// maxParseErrors is how many mistakes ParseRules reports before it stops.
const maxParseErrors = 20

// DefaultRules returns the built-in rules, with {workspace} standing for
// workspace (DefaultWorkspace if empty), checked against tools (see
// ParseRules).
func DefaultRules(workspace string, tools []ToolFields) []*Rule {
	rules, err := ParseRules(DefaultRulesName, defaultRules, workspace, tools)
	if err != nil {
		// The built-in file is tested; only a workspace that makes a
		// pattern invalid could get here, and QuoteMeta rules that out.
		panic("security: built-in rules: " + err.Error())
	}
	return rules
}

// LoadRules reads and parses the rules file at path; see ParseRules.
func LoadRules(path, workspace string, tools []ToolFields) ([]*Rule, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("security: read rules: %w", err)
	}
	return ParseRules(path, src, workspace, tools)
}

// ParseRules parses a rules file. name is how errors and Rule.Source refer
// to it. {workspace} in patterns stands for workspace (DefaultWorkspace if
// empty). A condition on a field that none of the rule's tools has (see
// ToolFields) is a mistake, unless a tool is not among tools. On mistakes
// it returns every one found, up to 20, each a *ParseError giving the
// line, joined with errors.Join.
func ParseRules(name string, src []byte, workspace string, tools []ToolFields) ([]*Rule, error) {
	if workspace == "" {
		workspace = DefaultWorkspace
	}
	if len(workspace) > 1 {
		workspace = strings.TrimRight(workspace, "/")
	}
	p := &ruleParser{file: name, defines: map[string]string{"workspace": regexp.QuoteMeta(workspace)}, workspace: workspace, tools: tools}
	p.parse(string(src))
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return p.rules, nil
}

type ruleParser struct {
	file      string
	workspace string
	tools     []ToolFields
	defines   map[string]string
	rules     []*Rule
	own       map[string]bool // names of rules defined in this file
	cur       *Rule
	curLine   int
	curErrs   int // len(errs) when the rule started
	hasRisk   bool
	errs      []error
}

func (p *ruleParser) errorf(line int, format string, args ...any) {
	if len(p.errs) < maxParseErrors {
		p.errs = append(p.errs, &ParseError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
}

func (p *ruleParser) parse(src string) {
	p.own = make(map[string]bool)
	n := 0
	for line := range strings.Lines(src) {
		n++
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch key {
		case "rule":
			p.finish()
			p.startRule(n, rest)
		case "define":
			p.finish()
			p.define(n, rest)
		case "include":
			p.finish()
			p.include(n, rest)
		case "disable":
			p.finish()
			p.disable(n, rest)
		case "risk", "reason", "tool":
			if p.cur == nil {
				p.errorf(n, "%q outside a rule: start one with \"rule NAME\"", key)
				continue
			}
			p.attribute(n, key, rest)
		default:
			if p.cur == nil {
				// The line is not quoted: a file that is not a rules file
				// at all should not have its content shown in errors.
				p.errorf(n, "not a rules statement: want rule, define, include or disable")
				continue
			}
			p.condition(n, line)
		}
	}
	p.finish()
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (p *ruleParser) startRule(n int, name string) {
	p.cur, p.curLine, p.curErrs, p.hasRisk = &Rule{Name: name, Source: fmt.Sprintf("%s:%d", p.file, n)}, n, len(p.errs), false
	switch {
	case name == "":
		p.errorf(n, "rule without a name")
	case !nameRE.MatchString(name):
		p.errorf(n, "rule name %q: use letters, digits, '.', '_' and '-'", truncate(name, 40))
	case p.own[name]:
		p.errorf(n, "rule %q is defined twice", name)
	}
	p.own[name] = true
}

// finish checks the rule being read and adds it; a rule of the same name
// brought in by include is replaced in place.
func (p *ruleParser) finish() {
	r := p.cur
	if r == nil {
		return
	}
	p.cur = nil
	if !p.hasRisk {
		p.errorf(p.curLine, "rule %q has no risk", r.Name)
	}
	if r.Reason == "" {
		p.errorf(p.curLine, "rule %q has no reason", r.Name)
	}
	if len(r.conds) == 0 && len(r.Tools) == 0 && len(p.errs) == p.curErrs {
		// (A rule whose conditions were wrong has been reported already.)
		p.errorf(p.curLine, "rule %q matches every action: give it a tool or a condition", r.Name)
	}
	p.checkFields(r)
	if i := slices.IndexFunc(p.rules, func(o *Rule) bool { return o.Name == r.Name }); i >= 0 {
		p.rules[i] = r
		return
	}
	p.rules = append(p.rules, r)
}

func (p *ruleParser) attribute(n int, key, value string) {
	r := p.cur
	switch key {
	case "risk":
		if p.hasRisk {
			p.errorf(n, "rule %q has two risks", r.Name)
		}
		p.hasRisk = true
		switch risk := event.Risk(strings.ToUpper(value)); risk {
		case event.RiskLow, event.RiskMedium, event.RiskHigh:
			r.Risk = risk
		default:
			p.errorf(n, "risk %q is not LOW, MEDIUM or HIGH", truncate(value, 40))
		}
	case "reason":
		if r.Reason != "" {
			p.errorf(n, "rule %q has two reasons", r.Name)
		}
		if value == "" {
			p.errorf(n, "empty reason")
		}
		r.Reason = value
	case "tool":
		if value == "" {
			p.errorf(n, "tool: name at least one tool")
		}
		for t := range strings.FieldsSeq(value) {
			if !nameRE.MatchString(t) {
				p.errorf(n, "tool %q is not a tool name", truncate(t, 40))
				continue
			}
			r.Tools = append(r.Tools, normalizeTool(t))
		}
	}
}

var fieldRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// condition parses "field ~ re", "field ~ re except re", "field !~ re"...
func (p *ruleParser) condition(n int, line string) {
	field, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimLeft(rest, " \t")
	op, pattern, _ := strings.Cut(rest, " ")
	if !fieldRE.MatchString(field) {
		p.errorf(n, "%q is neither risk, reason, tool nor a field name", truncate(field, 40))
		return
	}
	if op != "~" && op != "!~" {
		p.errorf(n, "%s: want \"%s ~ REGEXP\" or \"%s !~ REGEXP\"", field, field, field)
		return
	}
	pattern = strings.TrimSpace(pattern)
	var except string
	if strings.HasSuffix(pattern, " except") {
		p.errorf(n, "%s: nothing after except", field)
		return
	}
	if i := strings.Index(pattern, " except "); i >= 0 {
		pattern, except = strings.TrimSpace(pattern[:i]), strings.TrimSpace(pattern[i+len(" except "):])
		if except == "" {
			p.errorf(n, "%s: nothing after except", field)
			return
		}
	}
	if pattern == "" {
		p.errorf(n, "%s %s: no regexp", field, op)
		return
	}
	c := condition{field: field, neg: op == "!~", line: n}
	var ok bool
	if c.re, ok = p.compile(n, field, pattern); !ok {
		return
	}
	if except != "" {
		if c.except, ok = p.compile(n, field, except); !ok {
			return
		}
	}
	p.cur.conds = append(p.cur.conds, c)
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces {name} with the pattern defined as name; {name}s not
// defined are left as they are. It reports false if the result would be
// longer than maxPatternLen.
func (p *ruleParser) expand(pattern string) (string, bool) {
	var b strings.Builder
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(pattern, -1) {
		d, ok := p.defines[pattern[m[2]:m[3]]]
		if !ok {
			continue
		}
		if b.Len()+(m[0]-last)+len(d) > maxPatternLen {
			return "", false
		}
		b.WriteString(pattern[last:m[0]])
		b.WriteString(d)
		last = m[1]
	}
	if b.Len()+len(pattern)-last > maxPatternLen {
		return "", false
	}
	b.WriteString(pattern[last:])
	return b.String(), true
}

// maxPatternLen bounds a pattern after {name}s are expanded: definitions
// that use definitions can otherwise grow without limit.
const maxPatternLen = 64 << 10

func (p *ruleParser) compile(n int, field, pattern string) (*regexp.Regexp, bool) {
	expanded, ok := p.expand(pattern)
	if !ok {
		p.errorf(n, "%s: the regexp is longer than %d bytes once expanded", field, maxPatternLen)
		return nil, false
	}
	re, err := regexp.Compile(expanded)
	if err != nil {
		p.errorf(n, "%s: bad regexp %q: %v", field, truncate(pattern, 80), err)
		return nil, false
	}
	return re, true
}

func (p *ruleParser) define(n int, rest string) {
	name, pattern, _ := strings.Cut(rest, " ")
	pattern = strings.TrimSpace(pattern)
	switch {
	case !fieldRE.MatchString(name):
		p.errorf(n, "define %q: name with lower-case letters, digits and '_'", truncate(name, 40))
		return
	case name == "workspace":
		p.errorf(n, "define workspace: {workspace} is the conversation's workspace and cannot be redefined")
		return
	case pattern == "":
		p.errorf(n, "define %s: no regexp", name)
		return
	}
	expanded, ok := p.expand(pattern)
	if !ok {
		p.errorf(n, "define %s: the regexp is longer than %d bytes once expanded", name, maxPatternLen)
		return
	}
	if _, err := regexp.Compile(expanded); err != nil {
		p.errorf(n, "define %s: bad regexp %q: %v", name, truncate(pattern, 80), err)
		return
	}
	p.defines[name] = expanded
}

func (p *ruleParser) include(n int, what string) {
	if what != DefaultRulesName {
		p.errorf(n, "include %q: only \"include %s\" (the built-in rules) is possible", truncate(what, 40), DefaultRulesName)
		return
	}
	if p.file == DefaultRulesName {
		p.errorf(n, "the built-in rules cannot include themselves")
		return
	}
	p.rules = append(p.rules, DefaultRules(p.workspace, p.tools)...)
}

func (p *ruleParser) disable(n int, name string) {
	i := slices.IndexFunc(p.rules, func(r *Rule) bool { return r.Name == name })
	if i < 0 {
		p.errorf(n, "disable %q: no such rule above this line", truncate(name, 40))
		return
	}
	p.rules = slices.Delete(p.rules, i, i+1)
}

// checkFields reports conditions on fields that the rule's tools do not
// have, which could never match: most likely a typo.
func (p *ruleParser) checkFields(r *Rule) {
	var tools []*ToolFields
	if len(r.Tools) == 0 {
		for i := range p.tools {
			tools = append(tools, &p.tools[i])
		}
	}
	for _, t := range r.Tools {
		f := lookupTool(p.tools, t)
		if f == nil {
			return // a tool GoHands does not know (an MCP tool): any field may exist
		}
		tools = append(tools, f)
	}
	if len(tools) == 0 {
		return // no tool is known: any field may exist
	}
	for _, c := range r.conds {
		if !slices.ContainsFunc(tools, func(t *ToolFields) bool { return slices.Contains(t.names(), c.field) }) {
			var known, names []string
			for _, t := range tools {
				names = append(names, t.Tool)
				for _, f := range t.names() {
					if !slices.Contains(known, f) {
						known = append(known, f)
					}
				}
			}
			slices.Sort(known)
			p.errorf(c.line, "%q is not a field of %s (fields: %s)", c.field, strings.Join(names, ", "), strings.Join(known, ", "))
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
