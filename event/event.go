// Package event is the GoHands event model: the kinds of event a
// conversation records, the typed tool actions and observations they carry,
// their JSON codec, and the mapping to the older V0 WebSocket protocol.
//
// The JSON shape is the one the OpenHands agent-server (software-agent-sdk)
// puts on the wire, so its clients read GoHands events unchanged: every event
// is an object whose "kind" names its type (MessageEvent, ActionEvent, ...),
// plus the common fields id, timestamp and source. GoHands adds seq, the
// event's position in its conversation (1, 2, 3, ... with no gaps), and one
// kinds of its own, SandboxStatusEvent, HookEvent, SkillActivatedEvent and
// HeadMovedEvent.
//
// Decode with [Unmarshal], encode with [Marshal] or encoding/json (every
// event type writes its own "kind"). Storage sets the common fields through
// [Event.Meta]. Decoding accepts what the SDK accepts and more (fully
// qualified kinds, content as a string, older tool kind names, zone-less
// timestamps); encoding writes one canonical form, so that whatever decodes
// re-encodes and decodes to the same value.
//
// Where GoHands differs from the SDK on the wire:
//   - events carry seq;
//   - timestamps are RFC 3339 in UTC with six fractional digits, not the
//     SDK's zone-less local time, so that they sort as strings;
//   - SandboxStatusEvent, HookEvent, SkillActivatedEvent and HeadMovedEvent
//     are GoHands'
//     own (HookExecutionEvent is the SDK's), and so is an
//     ActionEvent's security_reason;
//   - BrowserObservation carries the page's URL and the sandbox path of
//     its screenshot, and GoHands' browser tool (the text fetcher of
//     browser-less deployments) fetches pages rather than driving a
//     browser;
//   - SystemPromptEvent lists tools as ToolSpec, not the SDK's whole
//     ToolDefinition.
//
// [ToV0] and [DecodeV0Action] map to and from the V0 protocol of the /ws
// socket.
//
// This package is the floor of the module: it imports no other GoHands
// package.
package event

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Event is one entry of a conversation's event stream. The concrete types
// are pointers to the structs in this package: *Message, *Action,
// *Observation, *UserReject, *AgentError, *ConversationError, *StateUpdate,
// *Pause, *Interrupt, *StreamingDelta, *SystemPrompt, *CondensationSummary,
// *Condensation, *SandboxStatus, *Hook, *HookExecution, *SkillActivated and
// *HeadMoved.
type Event interface {
	// Kind is the event's discriminator, as written in "kind".
	Kind() Kind
	// Meta returns the fields every event has, for reading and setting.
	Meta() *Base
}

// Base holds the fields common to every event. Event types embed it.
type Base struct {
	// ID is unique across all events; see NewID.
	ID string `json:"id,omitempty"`
	// Timestamp is when the event happened.
	Timestamp Time `json:"timestamp,omitzero"`
	// Source says who produced the event.
	Source Source `json:"source,omitempty"`
	// Seq is the event's position in its conversation, from 1, set when the
	// event is stored. Zero means not stored yet. GoHands only; the
	// OpenHands SDK has no such field.
	Seq int64 `json:"seq,omitempty"`
}

// Meta returns b itself, so that a pointer to any struct embedding Base
// exposes the common fields through the Event interface.
func (b *Base) Meta() *Base { return b }

// Source says who produced an event.
type Source string

// The sources of events.
const (
	SourceAgent       Source = "agent"
	SourceUser        Source = "user"
	SourceEnvironment Source = "environment"
	// SourceHook is the source of HookExecution events, as in the SDK.
	SourceHook Source = "hook"
)

func (s Source) valid() bool {
	return s == SourceAgent || s == SourceUser || s == SourceEnvironment || s == SourceHook
}

// NewID returns a new random event id: a UUID version 4 in its canonical
// text form.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand.Read panics rather than return an error.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// Time is an event timestamp: a time in UTC with microsecond precision.
//
// It is written in RFC 3339 with exactly six fractional digits and a "Z"
// ("2025-01-02T15:04:05.000000Z"), so that timestamps compare as strings in
// time order; the agent-server's event search compares them that way. It
// reads any RFC 3339 time, and also the zone-less ISO 8601 form that the
// Python SDK writes (datetime.isoformat()), taken as UTC.
type Time struct{ time.Time }

// TimeOf returns t as an event timestamp: in UTC, cut to microseconds.
func TimeOf(t time.Time) Time {
	return Time{t.UTC().Truncate(time.Microsecond)}
}

const (
	timeLayout      = "2006-01-02T15:04:05.000000Z07:00"
	naiveTimeLayout = "2006-01-02T15:04:05.999999999"
)

// String returns t in its wire form.
func (t Time) String() string { return t.UTC().Format(timeLayout) }

// MarshalJSON writes t in its wire form.
func (t Time) MarshalJSON() ([]byte, error) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("event: timestamp year %d out of range [0,9999]", y)
	}
	return []byte(`"` + t.String() + `"`), nil
}

// UnmarshalJSON reads an RFC 3339 or zone-less ISO 8601 time. JSON null
// leaves t unchanged.
func (t *Time) UnmarshalJSON(data []byte) error {
	s := string(data)
	if s == "null" {
		return nil
	}
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' || strings.ContainsRune(s[1:len(s)-1], '\\') {
		return typeError(kindOf(data), t)
	}
	s = s[1 : len(s)-1]
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		parsed, err = time.ParseInLocation(naiveTimeLayout, s, time.UTC)
	}
	if err != nil {
		return typeError(fmt.Sprintf("string %q", s), t)
	}
	v := TimeOf(parsed)
	if y := v.Year(); y < 0 || y > 9999 {
		return typeError(fmt.Sprintf("string %q", s), t)
	}
	*t = v
	return nil
}

