package controller

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/tools"
)

// analyzer builds the conversation's analyzer, or nil when it has none;
// secrets gives the conversation's secrets, which rules look for in
// actions.
func (c *Controller) analyzer(s session.Settings, secrets func() *security.Masker) (security.Analyzer, error) {
	if s.SecurityAnalyzer == nil || s.SecurityAnalyzer.Kind == "" {
		return nil, nil
	}
	cfg, _ := json.Marshal(s.SecurityAnalyzer)
	return security.Options{Workspace: s.Workspace.WorkingDir, ToolOf: tools.KindTool, Tools: tools.SecurityFields(),
		Secrets: secrets}.NewAnalyzer(s.SecurityAnalyzer.Kind, cfg)
}

// secretsOf returns the secrets of a conversation that has them (a
// session's do), as they are at each call; nil for one that has none.
func secretsOf(conv Conversation) func() *security.Masker {
	sc, ok := conv.(interface{ Secrets() map[string]string })
	if !ok {
		return nil
	}
	return func() *security.Masker { return security.NewMasker(sc.Secrets()) }
}

// rate rates an action with the conversation's analyzer. Without one,
// the model's own rating (if it gave one) stands.
func rate(ctx context.Context, an security.Analyzer, ae *event.Action) security.Verdict {
	if an == nil {
		return security.Verdict{Risk: ae.SecurityRisk, Reason: "no analyzer is set"}
	}
	v := an.Analyze(ctx, ae)
	ae.SecurityRisk = v.Risk
	ae.SecurityReason = v.Reason
	if v.Analyzer != "" && v.Reason != "" {
		ae.SecurityReason = v.Analyzer + ": " + v.Reason
	}
	return v
}

// hooks returns the server's hooks followed by the conversation's.
func (c *Controller) hooks(s session.Settings) []security.Hook {
	return append(append([]security.Hook(nil), c.opts.Hooks...), s.Hooks...)
}

// recordHooks appends a HookEvent for each hook run.
func recordHooks(a Conversation, ae *event.Action, recs []security.HookRecord) error {
	var evs []event.Event
	for _, r := range recs {
		e := &event.Hook{Hook: r.Hook, Event: r.Event, Decision: r.Decision, Reason: r.Reason, Error: r.Error,
			ExitCode: r.ExitCode, DurationMS: float64(r.Duration.Microseconds()) / 1000, Output: r.Output,
			ActionID: ae.ID, ToolName: ae.ToolName}
		e.Source = event.SourceEnvironment
		evs = append(evs, e)
	}
	if len(evs) == 0 {
		return nil
	}
	return a.Append(evs...)
}

// reject records that an action was not run and why; the model sees the
// reason as the call's result.
func reject(a Conversation, ae *event.Action, reason, source string) error {
	e := &event.UserReject{RejectionReason: reason, RejectionSource: source, ActionID: ae.ID,
		ToolName: ae.ToolName, ToolCallID: ae.ToolCallID}
	e.Source = event.SourceUser
	if source == "hook" {
		e.Source = event.SourceEnvironment
	}
	return a.Append(e)
}

// pendingActions returns the actions that have no result yet: those that
// wait for the user's confirmation.
func pendingActions(evs []event.Event) []*event.Action {
	answered := make(map[string]bool)
	for _, e := range evs {
		switch e := e.(type) {
		case *event.Observation:
			answered[e.ActionID] = true
		case *event.UserReject:
			answered[e.ActionID] = true
		case *event.AgentError:
			answered["call:"+e.ToolCallID] = true
		}
	}
	var out []*event.Action
	for _, e := range evs {
		if ae, ok := e.(*event.Action); ok && ae.Action != nil && !answered[ae.ID] && !answered["call:"+ae.ToolCallID] {
			out = append(out, ae)
		}
	}
	return out
}

// Reject records the user's refusal of the actions that wait for
// confirmation: one UserRejectObservation each. See session.Loop.
func (c *Controller) Reject(ctx context.Context, a *session.AgentSession, reason string) error {
	return RejectPending(a, reason)
}

