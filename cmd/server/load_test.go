package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/llm/llmtest"
)

// The soak's size; -short makes it smaller.
var (
	soakConvs   = flag.Int("soak.convs", 20, "conversations the soak test runs at once")
	soakSteps   = flag.Int("soak.steps", 50, "model steps (think calls) of each soak conversation, before it finishes")
	soakClients = flag.Int("soak.clients", 50, "socket clients of the soak test, each dropping and resuming")
	soakSeed    = flag.Uint64("soak.seed", 0, "seed of the soak clients' drops; 0 picks one (logged)")
)

// TestSoak runs many conversations at once with the scripted model, each
// watched by socket clients that keep dropping their connection (some
// with a close frame, some by cutting it) and resuming with
// resend_mode=since&after=SEQ. Every client must end with every stored
// event of its conversation exactly once, in order; and once everything
// is closed the server's goroutines and heap must be back to about where
// they started.
func TestSoak(t *testing.T) {
	convs, steps, clients := *soakConvs, *soakSteps, *soakClients
	if testing.Short() {
		convs, steps, clients = min(convs, 5), min(steps, 10), min(clients, 10)
	}
	seed := *soakSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("soak: %d conversations x %d steps, %d socket clients, seed %d (-soak.seed to repeat)", convs, steps, clients, seed)

	dir := t.TempDir()
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock") // no sandboxes: the agent only thinks
	env := map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"),
		"GOHANDS_AGENT_BINARY": placeholderAgent(t), "SANDBOX_POOL_SIZE": "0",
		"LLM_MODEL": "openai/scripted", "LLM_API_KEY": "test",
	}
	g0, h0 := settled(0, 0)
	g := start(t, env)
	stopped := false
	defer func() {
		if !stopped {
			g.shutdown()
		}
	}()
	g1, h1 := settled(0, 0)

	// The load runs in a subtest, so that the scripted models, which keep
	// every request they answer, are closed and let go when it ends: what
	// stays on the heap afterwards is the server's.
	t.Run("load", func(t *testing.T) {
		soakLoad(t, g.url, convs, steps, clients, seed)
	})

	// Everything closed: the goroutines and the heap come back down.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	g2, h2 := settled(g1+10, 2*h1+16<<20)
	t.Logf("goroutines: %d before the server, %d with it idle, %d after the soak", g0, g1, g2)
	t.Logf("heap in use after GC: %.1f MiB before the server, %.1f MiB with it idle, %.1f MiB after the soak",
		mib(h0), mib(h1), mib(h2))
	if g2 > g1+10 {
		t.Errorf("%d goroutines after the soak, %d before it: more than 10 left behind\n%s", g2, g1, goroutines())
	}
	if h2 > 2*h1+16<<20 {
		t.Errorf("heap in use %.1f MiB after the soak, %.1f MiB before it: more than twice and 16 MiB", mib(h2), mib(h1))
	}
	g.shutdown()
	stopped = true
	g3, h3 := settled(g0+10, 2*h0+16<<20)
	t.Logf("after shutdown: %d goroutines, %.1f MiB heap in use", g3, mib(h3))
	if g3 > g0+10 {
		t.Errorf("%d goroutines after shutdown, %d before the server started\n%s", g3, g0, goroutines())
	}
}

