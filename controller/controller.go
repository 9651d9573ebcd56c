package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/tools"
)

// Options configure a Controller.
type Options struct {
	// NewClient makes the model client of a conversation; llm.New by
	// default.
	NewClient func(llm.Config) (llm.Client, error)
	Logger    *slog.Logger
	// CondenseAt is the fraction of the model's context window the history
	// may fill before older events are summarised; 0 means 0.75.
	CondenseAt float64
	// ActionTimeout bounds one action in the sandbox; 0 means 10 minutes.
	ActionTimeout time.Duration
	// Hooks are the server's action hooks, run before each
	// conversation's own.
	Hooks []security.Hook
}

// Controller runs agents. One Controller serves every conversation of a
// server; its state lives in the conversations' events.
type Controller struct {
	opts      Options
	log       *slog.Logger
	confirmed confirmations
}

var (
	_ session.Loop      = (*Controller)(nil)
	_ session.Asker     = (*Controller)(nil)
	_ session.Titler    = (*Controller)(nil)
	_ session.Condenser = (*Controller)(nil)
	_ session.Confirmer = (*Controller)(nil)
)

// New returns a Controller.
func New(opts Options) *Controller {
	if opts.NewClient == nil {
		opts.NewClient = llm.New
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CondenseAt <= 0 || opts.CondenseAt >= 1 {
		opts.CondenseAt = 0.75
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 10 * time.Minute
	}
	return &Controller{opts: opts, log: opts.Logger.With("component", "controller")}
}

// client makes the model client of a conversation.
func (c *Controller) client(s session.Settings) (llm.Client, error) {
	l := s.Agent.LLM
	if l.Model == "" {
		return nil, conflict("no model: give agent.llm.model when creating the conversation, or set LLM_MODEL")
	}
	cfg := llm.Config{Model: l.Model, APIKey: l.APIKey, BaseURL: l.BaseURL,
		InputCostPerToken: l.InputCostPerToken, OutputCostPerToken: l.OutputCostPerToken,
		Timeout: seconds(l.Timeout), RetryMinWait: seconds(l.RetryMinWait), RetryMaxWait: seconds(l.RetryMaxWait),
		Logger: c.opts.Logger}
	if l.NumRetries != nil {
		cfg.MaxRetries = *l.NumRetries
		if cfg.MaxRetries == 0 {
			cfg.MaxRetries = -1 // llm.Config's "never"
		}
	}
	return c.opts.NewClient(cfg)
}

// seconds turns a setting in seconds into a duration; nil is 0, the
// llm package's default.
func seconds(s *float64) time.Duration {
	if s == nil {
		return 0
	}
	return time.Duration(*s * float64(time.Second))
}

// events loads every stored event of a conversation.
func events(a *session.AgentSession) ([]event.Event, error) {
	var l eventLog
	return l.refresh(a)
}

// eventLog holds a conversation's events as a run has read them, and reads
// only the new ones each step.
type eventLog struct {
	evs   []event.Event
	after int64
}

// refresh reads the events stored since the last refresh, a page at a
// time, and returns them all.
func (l *eventLog) refresh(a *session.AgentSession) ([]event.Event, error) {
	for {
		page, err := a.EventsAfter(l.after, 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			l.evs = append(l.evs, e)
			l.after = e.Meta().Seq
		}
		if len(page) < 1000 {
			return l.evs, nil
		}
	}
}

// fail ends a run with a ConversationErrorEvent and the given status.
func fail(a *session.AgentSession, status, code, detail string) error {
	if err := a.Append(&event.ConversationError{Code: code, Detail: detail}); err != nil {
		return err
	}
	return a.SetStatus(status)
}

// Run runs the agent until it finishes, fails, gets stuck or ctx ends (a
// pause). See session.Loop.
func (c *Controller) Run(ctx context.Context, a *session.AgentSession) error {
	s := a.Settings()
	log := c.log.With("conversation", a.ID())
	model, err := c.client(s)
	if err != nil {
		return fail(a, session.StatusError, "LLMConfigError", err.Error())
	}
	var names []string
	for _, t := range s.Agent.Tools {
		names = append(names, t.Name)
	}
	names = tools.Names(names)
	an, err := c.analyzer(s)
	if err != nil {
		return fail(a, session.StatusError, "SecurityAnalyzerError", err.Error())
	}
	rateRisk := s.SecurityAnalyzer != nil && (s.SecurityAnalyzer.Kind == "LLMSecurityAnalyzer" || s.SecurityAnalyzer.Kind == "EnsembleAnalyzer")
	llmTools, shown := tools.Specs(names, rateRisk)
	hooks := c.hooks(s)
	var seen eventLog
	evs, err := seen.refresh(a)
	if err != nil {
		return err
	}
	if !hasSystemPrompt(evs) {
		sp := &event.SystemPrompt{SystemPrompt: event.Content{Type: event.ContentText, Text: systemPrompt(s.Workspace.WorkingDir, names)}, Tools: shown}
		sp.Source = event.SourceAgent
		if err := a.Append(sp); err != nil {
			return err
		}
	}

	// Actions without a result wait for the user: those the policy held
	// back, and those a stopped server never finished (which the user may
	// want to run again or not). Run them if the user accepted.
	if pending := pendingActions(evs); len(pending) > 0 {
		if !c.confirmed.take(a.ID()) {
			return a.SetStatus(session.StatusWaitingForConfirmation)
		}
		for _, ae := range pending {
			if err := c.runAction(ctx, a, &seen, ae, hooks); err != nil {
				return err
			}
			if _, ok := ae.Action.(*event.FinishAction); ok {
				return a.SetStatus(session.StatusFinished)
			}
		}
	}

	for iteration := 0; ; iteration++ {
		if ctx.Err() != nil {
			return nil // paused: the pauser set the status
		}
		if iteration >= s.MaxIterations {
			return fail(a, session.StatusError, "MaxIterationsReached",
				fmt.Sprintf("the agent took %d steps, the most this conversation allows (max_iterations), without finishing", s.MaxIterations))
		}
		evs, err := seen.refresh(a)
		if err != nil {
			return err
		}
		h := buildHistory(evs)
		if window := model.ContextWindow(); window > 0 && float64(h.tokens) > c.opts.CondenseAt*float64(window) {
			if err := c.condense(ctx, a, model, evs, h); err != nil {
				log.Warn("condensation failed", "err", err)
			} else if evs, err = seen.refresh(a); err == nil {
				h = buildHistory(evs)
			}
		}
		req := llm.Request{System: h.system, Messages: h.messages, Tools: llmTools,
			Temperature: s.Agent.LLM.Temperature, MaxTokens: deref(s.Agent.LLM.MaxOutputTokens)}
		resp, err := model.Complete(ctx, req)
		if errors.Is(err, llm.ErrContextWindow) && ctx.Err() == nil {
			// The model's window is smaller than thought: condense and try
			// once more.
			if cerr := c.condense(ctx, a, model, evs, h); cerr == nil {
				if evs, err = seen.refresh(a); err != nil {
					return err
				}
				h = buildHistory(evs)
				req.System, req.Messages = h.system, h.messages
				resp, err = model.Complete(ctx, req)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Warn("model call failed", "err", err)
			return fail(a, session.StatusError, "LLMError", "the model could not be reached: "+err.Error())
		}
		a.AddMetrics(resp.Cost, session.TokenUsage{Model: model.Model(), PromptTokens: resp.Usage.PromptTokens,
			CompletionTokens: resp.Usage.CompletionTokens, CacheReadTokens: resp.Usage.CacheReadTokens,
			CacheWriteTokens: resp.Usage.CacheWriteTokens, ReasoningTokens: resp.Usage.ReasoningTokens,
			ContextWindow: int64(model.ContextWindow()), PerTurnToken: resp.Usage.PromptTokens + resp.Usage.CompletionTokens})

		msg := resp.Message
		if len(msg.ToolCalls) == 0 {
			m := &event.Message{LLMMessage: event.LLMMessage{Role: "assistant", Content: msg.Content,
				ReasoningContent: msg.ReasoningContent}, LLMResponseID: resp.ID}
			m.Source = event.SourceAgent
			if err := a.Append(m); err != nil {
				return err
			}
			return a.SetStatus(session.StatusFinished)
		}
		finished, waiting, err := c.step(ctx, a, &seen, resp, names, an, hooks, security.Policy(s.ConfirmationPolicy))
		if err != nil {
			return err
		}
		if waiting {
			return a.SetStatus(session.StatusWaitingForConfirmation)
		}
		if finished {
			return a.SetStatus(session.StatusFinished)
		}
		if s.StuckDetection {
			evs, err := seen.refresh(a)
			if err != nil {
				return err
			}
			if why := stuckReason(evs); why != "" {
				log.Info("agent stuck", "why", why)
				return fail(a, session.StatusStuck, "AgentStuck", "the agent is stuck: "+why)
			}
		}
	}
}

// step records and runs the tool calls of one model response. It reports
// whether the agent called finish, and whether actions wait for the
// user's confirmation (then they, and the calls after them, are recorded
// but not run).
func (c *Controller) step(ctx context.Context, a *session.AgentSession, seen *eventLog, resp llm.Response, allowed []string,
	an security.Analyzer, hooks []security.Hook, policy security.Policy) (finished, waiting bool, err error) {
	thought := resp.Message.Content
	for i, call := range resp.Message.ToolCalls {
		if i > 0 {
			thought = nil
		}
		t, ok := tools.Lookup(call.Name)
		if !ok || !slices.Contains(allowed, call.Name) {
			e := &event.AgentError{Error: fmt.Sprintf("There is no tool %q. The tools are: %s.", call.Name, strings.Join(allowed, ", ")),
				ToolName: call.Name, ToolCallID: call.ID}
			if err := c.appendFailedCall(a, call, resp, thought, e); err != nil {
				return false, false, err
			}
			continue
		}
		act, err := t.Decode([]byte(call.Arguments))
		if err != nil {
			e := &event.AgentError{Error: fmt.Sprintf("The call to %s was not run: %v. Fix the arguments and call again.", call.Name, err),
				ToolName: call.Name, ToolCallID: call.ID}
			if err := c.appendFailedCall(a, call, resp, thought, e); err != nil {
				return false, false, err
			}
			continue
		}
		ae := &event.Action{Thought: thought, ReasoningContent: resp.Message.ReasoningContent, Action: act,
			ToolName: call.Name, ToolCallID: call.ID, ToolCall: &call, LLMResponseID: resp.ID,
			SecurityRisk: riskOf(call.Arguments)}
		ae.Source = event.SourceAgent
		v := rate(ctx, an, ae)
		if err := a.Append(ae); err != nil {
			return false, false, err
		}
		if waiting || security.NeedsConfirmation(policy, v) {
			waiting = true // this and the later calls wait for the user
			continue
		}
		// The action runs to its end even if the user pauses meanwhile:
		// a pause takes effect between steps.
		if err := c.runAction(ctx, a, seen, ae, hooks); err != nil {
			return false, false, err
		}
		if _, ok := act.(*event.FinishAction); ok {
			finished = true
		}
	}
	return finished, waiting, nil
}

// appendFailedCall records a call that could not become an action: an
// ActionEvent without an action (the SDK's non-executable action), then
// the AgentError that answers it, which the model sees as the call's
// result and can correct.
func (c *Controller) appendFailedCall(a *session.AgentSession, call event.ToolCall, resp llm.Response, thought event.ContentList, e *event.AgentError) error {
	ae := &event.Action{Thought: thought, ToolName: call.Name, ToolCallID: call.ID, ToolCall: &call,
		LLMResponseID: resp.ID, SecurityRisk: event.RiskUnknown}
	ae.Source = event.SourceAgent
	e.Source = event.SourceAgent
	return a.Append(ae, e)
}

// riskOf reads the security_risk the model gave, if any.
func riskOf(args string) event.Risk {
	var v struct {
		Risk string `json:"security_risk"`
	}
	json.Unmarshal([]byte(args), &v)
	switch r := event.Risk(strings.ToUpper(v.Risk)); r {
	case event.RiskLow, event.RiskMedium, event.RiskHigh:
		return r
	}
	return event.RiskUnknown
}

func hasSystemPrompt(evs []event.Event) bool {
	for _, e := range evs {
		if e.Kind() == event.KindSystemPrompt {
			return true
		}
	}
	return false
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// workspace is the conversation as a run's tools see it: its events are
// those the run has read, brought up to date.
type workspace struct {
	tools.Workspace
	a    *session.AgentSession
	seen *eventLog
}

func (w workspace) Events() ([]event.Event, error) { return w.seen.refresh(w.a) }
