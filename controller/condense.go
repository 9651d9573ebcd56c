package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/session"
)

// keepRecent is how many of the newest events condensation keeps.
const keepRecent = 10

// condense summarises the older half of what the model sees: it asks the
// model for a summary and records a Condensation (the events the model
// will no longer see) and a CondensationSummaryEvent (what it sees in
// their place). The first user message always stays.
func (c *Controller) condense(ctx context.Context, a Conversation, model llm.Client, evs []event.Event, h history) error {
	if len(h.view) <= keepRecent {
		return conflict("too little history to condense: %d events, and the newest %d are always kept", len(h.view), keepRecent)
	}
	cut := len(h.view) / 2
	if len(h.view)-cut < keepRecent {
		cut = len(h.view) - keepRecent
	}
	// Do not split a tool call from its result: end the forgotten part
	// before an action or a message.
	byID := make(map[string]event.Event, len(evs))
	for _, e := range evs {
		byID[e.Meta().ID] = e
	}
	for cut > 0 {
		k := byID[h.view[cut]].Kind()
		if k == event.KindAction || k == event.KindMessage {
			break
		}
		cut--
	}
	if cut == 0 {
		return conflict("no place to cut the history: no older action or message to start the kept part at")
	}
	forget := h.view[:cut]
	var old []event.Event
	for _, e := range evs {
		if s, ok := e.(*event.CondensationSummary); ok {
			old = append(old, s) // the previous summary is summarised again
		}
	}
	for _, id := range forget {
		old = append(old, byID[id])
	}
	resp, err := model.Complete(ctx, llm.Request{
		System:   condensePrompt,
		Messages: []event.LLMMessage{{Role: "user", Content: event.Text(describe(old))}},
	})
	if err != nil {
		return fmt.Errorf("summarise: %w", err)
	}
	summary := strings.TrimSpace(resp.Message.Content.Text())
	if summary == "" {
		return errors.New("the model gave an empty summary")
	}
	a.AddMetrics(resp.Cost, session.TokenUsage{Model: model.Model(), PromptTokens: resp.Usage.PromptTokens,
		CompletionTokens: resp.Usage.CompletionTokens})
	offset := 1
	cond := &event.Condensation{ForgottenEventIDs: forget, Summary: summary, SummaryOffset: &offset, LLMResponseID: resp.ID}
	cond.Source = event.SourceAgent
	sum := &event.CondensationSummary{Summary: summary}
	sum.Source = event.SourceAgent
	return a.Append(cond, sum)
}

// Condense summarises the history now. See session.Loop.
func (c *Controller) Condense(ctx context.Context, a *session.AgentSession) error {
	return c.CondenseConversation(ctx, a)
}

// CondenseConversation summarises a conversation's history now.
func (c *Controller) CondenseConversation(ctx context.Context, a Conversation) error {
	model, err := c.client(a.Settings())
	if err != nil {
		return err
	}
	evs, err := events(a)
	if err != nil {
		return err
	}
	return c.condense(ctx, a, model, evs, buildHistory(evs))
}

// conflict is an error of the conversation's state, not of the server:
// a session.KindConflict error, which the client is told with the detail.
func conflict(format string, args ...any) error {
	return &session.Error{Kind: session.KindConflict, Detail: fmt.Sprintf(format, args...), Err: session.ErrConflict}
}

// Ask answers a question about the conversation without changing it. See
// session.Loop.
func (c *Controller) Ask(ctx context.Context, a *session.AgentSession, question string) (string, error) {
	return c.AskConversation(ctx, a, question)
}

// AskConversation answers a question about a conversation without
// changing it.
func (c *Controller) AskConversation(ctx context.Context, a Conversation, question string) (string, error) {
	model, err := c.client(a.Settings())
	if err != nil {
		return "", err
	}
	evs, err := events(a)
	if err != nil {
		return "", err
	}
	h := buildHistory(evs)
	msgs := append(h.messages, event.LLMMessage{Role: "user", Content: event.Text(
		"Answer this question about the conversation so far, without calling tools:\n\n" + question)})
	resp, err := model.Complete(ctx, llm.Request{System: h.system, Messages: msgs})
	if err != nil {
		return "", err
	}
	a.AddMetrics(resp.Cost, session.TokenUsage{Model: model.Model(), PromptTokens: resp.Usage.PromptTokens,
		CompletionTokens: resp.Usage.CompletionTokens})
	return strings.TrimSpace(resp.Message.Content.Text()), nil
}

// Title names a conversation from its first user message. See
// session.Loop.
func (c *Controller) Title(ctx context.Context, a *session.AgentSession, maxLength int) (string, error) {
	return c.TitleConversation(ctx, a, maxLength)
}

// TitleConversation names a conversation from its first user message.
func (c *Controller) TitleConversation(ctx context.Context, a Conversation, maxLength int) (string, error) {
	model, err := c.client(a.Settings())
	if err != nil {
		return "", err
	}
	evs, err := events(a)
	if err != nil {
		return "", err
	}
	first := ""
	for _, e := range evs {
		if m, ok := e.(*event.Message); ok && m.LLMMessage.Role == "user" {
			first = m.LLMMessage.Content.Text()
			break
		}
	}
	if first == "" {
		return "", conflict("the conversation has no user message to make a title from")
	}
	resp, err := model.Complete(ctx, llm.Request{Messages: []event.LLMMessage{{Role: "user",
		Content: event.Text(fmt.Sprintf(titlePrompt, maxLength, clip(first, 4000)))}}})
	if err != nil {
		return "", err
	}
	title := strings.Trim(strings.TrimSpace(resp.Message.Content.Text()), `"'`)
	return strings.TrimSuffix(title, "."), nil
}
