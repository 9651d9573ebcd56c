package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/skills"
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
	// ServerSkills are the skills of the server's skills folder, offered
	// to every conversation after the workspace's own.
	ServerSkills []skills.Skill
}

// Controller runs agents. One Controller serves every conversation of a
// server; its state lives in the conversations' events.
type Controller struct {
	opts Options
	log  *slog.Logger
}

// Conversation is what the controller uses of a conversation: its
// settings, its events, its metrics and the workspace its tools run in.
// It never sets a status: a run says how it ended, and the conversation
// moves its own status.
type Conversation interface {
	ID() string
	Settings() session.Settings
	// EventsAfter returns up to limit events with a seq above seq, in
	// order.
	EventsAfter(seq int64, limit int) ([]event.Event, error)
	Append(evs ...event.Event) error
	// Broadcast shows subscribers an event that is not stored: the
	// pieces of a streamed answer.
	Broadcast(e event.Event) error
	AddMetrics(cost float64, usage session.TokenUsage) error
	ToolWorkspace() tools.Workspace
	// SetSkillMCP sets the MCP servers the skills the run loaded bring.
	SetSkillMCP(l []session.SkillMCP)
}

var (
	_ Conversation = (*session.AgentSession)(nil)
	_ session.Loop = (*Controller)(nil)
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
func events(a Conversation) ([]event.Event, error) {
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
// time, and returns those of the active branch (event.ActiveBranch): after
// a rewind, the events past the head are stored but not shown to the
// model.
func (l *eventLog) refresh(a Conversation) ([]event.Event, error) {
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
			return event.ActiveBranch(l.evs), nil
		}
	}
}

// failed is the outcome of a run that cannot go on.
func failed(code, detail string) session.Outcome {
	return session.Outcome{Kind: session.Failed, Code: code, Detail: detail}
}

var (
	finished = session.Outcome{Kind: session.Finished}
	waiting  = session.Outcome{Kind: session.Waiting}
	stopped  = session.Outcome{Kind: session.Stopped}
)

// Run runs the agent of a session's conversation. See session.Loop and
// RunConversation.
func (c *Controller) Run(ctx context.Context, a *session.AgentSession, confirmed bool) (session.Outcome, error) {
	return c.RunConversation(ctx, a, confirmed)
}

// RunConversation runs the agent until it finishes, fails, gets stuck,
// waits for the user's confirmation, or ctx ends (a pause), and says how
// it ended. confirmed says the user accepted the actions that wait. An
// error means the conversation's events could not be read or written.
func (c *Controller) RunConversation(ctx context.Context, conv Conversation, confirmed bool) (session.Outcome, error) {
	r, out := c.start(conv)
	if r == nil {
		return out, nil
	}
	r.loadRepo(ctx)
	r.loadMCP(ctx)
	if err := r.recordSystemPrompt(ctx); err != nil {
		return stopped, err
	}
	if out, done, err := r.runPending(ctx, confirmed); done || err != nil {
		return out, err
	}
	for iteration := 0; ; iteration++ {
		if ctx.Err() != nil {
			return stopped, nil
		}
		if iteration >= r.s.MaxIterations {
			return failed("MaxIterationsReached",
				fmt.Sprintf("the agent took %d steps, the most this conversation allows (max_iterations), without finishing", r.s.MaxIterations)), nil
		}
		if out, done, err := r.step(ctx); done || err != nil {
			return out, err
		}
	}
}

// run is one run of the agent on a conversation: what it was set up
// with, and the events it has read.
type run struct {
	c        *Controller
	conv     Conversation
	s        session.Settings
	log      *slog.Logger
	model    llm.Client
	names    []string // the tools the model may call
	llmTools []llm.Tool
	shown    []event.ToolSpec
	rateRisk bool // every tool takes a security_risk argument
	mcp      mcpTools
	an       security.Analyzer
	hooks    []security.Hook
	seen     eventLog
	// repo is what the workspace (and the server's skills folder) tells
	// the agent; repoHooks are the workspace's hooks, run in its sandbox.
	repo      skills.Set
	repoHooks security.HookConfig
}

