package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// TestLiveCapOverHTTP runs the server on the Docker engine with a cap of
// 2 live sandboxes and room for 2 starts to wait, and makes 5 bash calls
// at once on 5 conversations, each command waiting for a file the test
// writes into its host folder: 2 run, 2 wait (gohands_sandbox_start_queue
// says 2, gohands_sandboxes_running 2), 1 is answered 429 with
// Retry-After. Once the commands may end, the waiting ones run on the
// room the idle sandboxes make, and never more than 2 sandboxes are live
// on the engine.
func TestLiveCapOverHTTP(t *testing.T) {
	engine, dir, agent := dockerSetup(t)
	roots := filepath.Join(dir, "roots")
	env := map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"), "GOHANDS_AGENT_BINARY": agent,
		"SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"), "GOHANDS_WORKSPACE_ROOTS": roots,
		"GOHANDS_MAX_LIVE_SANDBOXES": "2", "GOHANDS_START_QUEUE_LENGTH": "2", "GOHANDS_START_QUEUE_WAIT": "10m",
		"BROWSER_IMAGE": "none",
	}
	g := start(t, env)
	defer g.shutdown()
	const n = 5
	ids := make([]string, n)
	folders := make([]string, n)
	for i := range n {
		folders[i] = filepath.Join(roots, fmt.Sprintf("ws%d", i))
		if err := os.MkdirAll(folders[i], 0o755); err != nil {
			t.Fatal(err)
		}
		var info struct {
			ID string `json:"id"`
		}
		body := fmt.Sprintf(`{"workspace":{"working_dir":%q}}`, folders[i])
		if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
			t.Fatalf("create: status %d", st)
		}
		ids[i] = info.ID
		t.Cleanup(func() { removeConversationContainers(engine, info.ID) })
	}
	// A create starts its sandbox ahead of need only on a free slot:
	// the first two do, and no other.
	waitMetric(t, g, "gohands_sandboxes_running", 2)
	waitMetric(t, g, "gohands_sandboxes_starting", 0)

	type answer struct {
		status     int
		retryAfter string
		body       string
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gate := filepath.Join(folders[i], "go")
			cmd := fmt.Sprintf(`{"command":"while [ ! -e %s ]; do sleep 0.2; done; echo ran %d","timeout":600}`, gate, i)
			req, _ := http.NewRequest("POST", g.url+"/api/conversations/"+ids[i]+"/bash/execute_bash_command", strings.NewReader(cmd))
			req.Header.Set("X-Session-API-Key", "key")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answers[i] = answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
		}()
	}
	// 2 hold the slots, 2 wait, 1 is refused at once.
	waitMetric(t, g, "gohands_sandbox_start_queue", 2)
	// Idle sandboxes stopped to make room are started again for their
	// own calls: the counts settle with 2 running, none starting.
	waitMetric(t, g, "gohands_sandboxes_starting", 0)
	waitMetric(t, g, "gohands_sandboxes_running", 2)
	if got := metric(t, g, "gohands_sandbox_start_queue"); got != 2 {
		t.Errorf("gohands_sandbox_start_queue = %v once the counts settled, want 2", got)
	}
	if got := liveContainers(t, engine, ids); got > 2 {
		t.Errorf("%d sandboxes run on the engine, past the cap of 2", got)
	}
	for i := range folders {
		if err := os.WriteFile(filepath.Join(folders[i], "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	ran, refused := 0, 0
	for i, a := range answers {
		switch a.status {
		case http.StatusOK:
			var res struct {
				Stdout string `json:"stdout"`
			}
			json.Unmarshal([]byte(a.body), &res)
			if strings.TrimSpace(res.Stdout) != fmt.Sprintf("ran %d", i) {
				t.Errorf("call %d: stdout %q", i, res.Stdout)
			}
			ran++
		case http.StatusTooManyRequests:
			if s, err := strconv.Atoi(a.retryAfter); err != nil || s <= 0 {
				t.Errorf("call %d: 429 with Retry-After %q, want a number of seconds", i, a.retryAfter)
			}
			if !strings.Contains(a.body, "start_queue_length") {
				t.Errorf("call %d: 429 saying %s; want it to name the queue's bound", i, a.body)
			}
			refused++
		default:
			t.Errorf("call %d: status %d %s", i, a.status, a.body)
		}
	}
	if ran != 4 || refused != 1 {
		t.Errorf("%d calls ran and %d were refused, want 4 and 1", ran, refused)
	}
	if got := liveContainers(t, engine, ids); got > 2 {
		t.Errorf("%d sandboxes run on the engine at the end, past the cap of 2", got)
	}
	if got := metric(t, g, "gohands_sandbox_start_queue"); got != 0 {
		t.Errorf("gohands_sandbox_start_queue = %v at the end, want 0", got)
	}
	waitMetric(t, g, "gohands_sandboxes_running", 2)
	for _, id := range ids {
		g.do("DELETE", "/api/conversations/"+id, "", nil)
	}
}

// metric reads one unlabelled series from /metrics.
func metric(t *testing.T, g *gohands, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", g.url+"/metrics", nil)
	req.Header.Set("X-Session-API-Key", "key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// waitMetric waits, at most three minutes, for a series to read want.
func waitMetric(t *testing.T, g *gohands, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got := metric(t, g, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// liveContainers counts the running containers of the conversations ids.
func liveContainers(t *testing.T, engine *client.Client, ids []string) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		list, err := engine.ContainerList(context.Background(), container.ListOptions{
			Filters: filters.NewArgs(filters.Arg("label", "gohands.conversation="+id))})
		if err != nil {
			t.Fatal(err)
		}
		n += len(list)
	}
	return n
}
