package docker

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// The engine on a small machine takes seconds per container start, so these
// benchmarks take a fixed number of samples per run and report medians
// (b.ReportMetric) next to a baseline measured in the same run, interleaved
// with the measured path so both see the same engine load.
//
//	go test -run '^$' -bench . -benchtime 1x ./sandbox/

const coldSamples = 9

// BenchmarkColdStart: Manager.Start (create, inject the agent, start,
// health) against a bare create+start of the same image and host config
// with `sleep infinity` instead of the agent.
func BenchmarkColdStart(b *testing.B) {
	for _, v := range []struct {
		name      string
		inject    Inject
		transport Transport
	}{
		{"bind-tcp", InjectBind, TransportTCP},
		{"copy-tcp", InjectCopy, TransportTCP},
		{"bind-unix", InjectBind, TransportUnix},
	} {
		b.Run(v.name, func(b *testing.B) {
			m := newManager(b, func(o *Options) { o.Inject, o.Transport = v.inject, v.transport })
			r, err := m.opts.resolve(sandbox.Spec{})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				var ours, bare []time.Duration
				for i := range coldSamples {
					measure := func() {
						t0 := time.Now()
						s, err := m.start(context.Background(), "bench-"+randomHex(4), sandbox.Spec{})
						if err != nil {
							b.Fatal(err)
						}
						ours = append(ours, time.Since(t0))
						s.Remove(context.Background())
					}
					baseline := func() {
						d, id := bareStart(b, m, r)
						bare = append(bare, d)
						env.engine.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true})
					}
					if i%2 == 0 {
						measure()
						baseline()
					} else {
						baseline()
						measure()
					}
				}
				o, p := median(ours), median(bare)
				b.ReportMetric(ms(o), "ms-start-p50")
				b.ReportMetric(ms(p), "ms-bare-p50")
				b.ReportMetric(float64(o)/float64(p), "ratio")
				b.Logf("%s: start p50 %s (samples %v), bare create+start p50 %s (samples %v), ratio %.3f",
					v.name, o, rounded(ours), p, rounded(bare), float64(o)/float64(p))
			}
		})
	}
}

// bareStart creates and starts a container like the Manager would, minus
// the agent: `sleep infinity`, no agent mount, nothing to wait for.
func bareStart(b *testing.B, m *Manager, r resolved) (time.Duration, string) {
	b.Helper()
	s := &Sandbox{m: m, name: "gohands-bare-" + randomHex(4), token: "x", transport: r.transport, cell: sandbox.NewStatusCell("", "", nil)}
	if r.transport == TransportUnix {
		s.runDir = b.TempDir()
	}
	cfg, hc, err := m.containerConfig(s, r)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Entrypoint = []string{"sleep", "infinity"}
	hc.Mounts = slices.DeleteFunc(hc.Mounts, func(mt mount.Mount) bool { return mt.Target == sandbox.AgentPath })
	ctx := context.Background()
	t0 := time.Now()
	resp, err := env.engine.ContainerCreate(ctx, cfg, hc, nil, nil, s.name)
	if err != nil {
		b.Fatal(err)
	}
	if err := env.engine.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0), resp.ID
}

// BenchmarkPoolStart: Manager.Start served from a full warm pool.
func BenchmarkPoolStart(b *testing.B) {
	m := newManager(b, func(o *Options) { o.PoolSize = 1 })
	const samples = 7
	for b.Loop() {
		var took []time.Duration
		for range samples {
			// The refill wait stays on the benchmark clock so that b.Loop
			// runs once; the metric is the sample median.
			waitFor(b, 2*time.Minute, "the pool to fill", func() bool { return m.PoolSize() == 1 })
			t0 := time.Now()
			s, err := m.start(context.Background(), "bench-"+randomHex(4), sandbox.Spec{})
			if err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
			if !s.pooled {
				b.Fatal("not served from the pool")
			}
			s.Remove(context.Background())
		}
		b.ReportMetric(ms(median(took)), "ms-p50")
		b.ReportMetric(ms(slices.Max(took)), "ms-max")
		b.Logf("pool start p50 %s, samples %v", median(took), rounded(took))
	}
}