// start sets a run up from the conversation's settings; a setting that
// cannot work ends it at once with the outcome saying why.
func (c *Controller) start(conv Conversation) (*run, session.Outcome) {
	s := conv.Settings()
	r := &run{c: c, conv: conv, s: s, log: c.log.With("conversation", conv.ID()), hooks: c.hooks(s)}
	var err error
	if r.model, err = c.client(s); err != nil {
		return nil, failed("LLMConfigError", err.Error())
	}
	var names []string
	for _, t := range s.Agent.Tools {
		names = append(names, t.Name)
	}
	r.names = tools.Offer(tools.Names(names), conv.ToolWorkspace())
	if r.an, err = c.analyzer(s, secretsOf(conv)); err != nil {
		return nil, failed("SecurityAnalyzerError", err.Error())
	}
	r.rateRisk = s.SecurityAnalyzer != nil && (s.SecurityAnalyzer.Kind == "LLMSecurityAnalyzer" || s.SecurityAnalyzer.Kind == "EnsembleAnalyzer")
	r.llmTools, r.shown = tools.Specs(r.names, r.rateRisk)
	return r, session.Outcome{}
}

// recordSystemPrompt records the system prompt, with the workspace's
// guidance and skills, and the tools, once per conversation; the
// repository's SessionStart hooks run then.
func (r *run) recordSystemPrompt(ctx context.Context) error {
	evs, err := r.seen.refresh(r.conv)
	if err != nil {
		return err
	}
	if hasSystemPrompt(evs) {
		return nil
	}
	text := systemPrompt(r.s.Workspace.WorkingDir, r.offered()) + skills.Prompt(r.repo)
	sp := &event.SystemPrompt{SystemPrompt: event.Content{Type: event.ContentText, Text: text}, Tools: r.shown}
	sp.Source = event.SourceAgent
	if err := r.conv.Append(sp); err != nil {
		return err
	}
	_, err = r.runRepoHooks(ctx, security.HookSessionStart, "", security.RepoHookInput{}, "", "")
	return err
}

// runPending runs the actions without a result if the user accepted
// them: those the policy held back, and those a stopped server never
// finished (which the user may want to run again or not). Without the
// user's word, the run waits for it. done says the run ends here.
func (r *run) runPending(ctx context.Context, confirmed bool) (out session.Outcome, done bool, err error) {
	evs, err := r.seen.refresh(r.conv)
	if err != nil {
		return stopped, true, err
	}
	pending := pendingActions(evs)
	if len(pending) == 0 {
		return out, false, nil
	}
	if !confirmed {
		return waiting, true, nil
	}
	for _, ae := range pending {
		if err := r.runAction(ctx, ae); err != nil {
			return stopped, true, err
		}
		if _, ok := ae.Action.(*event.FinishAction); ok {
			return finished, true, nil
		}
	}
	return out, false, nil
}

// step asks the model for the next step and carries it out. done says
// the run ends with out.
func (r *run) step(ctx context.Context) (out session.Outcome, done bool, err error) {
	if err := r.switchModel(); err != nil {
		return failed("LLMConfigError", err.Error()), true, nil
	}
	if r.refreshMCP(ctx) {
		r.log.Info("the MCP servers' tools changed", "tools", len(r.mcp.byName))
	}
	if blocked, err := r.userTurns(ctx); err != nil {
		return stopped, true, err
	} else if blocked != "" {
		r.log.Info("a UserPromptSubmit hook blocked the message", "reason", blocked)
		return finished, true, nil
	}
	resp, err := r.ask(ctx)
	if ctx.Err() != nil {
		return stopped, true, nil
	}
	if err != nil {
		var read readError
		if errors.As(err, &read) {
			return stopped, true, read.err
		}
		r.log.Warn("model call failed", "err", err)
		return failed("LLMError", "the model could not be reached: "+err.Error()), true, nil
	}
	r.conv.AddMetrics(resp.Cost, session.TokenUsage{Model: r.model.Model(), UsageID: r.s.Agent.LLM.UsageID, PromptTokens: resp.Usage.PromptTokens,
		CompletionTokens: resp.Usage.CompletionTokens, CacheReadTokens: resp.Usage.CacheReadTokens,
		CacheWriteTokens: resp.Usage.CacheWriteTokens, ReasoningTokens: resp.Usage.ReasoningTokens,
		ContextWindow: int64(r.model.ContextWindow()), PerTurnToken: resp.Usage.PromptTokens + resp.Usage.CompletionTokens})

	if len(resp.Message.ToolCalls) == 0 {
		m := &event.Message{LLMMessage: event.LLMMessage{Role: "assistant", Content: resp.Message.Content,
			ReasoningContent: resp.Message.ReasoningContent}, LLMResponseID: resp.ID}
		m.Source = event.SourceAgent
		if err := r.conv.Append(m); err != nil {
			return stopped, true, err
		}
		return finished, true, r.stopHooks(ctx)
	}
	didFinish, held, err := r.calls(ctx, resp)
	switch {
	case err != nil:
		return stopped, true, err
	case held:
		return waiting, true, nil
	case didFinish:
		return finished, true, r.stopHooks(ctx)
	}
	return r.stuck()
}

