package security

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gohands/gohands/event"
)

// Verdict is an analyzer's rating of one action.
type Verdict struct {
	// Risk is LOW, MEDIUM, HIGH or UNKNOWN (no rating could be made).
	Risk event.Risk `json:"risk"`
	// Reason says why, for people.
	Reason string `json:"reason,omitempty"`
	// Analyzer names who rated: "llm", "rules", a hook's name, or for an
	// ensemble the member whose rating won.
	Analyzer string `json:"analyzer,omitempty"`
	// Rule is the name of the rule that decided, for the rule analyzer.
	Rule string `json:"rule,omitempty"`
	// Parts are the ratings of an ensemble's members, in order.
	Parts []Verdict `json:"parts,omitempty"`
}

// Analyzer rates actions. Analyze never fails: an analyzer that cannot
// rate an action (a hook that crashed, timed out or answered nonsense)
// rates it UNKNOWN and says why, never LOW. It must be safe for concurrent
// use.
type Analyzer interface {
	Analyze(ctx context.Context, a *event.Action) Verdict
}

var (
	_ Analyzer = LLMAnalyzer{}
	_ Analyzer = (*RuleAnalyzer)(nil)
	_ Analyzer = (*HookAnalyzer)(nil)
	_ Analyzer = Ensemble(nil)
)

// Rank orders ratings for comparison: UNKNOWN (and anything that is not a
// rating) 0, LOW 1, MEDIUM 2, HIGH 3.
func Rank(r event.Risk) int {
	switch event.Risk(strings.ToUpper(string(r))) {
	case event.RiskLow:
		return 1
	case event.RiskMedium:
		return 2
	case event.RiskHigh:
		return 3
	}
	return 0
}

// parseRisk returns the rating s names, in any case, and false for
// anything else.
func parseRisk(s string) (event.Risk, bool) {
	switch r := event.Risk(strings.ToUpper(strings.TrimSpace(s))); r {
	case event.RiskLow, event.RiskMedium, event.RiskHigh, event.RiskUnknown:
		return r, true
	}
	return event.RiskUnknown, false
}

// LLMAnalyzer takes the model's own rating of its action: the
// security_risk argument the model gives every tool call when this
// analyzer is on, which the controller puts in the event's SecurityRisk.
// Without one the action is UNKNOWN.
type LLMAnalyzer struct{}

// Analyze returns the rating the model gave a.
func (LLMAnalyzer) Analyze(_ context.Context, a *event.Action) Verdict {
	if a != nil {
		if r := event.Risk(strings.ToUpper(string(a.SecurityRisk))); Rank(r) > 0 {
			return Verdict{Risk: r, Reason: "the model rated its action " + string(r), Analyzer: "llm"}
		}
	}
	return Verdict{Risk: event.RiskUnknown, Reason: "the model did not rate its action", Analyzer: "llm"}
}

// Ensemble rates an action with every analyzer, at the same time, and
// takes the highest rating. UNKNOWN ranks below LOW, so one member that
// cannot rate does not hide another's LOW; the ensemble is UNKNOWN only
// when every member is. Every member's verdict is kept in Parts.
type Ensemble []Analyzer

// Analyze runs every member and returns the highest verdict; among equal
// ones, the first. When all are UNKNOWN, the reason lists every member's.
func (e Ensemble) Analyze(ctx context.Context, a *event.Action) Verdict {
	parts := make([]Verdict, len(e))
	var wg sync.WaitGroup
	for i, an := range e {
		wg.Go(func() { parts[i] = an.Analyze(ctx, a) })
	}
	wg.Wait()
	best := -1
	for i, v := range parts {
		if best < 0 || Rank(v.Risk) > Rank(parts[best].Risk) {
			best = i
		}
	}
	if best < 0 {
		return Verdict{Risk: event.RiskUnknown, Reason: "the ensemble has no analyzers", Analyzer: "ensemble"}
	}
	v := parts[best]
	v.Parts = parts
	v.Risk = event.Risk(strings.ToUpper(string(v.Risk)))
	if Rank(v.Risk) == 0 {
		v.Risk = event.RiskUnknown
		var reasons []string
		for _, p := range parts {
			reasons = append(reasons, p.Analyzer+": "+p.Reason)
		}
		v.Reason = strings.Join(reasons, "; ")
		v.Analyzer = "ensemble"
	}
	return v
}

