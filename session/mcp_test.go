package session

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// everythingServer builds the Go SDK's example MCP server once per run.
var everythingServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gohands-everything-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "everything")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/modelcontextprotocol/go-sdk/examples/server/everything")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

// greet calls the everything server's greet through the conversation's
// MCP servers, connecting them if need be.
func greet(t *testing.T, a *AgentSession, name string) string {
	t.Helper()
	servers, err := a.ToolWorkspace().MCP(testCtx(t))
	if err != nil || servers == nil {
		t.Fatalf("MCP servers: %v, %v", servers, err)
	}
	r := servers.Call(testCtx(t), "greet", json.RawMessage(`{"name":"`+name+`"}`))
	if r.IsError {
		t.Fatalf("greet: %s", r.Content.Text())
	}
	return r.Content.Text()
}

// TestMCPServersFollowTheSandbox: the conversation's MCP servers run in its
// sandbox and go with it: a restart or an idle stop closes them, and the
// next use starts them again there.
func TestMCPServersFollowTheSandbox(t *testing.T) {
	bin, err := everythingServer()
	if err != nil {
		t.Fatalf("build the everything MCP server: %v", err)
	}
	be := sandboxtest.New(t)
	m := newManagerOn(t, openStore(t), Options{Sandboxes: be, IdleTimeout: 300 * time.Millisecond})
	cfg := json.RawMessage(`{"mcpServers":{"everything":{"command":"` + bin + `"}}}`)
	a, _, err := m.Create(testCtx(t), CreateRequest{Agent: &Agent{MCPConfig: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	running := func() []string {
		var names []string
		a.WithSandbox(testCtx(t), func(cl *agentapi.Client) error {
			procs, err := cl.Processes(testCtx(t))
			for _, p := range procs {
				if p.Running {
					names = append(names, p.ID)
				}
			}
			return err
		})
		return names
	}
	if got := greet(t, a, "one"); !strings.Contains(got, "Hi one") {
		t.Fatalf("greet = %q", got)
	}
	first := a.connectedMCP()
	procs := running()
	if first == nil || len(procs) != 1 {
		t.Fatalf("set %v, processes %v; want one server running", first, procs)
	}

	if err := m.Restart(testCtx(t), a.ID()); err != nil {
		t.Fatal(err)
	}
	if a.connectedMCP() != nil {
		t.Error("the servers are still held after the sandbox restarted")
	}
	if got := greet(t, a, "two"); !strings.Contains(got, "Hi two") {
		t.Fatalf("greet after the restart = %q", got)
	}
	if again := running(); len(again) != 1 || slices.Equal(again, procs) {
		t.Errorf("processes %v after the restart (before %v), want one new server", again, procs)
	}

	sb := be.Engine().Lookup(a.ID())
	waitUntil(t, "the idle removal", func() bool { return sb.Status() == sandbox.StatusRemoved })
	if a.connectedMCP() != nil {
		t.Error("the servers are still held after the sandbox was removed")
	}
	if got := greet(t, a, "three"); !strings.Contains(got, "Hi three") {
		t.Fatalf("greet after the idle removal = %q", got)
	}
	if n := len(running()); n != 1 {
		t.Errorf("%d servers running after the next use, want 1", n)
	}
}

// TestMCPServerWithoutItsSecret: a server that names a secret the
// conversation lacks is left out, told once; the others work.
func TestMCPServerWithoutItsSecret(t *testing.T) {
	bin, err := everythingServer()
	if err != nil {
		t.Fatalf("build the everything MCP server: %v", err)
	}
	be := sandboxtest.New(t)
	m := newManagerOn(t, openStore(t), Options{Sandboxes: be})
	cfg := json.RawMessage(`{"mcpServers":{"everything":{"command":"` + bin + `"},` +
		`"needy":{"command":"` + bin + `","env":{"TOKEN":"${NO_SUCH_SECRET}"}}}}`)
	a, _, err := m.Create(testCtx(t), CreateRequest{Agent: &Agent{MCPConfig: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tl, err := a.Tools(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		var servers []string
		for _, x := range tl {
			if x.MCPServer != "" && !slices.Contains(servers, x.MCPServer) {
				servers = append(servers, x.MCPServer)
			}
		}
		if !slices.Equal(servers, []string{"everything"}) {
			t.Fatalf("tools of servers %v, want everything's only", servers)
		}
	}
	evs, err := a.EventsAfter(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	for _, e := range evs {
		if ce, ok := e.(*event.ConversationError); ok && ce.Code == MCPErrorCode {
			told = append(told, ce.Detail)
		}
	}
	if len(told) != 1 || !strings.Contains(told[0], "needy") || !strings.Contains(told[0], "NO_SUCH_SECRET") {
		t.Errorf("told %q, want once that needy lacks NO_SUCH_SECRET", told)
	}
}

func TestWithSecrets(t *testing.T) {
	t.Parallel()
	secret := func(name string) (string, bool) {
		v, ok := map[string]string{"TOKEN": "t0k", "WHO": `A"da`}[name]
		return v, ok
	}
	tests := []struct{ in, want string }{
		{`{"name":"plain"}`, `{"name":"plain"}`},
		{`{"auth":"Bearer $TOKEN","who":["${WHO}",1.50]}`, `{"auth":"Bearer t0k","who":["A\"da",1.50]}`},
		{`{"price":"$5 and $UNKNOWN and ${ALSO_UNKNOWN}"}`, `{"price":"$5 and $UNKNOWN and ${ALSO_UNKNOWN}"}`},
		{`not json $TOKEN`, `not json $TOKEN`},
	}
	for _, tt := range tests {
		if got := string(withSecrets(json.RawMessage(tt.in), secret)); got != tt.want {
			t.Errorf("withSecrets(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestMCPCallNamesSecrets: a call's arguments name the conversation's
// secrets as the model sees them ($NAME); the server gets the values.
func TestMCPCallNamesSecrets(t *testing.T) {
	bin, err := everythingServer()
	if err != nil {
		t.Fatalf("build the everything MCP server: %v", err)
	}
	m := newManagerOn(t, openStore(t), Options{Sandboxes: sandboxtest.New(t)})
	cfg := json.RawMessage(`{"mcpServers":{"everything":{"command":"` + bin + `"}}}`)
	a, _, err := m.Create(testCtx(t), CreateRequest{Agent: &Agent{MCPConfig: cfg},
		Secrets: map[string]Secret{"WHO": {Value: "Ada-the-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := greet(t, a, "$WHO"); !strings.Contains(got, "Hi Ada-the-secret") {
		t.Errorf("greet($WHO) = %q, want the secret's value sent", got)
	}
}
