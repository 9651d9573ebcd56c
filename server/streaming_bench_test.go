package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/server"
)

// BenchmarkStreamedDeltaFanout measures socket delivery of streamed
// answers: one conversation, 100 subscribers of /sockets/events, 200
// StreamingDeltaEvents at 50 tokens/s (AgentSession.Broadcast, nothing
// stored), against the same run's plain fan-out of 200 stored
// MessageEvents at the same rate (AgentSession.Append, committed first).
// Latency is the send call -> the frame read by a subscriber, over every
// frame of every subscriber. Reported: p50 and p99 of each, and the
// ratio of the p99s.
//
//	go test -run '^$' -bench StreamedDeltaFanout -benchtime 1x ./server/
func BenchmarkStreamedDeltaFanout(b *testing.B) {
	const subscribers, events, rate = 100, 200, 50
	e := newEnv(b, options{config: func(c *server.Config) { c.SocketBuffer = 4096 }})
	conv := e.create(nil)
	a, err := e.convs.Get(conv.ID)
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	var wg sync.WaitGroup
	for range subscribers {
		s := e.dial("/sockets/events/"+conv.ID+"?resend_mode=since&after="+strconv.FormatInt(a.LastSeq(), 10), nil)
		s.fullState(conv.ID)
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := map[string][]time.Duration{}
			for {
				raw, err := s.tryRead(20 * time.Second)
				if err != nil {
					break
				}
				var f struct {
					Kind       string  `json:"kind"`
					Content    *string `json:"content"`
					LLMMessage *struct {
						Content []struct {
							Text string `json:"text"`
						} `json:"content"`
					} `json:"llm_message"`
				}
				if json.Unmarshal(raw, &f) != nil {
					continue
				}
				stamp := ""
				switch {
				case f.Kind == "StreamingDeltaEvent" && f.Content != nil:
					stamp = *f.Content
				case f.Kind == "MessageEvent" && f.LLMMessage != nil && len(f.LLMMessage.Content) == 1:
					stamp = f.LLMMessage.Content[0].Text
				default:
					continue
				}
				ns, err := strconv.ParseInt(stamp, 10, 64)
				if err != nil {
					continue
				}
				mine[f.Kind] = append(mine[f.Kind], time.Since(time.Unix(0, ns)))
				if f.Kind == "MessageEvent" && len(mine[f.Kind]) == events {
					break
				}
			}
			mu.Lock()
			for k, v := range mine {
				lat[k] = append(lat[k], v...)
			}
			mu.Unlock()
		}()
	}
	b.ResetTimer()
	for range b.N {
		tick := time.NewTicker(time.Second / rate)
		for range events {
			<-tick.C
			d := &event.StreamingDelta{}
			d.Source = event.SourceAgent
			stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
			d.Content = &stamp
			if err := a.Broadcast(d); err != nil {
				b.Fatal(err)
			}
		}
		for range events {
			<-tick.C
			m := &event.Message{LLMMessage: event.LLMMessage{Role: "assistant", Content: event.Text(strconv.FormatInt(time.Now().UnixNano(), 10))}}
			m.Source = event.SourceAgent
			if err := a.Append(m); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatal("subscribers did not get every event")
	}
	q := func(xs []time.Duration, p float64) time.Duration {
		if len(xs) == 0 {
			return 0
		}
		slices.Sort(xs)
		return xs[min(len(xs)-1, int(p*float64(len(xs))))]
	}
	deltas, plain := lat["StreamingDeltaEvent"], lat["MessageEvent"]
	if want := subscribers * events * b.N; len(deltas) != want || len(plain) < want {
		b.Fatalf("read %d deltas and %d messages, want %d of each", len(deltas), len(plain), want)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(q(deltas, 0.5)), "delta-p50-ms")
	b.ReportMetric(ms(q(deltas, 0.99)), "delta-p99-ms")
	b.ReportMetric(ms(q(plain, 0.5)), "plain-p50-ms")
	b.ReportMetric(ms(q(plain, 0.99)), "plain-p99-ms")
	b.ReportMetric(ms(q(deltas, 0.99))/ms(q(plain, 0.99)), "p99-ratio")
	b.Logf("%d subscribers x %d deltas and %d messages at %d/s", subscribers, events, events, rate)
}