// The analyzer kinds of a conversation's security_analyzer setting.
const (
	KindLLM      = "LLMSecurityAnalyzer"
	KindRules    = "RuleAnalyzer"
	KindHook     = "HookAnalyzer"
	KindEnsemble = "EnsembleAnalyzer"
)

// ErrConfig is wrapped by every error NewAnalyzer returns for a setting
// that is wrong (as opposed to a rules file that cannot be read).
var ErrConfig = errors.New("invalid security analyzer")

// maxEnsembleDepth bounds ensembles within ensembles.
const maxEnsembleDepth = 4

// Options are what the server knows and a conversation's setting does not
// say, for building analyzers.
type Options struct {
	// Workspace is the conversation's working directory, which {workspace}
	// in rules stands for; DefaultWorkspace if empty.
	Workspace string
	// Client makes HookAnalyzer requests; a client with no timeout of its
	// own (the hook's timeout applies) if nil.
	Client *http.Client
	// Restrict limits a setting to the built-in analyzers: it refuses
	// HookAnalyzer (whose command would run on the server's host, not in
	// a sandbox, and whose URL the server would call) and rules_file
	// (which the server would read). Set it for settings that come from
	// API clients the operator does not trust with the host.
	Restrict bool
	// ToolOf names the tool that runs an action of a kind, for action
	// events that name no tool (the tools know: tools.KindTool); nil
	// takes the tool whose name the kind spells ("TerminalAction" is
	// terminal).
	ToolOf func(kind string) (tool string, ok bool)
	// Tools are the tools rules cover, and the fields rules may name of
	// each (tools.SecurityFields); see ToolFields. Rules rate actions of
	// the tools not listed UNKNOWN unless one matches.
	Tools []ToolFields
	// Secrets returns the conversation's secret values as a Masker, as
	// they are when an action is rated; nil for none. Rules see, in the
	// field "secret", the names of the action's fields that hold one.
	Secrets func() *Masker
}

// ErrRestricted is wrapped by the errors of NewAnalyzer for settings that
// Options.Restrict refuses.
var ErrRestricted = errors.New("not allowed for this server's clients")

// NewAnalyzer builds the analyzer a conversation's security_analyzer
// setting names, with default Options. See Options.NewAnalyzer.
func NewAnalyzer(kind string, cfg json.RawMessage) (Analyzer, error) {
	return Options{}.NewAnalyzer(kind, cfg)
}

// analyzerConfig is the JSON of a security_analyzer setting, every kind's
// fields together.
type analyzerConfig struct {
	Kind      string            `json:"kind"`
	RulesFile string            `json:"rules_file"`
	Command   json.RawMessage   `json:"command"`
	URL       string            `json:"url"`
	Timeout   json.RawMessage   `json:"timeout"`
	Env       []string          `json:"env"`
	Name      string            `json:"name"`
	Analyzers []json.RawMessage `json:"analyzers"`
}

// NewAnalyzer builds the analyzer a conversation's security_analyzer
// setting names. kind is the setting's kind; cfg is the whole setting as
// JSON (its "kind", if there, must agree), or empty. The kinds and their
// fields:
//
//   - LLMSecurityAnalyzer: the model rates its own actions.
//   - RuleAnalyzer{rules_file}: the built-in rules, or those of the file
//     named (which may "include default").
//   - HookAnalyzer{command or url, timeout, env, name}: an external
//     program (command, a list of strings, or one string run with sh -c)
//     or an HTTP endpoint (url); timeout in seconds (or a duration such as
//     "1.5s"), 10 s by default.
//   - EnsembleAnalyzer{analyzers}: the highest rating of a list of
//     settings of the kinds above.
//
// An unknown kind, an unknown field or a bad value is an error wrapping
// ErrConfig; so is what o.Restrict refuses, which also wraps
// ErrRestricted.
func (o Options) NewAnalyzer(kind string, cfg json.RawMessage) (Analyzer, error) {
	return o.build(kind, cfg, 0)
}

// ruleAnalyzer returns a RuleAnalyzer of rules that names tools as o
// says.
func (o Options) ruleAnalyzer(rules []*Rule) *RuleAnalyzer {
	a := NewRuleAnalyzer(rules, o.Tools)
	a.kinds = o.ToolOf
	a.secrets = o.Secrets
	return a
}

