package session

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/storage"
)

// actionContextKey holds, in a run's context, the context its actions run
// under: a pause does not end it, an interrupt does.
type actionContextKey struct{}

// ActionContext returns the context an action of the run ctx belongs to
// runs under: it is not cancelled by a pause, which lets the action in
// flight end, but by an interrupt or the server's shutdown. Outside a
// run of this package it is ctx without its cancellation.
func ActionContext(ctx context.Context) context.Context {
	if actx, ok := ctx.Value(actionContextKey{}).(context.Context); ok {
		return actx
	}
	return context.WithoutCancel(ctx)
}

// Interrupt stops the run at once: the model call and the action in
// flight are cancelled, an InterruptEvent is recorded and the
// conversation is paused; Run resumes it. A conversation that does not
// run is paused as Pause does.
func (a *AgentSession) Interrupt(ctx context.Context) error {
	a.mu.Lock()
	r := a.run
	a.mu.Unlock()
	if r == nil {
		return a.Pause(ctx)
	}
	r.interrupt()
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
	}
	e := &event.Interrupt{}
	e.Source = event.SourceUser
	if err := a.Append(e); err != nil {
		return err
	}
	return a.settle(Outcome{Kind: pausedByUser})
}

// FinalResponse returns the agent's last answer: the message of its last
// finish call or the text of its last message, whichever came later; ""
// when it has given none yet.
func (v *View) FinalResponse() (string, error) {
	q := EventQuery{Kinds: []event.Kind{event.KindAction, event.KindMessage}, Source: string(event.SourceAgent), Desc: true}
	for {
		evs, next, err := v.Events(q)
		if err != nil {
			return "", err
		}
		for _, e := range evs {
			switch e := e.(type) {
			case *event.Message:
				return e.LLMMessage.Content.Text(), nil
			case *event.Action:
				if f, ok := e.Action.(*event.FinishAction); ok {
					return f.Message, nil
				}
			}
		}
		if next == "" {
			return "", nil
		}
		q.PageID = next
	}
}

// EventsByID returns the stored events with the given ids, in the order
// asked, nil in place of an id the conversation has no event of.
func (v *View) EventsByID(ids []string) ([]event.Event, error) {
	out := make([]event.Event, len(ids))
	for i, id := range ids {
		e, err := v.Event(id)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// StateKeyAgent is the ConversationStateUpdateEvent key under which a
// change of the agent (its model) is recorded, its keys masked.
const StateKeyAgent = "agent"

// SwitchLLM makes l the model of the conversation's agent; the run's next
// step uses it. l brings its own key, or is lent the server's under the
// rule of Create (only to the server's endpoint or an allowed one); a
// masked key keeps the conversation's key when the endpoint stays the
// same. The change is recorded as a ConversationStateUpdateEvent of the
// agent.
func (a *AgentSession) SwitchLLM(l LLM) error {
	if strings.TrimSpace(l.Model) == "" {
		return invalid("llm.model: required")
	}
	if err := validRetries(l); err != nil {
		return err
	}
	d := a.m.opts.Defaults
	if l.BaseURL == "" {
		l.BaseURL = d.LLM.BaseURL
	}
	old := a.Settings().Agent.LLM
	if l.APIKey == Masked {
		l.APIKey = ""
		if sameEndpoint(old, l) {
			l.APIKey = old.APIKey
		}
	}
	if l.APIKey == "" && d.LLM.APIKey != "" {
		if err := a.m.lendKey(l); err != nil {
			return err
		}
		l.APIKey = d.LLM.APIKey
	}
	key := l.APIKey
	l.APIKey = ""
	if key != old.APIKey {
		if err := a.storeSecrets(map[string]string{apiKeySecret: key}); err != nil {
			return err
		}
	}
	if err := a.update(func(_ *storage.Conversation, s *Settings) error {
		s.Agent.LLM = l
		return nil
	}); err != nil {
		return err
	}
	agent, err := json.Marshal(a.Info().Agent)
	if err != nil {
		return err
	}
	return a.Append(&event.StateUpdate{Key: StateKeyAgent, Value: agent})
}

// SwitchProfile makes the saved profile name the model of the
// conversation's agent, as SwitchLLM; its usage id is "profile:NAME".
func (a *AgentSession) SwitchProfile(name string) error {
	l, key, err := a.m.profile(name)
	if err != nil {
		return err
	}
	l.APIKey = key
	l.UsageID = "profile:" + name
	return a.SwitchLLM(l)
}

// sameEndpoint says whether two model settings reach the same endpoint.
func sameEndpoint(a, b LLM) bool {
	ea, errA := llm.Endpoint(a.Model, a.BaseURL)
	eb, errB := llm.Endpoint(b.Model, b.BaseURL)
	return errA == nil && errB == nil && ea == eb
}

// add returns the stats with cost and usage added to the LLM usage names
// (DefaultUsageID when it names none); st is not changed, so that a
// reader of the old map needs no lock.
func (st Stats) add(cost float64, usage TokenUsage) Stats {
	id := usage.UsageID
	if id == "" {
		id = DefaultUsageID
	}
	next := make(map[string]UsageMetrics, len(st.UsageToMetrics)+1)
	maps.Copy(next, st.UsageToMetrics)
	m := next[id]
	m.ModelName = usage.Model
	m.AccumulatedCost += cost
	m.AccumulatedTokenUsage.add(usage)
	next[id] = m
	return Stats{UsageToMetrics: next}
}

// tagKey is what a tag's key may be, as the SDK has it.
var tagKey = regexp.MustCompile(`^[a-z0-9]+$`)

// validTags refuses tags the SDK refuses.
func validTags(tags map[string]string) error {
	for k, v := range tags {
		if !tagKey.MatchString(k) {
			return invalid("tags: key %q: keys are lowercase letters and digits only", k)
		}
		if n := utf8.RuneCountInString(v); n > 256 {
			return invalid("tags: the value of %q has %d characters, more than 256", k, n)
		}
	}
	return nil
}

// SetTags replaces the conversation's tags.
func (a *AgentSession) SetTags(tags map[string]string) error {
	if err := validTags(tags); err != nil {
		return err
	}
	return a.update(func(_ *storage.Conversation, s *Settings) error {
		s.Tags = tags
		return nil
	})
}

// autoTitleLength is the most characters of a title made by autotitle.
const autoTitleLength = 50

// autoTitle gives the conversation a title from its first user message,
// made by its model in the background so that the run does not wait; if
// the model cannot, the message's start is the title. It does nothing
// when the conversation has a title, did not ask for one, or is being
// titled already.
func (a *AgentSession) autoTitle(first string) {
	a.mu.Lock()
	if !a.settings.AutoTitle || a.conv.Title != "" || a.titling {
		a.mu.Unlock()
		return
	}
	a.titling = true
	a.mu.Unlock()
	a.m.wg.Add(1)
	go func() {
		defer a.m.wg.Done()
		ctx, cancel := context.WithTimeout(a.m.ctx, 2*time.Minute)
		defer cancel()
		title := ""
		if l := a.m.opts.Loop; l != nil {
			t, err := l.Title(ctx, a, autoTitleLength)
			if err != nil {
				a.log.Info("autotitle: the model made no title", "err", err)
			}
			title = t
		}
		if strings.TrimSpace(title) == "" {
			title = strings.Join(strings.Fields(first), " ")
		}
		title = truncate(title, autoTitleLength)
		err := a.update(func(c *storage.Conversation, _ *Settings) error {
			if c.Title == "" {
				c.Title = title
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			a.log.Warn("autotitle: store the title", "err", err)
		}
	}()
}
