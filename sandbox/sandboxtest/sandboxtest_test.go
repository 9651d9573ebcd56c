package sandboxtest

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// TestProcessInSandbox: a fake sandbox's agent runs a stdio program in the
// sandbox's workspace and relays its standard input and output; stopping
// the sandbox ends the program.
func TestProcessInSandbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := New(t)
	sb, err := b.Start(ctx, "conv1", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	s := sb.(*Sandbox)
	c, done, err := s.Use(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	p, err := c.StartProcess(ctx, agentapi.ProcessSpec{Argv: []string{"sh", "-c", "pwd; exec cat"}})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.AttachProcess(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	lines := bufio.NewReader(stream)
	if dir, err := lines.ReadString('\n'); err != nil || strings.TrimSpace(dir) != s.Workspace() {
		t.Fatalf("the program runs in %q (%v), want the workspace %s", dir, err, s.Workspace())
	}
	io.WriteString(stream, "ping\n")
	if got, err := lines.ReadString('\n'); err != nil || got != "ping\n" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
		t.Fatalf("stream after the sandbox stopped: %q, %v; want EOF", rest, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
		if _, after, _ := strings.Cut(string(stat), ") "); err != nil || strings.HasPrefix(after, "Z") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the program outlived its sandbox: %s", stat)
		}
	}
}
