package event

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
)

// The agent states of the V0 protocol (its AgentState).
const (
	V0Loading                  = "loading"
	V0Init                     = "init"
	V0Running                  = "running"
	V0AwaitingUserInput        = "awaiting_user_input"
	V0Paused                   = "paused"
	V0Stopped                  = "stopped"
	V0Finished                 = "finished"
	V0Rejected                 = "rejected"
	V0Error                    = "error"
	V0AwaitingUserConfirmation = "awaiting_user_confirmation"
	V0UserConfirmed            = "user_confirmed"
	V0UserRejected             = "user_rejected"
	V0RateLimited              = "rate_limited"
)

var v0States = []string{
	V0Loading, V0Init, V0Running, V0AwaitingUserInput, V0Paused, V0Stopped,
	V0Finished, V0Rejected, V0Error, V0AwaitingUserConfirmation,
	V0UserConfirmed, V0UserRejected, V0RateLimited,
}

// V0ClientAction is a frame a V0 client sends: {"action": name, "args":
// {...}}. The concrete types are the pointers *V0Initialize, *V0Start,
// *V0Message, *V0Read, *V0Write, *V0Run, *V0Kill, *V0Browse, *V0Recall,
// *V0Think, *V0Finish, *V0Pause, *V0Resume, *V0Stop and
// *V0ChangeAgentState.
type V0ClientAction interface {
	// V0Name is the frame's "action".
	V0Name() string
}

// V0Initialize sets up the session: model, credentials, agent, workspace.
// Each field may come in lower case or in the old environment-variable
// spelling (LLM_MODEL, LLM_API_KEY, LLM_BASE_URL, AGENT).
type V0Initialize struct {
	Model      string `json:"model,omitempty"`
	APIKey     string `json:"api_key,omitempty"`
	BaseURL    string `json:"base_url,omitempty"`
	Directory  string `json:"directory,omitempty"`
	AgentClass string `json:"agent_cls,omitempty"`
}

// V0Start starts a task.
type V0Start struct {
	Task string `json:"task"`
}

// V0Message is a chat message from the user.
type V0Message struct {
	Content   string   `json:"content"`
	ImageURLs []string `json:"image_urls,omitempty"`
}

// V0Read reads a file.
type V0Read struct {
	Path string `json:"path"`
}

// V0Write writes a file. The content may come as "content" or "contents".
type V0Write struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// V0Run runs a command; in the background, it does not wait for it.
type V0Run struct {
	Command    string `json:"command"`
	Background bool   `json:"background,omitempty"`
}

// V0Kill stops a command by its id (its pid). The id may come as "id" or
// "command_id", as a number or a string of digits.
type V0Kill struct {
	ID int64 `json:"id"`
}

// V0Browse fetches a web page.
type V0Browse struct {
	URL string `json:"url"`
}

// V0Recall asks the agent's memory (skills, workspace context).
type V0Recall struct {
	Query string `json:"query"`
}

// V0Think records a thought.
type V0Think struct {
	Thought string `json:"thought"`
}

// V0Finish, V0Pause, V0Resume and V0Stop control the agent; they take no
// arguments.
type (
	V0Finish struct{}
	V0Pause  struct{}
	V0Resume struct{}
	V0Stop   struct{}
)

// V0ChangeAgentState asks for an agent state, one of the V0* states.
type V0ChangeAgentState struct {
	AgentState string `json:"agent_state"`
}

func (*V0Initialize) V0Name() string       { return "initialize" }
func (*V0Start) V0Name() string            { return "start" }
func (*V0Message) V0Name() string          { return "message" }
func (*V0Read) V0Name() string             { return "read" }
func (*V0Write) V0Name() string            { return "write" }
func (*V0Run) V0Name() string              { return "run" }
func (*V0Kill) V0Name() string             { return "kill" }
func (*V0Browse) V0Name() string           { return "browse" }
func (*V0Recall) V0Name() string           { return "recall" }
func (*V0Think) V0Name() string            { return "think" }
func (*V0Finish) V0Name() string           { return "finish" }
func (*V0Pause) V0Name() string            { return "pause" }
func (*V0Resume) V0Name() string           { return "resume" }
func (*V0Stop) V0Name() string             { return "stop" }
func (*V0ChangeAgentState) V0Name() string { return "change_agent_state" }