// switchModel takes up the conversation's model settings if they changed
// since the run read them (switch_llm, switch_profile): each step asks the
// model the conversation names at that moment.
func (r *run) switchModel() error {
	l := r.conv.Settings().Agent.LLM
	if reflect.DeepEqual(l, r.s.Agent.LLM) {
		return nil
	}
	s := r.s
	s.Agent.LLM = l
	model, err := r.c.client(s)
	if err != nil {
		return err
	}
	r.s, r.model = s, model
	return nil
}

// readError is a failure to read the conversation's events, told apart
// from the model's failures.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// ask shows the model the history, condensed first when it nears the
// model's context window, and returns the model's answer. When the
// model finds the history too long after all, it is condensed and the
// model asked once more.
func (r *run) ask(ctx context.Context) (llm.Response, error) {
	evs, h, err := r.history()
	if err != nil {
		return llm.Response{}, readError{err}
	}
	if window := r.model.ContextWindow(); window > 0 && float64(h.tokens) > r.c.opts.CondenseAt*float64(window) {
		if err := r.c.condense(ctx, r.conv, r.model, evs, h); err != nil {
			r.log.Warn("condensation failed", "err", err)
		} else if evs, h, err = r.history(); err != nil {
			return llm.Response{}, readError{err}
		}
	}
	req := llm.Request{System: h.system, Messages: h.messages, Tools: r.llmTools,
		Temperature: r.s.Agent.LLM.Temperature, MaxTokens: deref(r.s.Agent.LLM.MaxOutputTokens)}
	if r.s.Agent.LLM.Stream {
		req.OnDelta = r.broadcastDelta
	}
	if r.s.Agent.LLM.DisableVision {
		req.Messages = withoutImages(req.Messages)
	}
	resp, err := r.model.Complete(ctx, req)
	if errors.Is(err, llm.ErrContextWindow) && ctx.Err() == nil {
		if cerr := r.c.condense(ctx, r.conv, r.model, evs, h); cerr == nil {
			if _, h, err = r.history(); err != nil {
				return llm.Response{}, readError{err}
			}
			req.System, req.Messages = h.system, h.messages
			if r.s.Agent.LLM.DisableVision {
				req.Messages = withoutImages(req.Messages)
			}
			resp, err = r.model.Complete(ctx, req)
		}
	}
	return resp, err
}

// broadcastDelta shows the subscribers a piece of the answer the model
// is writing. A piece that cannot be shown is let go: the whole answer is
// stored when it is done.
func (r *run) broadcastDelta(d llm.Delta) {
	e := &event.StreamingDelta{}
	e.Source = event.SourceAgent
	if d.Content != "" {
		e.Content = &d.Content
	}
	if d.Reasoning != "" {
		e.ReasoningContent = &d.Reasoning
	}
	if err := r.conv.Broadcast(e); err != nil {
		r.log.Debug("show a streamed piece", "err", err)
	}
}