// RejectPending records the user's refusal of the actions of a
// conversation that wait for confirmation.
func RejectPending(conv Conversation, reason string) error {
	evs, err := events(conv)
	if err != nil {
		return err
	}
	for _, ae := range pendingActions(evs) {
		if err := reject(conv, ae, reason, "user"); err != nil {
			return err
		}
	}
	return nil
}

// runAction runs one recorded action through the pre-action hooks, the
// sandbox and the post-observation hooks, and records its observation.
func (r *run) runAction(ctx context.Context, ae *event.Action) error {
	a, hooks := r.conv, r.hooks
	if len(hooks) > 0 {
		allowed, reason, recs := security.RunPreAction(ctx, hooks, security.PreActionInput{ConversationID: a.ID(), Action: ae})
		if err := recordHooks(a, ae, recs); err != nil {
			return err
		}
		if !allowed {
			return reject(a, ae, fmt.Sprintf("A hook blocked this action: %s", reason), "hook")
		}
	}
	var toolInput json.RawMessage
	if !r.repoHooks.Empty() {
		toolInput, _ = security.ToolJSON(ae, "action")
	}
	pre, err := r.runRepoHooks(ctx, security.HookPreToolUse, ae.ToolName, security.RepoHookInput{ToolInput: toolInput}, ae.ID, "")
	if err != nil {
		return err
	}
	if pre.blocked {
		return reject(a, ae, "A hook of the repository (PreToolUse) blocked this action: "+pre.reason, "hook")
	}
	actx, cancel := context.WithTimeout(session.ActionContext(ctx), r.c.opts.ActionTimeout)
	obs, err := tools.RunTool(actx, workspace{Workspace: a.ToolWorkspace(), a: a, seen: &r.seen}, ae.ToolName, ae.Action)
	cancel()
	if err != nil {
		obs = tools.CouldNotRun(ae.Action, err)
	}
	oe := &event.Observation{Observation: obs, ActionID: ae.ID, ToolName: ae.ToolName, ToolCallID: ae.ToolCallID}
	oe.Source = event.SourceEnvironment
	if len(hooks) > 0 {
		note, redact, recs := security.RunPostObservation(ctx, hooks, security.PostObservationInput{ConversationID: a.ID(), Action: ae, Observation: oe})
		if err := recordHooks(a, ae, recs); err != nil {
			return err
		}
		if len(redact) > 0 {
			security.RedactObservation(obs, redact)
		}
		if note != "" {
			out := obs.Output()
			out.Content = append(out.Content, event.Content{Type: event.ContentText, Text: "\n[note: " + note + "]"})
		}
	}
	if len(pre.context) > 0 {
		addNote(obs, hookNote(security.HookPreToolUse, pre.context))
	}
	var toolResponse json.RawMessage
	if !r.repoHooks.Empty() {
		toolResponse, _ = security.ToolJSON(oe, "observation")
	}
	post, err := r.runRepoHooks(ctx, security.HookPostToolUse, ae.ToolName,
		security.RepoHookInput{ToolInput: toolInput, ToolResponse: toolResponse}, ae.ID, "")
	if err != nil {
		return err
	}
	if len(post.context) > 0 {
		addNote(obs, hookNote(security.HookPostToolUse, post.context))
	}
	return a.Append(oe)
}

// addNote adds a note for the model at the end of an observation.
func addNote(obs event.ToolObservation, note string) {
	out := obs.Output()
	out.Content = append(out.Content, event.Content{Type: event.ContentText, Text: "\n" + note})
}

// stopHooks runs the repository's Stop hooks when the agent ends its
// turn. They are recorded; GoHands does not keep the agent going when
// one blocks.
func (r *run) stopHooks(ctx context.Context) error {
	_, err := r.runRepoHooks(ctx, security.HookStop, "", security.RepoHookInput{}, "", "")
	return err
}
