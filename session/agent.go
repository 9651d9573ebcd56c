package session

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
	"github.com/gohands/gohands/tools"
)

func noAgent(what string) error {
	return &Error{Kind: KindConflict, Err: ErrNoAgent,
		Detail: what + ": this server has no agent loop configured (set LLM_MODEL and LLM_API_KEY)"}
}

// Ask answers a question about the conversation; its state is untouched.
func (a *AgentSession) Ask(ctx context.Context, question string) (string, error) {
	if strings.TrimSpace(question) == "" {
		return "", invalid("question: missing")
	}
	if l := a.m.opts.Loop; l != nil {
		return l.Ask(ctx, a, question)
	}
	return "", noAgent("ask_agent")
}

// GenerateTitle names the conversation, stores the title and returns it.
// Without an agent that can do it, the title is the start of the first
// user message.
func (a *AgentSession) GenerateTitle(ctx context.Context, maxLength int) (string, error) {
	if maxLength <= 0 {
		maxLength = 50
	}
	var title string
	if l := a.m.opts.Loop; l != nil {
		t, err := l.Title(ctx, a, maxLength)
		if err != nil {
			return "", err
		}
		title = t
	} else {
		evs, _, err := a.m.store.Events(a.id, storage.EventQuery{Kinds: []event.Kind{event.KindMessage}, Source: string(event.SourceUser), Limit: 1})
		if err != nil {
			return "", storeError("read messages", err)
		}
		if len(evs) == 0 {
			return "", conflict("the conversation has no user message to make a title from")
		}
		title = strings.Join(strings.Fields(evs[0].(*event.Message).LLMMessage.Content.Text()), " ")
	}
	title = truncate(title, maxLength)
	if err := a.SetTitle(title); err != nil {
		return "", err
	}
	return title, nil
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n <= 3 {
		return string(r[:n])
	}
	return string(r[:n-3]) + "..."
}

// Condense asks the agent to condense the history now.
func (a *AgentSession) Condense(ctx context.Context) error {
	if l := a.m.opts.Loop; l != nil {
		return l.Condense(ctx, a)
	}
	return noAgent("condense")
}

// RespondToConfirmation accepts or rejects the actions that wait for the
// user: a rejection records one UserRejectObservation per action and
// leaves the conversation idle; an acceptance resumes the run, which runs
// them first.
func (a *AgentSession) RespondToConfirmation(ctx context.Context, accept bool, reason string) error {
	if a.Status() != StatusWaitingForConfirmation {
		return conflict("no action of conversation %s waits for confirmation", a.id)
	}
	l := a.m.opts.Loop
	if l == nil {
		return noAgent("respond_to_confirmation")
	}
	if accept {
		return a.start(true)
	}
	if reason == "" {
		reason = "The user rejected this action."
	}
	if err := l.Reject(ctx, a, reason); err != nil {
		return err
	}
	return a.settle(Outcome{Kind: actionsRejected})
}

// Recall searches the conversation's own events for text (V0's recall)
// and records the search and what it found.
func (a *AgentSession) Recall(ctx context.Context, query string) (*event.Observation, error) {
	if strings.TrimSpace(query) == "" {
		return nil, invalid("query: missing")
	}
	return a.act(ctx, tools.RecallAction(query), "recall", nil)
}
