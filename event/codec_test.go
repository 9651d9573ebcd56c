package event

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUnmarshalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		is   error
		// msg must appear in the error text.
		msg string
	}{
		{"empty", ``, ErrMalformed, "invalid JSON"},
		{"not JSON", `{"kind": "PauseEvent",`, ErrMalformed, "invalid JSON"},
		{"array", `[1, 2]`, ErrMalformed, "got array, want object"},
		{"string", `"MessageEvent"`, ErrMalformed, "got string, want object"},
		{"null", `null`, ErrMalformed, "got null, want object"},
		{"missing kind", `{"id": "x", "source": "user"}`, ErrMalformed, `missing "kind"`},
		{"kind not a string", `{"kind": 7}`, ErrMalformed, `field "kind": got number, want string`},
		{"unknown kind", `{"kind": "NoSuchEvent", "source": "environment"}`, ErrUnknownKind, `"NoSuchEvent"`},
		{"unknown qualified kind", `{"kind": "other.module.MessageEvent"}`, ErrUnknownKind, `"other.module.MessageEvent"`},
		{"seq not integer", `{"kind": "PauseEvent", "seq": 1.5}`, ErrMalformed, `field "seq": got number 1.5, want integer`},
		{"id not string", `{"kind": "PauseEvent", "id": 3}`, ErrMalformed, `field "id": got number, want string`},
		{"bad timestamp", `{"kind": "PauseEvent", "timestamp": "yesterday"}`, ErrMalformed, `field "timestamp": got string "yesterday", want RFC 3339 time string`},
		{"timestamp not string", `{"kind": "PauseEvent", "timestamp": 1700000000}`, ErrMalformed, `field "timestamp": got number`},
		{"bad source", `{"kind": "PauseEvent", "source": "robot"}`, ErrMalformed, `field "source": "robot" is not one of`},
		{"message without source", `{"kind": "MessageEvent", "llm_message": {"role": "user", "content": []}}`, ErrMalformed, `field "source": missing`},
		{"role not string", `{"kind": "MessageEvent", "source": "user", "llm_message": {"role": 1}}`, ErrMalformed, `field "llm_message.role": got number, want string`},
		{"content not list", `{"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": {}}}`, ErrMalformed, `field "llm_message.content": got object, want array`},
		{"unknown content type", `{"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": [{"type": "video"}]}}`, ErrMalformed, `field "llm_message.content": got content type "video"`},
		{"text part without text", `{"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": [{"type": "text"}]}}`, ErrMalformed, `field "llm_message.content"`},
		{"action without kind", `{"kind": "ActionEvent", "action": {"command": "ls"}}`, ErrMalformed, `field "action.kind": missing`},
		{"action not object", `{"kind": "ActionEvent", "action": "ls"}`, ErrMalformed, `field "action": got string, want object`},
		{"action field type", `{"kind": "ActionEvent", "action": {"kind": "TerminalAction", "command": "ls", "timeout": "10"}}`, ErrMalformed, `field "action.timeout": got string, want number`},
		{"thought type", `{"kind": "ActionEvent", "thought": 5}`, ErrMalformed, `field "thought": got number`},
		{"bad risk", `{"kind": "ActionEvent", "security_risk": "SEVERE"}`, ErrMalformed, `field "security_risk"`},
		{"observation missing", `{"kind": "ObservationEvent", "action_id": "a"}`, ErrMalformed, `field "observation": missing`},
		{"observation field type", `{"kind": "ObservationEvent", "observation": {"kind": "TerminalObservation", "exit_code": "0"}}`, ErrMalformed, `field "observation.exit_code": got string, want integer`},
		{"observation content type", `{"kind": "ObservationEvent", "observation": {"kind": "ThinkObservation", "content": 5}}`, ErrMalformed, `field "observation.content": got number`},
		{"metadata field type", `{"kind": "ObservationEvent", "observation": {"kind": "TerminalObservation", "metadata": {"pid": "x"}}}`, ErrMalformed, `field "observation.metadata.pid": got string, want integer`},
		{"task item type", `{"kind": "ActionEvent", "action": {"kind": "TaskTrackerAction", "task_list": [{"title": 1}]}}`, ErrMalformed, `field "action.task_list.title": got number, want string`},
		{"unknown observation content type", `{"kind": "ObservationEvent", "observation": {"kind": "BrowserClickObservation", "is_error": "no"}}`, ErrMalformed, `field "observation.is_error": got string, want boolean`},
		{"mcp arguments not object", `{"kind": "ActionEvent", "action": {"kind": "MCPToolAction", "data": [1]}}`, ErrMalformed, `field "action.data": got array, want object`},
		{"mcp structured content type", `{"kind": "ObservationEvent", "observation": {"kind": "MCPToolObservation", "tool_name": 3}}`, ErrMalformed, `field "observation.tool_name": got number, want string`},
		{"progress type", `{"kind": "SandboxStatusEvent", "progress": "half"}`, ErrMalformed, `field "progress": got string, want number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := Unmarshal([]byte(tt.in))
			if err == nil {
				t.Fatalf("Unmarshal(%s) = %#v, want error", tt.in, e)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("Unmarshal(%s) = %v, want an error wrapping %v", tt.in, err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Unmarshal(%s) = %q, want it to contain %q", tt.in, err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "event: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
}

// TestUnmarshalVariants decodes other spellings of an event and checks they
// give the same value as the canonical one.
func TestUnmarshalVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		variant   string
		canonical string
	}{
		{
			"qualified kind",
			`{"kind": "openhands.sdk.event.llm_convertible.message.MessageEvent", "source": "user", "llm_message": {"role": "user", "content": [{"type": "text", "text": "hi"}]}}`,
			`{"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": [{"type": "text", "text": "hi"}]}}`,
		},
		{
			"package-level qualified kind",
			`{"kind": "openhands.sdk.event.PauseEvent"}`,
			`{"kind": "PauseEvent", "source": "user"}`,
		},
		{
			"GoHands qualified kind",
			`{"kind": "gohands.event.SandboxStatusEvent", "status": "running"}`,
			`{"kind": "SandboxStatusEvent", "source": "environment", "status": "running"}`,
		},
		{
			"message content as string",
			`{"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": "hi"}}`,
			`{"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": [{"type": "text", "text": "hi"}]}}`,
		},
		{
			"content part without type",
			`{"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": [{"text": "hi"}, {"image_urls": ["u"]}]}}`,
			`{"kind": "MessageEvent", "source": "user", "llm_message": {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image", "image_urls": ["u"]}]}}`,
		},
		{
			"observation content as string (older SDK)",
			`{"kind": "ObservationEvent", "observation": {"kind": "ThinkObservation", "content": "Your thought has been logged."}, "action_id": "a", "tool_name": "think", "tool_call_id": "c"}`,
			`{"kind": "ObservationEvent", "source": "environment", "observation": {"kind": "ThinkObservation", "content": [{"type": "text", "text": "Your thought has been logged."}], "is_error": false}, "action_id": "a", "tool_name": "think", "tool_call_id": "c"}`,
		},
		{
			"older tool kind names",
			`{"kind": "ActionEvent", "action": {"kind": "ExecuteBashAction", "command": "ls"}, "tool_name": "execute_bash", "tool_call_id": "c"}`,
			`{"kind": "ActionEvent", "source": "agent", "thought": [], "action": {"kind": "TerminalAction", "command": "ls", "is_input": false, "reset": false}, "tool_name": "execute_bash", "tool_call_id": "c", "security_risk": "UNKNOWN"}`,
		},
		{
			"SDK defaults",
			`{"kind": "ObservationEvent", "observation": {"kind": "FileEditorObservation", "command": "view", "content": []}, "action_id": "a", "tool_name": "file_editor", "tool_call_id": "c"}`,
			`{"kind": "ObservationEvent", "source": "environment", "observation": {"kind": "FileEditorObservation", "command": "view", "content": [], "is_error": false, "prev_exist": true}, "action_id": "a", "tool_name": "file_editor", "tool_call_id": "c"}`,
		},
		{
			"terminal metadata defaults",
			`{"kind": "ObservationEvent", "observation": {"kind": "TerminalObservation", "command": "ls"}, "action_id": "a", "tool_name": "terminal", "tool_call_id": "c"}`,
			`{"kind": "ObservationEvent", "source": "environment", "observation": {"kind": "TerminalObservation", "content": [], "is_error": false, "command": "ls", "timeout": false, "metadata": {"exit_code": -1, "pid": -1}}, "action_id": "a", "tool_name": "terminal", "tool_call_id": "c"}`,
		},
		{
			"task defaults",
			`{"kind": "ActionEvent", "action": {"kind": "TaskTrackerAction", "task_list": [{"title": "a"}]}, "tool_name": "task_tracker", "tool_call_id": "c"}`,
			`{"kind": "ActionEvent", "source": "agent", "thought": [], "action": {"kind": "TaskTrackerAction", "command": "view", "task_list": [{"title": "a", "notes": "", "status": "todo"}]}, "tool_name": "task_tracker", "tool_call_id": "c", "security_risk": "UNKNOWN"}`,
		},
		{
			"naive timestamp from the Python SDK",
			`{"kind": "PauseEvent", "source": "user", "timestamp": "2025-06-01T12:00:00.123456"}`,
			`{"kind": "PauseEvent", "source": "user", "timestamp": "2025-06-01T12:00:00.123456Z"}`,
		},
		{
			"timestamp with offset and nanoseconds",
			`{"kind": "PauseEvent", "source": "user", "timestamp": "2025-06-01T14:00:00.123456789+02:00"}`,
			`{"kind": "PauseEvent", "source": "user", "timestamp": "2025-06-01T12:00:00.123456Z"}`,
		},
		{
			"state value spacing",
			`{"kind": "ConversationStateUpdateEvent", "key": "execution_status", "value":  "running" }`,
			`{"kind": "ConversationStateUpdateEvent", "source": "environment", "key": "execution_status", "value": "running"}`,
		},
		{
			"unknown fields ignored",
			`{"kind": "PauseEvent", "source": "user", "parent_id": "x", "llm_metrics": {}}`,
			`{"kind": "PauseEvent", "source": "user"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Unmarshal([]byte(tt.variant))
			if err != nil {
				t.Fatalf("Unmarshal(variant): %v", err)
			}
			want, err := Unmarshal([]byte(tt.canonical))
			if err != nil {
				t.Fatalf("Unmarshal(canonical): %v", err)
			}
			if diff := cmp.Diff(got, want, eventOpts); diff != "" {
				t.Errorf("decoded variant mismatch (-got +want):\n%s", diff)
			}
			out, err := Marshal(got)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := jsonDiff(t, out, []byte(tt.canonical)); diff != "" {
				t.Errorf("Marshal(variant) mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

func TestMarshal(t *testing.T) {
	t.Parallel()
	ts := TimeOf(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	tests := []struct {
		name string
		in   Event
		want string
	}{
		{
			"new message, not stored yet",
			&Message{Base: Base{Source: SourceUser}, LLMMessage: LLMMessage{Role: "user", Content: Text("hi <b>")}},
			`{"kind":"MessageEvent","source":"user","llm_message":{"role":"user","content":[{"type":"text","text":"hi <b>"}]}}`,
		},
		{
			"empty lists are written as []",
			&Action{Base: Base{ID: "a", Timestamp: ts, Source: SourceAgent, Seq: 3}, Action: &GlobAction{Pattern: "*"}, ToolName: "glob", ToolCallID: "c"},
			`{"kind":"ActionEvent","id":"a","timestamp":"2025-06-01T12:00:00.000000Z","source":"agent","seq":3,"thought":[],"action":{"kind":"GlobAction","pattern":"*"},"tool_name":"glob","tool_call_id":"c","security_risk":"UNKNOWN"}`,
		},
		{
			"observation lists",
			&Observation{Base: Base{Source: SourceEnvironment}, Observation: &GrepObservation{Pattern: "x"}, ActionID: "a", ToolName: "grep", ToolCallID: "c"},
			`{"kind":"ObservationEvent","source":"environment","observation":{"kind":"GrepObservation","content":[],"is_error":false,"matches":[],"pattern":"x","search_path":"","truncated":false},"action_id":"a","tool_name":"grep","tool_call_id":"c"}`,
		},
		{
			"unknown action kept",
			&Action{Base: Base{Source: SourceAgent}, Action: &UnknownAction{RawKind: "BrowserClickAction", Fields: map[string]any{"index": json.Number("1")}}, ToolName: "browser_click", ToolCallID: "c", SecurityRisk: RiskHigh},
			`{"kind":"ActionEvent","source":"agent","thought":[],"action":{"kind":"BrowserClickAction","index":1},"tool_name":"browser_click","tool_call_id":"c","security_risk":"HIGH"}`,
		},
		{
			"state update without value",
			&StateUpdate{Base: Base{Source: SourceEnvironment}, Key: "x"},
			`{"kind":"ConversationStateUpdateEvent","source":"environment","key":"x","value":{}}`,
		},
		{
			"system prompt without tools",
			&SystemPrompt{Base: Base{Source: SourceAgent}, SystemPrompt: Content{Type: ContentText, Text: "p"}},
			`{"kind":"SystemPromptEvent","source":"agent","system_prompt":{"type":"text","text":"p"},"tools":[]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := jsonDiff(t, got, []byte(tt.want)); diff != "" {
				t.Errorf("Marshal mismatch (-got +want):\n%s", diff)
			}
			if !strings.HasPrefix(string(got), `{"kind":`) {
				t.Errorf("Marshal = %s, want kind first", got)
			}
		})
	}
}