// v0Decoders decode the args of each client action. args is a JSON object.
var v0Decoders = map[string]func(args []byte) (V0ClientAction, error){
	"initialize": decodeV0Initialize,
	"start": func(args []byte) (V0ClientAction, error) {
		a := new(V0Start)
		return a, decodeArgs(args, a, required{"task", &a.Task})
	},
	"message": func(args []byte) (V0ClientAction, error) {
		a := new(V0Message)
		if err := decodeArgs(args, a); err != nil {
			return nil, err
		}
		if a.Content == "" && len(a.ImageURLs) == 0 {
			return nil, missingError("content")
		}
		if len(a.ImageURLs) == 0 {
			a.ImageURLs = nil
		}
		return a, nil
	},
	"read": func(args []byte) (V0ClientAction, error) {
		a := new(V0Read)
		return a, decodeArgs(args, a, required{"path", &a.Path})
	},
	"write": func(args []byte) (V0ClientAction, error) {
		var w struct {
			Path     string  `json:"path"`
			Content  *string `json:"content"`
			Contents *string `json:"contents"`
		}
		if err := decodeArgs(args, &w, required{"path", &w.Path}); err != nil {
			return nil, err
		}
		a := &V0Write{Path: w.Path}
		switch {
		case w.Content != nil:
			a.Content = *w.Content
		case w.Contents != nil:
			a.Content = *w.Contents
		}
		return a, nil
	},
	"run": func(args []byte) (V0ClientAction, error) {
		a := new(V0Run)
		return a, decodeArgs(args, a, required{"command", &a.Command})
	},
	"kill": decodeV0Kill,
	"browse": func(args []byte) (V0ClientAction, error) {
		a := new(V0Browse)
		return a, decodeArgs(args, a, required{"url", &a.URL})
	},
	"recall": func(args []byte) (V0ClientAction, error) {
		a := new(V0Recall)
		return a, decodeArgs(args, a, required{"query", &a.Query})
	},
	"think":  func(args []byte) (V0ClientAction, error) { a := new(V0Think); return a, decodeArgs(args, a) },
	"finish": func([]byte) (V0ClientAction, error) { return new(V0Finish), nil },
	"pause":  func([]byte) (V0ClientAction, error) { return new(V0Pause), nil },
	"resume": func([]byte) (V0ClientAction, error) { return new(V0Resume), nil },
	"stop":   func([]byte) (V0ClientAction, error) { return new(V0Stop), nil },
	"change_agent_state": func(args []byte) (V0ClientAction, error) {
		a := new(V0ChangeAgentState)
		if err := decodeArgs(args, a, required{"agent_state", &a.AgentState}); err != nil {
			return nil, err
		}
		if !slices.Contains(v0States, a.AgentState) {
			return nil, &fieldError{path: "agent_state", problem: fmt.Sprintf("%q is not a V0 agent state", a.AgentState)}
		}
		return a, nil
	},
}