func (o Options) build(kind string, raw json.RawMessage, depth int) (Analyzer, error) {
	var c analyzerConfig
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		d := json.NewDecoder(bytes.NewReader(raw))
		if kind != KindLLM {
			// The SDK's LLMSecurityAnalyzer may carry fields of its own;
			// ours are strict so that a misspelt field is not ignored.
			d.DisallowUnknownFields()
		}
		if err := d.Decode(&c); err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrConfig, kind, err)
		}
	}
	if c.Kind != "" && c.Kind != kind {
		return nil, fmt.Errorf("%w: kind %q does not match the setting's kind %q", ErrConfig, kind, c.Kind)
	}
	switch kind {
	case KindLLM:
		return LLMAnalyzer{}, nil
	case KindRules:
		if c.RulesFile != "" && o.Restrict {
			return nil, fmt.Errorf("%w %s: rules_file: %w", ErrConfig, kind, ErrRestricted)
		}
		if c.RulesFile == "" {
			return o.ruleAnalyzer(DefaultRules(o.Workspace, o.Tools)), nil
		}
		rules, err := LoadRules(c.RulesFile, o.Workspace, o.Tools)
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%w %s: %w", ErrConfig, kind, err)
			}
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		return o.ruleAnalyzer(rules), nil
	case KindHook:
		if o.Restrict {
			return nil, fmt.Errorf("%w %s: %w", ErrConfig, kind, ErrRestricted)
		}
		return o.hook(c)
	case KindEnsemble:
		if depth >= maxEnsembleDepth {
			return nil, fmt.Errorf("%w: ensembles nested more than %d deep", ErrConfig, maxEnsembleDepth)
		}
		if len(c.Analyzers) == 0 {
			return nil, fmt.Errorf("%w %s: analyzers: list at least one", ErrConfig, kind)
		}
		var e Ensemble
		for i, sub := range c.Analyzers {
			var k struct {
				Kind string `json:"kind"`
			}
			if err := json.Unmarshal(sub, &k); err != nil || k.Kind == "" {
				return nil, fmt.Errorf("%w %s: analyzers[%d]: want an object with a kind", ErrConfig, kind, i)
			}
			a, err := o.build(k.Kind, sub, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: analyzers[%d]: %w", kind, i, err)
			}
			e = append(e, a)
		}
		return e, nil
	case "":
		return nil, fmt.Errorf("%w: no kind", ErrConfig)
	}
	return nil, fmt.Errorf("%w: unknown kind %q (want %s, %s, %s or %s)", ErrConfig, kind, KindLLM, KindRules, KindHook, KindEnsemble)
}

func (o Options) hook(c analyzerConfig) (Analyzer, error) {
	cmd, err := parseCommand(c.Command)
	if err != nil {
		return nil, fmt.Errorf("%w %s: command: %v", ErrConfig, KindHook, err)
	}
	timeout, err := parseTimeout(c.Timeout)
	if err != nil {
		return nil, fmt.Errorf("%w %s: timeout: %v", ErrConfig, KindHook, err)
	}
	h := &HookAnalyzer{Name: c.Name, Command: cmd, URL: c.URL, Timeout: timeout, Env: c.Env, Client: o.Client}
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrConfig, KindHook, err)
	}
	return h, nil
}

// parseCommand reads a command given as a list of strings, or as one
// string, run with sh -c.
func parseCommand(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if strings.TrimSpace(s) == "" {
			return nil, errors.New("empty")
		}
		return []string{"sh", "-c", s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("want a list of strings or a string")
	}
	if len(list) == 0 || list[0] == "" {
		return nil, errors.New("empty")
	}
	return list, nil
}

// maxTimeout bounds hook timeouts so that a typo cannot stall a
// conversation for days.
const maxTimeout = time.Hour

// parseTimeout reads a timeout in seconds, or as a duration string
// ("500ms"). Absent or 0 means the default.
func parseTimeout(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var d time.Duration
	var secs float64
	var s string
	switch {
	case json.Unmarshal(raw, &secs) == nil:
		if secs < 0 || secs > maxTimeout.Seconds() {
			return 0, fmt.Errorf("%v seconds is not between 0 and %v", secs, maxTimeout.Seconds())
		}
		d = time.Duration(secs * float64(time.Second))
	case json.Unmarshal(raw, &s) == nil:
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is neither seconds nor a duration", s)
		}
		if d < 0 || d > maxTimeout {
			return 0, fmt.Errorf("%s is not between 0 and %s", d, maxTimeout)
		}
	default:
		return 0, errors.New("want seconds or a duration such as \"1.5s\"")
	}
	return d, nil
}
