package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestToV0(t *testing.T) {
	t.Parallel()
	// Golden observations answer the action one seq before them.
	cause := func(id string) (int64, bool) {
		if !strings.HasPrefix(id, "0b6f3c52-") {
			return 0, false
		}
		var seq int64
		for _, c := range id[len(id)-4:] {
			seq = seq*10 + int64(c-'0')
		}
		return seq, true
	}
	tests := []struct {
		golden string
		want   string // "" means no frame
	}{
		{"MessageEvent", `{"id":1,"timestamp":"2025-06-01T12:01:00.001000Z","source":"user","message":"Fix the failing test in <pkg>/x_test.go & run it.","action":"message","args":{"content":"Fix the failing test in <pkg>/x_test.go & run it.","image_urls":["data:image/png;base64,iVBORw0KGgo="],"wait_for_response":false}}`},
		{"TerminalAction", `{"id":13,"timestamp":"2025-06-01T12:13:00.013000Z","source":"agent","message":"Running command: go test ./... 2>&1 | tail -n 20","action":"run","args":{"command":"go test ./... 2>&1 | tail -n 20","is_input":false,"thought":"Run the tests."}}`},
		{"TerminalObservation", `{"id":14,"timestamp":"2025-06-01T12:14:00.014000Z","source":"environment","message":"Command ` + "`go test ./... 2>&1 | tail -n 20`" + ` executed with exit code 0.","cause":13,"observation":"run","content":"ok  \tgithub.com/x/y\t0.01s","extras":{"command":"go test ./... 2>&1 | tail -n 20","command_id":4242,"exit_code":0,"hidden":false,"metadata":{"exit_code":0,"pid":4242,"username":"openhands","hostname":"sandbox","working_dir":"/workspace","py_interpreter_path":"/usr/bin/python"}}}`},
		{"FileEditorAction", `{"id":15,"timestamp":"2025-06-01T12:15:00.015000Z","source":"agent","message":"Editing file: /workspace/parse.go","action":"edit","args":{"path":"/workspace/parse.go","command":"str_replace","old_str":"if n > 0 {","new_str":"","thought":""}}`},
		{"FileEditorObservation", `{"id":16,"timestamp":"2025-06-01T12:16:00.016000Z","source":"environment","message":"I edited the file /workspace/parse.go.","cause":15,"observation":"edit","content":"The file /workspace/parse.go has been edited.","extras":{"path":"/workspace/parse.go","prev_exist":true,"old_content":"if n > 0 {\n","new_content":"\n"}}`},
		{"BrowserNavigateAction", `{"id":25,"timestamp":"2025-06-01T12:25:00.025000Z","source":"agent","message":"Browsing URL: https://go.dev/doc/fuzz/","action":"browse","args":{"url":"https://go.dev/doc/fuzz/","thought":""}}`},
		{"BrowserObservation", `{"id":27,"timestamp":"2025-06-01T12:27:00.027000Z","source":"environment","message":"Visited https://go.dev/doc/security/fuzz/","cause":26,"observation":"browse","content":"# Go Fuzzing\n\nGo supports fuzzing in its standard toolchain.","extras":{"url":"https://go.dev/doc/security/fuzz/","error":false}}`},
		{"ThinkAction", `{"id":28,"timestamp":"2025-06-01T12:28:00.028000Z","source":"agent","message":"The bug is an off-by-one in the loop bound.","action":"think","args":{"thought":"The bug is an off-by-one in the loop bound."}}`},
		{"ThinkObservation", `{"id":29,"timestamp":"2025-06-01T12:29:00.029000Z","source":"environment","message":"","cause":28,"observation":"think","content":"Your thought has been logged.","extras":{}}`},
		{"FinishAction", `{"id":30,"timestamp":"2025-06-01T12:30:00.030000Z","source":"agent","message":"Fixed the off-by-one in parse.go; all tests pass.","action":"finish","args":{"final_thought":"Fixed the off-by-one in parse.go; all tests pass.","outputs":{},"thought":""}}`},
		{"FinishObservation", ``},
		{"GlobAction", `{"id":19,"timestamp":"2025-06-01T12:19:00.019000Z","source":"agent","message":"Calling tool glob","action":"glob","args":{"pattern":"**/*_test.go","path":"/workspace","thought":""}}`},
		{"GrepObservation", `{"id":22,"timestamp":"2025-06-01T12:22:00.022000Z","source":"environment","message":"","cause":21,"observation":"grep","content":"No files found.","extras":{"matches":[],"pattern":"func Parse\\w+","search_path":"/workspace","include_pattern":"*.go","truncated":false}}`},
		{"ActionEvent", `{"id":2,"timestamp":"2025-06-01T12:02:00.002000Z","source":"agent","message":"Calling MCP tool mcp_search","action":"call_tool_mcp","args":{"name":"mcp_search","arguments":{"query":"go fuzzing","limit":5,"nested":{"ok":true,"ratio":0.25,"none":null}},"thought":"Let me search."}}`},
		{"MCPToolAction", `{"id":41,"timestamp":"2025-06-01T12:41:00.041000Z","source":"agent","message":"Calling MCP tool greet","action":"call_tool_mcp","args":{"name":"greet","arguments":{"name":"Ada"},"thought":""}}`},
		{"MCPToolObservation", `{"id":42,"timestamp":"2025-06-01T12:42:00.042000Z","source":"environment","message":"","cause":41,"observation":"mcp","content":"[Tool 'greet' executed.]Hi Ada","extras":{"name":"greet","arguments":{}}}`},
		{"MCPToolObservation.sdk", `{"id":44,"timestamp":"2025-06-01T12:44:00.044000Z","source":"environment","message":"[Tool 'github_search_issues' executed.]","cause":43,"observation":"error","content":"[Tool 'github_search_issues' executed.]","extras":{"error_id":""}}`},
		{"ActionEvent.non-executable", ``},
		{"UserRejectObservation", `{"id":4,"timestamp":"2025-06-01T12:04:00.004000Z","source":"user","message":"Do not delete the database.","cause":2,"observation":"user_rejected","content":"Do not delete the database.","extras":{}}`},
		{"AgentErrorEvent", `{"id":5,"timestamp":"2025-06-01T12:05:00.005000Z","source":"agent","message":"Tool 'terminl' not found. Available: terminal, file_editor","observation":"error","content":"Tool 'terminl' not found. Available: terminal, file_editor","extras":{"error_id":""}}`},
		{"ConversationErrorEvent", `{"id":6,"timestamp":"2025-06-01T12:06:00.006000Z","source":"environment","message":"401 Unauthorized: invalid API key","observation":"error","content":"401 Unauthorized: invalid API key","extras":{"error_id":"LLMAuthenticationError"}}`},
		{"ConversationStateUpdateEvent", `{"id":7,"timestamp":"2025-06-01T12:07:00.007000Z","source":"environment","message":"","observation":"agent_state_changed","content":"","extras":{"agent_state":"running","reason":""}}`},
		{"CondensationSummaryEvent", `{"id":10,"timestamp":"2025-06-01T12:10:00.010000Z","source":"environment","message":"The user asked to fix a test; the agent found the bug in parse.go.","observation":"condense","content":"The user asked to fix a test; the agent found the bug in parse.go.","extras":{}}`},
		{"PauseEvent", ``},
		{"SystemPromptEvent", ``},
		{"SandboxStatusEvent", ``},
		{"Condensation", ``},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			frame, ok := ToV0(decodeGolden(t, tt.golden), cause)
			if tt.want == "" {
				if ok {
					t.Fatalf("ToV0 = %#v, want no frame", frame)
				}
				return
			}
			if !ok {
				t.Fatal("ToV0 gave no frame")
			}
			got, err := json.Marshal(frame)
			if err != nil {
				t.Fatal(err)
			}
			if diff := jsonDiff(t, got, []byte(tt.want)); diff != "" {
				t.Errorf("ToV0 mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

func TestToV0Cases(t *testing.T) {
	t.Parallel()
	base := Base{ID: "e", Source: SourceEnvironment, Seq: 9}
	obs := func(o ToolObservation) Event {
		return &Observation{Base: base, Observation: o, ActionID: "a", ToolName: "t", ToolCallID: "c"}
	}
	tests := []struct {
		name string
		in   Event
		want string // "" means no frame
	}{
		{"view", obs(&FileEditorObservation{ToolOutput: ToolOutput{Content: Text("1\tx")}, Command: EditorView, Path: "/a"}),
			`{"id":9,"timestamp":"","source":"environment","message":"I read the file /a.","observation":"read","content":"1\tx","extras":{"path":"/a"}}`},
		{"create", obs(&FileEditorObservation{Command: EditorCreate, Path: "/a"}),
			`{"id":9,"timestamp":"","source":"environment","message":"I wrote to the file /a.","observation":"write","content":"","extras":{"path":"/a"}}`},
		{"failed edit is an error", obs(&FileEditorObservation{ToolOutput: ToolOutput{Content: Text("no such file"), IsError: true}, Command: EditorView, Path: "/a"}),
			`{"id":9,"timestamp":"","source":"environment","message":"no such file","observation":"error","content":"no such file","extras":{"error_id":""}}`},
		{"still running", obs(&TerminalObservation{Command: "sleep 99", Metadata: TerminalMetadata{ExitCode: -1, PID: -1}}),
			"{\"id\":9,\"timestamp\":\"\",\"source\":\"environment\",\"message\":\"Command `sleep 99` executed with exit code -1.\",\"observation\":\"run\",\"content\":\"\",\"extras\":{\"command\":\"sleep 99\",\"command_id\":-1,\"exit_code\":-1,\"hidden\":false,\"metadata\":{\"exit_code\":-1,\"pid\":-1}}}"},
		{"execution status", &StateUpdate{Base: base, Key: StateKeyExecutionStatus, Value: json.RawMessage(`"waiting_for_confirmation"`)},
			`{"id":9,"timestamp":"","source":"environment","message":"","observation":"agent_state_changed","content":"","extras":{"agent_state":"awaiting_user_confirmation","reason":""}}`},
		{"other state key", &StateUpdate{Base: base, Key: "max_iterations", Value: json.RawMessage(`5`)}, ""},
		{"unknown status", &StateUpdate{Base: base, Key: StateKeyExecutionStatus, Value: json.RawMessage(`"dancing"`)}, ""},
		{"view action", &Action{Base: base, Action: &FileEditorAction{Command: EditorView, Path: "/a", ViewRange: []int{1, 5}}},
			`{"id":9,"timestamp":"","source":"environment","message":"Reading file: /a","action":"read","args":{"path":"/a","view_range":[1,5],"thought":""}}`},
		{"create action", &Action{Base: base, Action: &FileEditorAction{Command: EditorCreate, Path: "/a", FileText: new("x")}},
			`{"id":9,"timestamp":"","source":"environment","message":"Writing file: /a","action":"write","args":{"path":"/a","content":"x","thought":""}}`},
		{"nil observation", &Observation{Base: base}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			frame, ok := ToV0(tt.in, nil)
			if tt.want == "" {
				if ok {
					t.Fatalf("ToV0 = %#v, want no frame", frame)
				}
				return
			}
			if !ok {
				t.Fatal("ToV0 gave no frame")
			}
			got, err := json.Marshal(frame)
			if err != nil {
				t.Fatal(err)
			}
			if diff := jsonDiff(t, got, []byte(tt.want)); diff != "" {
				t.Errorf("ToV0 mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDecodeV0Action(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want V0ClientAction
	}{
		{`{"action":"initialize","args":{"model":"gpt-4o","directory":"/w","agent_cls":"CodeActAgent"}}`,
			&V0Initialize{Model: "gpt-4o", Directory: "/w", AgentClass: "CodeActAgent"}},
		{`{"action":"initialize","args":{"LLM_MODEL":"claude","LLM_API_KEY":"k","LLM_BASE_URL":"http://x","AGENT":"CodeActAgent","LANGUAGE":"en"}}`,
			&V0Initialize{Model: "claude", APIKey: "k", BaseURL: "http://x", AgentClass: "CodeActAgent"}},
		{`{"action":"initialize","args":{"model":"a","LLM_MODEL":"b"}}`, &V0Initialize{Model: "a"}},
		{`{"action":"start","args":{"task":"fix it"}}`, &V0Start{Task: "fix it"}},
		{`{"action":"message","args":{"content":"hi","image_urls":[],"timestamp":"2024-01-01T00:00:00"}}`, &V0Message{Content: "hi"}},
		{`{"action":"message","args":{"content":"","image_urls":["u"]}}`, &V0Message{ImageURLs: []string{"u"}}},
		{`{"action":"read","args":{"path":"/a"}}`, &V0Read{Path: "/a"}},
		{`{"action":"write","args":{"path":"/a","content":"x"}}`, &V0Write{Path: "/a", Content: "x"}},
		{`{"action":"write","args":{"path":"/a","contents":"y"}}`, &V0Write{Path: "/a", Content: "y"}},
		{`{"action":"write","args":{"path":"/a"}}`, &V0Write{Path: "/a"}},
		{`{"action":"run","args":{"command":"ls","background":true}}`, &V0Run{Command: "ls", Background: true}},
		{`{"action":"kill","args":{"id":42}}`, &V0Kill{ID: 42}},
		{`{"action":"kill","args":{"id":"42"}}`, &V0Kill{ID: 42}},
		{`{"action":"kill","args":{"command_id":7}}`, &V0Kill{ID: 7}},
		{`{"action":"browse","args":{"url":"https://go.dev"}}`, &V0Browse{URL: "https://go.dev"}},
		{`{"action":"recall","args":{"query":"git"}}`, &V0Recall{Query: "git"}},
		{`{"action":"think","args":{"thought":"hmm"}}`, &V0Think{Thought: "hmm"}},
		{`{"action":"finish"}`, &V0Finish{}},
		{`{"action":"pause","args":null}`, &V0Pause{}},
		{`{"action":"resume","args":{}}`, &V0Resume{}},
		{`{"action":"stop"}`, &V0Stop{}},
		{`{"action":"change_agent_state","args":{"agent_state":"paused"}}`, &V0ChangeAgentState{AgentState: V0Paused}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeV0Action([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeV0Action: %v", err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("DecodeV0Action mismatch (-got +want):\n%s", diff)
			}
			// The canonical encoding decodes to the same action.
			enc, err := EncodeV0Action(got)
			if err != nil {
				t.Fatalf("EncodeV0Action: %v", err)
			}
			again, err := DecodeV0Action(enc)
			if err != nil {
				t.Fatalf("DecodeV0Action(%s): %v", enc, err)
			}
			if diff := cmp.Diff(again, got); diff != "" {
				t.Errorf("re-decoded mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

func TestEncodeV0Action(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   V0ClientAction
		want string
	}{
		{&V0Run{Command: "ls"}, `{"action":"run","args":{"command":"ls"}}`},
		{&V0Initialize{Model: "m", APIKey: "k"}, `{"action":"initialize","args":{"model":"m","api_key":"k"}}`},
		{&V0Pause{}, `{"action":"pause","args":{}}`},
		{&V0Kill{ID: 3}, `{"action":"kill","args":{"id":3}}`},
	}
	for _, tt := range tests {
		got, err := EncodeV0Action(tt.in)
		if err != nil {
			t.Fatalf("EncodeV0Action(%#v): %v", tt.in, err)
		}
		if diff := jsonDiff(t, got, []byte(tt.want)); diff != "" {
			t.Errorf("EncodeV0Action(%#v) mismatch (-got +want):\n%s", tt.in, diff)
		}
	}
	if _, err := EncodeV0Action(nil); err == nil {
		t.Error("EncodeV0Action(nil): want error")
	}
	if _, err := EncodeV0Action((*V0Run)(nil)); err == nil {
		t.Error("EncodeV0Action(nil pointer): want error")
	}
}

func TestDecodeV0ActionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in  string
		is  error
		msg string
	}{
		{``, ErrMalformed, "got nothing, want object"},
		{`{"action":`, ErrMalformed, "unexpected end of JSON input"},
		{`[]`, ErrMalformed, "got array, want object"},
		{`{"args":{}}`, ErrMalformed, `missing "action"`},
		{`{"action":5}`, ErrMalformed, `field "action": got number, want string`},
		{`{"action":"fly"}`, ErrUnknownKind, `action "fly"`},
		{`{"action":"run","args":"ls"}`, ErrMalformed, `field "args": got string, want object`},
		{`{"action":"run","args":{}}`, ErrMalformed, `field "args.command": missing`},
		{`{"action":"run","args":{"command":"ls","background":"yes"}}`, ErrMalformed, `field "args.background": got string, want boolean`},
		{`{"action":"read","args":{"path":7}}`, ErrMalformed, `field "args.path": got number, want string`},
		{`{"action":"write","args":{"contents":"x"}}`, ErrMalformed, `field "args.path": missing`},
		{`{"action":"write","args":{"path":"/a","content":1}}`, ErrMalformed, `field "args.content": got number, want string`},
		{`{"action":"message","args":{}}`, ErrMalformed, `field "args.content": missing`},
		{`{"action":"message","args":{"content":"x","image_urls":"u"}}`, ErrMalformed, `field "args.image_urls": got string, want array`},
		{`{"action":"kill","args":{}}`, ErrMalformed, `field "args.id": missing`},
		{`{"action":"kill","args":{"id":1.5}}`, ErrMalformed, `field "args.id"`},
		{`{"action":"kill","args":{"id":"abc"}}`, ErrMalformed, `field "args.id"`},
		{`{"action":"kill","args":{"id":true}}`, ErrMalformed, `field "args.id": got boolean, want integer`},
		{`{"action":"initialize","args":{"LLM_MODEL":1}}`, ErrMalformed, `field "args.LLM_MODEL": got number, want string`},
		{`{"action":"start","args":{}}`, ErrMalformed, `field "args.task": missing`},
		{`{"action":"change_agent_state","args":{"agent_state":"dancing"}}`, ErrMalformed, `field "args.agent_state": "dancing" is not a V0 agent state`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeV0Action([]byte(tt.in))
			if err == nil {
				t.Fatalf("DecodeV0Action(%s) = %#v, want error", tt.in, got)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("DecodeV0Action(%s) = %v, want an error wrapping %v", tt.in, err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("DecodeV0Action(%s) = %q, want it to contain %q", tt.in, err, tt.msg)
			}
		})
	}
}
