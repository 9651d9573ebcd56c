package controller_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/session"
)

// stepTimes returns the time between consecutive observations of a
// conversation: one agent step each.
func stepTimes(b *testing.B, a *session.AgentSession) []time.Duration {
	var obs []time.Time
	for _, e := range allEventsB(b, a) {
		if o, ok := e.(*event.Observation); ok {
			obs = append(obs, o.Timestamp.Time)
		}
	}
	var d []time.Duration
	for i := 1; i < len(obs); i++ {
		d = append(d, obs[i].Sub(obs[i-1]))
	}
	return d
}

func allEventsB(b *testing.B, a *session.AgentSession) []event.Event {
	var all []event.Event
	var after int64
	for {
		page, err := a.EventsAfter(after, 1000)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range page {
			all = append(all, e)
			after = e.Meta().Seq
		}
		if len(page) < 1000 {
			return all
		}
	}
}

func p50(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkAgentStep measures one agent step (model call, action event,
// `true` in the sandbox, observation event) against the bare sandbox round
// trip of the same command, measured in the same run.
func BenchmarkAgentStep(b *testing.B) {
	for _, convs := range []int{1, 10} {
		b.Run(map[int]string{1: "conversations=1", 10: "conversations=10"}[convs], func(b *testing.B) {
			f := newFixture(b, setup{sandboxes: true})
			f.model.SetDefault(call("terminal", `{"command":"true"}`))
			steps := max(b.N/convs, 3)
			ctx := context.Background()
			var as []*session.AgentSession
			for range convs {
				a, _, err := f.m.Create(ctx, session.CreateRequest{MaxIterations: ptr(steps), StuckDetection: ptr(false)})
				if err != nil {
					b.Fatal(err)
				}
				// Warm the sandbox up first: its start is not a step.
				if err := a.WithSandbox(ctx, func(*agentapi.Client) error { return nil }); err != nil {
					b.Fatal(err)
				}
				as = append(as, a)
			}
			// The bare round trip, in the same run.
			var bare []time.Duration
			as[0].WithSandbox(ctx, func(cl *agentapi.Client) error {
				for range 50 {
					start := time.Now()
					if _, err := cl.Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "true"}); err != nil {
						b.Fatal(err)
					}
					bare = append(bare, time.Since(start))
				}
				return nil
			})
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, a := range as {
				wg.Go(func() {
					if _, err := a.SendMessage(ctx, session.MessageRequest{Content: event.Text("go"), Run: ptr(true)}); err != nil {
						b.Error(err)
						return
					}
					waitB(b, a)
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			var all []time.Duration
			for _, a := range as {
				all = append(all, stepTimes(b, a)...)
			}
			step, exec := p50(all), p50(bare)
			b.ReportMetric(float64(len(all)+convs)/elapsed.Seconds(), "steps/s")
			b.ReportMetric(float64(step.Microseconds())/1000, "step-p50-ms")
			b.ReportMetric(float64(exec.Microseconds())/1000, "exec-p50-ms")
			b.ReportMetric(float64((step-exec).Microseconds())/1000, "overhead-p50-ms")
		})
	}
}

func waitB(b *testing.B, a *session.AgentSession) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		if !a.Running() && a.Status() != session.StatusRunning {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal("run did not end")
}
