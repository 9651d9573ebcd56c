package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// ask posts a chat completions request with results tool results to the
// model's conversation n and returns the status and the body.
func ask(t *testing.T, m *scriptedModel, path string, results int, stream bool) (int, string) {
	t.Helper()
	msgs := []map[string]any{{"role": "system", "content": "s"}, {"role": "user", "content": "go"}}
	for k := range results {
		msgs = append(msgs,
			map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"id": fmt.Sprint("x", k), "type": "function"}}},
			map[string]any{"role": "tool", "tool_call_id": fmt.Sprint("x", k), "content": "ok"})
	}
	b, _ := json.Marshal(map[string]any{"model": "scripted", "stream": stream, "messages": msgs})
	resp, err := http.Post("http://"+m.ln.Addr().String()+path, "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		sb.WriteString(sc.Text() + "\n")
	}
	return resp.StatusCode, sb.String()
}

func TestScriptedModelSteps(t *testing.T) {
	m, err := startScriptedModel(3, agentCommand)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	path := strings.TrimPrefix(m.baseURL(7), "http://"+m.ln.Addr().String()) + "/chat/completions"

	// Two steps done: the third command, as a plain answer.
	st, body := ask(t, m, path, 2, false)
	var cc struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Message      struct {
				ToolCalls []struct {
					ID       string                           `json:"id"`
					Function struct{ Name, Arguments string } `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(body), &cc); st != http.StatusOK || err != nil || len(cc.Choices) != 1 || len(cc.Choices[0].Message.ToolCalls) != 1 {
		t.Fatalf("status %d, %v: %s", st, err, body)
	}
	call := cc.Choices[0].Message.ToolCalls[0]
	var args struct{ Command string }
	json.Unmarshal([]byte(call.Function.Arguments), &args)
	if call.Function.Name != "terminal" || args.Command != agentCommand(7, 2) || call.ID != callID(7, 2) || cc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("answer after 2 results: %+v, want terminal %q with id %s", call, agentCommand(7, 2), callID(7, 2))
	}

	// Every step done: finish, streamed.
	st, body = ask(t, m, path, 3, true)
	if st != http.StatusOK || !strings.Contains(body, `"name":"finish"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("streamed answer after 3 results: status %d:\n%s", st, body)
	}

	turns := m.turns(7)
	if len(turns) != 2 || turns[0].results != 2 || turns[1].results != 3 || turns[0].answered.Before(turns[0].arrived) {
		t.Errorf("turns recorded: %+v", turns)
	}

	// Not a conversation's path: refused and recorded.
	if st, _ := ask(t, m, "/v1/chat/completions", 0, false); st != http.StatusNotFound {
		t.Errorf("status %d for a path with no conversation, want 404", st)
	}
	if f := m.failures(); len(f) != 1 {
		t.Errorf("failures %q, want one", f)
	}
}

func TestParseFlagsLive(t *testing.T) {
	cfg, err := parseFlags([]string{"-run", "idle,agents", "-server-env", "A=b", "-agent-steps", "5"})
	if err != nil || len(cfg.Run) != 2 || len(cfg.ServerEnv) != 1 || cfg.AgentSteps != 5 {
		t.Fatalf("parse: %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{{"-server-env", "novalue"}, {"-agent-steps", "91"}, {"-live-cap", "0"}, {"-run", "idel"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