// history reads the new events and rebuilds what the model is shown.
func (r *run) history() ([]event.Event, history, error) {
	evs, err := r.seen.refresh(r.conv)
	if err != nil {
		return nil, history{}, err
	}
	return evs, buildHistory(evs), nil
}

// stuck ends the run when stuck detection is on and the agent repeats
// itself.
func (r *run) stuck() (session.Outcome, bool, error) {
	if !r.s.StuckDetection {
		return session.Outcome{}, false, nil
	}
	evs, err := r.seen.refresh(r.conv)
	if err != nil {
		return stopped, true, err
	}
	if why := stuckReason(evs); why != "" {
		r.log.Info("agent stuck", "why", why)
		return session.Outcome{Kind: session.Stuck, Code: "AgentStuck", Detail: "the agent is stuck: " + why}, true, nil
	}
	return session.Outcome{}, false, nil
}

// calls records and runs the tool calls of one model response. It
// reports whether the agent called finish, and whether actions wait for
// the user's confirmation (then they, and the calls after them, are
// recorded but not run).
func (r *run) calls(ctx context.Context, resp llm.Response) (didFinish, held bool, err error) {
	policy := security.Policy(r.s.ConfirmationPolicy)
	thought := resp.Message.Content
	for i, call := range resp.Message.ToolCalls {
		if i > 0 {
			thought = nil
		}
		ae, v, err := r.record(ctx, call, resp, thought)
		if err != nil {
			return false, false, err
		}
		if ae == nil {
			continue
		}
		if held || security.NeedsConfirmation(policy, v) {
			held = true // this and the later calls wait for the user
			continue
		}
		// The action runs to its end even if the user pauses meanwhile:
		// a pause takes effect between steps.
		if err := r.runAction(ctx, ae); err != nil {
			return false, false, err
		}
		if _, ok := ae.Action.(*event.FinishAction); ok {
			didFinish = true
		}
	}
	return didFinish, held, nil
}

// record turns a tool call into a recorded ActionEvent, rated by the
// conversation's analyzer. A call that names none of the run's tools, or
// whose arguments do not decode, is recorded with the AgentError that
// answers it, and gives no action.
func (r *run) record(ctx context.Context, call event.ToolCall, resp llm.Response, thought event.ContentList) (*event.Action, security.Verdict, error) {
	t, ok := r.lookup(call.Name)
	if !ok {
		e := &event.AgentError{Error: fmt.Sprintf("There is no tool %q. The tools are: %s.", call.Name, strings.Join(r.offered(), ", ")),
			ToolName: call.Name, ToolCallID: call.ID}
		return nil, security.Verdict{}, appendFailedCall(r.conv, call, resp, thought, e)
	}
	act, err := t.Decode([]byte(call.Arguments))
	if err != nil {
		e := &event.AgentError{Error: fmt.Sprintf("The call to %s was not run: %v. Fix the arguments and call again.", call.Name, err),
			ToolName: call.Name, ToolCallID: call.ID}
		return nil, security.Verdict{}, appendFailedCall(r.conv, call, resp, thought, e)
	}
	ae := &event.Action{Thought: thought, ReasoningContent: resp.Message.ReasoningContent, Action: act,
		ToolName: call.Name, ToolCallID: call.ID, ToolCall: &call, LLMResponseID: resp.ID,
		SecurityRisk: riskOf(call.Arguments)}
	ae.Source = event.SourceAgent
	v := rate(ctx, r.an, ae)
	if err := r.conv.Append(ae); err != nil {
		return nil, v, err
	}
	return ae, v, nil
}

// appendFailedCall records a call that could not become an action: an
// ActionEvent without an action (the SDK's non-executable action), then
// the AgentError that answers it, which the model sees as the call's
// result and can correct.
func appendFailedCall(a Conversation, call event.ToolCall, resp llm.Response, thought event.ContentList, e *event.AgentError) error {
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
	a    Conversation
	seen *eventLog
}

func (w workspace) Events() ([]event.Event, error) { return w.seen.refresh(w.a) }

// Unwrap gives the tools the conversation's own workspace, and so its
// browser.
func (w workspace) Unwrap() tools.Workspace { return w.Workspace }