// foreign implements Event without being one of this package's types.
type foreign struct{ Base }

func (*foreign) Kind() Kind { return KindPause }

func TestMarshalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Event
	}{
		{"nil", nil},
		{"nil pointer", (*Message)(nil)},
		{"foreign type", &foreign{}},
		{"observation without observation", &Observation{}},
		{"nil tool action pointer", &Action{Action: (*TerminalAction)(nil)}},
		{"bad content type", &Message{LLMMessage: LLMMessage{Content: ContentList{{Type: "video"}}}}},
		{"year out of range", &Pause{Base: Base{Timestamp: Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := Marshal(tt.in); err == nil {
				t.Errorf("Marshal = %s, want error", got)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		for _, s := range []string{string(k), k.Qualified()} {
			got, err := ParseKind(s)
			if err != nil || got != k {
				t.Errorf("ParseKind(%q) = %q, %v; want %q", s, got, err, k)
			}
		}
	}
	for _, s := range []string{"", "Message", "messageevent", "x.MessageEvent", "openhands.sdk.eventx.MessageEvent", "."} {
		if got, err := ParseKind(s); !errors.Is(err, ErrUnknownKind) {
			t.Errorf("ParseKind(%q) = %q, %v; want ErrUnknownKind", s, got, err)
		}
	}
	if got, want := KindMessage.Qualified(), "openhands.sdk.event.llm_convertible.message.MessageEvent"; got != want {
		t.Errorf("Qualified() = %q, want %q", got, want)
	}
}

func TestTime(t *testing.T) {
	t.Parallel()
	in := time.Date(2025, 1, 2, 3, 4, 5, 678_901_234, time.FixedZone("X", 3600))
	ts := TimeOf(in)
	if got, want := ts.String(), "2025-01-02T02:04:05.678901Z"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// Fixed width: string order is time order.
	earlier := TimeOf(in.Add(-time.Second / 2))
	if !(earlier.String() < ts.String()) {
		t.Errorf("%s does not sort before %s", earlier, ts)
	}
	for _, bad := range []string{`"0000-01-01T00:30:00+01:00"`, `"2025-13-01T00:00:00Z"`, `"2025-01-02"`, `"\u0032025-01-02T00:00:00Z"`, `true`} {
		var got Time
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want error", bad, got)
		}
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewID()
		if !uuid4.MatchString(id) {
			t.Fatalf("NewID() = %q, not a UUID v4", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestToolName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"terminal", ToolTerminal, true},
		{"TerminalTool", ToolTerminal, true},
		{"execute_bash", ToolTerminal, true},
		{"FileEditorTool", ToolFileEditor, true},
		{"browser_tool_set", ToolBrowserToolSet, true},
		{"BrowserGoBackTool", ToolBrowserGoBack, true},
		{"browser_get_state", ToolBrowserGetState, true},
		{"BrowserToolSet", ToolBrowserToolSet, true},
		{"TaskTrackerTool", ToolTaskTracker, true},
		{"finish", ToolFinish, true},
		{"delegate", "", false},
	}
	for _, tt := range tests {
		got, ok := ToolName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ToolName(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestContentListText(t *testing.T) {
	t.Parallel()
	l := ContentList{{Type: ContentText, Text: "a"}, {Type: ContentImage, ImageURLs: []string{"u"}}, {Type: ContentText, Text: "b"}}
	if got := l.Text(); got != "ab" {
		t.Errorf("Text() = %q, want %q", got, "ab")
	}
}
