package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/session"
)

// BenchmarkEchoHi compares, in one run, the median time of `echo hi`
// through the global execute_bash_command (the workspace sandbox of a
// host folder) and through a conversation's route, and reports the
// memory of the workspace sandbox once idle. Run it with
// go test -run '^$' -bench EchoHi ./server/.
func BenchmarkEchoHi(b *testing.B) {
	root := hostRoot(b)
	e := newEnv(b, options{sandboxes: true, hostRoots: []string{root}})
	c := e.create(nil)
	dir := filepath.Join(root, "bench")
	global := func() {
		var res session.BashResult
		e.call(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"command": "echo hi", "cwd": dir}, http.StatusOK, &res)
	}
	conv := func() {
		var res session.BashResult
		e.call(http.MethodPost, "/api/conversations/"+c.ID+"/bash/execute_bash_command", map[string]any{"command": "echo hi"}, http.StatusOK, &res)
	}
	global() // both sandboxes up before timing
	conv()
	var g, cv []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		global()
		t1 := time.Now()
		conv()
		g, cv = append(g, t1.Sub(t0)), append(cv, time.Since(t1))
	}
	b.StopTimer()
	pg, pc := p50(g), p50(cv)
	b.ReportMetric(ms(pg), "ms-p50-global")
	b.ReportMetric(ms(pc), "ms-p50-conversation")
	b.ReportMetric(float64(pg)/float64(pc), "global/conversation")

	ws, err := e.convs.Workspace(dir, true)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second) // idle
	mem := idleMemory(b, ws.Owner())
	b.ReportMetric(mem/(1<<20), "MiB-idle-workspace-sandbox")
	b.Logf("echo hi p50: global %s, conversation %s (%.2fx); idle workspace sandbox %.1f MiB",
		pg.Round(10*time.Microsecond), pc.Round(10*time.Microsecond), float64(pg)/float64(pc), mem/(1<<20))
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// idleMemory is the cgroup memory use, page cache aside, of the sandbox
// of owner.
func idleMemory(b *testing.B, owner string) float64 {
	ctx := context.Background()
	list, err := docker.engine.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "gohands.conversation="+owner))})
	if err != nil || len(list) != 1 {
		b.Fatalf("the workspace sandbox of %s: %d containers, %v", owner, len(list), err)
	}
	stats, err := docker.engine.ContainerStatsOneShot(ctx, list[0].ID)
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Body.Close()
	var v container.StatsResponse
	if err := json.NewDecoder(stats.Body).Decode(&v); err != nil {
		b.Fatal(err)
	}
	use := float64(v.MemoryStats.Usage)
	if c, ok := v.MemoryStats.Stats["total_inactive_file"]; ok { // cgroup v1
		use -= float64(c)
	} else if c, ok := v.MemoryStats.Stats["inactive_file"]; ok { // cgroup v2
		use -= float64(c)
	}
	return use
}