// soakLoad runs the soak's conversations and clients against the server
// at base and checks what every client received.
func soakLoad(t *testing.T, base string, convs, steps, clients int, seed uint64) {
	c := api{t: t, url: base}
	// Each conversation has its own model, so that its script is its own.
	models := make([]*llmtest.Server, convs)
	ids := make([]string, convs)
	for i := range convs {
		script := make([]llmtest.Step, 0, steps+1)
		for j := range steps {
			script = append(script, llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "think",
				Args: fmt.Sprintf(`{"thought":"conversation %d, step %d"}`, i, j)}}})
		}
		script = append(script, llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"done"}`}}})
		models[i] = llmtest.New(t, script...)
		ids[i] = c.create(fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"own-key"}},
			"initial_message":{"role":"user","content":[{"type":"text","text":"think %d times"}],"run":false}}`,
			models[i].URL()+"/v1", steps))
	}

	// The clients start before the runs and read while they go. A
	// connection is dropped after 1 to maxRun events: a conversation's
	// events (two a step) take a client about four connections or more.
	maxRun := max(2, steps/2)
	targets := make([]int64, convs) // the last seq of each conversation, once known
	known := make(chan struct{})
	results := make([]soakResult, clients)
	var wg sync.WaitGroup
	var connections atomic.Int64
	for k := range clients {
		wg.Go(func() {
			results[k] = soakClient(base, ids[k%convs], rand.New(rand.NewPCG(seed, uint64(k))), maxRun, known,
				func() int64 { return targets[k%convs] }, &connections)
		})
	}
	began := time.Now()
	var runs sync.WaitGroup
	for _, id := range ids {
		runs.Go(func() {
			if st, body := c.call("POST", "/api/conversations/"+id+"/run", "", nil); st != http.StatusOK {
				t.Errorf("run %s: status %d: %s", id, st, body)
			}
		})
	}
	runs.Wait()
	for _, id := range ids {
		c.waitStatus(id, 5*time.Minute, "finished")
	}
	ran := time.Since(began)
	stored := make([][]frame, convs)
	total := 0
	for i, id := range ids {
		stored[i] = c.events(id)
		checkSeqs(t, "soak conversation "+id, stored[i])
		targets[i] = int64(len(stored[i]))
		total += len(stored[i])
	}
	close(known)
	wg.Wait()
	t.Logf("soak: %d conversations finished in %s with %d events; %d clients made %d connections",
		convs, ran.Round(time.Millisecond), total, clients, connections.Load())
	if connections.Load() < int64(2*clients) {
		t.Errorf("%d connections for %d clients: the clients hardly dropped and resumed", connections.Load(), clients)
	}

	for k, r := range results {
		i := k % convs
		if r.err != nil {
			t.Errorf("client %d (conversation %d): %v", k, i, r.err)
			continue
		}
		if len(r.ids) != len(stored[i]) {
			t.Errorf("client %d received %d events, %d are stored", k, len(r.ids), len(stored[i]))
			continue
		}
		for j, id := range r.ids {
			if id != stored[i][j].ID {
				t.Errorf("client %d: event seq %d has id %s, stored %s", k, j+1, id, stored[i][j].ID)
				break
			}
		}
	}
}

// soakResult is what one soak client saw.
type soakResult struct {
	ids []string // event ids by seq - 1
	err error
}

// soakClient follows a conversation's events through connections it keeps
// dropping after 1 to maxRun events, each time resuming after the
// last seq it has. It checks that every event comes once and in order, and
// returns when it has the conversation's last event (lastSeq, once known
// is closed).
func soakClient(base, conv string, rng *rand.Rand, maxRun int, known <-chan struct{}, lastSeq func() int64, connections *atomic.Int64) soakResult {
	var res soakResult
	done := func() bool {
		select {
		case <-known:
			return int64(len(res.ids)) >= lastSeq()
		default:
			return false
		}
	}
	for attempt := 0; !done(); attempt++ {
		if attempt > 10000 {
			res.err = errors.New("more than 10000 connections")
			return res
		}
		u := "ws" + strings.TrimPrefix(base, "http") + "/sockets/events/" + conv + "?session_api_key=key"
		if n := len(res.ids); n == 0 {
			u += "&resend_all=true"
		} else {
			u += fmt.Sprintf("&resend_mode=since&after=%d", n)
		}
		conn, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			res.err = fmt.Errorf("dial: %w", err)
			return res
		}
		connections.Add(1)
		budget := 1 + rng.IntN(maxRun) // events before this connection is dropped
		first := true
		for budget > 0 {
			conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			var f frame
			if err := conn.ReadJSON(&f); err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					res.err = fmt.Errorf("read after seq %d: %w", len(res.ids), err)
					conn.Close()
					return res
				}
				break // nothing new for a while: reconnect (or stop, when done)
			}
			if first {
				if f.Key != "full_state" {
					res.err = fmt.Errorf("first frame of a connection is %s %s, want the full_state", f.Kind, f.Key)
					conn.Close()
					return res
				}
				first = false
				continue
			}
			if want := int64(len(res.ids)) + 1; f.Seq != want {
				res.err = fmt.Errorf("received seq %d, want %d: an event missing or repeated", f.Seq, want)
				conn.Close()
				return res
			}
			res.ids = append(res.ids, f.ID)
			budget--
		}
		if rng.IntN(2) == 0 {
			conn.UnderlyingConn().Close() // cut, no close frame
		} else {
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			conn.Close()
		}
	}
	return res
}

// settled runs the garbage collector and waits, up to 10 s, until the
// goroutines and the heap in use are at most the given bounds (0: just
// settle a moment); it returns the last measure.
func settled(maxGoroutines int, maxHeap uint64) (int, uint64) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		n := runtime.NumGoroutine()
		if maxGoroutines == 0 || (n <= maxGoroutines && ms.HeapInuse <= maxHeap) || time.Now().After(deadline) {
			if maxGoroutines == 0 {
				time.Sleep(200 * time.Millisecond)
				runtime.GC()
				runtime.ReadMemStats(&ms)
				n = runtime.NumGoroutine()
			}
			return n, ms.HeapInuse
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// goroutines is the stacks of every goroutine, for a failure message.
func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