// DecodeV0Action decodes a frame a V0 client sent. Arguments this package
// does not know are ignored, as V0 clients send extras (timestamps,
// LANGUAGE, CONFIRMATION_MODE). An unknown action is an error wrapping
// ErrUnknownKind; bad or missing arguments wrap ErrMalformed and name the
// argument.
func DecodeV0Action(data []byte) (V0ClientAction, error) {
	var frame struct {
		Action *string         `json:"action"`
		Args   json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(data, &frame); err != nil {
		if kindOf(data) != "object" {
			return nil, fmt.Errorf("event: decode V0 action: got %s, want object: %w", kindOf(data), ErrMalformed)
		}
		return nil, decodeError("event: decode V0 action", err)
	}
	if kindOf(data) != "object" {
		return nil, fmt.Errorf("event: decode V0 action: got %s, want object: %w", kindOf(data), ErrMalformed)
	}
	if frame.Action == nil {
		return nil, fmt.Errorf("event: decode V0 action: missing \"action\": %w", ErrMalformed)
	}
	name := *frame.Action
	decode, ok := v0Decoders[name]
	if !ok {
		return nil, fmt.Errorf("event: decode V0 action: action %q: %w", name, ErrUnknownKind)
	}
	args := []byte(frame.Args)
	switch kindOf(args) {
	case "nothing", "null":
		args = []byte("{}")
	case "object":
	default:
		return nil, fmt.Errorf("event: decode V0 action %q: field \"args\": got %s, want object: %w", name, kindOf(args), ErrMalformed)
	}
	a, err := decode(args)
	if err != nil {
		return nil, decodeErrorAt(fmt.Sprintf("event: decode V0 action %q", name), "args.", err)
	}
	return a, nil
}

// EncodeV0Action encodes a client frame in its canonical form: lower-case
// argument names, and args always an object.
func EncodeV0Action(a V0ClientAction) ([]byte, error) {
	if a == nil {
		return nil, fmt.Errorf("event: encode V0 action: nil action")
	}
	if v := reflect.ValueOf(a); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("event: encode V0 action: nil %T", a)
	}
	return encode(struct {
		Action string         `json:"action"`
		Args   V0ClientAction `json:"args"`
	}{a.V0Name(), a})
}

// required names an argument that must be present and not empty.
type required struct {
	name string
	v    *string
}

// decodeArgs decodes args into v and checks the required arguments.
func decodeArgs(args []byte, v any, req ...required) error {
	if err := json.Unmarshal(args, v); err != nil {
		return err
	}
	for _, r := range req {
		if *r.v == "" {
			return missingError(r.name)
		}
	}
	return nil
}

func decodeV0Initialize(args []byte) (V0ClientAction, error) {
	var w struct {
		Model      string `json:"model"`
		LLMModel   string `json:"LLM_MODEL"`
		APIKey     string `json:"api_key"`
		LLMAPIKey  string `json:"LLM_API_KEY"`
		BaseURL    string `json:"base_url"`
		LLMBaseURL string `json:"LLM_BASE_URL"`
		Directory  string `json:"directory"`
		AgentCls   string `json:"agent_cls"`
		Agent      string `json:"AGENT"`
	}
	if err := json.Unmarshal(args, &w); err != nil {
		return nil, err
	}
	first := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return &V0Initialize{
		Model:      first(w.Model, w.LLMModel),
		APIKey:     first(w.APIKey, w.LLMAPIKey),
		BaseURL:    first(w.BaseURL, w.LLMBaseURL),
		Directory:  w.Directory,
		AgentClass: first(w.AgentCls, w.Agent),
	}, nil
}

func decodeV0Kill(args []byte) (V0ClientAction, error) {
	var w struct {
		ID        json.RawMessage `json:"id"`
		CommandID json.RawMessage `json:"command_id"`
	}
	if err := json.Unmarshal(args, &w); err != nil {
		return nil, err
	}
	field, raw := "id", w.ID
	if kindOf(raw) == "nothing" || kindOf(raw) == "null" {
		field, raw = "command_id", w.CommandID
	}
	switch kindOf(raw) {
	case "nothing", "null":
		return nil, missingError("id")
	case "string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = []byte(s)
	case "number":
	default:
		return nil, &json.UnmarshalTypeError{Value: kindOf(raw), Type: reflect.TypeFor[int64](), Field: field}
	}
	id, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return nil, &json.UnmarshalTypeError{Value: fmt.Sprintf("%q", raw), Type: reflect.TypeFor[int64](), Field: field}
	}
	return &V0Kill{ID: id}, nil
}
