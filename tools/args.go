package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
)

// decodeInto decodes arguments strictly into a T and checks them.
func decodeInto[T any, P interface {
	*T
	event.ToolAction
}](args []byte, check func(*T) error) (event.ToolAction, error) {
	var v T
	if err := decodeArgs(args, &v); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(&v); err != nil {
			return nil, err
		}
	}
	return P(&v), nil
}

// decodeArgs decodes a tool call's arguments, refusing unknown fields
// (except security_risk and summary, which every tool may carry).
func decodeArgs(args []byte, v any) error {
	args = bytes.TrimSpace(args)
	if len(args) == 0 {
		args = []byte("{}")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(args, &m); err != nil {
		return fmt.Errorf("the arguments are not a JSON object: %v", err)
	}
	delete(m, "security_risk")
	delete(m, "summary")
	clean, _ := json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad arguments: %v", err)
	}
	return nil
}

// withAgent runs fn with the workspace's agent and returns the
// observation fn made.
func withAgent(ctx context.Context, ws Workspace, fn func(Agent) (event.ToolObservation, error)) (event.ToolObservation, error) {
	var obs event.ToolObservation
	err := ws.WithAgent(ctx, func(ag Agent) error {
		var err error
		obs, err = fn(ag)
		return err
	})
	if err != nil {
		return nil, err
	}
	return obs, nil
}

// agentFailure turns an agent's 4xx answer into the tool's error
// observation and passes anything else on as the sandbox failing.
func agentFailure(t Tool, act event.ToolAction, err error) (event.ToolObservation, error) {
	if st := agentapi.StatusOf(err); st >= 400 && st < 500 {
		return t.Failed(act, detail(err)), nil
	}
	return nil, err
}

// detail is the agent's own words for an error it answered directly.
func detail(err error) string {
	if he, ok := err.(*agentapi.HTTPError); ok {
		return he.Detail
	}
	return err.Error()
}

// fail sets the content of an observation that reports a failure.
func fail(o event.ToolObservation, msg string) event.ToolObservation {
	out := o.Output()
	out.Content, out.IsError = event.Text(msg), true
	return o
}

// failedPlain is the error observation of an action without one of its
// own.
func failedPlain(msg string) event.ToolObservation {
	return fail(&event.ThinkObservation{}, msg)
}

// unknownTexts are the string fields of an action this server does not
// know.
func unknownTexts(u *event.UnknownAction) []string {
	var out []string
	for _, v := range u.Fields {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// deref is the string p points at, or "".
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