// BenchmarkEcho: `echo hi` through the runtime-agent client against the
// engine's exec API (create, start attached, read the output, inspect the
// exit code) in the same sandbox.
func BenchmarkEcho(b *testing.B) {
	m := newManager(b, nil)
	s, err := m.start(context.Background(), "bench-echo", sandbox.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Remove(context.Background())
	ctx := context.Background()
	cl := s.Client()
	if _, err := cl.Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "true"}); err != nil {
		b.Fatal(err) // warm the terminal up
	}
	for b.Loop() {
		var agent, engine []time.Duration
		for i := range 200 {
			t0 := time.Now()
			res, err := cl.Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "echo hi"})
			if err != nil || !strings.Contains(res.Output, "hi") {
				b.Fatalf("agent echo: %q %v", res.Output, err)
			}
			agent = append(agent, time.Since(t0))
			if i%20 == 0 {
				t0 = time.Now()
				if out := engineExec(b, s.ID(), "echo", "hi"); !strings.Contains(out, "hi") {
					b.Fatalf("engine exec output %q", out)
				}
				engine = append(engine, time.Since(t0))
			}
		}
		a, e := median(agent), median(engine)
		b.ReportMetric(float64(a.Microseconds()), "µs-agent-p50")
		b.ReportMetric(ms(e), "ms-engine-exec-p50")
		b.ReportMetric(float64(e)/float64(a), "x-faster")
		b.Logf("echo hi: agent p50 %s (%d samples), engine exec p50 %s (%d samples), %.0fx faster", a, len(agent), e, len(engine), float64(e)/float64(a))
	}
}

func engineExec(b *testing.B, id string, cmd ...string) string {
	ctx := context.Background()
	ex, err := env.engine.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		b.Fatal(err)
	}
	att, err := env.engine.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		b.Fatal(err)
	}
	if insp, err := env.engine.ContainerExecInspect(ctx, ex.ID); err != nil || insp.ExitCode != 0 {
		b.Fatalf("exec inspect: %+v %v", insp, err)
	}
	return out.String()
}

// BenchmarkStart20: 20 sandboxes started at once until all are healthy;
// then the memory each uses while idle (cgroup usage minus page cache),
// fresh and after one command (a bash is running then).
func BenchmarkStart20(b *testing.B) {
	const n = 20
	m := newManager(b, nil)
	for b.Loop() {
		ctx := context.Background()
		sandboxes := make([]*Sandbox, n)
		var wg sync.WaitGroup
		errs := make([]error, n)
		t0 := time.Now()
		for i := range n {
			wg.Go(func() {
				sandboxes[i], errs[i] = m.start(ctx, fmt.Sprintf("bench20-%d-%s", i, randomHex(3)), sandbox.Spec{})
			})
		}
		wg.Wait()
		total := time.Since(t0)
		b.StopTimer()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second)
		fresh := meanMemory(b, sandboxes)
		for _, s := range sandboxes {
			if _, err := s.Client().Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "echo hi"}); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second)
		used := meanMemory(b, sandboxes)
		var wg2 sync.WaitGroup
		for _, s := range sandboxes {
			wg2.Go(func() { s.Remove(ctx) })
		}
		wg2.Wait()
		b.StartTimer()
		b.ReportMetric(total.Seconds(), "s-all-ready")
		b.ReportMetric(fresh/(1<<20), "MiB-idle-fresh")
		b.ReportMetric(used/(1<<20), "MiB-idle-after-cmd")
		b.Logf("20 at once: all ready after %s; idle memory per sandbox %.1f MiB fresh, %.1f MiB after one command", total.Round(time.Millisecond), fresh/(1<<20), used/(1<<20))
	}
}

// meanMemory is the mean cgroup memory use minus page cache.
func meanMemory(b *testing.B, sandboxes []*Sandbox) float64 {
	var sum float64
	for _, s := range sandboxes {
		stats, err := env.engine.ContainerStatsOneShot(context.Background(), s.ID())
		if err != nil {
			b.Fatal(err)
		}
		var v container.StatsResponse
		decodeJSON(b, stats.Body, &v)
		use := float64(v.MemoryStats.Usage)
		if c, ok := v.MemoryStats.Stats["total_inactive_file"]; ok { // cgroup v1
			use -= float64(c)
		} else if c, ok := v.MemoryStats.Stats["inactive_file"]; ok { // cgroup v2
			use -= float64(c)
		}
		sum += use
	}
	return sum / float64(len(sandboxes))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func rounded(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i, x := range d {
		out[i] = x.Round(time.Millisecond)
	}
	return out
}
