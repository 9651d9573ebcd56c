package agentapitest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/agentapi"
)

// processAgent is what the fake shares with the real client.
type processAgent interface {
	StartProcess(ctx context.Context, spec agentapi.ProcessSpec) (agentapi.ProcessInfo, error)
	Process(ctx context.Context, id string) (agentapi.ProcessInfo, error)
	Processes(ctx context.Context) ([]agentapi.ProcessInfo, error)
	StopProcess(ctx context.Context, id string) error
	AttachProcess(ctx context.Context, id string) (io.ReadWriteCloser, error)
	Dial(ctx context.Context, network, address string) (net.Conn, error)
}

var (
	_ processAgent = (*agentapi.Client)(nil)
	_ processAgent = (*Agent)(nil)
)

func TestFakeProcess(t *testing.T) {
	ctx := context.Background()
	a := NewAgent()
	a.Programs = map[string]Program{"echo-server": func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
		io.WriteString(stderr, "starting\n")
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			io.WriteString(stdout, sc.Text()+"\n")
		}
		return 3
	}}
	if _, err := a.StartProcess(ctx, agentapi.ProcessSpec{Argv: []string{"nope"}}); agentapi.StatusOf(err) != agentapi.ProgramNotFound {
		t.Fatalf("missing program: %v", err)
	}
	p, err := a.StartProcess(ctx, agentapi.ProcessSpec{Argv: []string{"/usr/bin/echo-server"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.AttachProcess(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AttachProcess(ctx, p.ID); agentapi.StatusOf(err) != http.StatusConflict {
		t.Fatalf("second attach: %v", err)
	}
	go func() {
		io.WriteString(s, "a\nb\n")
		s.(interface{ CloseWrite() error }).CloseWrite()
	}()
	out, err := io.ReadAll(s)
	if err != nil || string(out) != "a\nb\n" {
		t.Fatalf("out %q, %v", out, err)
	}
	var info agentapi.ProcessInfo
	for deadline := time.Now().Add(5 * time.Second); info.ID == "" || info.Running; time.Sleep(10 * time.Millisecond) {
		if info, err = a.Process(ctx, p.ID); err != nil || time.Now().After(deadline) {
			t.Fatalf("process: %+v, %v", info, err)
		}
	}
	want := agentapi.ProcessInfo{ID: p.ID, Name: "echo-server", PID: p.PID, ExitCode: 3, Stderr: "starting\n"}
	if diff := cmp.Diff(info, want); diff != "" {
		t.Fatalf("info (-got +want):\n%s", diff)
	}
	if err := a.StopProcess(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := a.Processes(ctx); len(list) != 0 {
		t.Fatalf("after stop: %+v", list)
	}
	if _, err := a.Dial(ctx, "tcp", "example.com:443"); agentapi.StatusOf(err) != http.StatusBadGateway {
		t.Fatalf("dial with no network: %v", err)
	}
}