// Kind is an event's discriminator, the value of its "kind" field.
type Kind string

// The event kinds. The values are the SDK's class names.
const (
	KindMessage             Kind = "MessageEvent"
	KindAction              Kind = "ActionEvent"
	KindObservation         Kind = "ObservationEvent"
	KindUserReject          Kind = "UserRejectObservation"
	KindAgentError          Kind = "AgentErrorEvent"
	KindConversationError   Kind = "ConversationErrorEvent"
	KindStateUpdate         Kind = "ConversationStateUpdateEvent"
	KindPause               Kind = "PauseEvent"
	KindInterrupt           Kind = "InterruptEvent"
	KindStreamingDelta      Kind = "StreamingDeltaEvent"
	KindSystemPrompt        Kind = "SystemPromptEvent"
	KindCondensationSummary Kind = "CondensationSummaryEvent"
	KindCondensation        Kind = "Condensation"
	KindSandboxStatus       Kind = "SandboxStatusEvent" // GoHands only
	KindHook                Kind = "HookEvent"          // GoHands only
	KindHookExecution       Kind = "HookExecutionEvent"
	KindSkillActivated      Kind = "SkillActivatedEvent" // GoHands only
	KindHeadMoved           Kind = "HeadMovedEvent"      // GoHands only
)

// kindInfo is what the codec knows about one kind.
type kindInfo struct {
	kind Kind
	// module is the Python module of the SDK class, for the fully
	// qualified name the agent-server's event search filters by.
	module string
	new    func() Event
	// source is the SDK's default source for the kind; "" means the
	// source is required.
	source Source
}

var registry = []kindInfo{
	{KindMessage, "openhands.sdk.event.llm_convertible.message", func() Event { return new(Message) }, ""},
	{KindAction, "openhands.sdk.event.llm_convertible.action", func() Event { return new(Action) }, SourceAgent},
	{KindObservation, "openhands.sdk.event.llm_convertible.observation", func() Event { return new(Observation) }, SourceEnvironment},
	{KindUserReject, "openhands.sdk.event.llm_convertible.observation", func() Event { return new(UserReject) }, SourceEnvironment},
	{KindAgentError, "openhands.sdk.event.llm_convertible.observation", func() Event { return new(AgentError) }, SourceAgent},
	{KindConversationError, "openhands.sdk.event.conversation_error", func() Event { return new(ConversationError) }, SourceEnvironment},
	{KindStateUpdate, "openhands.sdk.event.conversation_state", func() Event { return new(StateUpdate) }, SourceEnvironment},
	{KindPause, "openhands.sdk.event.user_action", func() Event { return new(Pause) }, SourceUser},
	{KindInterrupt, "openhands.sdk.event.user_action", func() Event { return new(Interrupt) }, SourceUser},
	{KindStreamingDelta, "openhands.sdk.event.streaming_delta", func() Event { return new(StreamingDelta) }, SourceAgent},
	{KindSystemPrompt, "openhands.sdk.event.llm_convertible.system", func() Event { return new(SystemPrompt) }, SourceAgent},
	{KindCondensationSummary, "openhands.sdk.event.condenser", func() Event { return new(CondensationSummary) }, SourceEnvironment},
	{KindCondensation, "openhands.sdk.event.condenser", func() Event { return new(Condensation) }, SourceEnvironment},
	{KindSandboxStatus, "gohands.event", func() Event { return new(SandboxStatus) }, SourceEnvironment},
	{KindHook, "gohands.event", func() Event { return new(Hook) }, SourceEnvironment},
	{KindHookExecution, "openhands.sdk.event.hook_execution", func() Event { return new(HookExecution) }, SourceHook},
	{KindSkillActivated, "gohands.event", func() Event { return new(SkillActivated) }, SourceEnvironment},
	{KindHeadMoved, "gohands.event", func() Event { return new(HeadMoved) }, SourceUser},
	{KindServerError, "openhands.agent_server.models", func() Event { return new(ServerError) }, SourceEnvironment},
}

func lookup(k Kind) (kindInfo, bool) {
	for _, info := range registry {
		if info.kind == k {
			return info, true
		}
	}
	return kindInfo{}, false
}

// Kinds returns every event kind this package knows, in a fixed order.
func Kinds() []Kind {
	out := make([]Kind, len(registry))
	for i, info := range registry {
		out[i] = info.kind
	}
	return out
}

// ParseKind returns the kind named by s, which is either the short name
// ("MessageEvent") or a fully qualified one: the SDK's module path and class
// name ("openhands.sdk.event.llm_convertible.message.MessageEvent"), as the
// agent-server's event search takes it. Any module path under
// openhands.sdk.event is accepted, since the SDK has moved classes between
// modules and re-exports them from the package itself
// ("openhands.sdk.event.MessageEvent").
func ParseKind(s string) (Kind, error) {
	name := s
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		module := s[:i]
		if module != "gohands.event" && module != "openhands.sdk.event" && module != "openhands.agent_server.models" &&
			!strings.HasPrefix(module, "openhands.sdk.event.") {
			return "", fmt.Errorf("event: kind %q: %w", s, ErrUnknownKind)
		}
		name = s[i+1:]
	}
	if _, ok := lookup(Kind(name)); !ok {
		return "", fmt.Errorf("event: kind %q: %w", s, ErrUnknownKind)
	}
	return Kind(name), nil
}

// Qualified returns the fully qualified name of k: the SDK's module path
// and class name, or "gohands.event.SandboxStatusEvent" for GoHands' own
// kind. It returns k itself for a kind this package does not know.
func (k Kind) Qualified() string {
	info, ok := lookup(k)
	if !ok {
		return string(k)
	}
	return info.module + "." + string(k)
}
