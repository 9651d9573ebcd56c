package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// The scale benchmark fills a store as a server of many conversations has
// it and measures what its size costs, each figure next to the same one on
// a small store measured in the same run:
//
//   - conversation create rate through the HTTP API from 4 clients, on a
//     server in this process with no sandbox backend (create stores the
//     conversation and starts no sandbox; with Docker each create also
//     starts a container in the background, which no engine here takes at
//     this rate), against the first 100 creates on an empty store;
//   - GET /api/conversations/search?limit=100 p95 with all conversations,
//     against a store of 100;
//   - a rare-kind event search (1 event in 10,000) on the conversation of
//     100,000 events p95, against a common kind (about half its events);
//   - the real server binary restarted on the store: time from its start
//     to the first answer of /alive, against a restart on the small store;
//     its RSS then, and after a GET of every conversation once.
//
// The events are written with storage.Append directly, 1,000 or a
// conversation's share per call, from 4 goroutines: building them through
// the API would measure the API, not the store.
type scaleResult struct {
	convs, events, bigEvents int
	build                    time.Duration // the events' appends
	fileBytes                int64

	createRate, createRateSmall float64 // conversations per second
	search, searchSmall         latencies
	rare, common                latencies
	alive, aliveSmall           time.Duration // process start -> first /alive answer
	rssAlive, rssTouched        memory
	rssSmall                    memory
	touch                       time.Duration // the GETs of every conversation
	change                      time.Duration // the PATCHes of every conversation
	rssChanged, rssIdle         memory        // after the PATCHes; one idle window later
	idle                        time.Duration // the idle window

	// The restart with sandboxes to recover (recoverBench).
	sandboxes          int
	sandboxesCreate    time.Duration // making their containers
	aliveRecover       time.Duration // process start -> first /alive answer
	recovered          time.Duration // process start -> /ready says none is left
	sandboxesRecovered int           // held by the server then (gohands_sandboxes... or the log)
	recoverNote        string        // why it was not measured, if so
	load               string
}

// latencies are a route's answer times, sorted.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(p*float64(len(l))+0.999999) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// inProcess is the server and store in this process.
type inProcess struct {
	dir   string
	store *storage.Store
	mgr   *session.ConversationManager
	srv   *server.Server
	hs    *http.Server
	base  string
}

func startInProcess(dir string) (*inProcess, error) {
	p := &inProcess{dir: dir}
	var err error
	if p.store, err = storage.Open(filepath.Join(dir, "state.db"), storage.Options{}); err != nil {
		return nil, err
	}
	if p.mgr, err = session.New(session.Options{Store: p.store}); err != nil {
		p.store.Close()
		return nil, err
	}
	p.srv = server.New(server.Config{Conversations: p.mgr})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.close()
		return nil, err
	}
	p.base = "http://" + ln.Addr().String()
	p.hs = &http.Server{Handler: p.srv, ReadHeaderTimeout: 10 * time.Second}
	go p.hs.Serve(ln)
	return p, nil
}

func (p *inProcess) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p.srv != nil {
		p.srv.Shutdown()
	}
	if p.hs != nil {
		p.hs.Shutdown(ctx)
	}
	if p.mgr != nil {
		p.mgr.Close(ctx)
	}
	if p.store != nil {
		p.store.Close()
	}
}

// scaleClient is an HTTP client with connections enough for the clients
// that share it.
var scaleClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: time.Minute}

// get sends a GET (with the API key, if any) and reads the answer.
func get(ctx context.Context, base, key, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("X-Session-API-Key", key)
	}
	resp, err := scaleClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return b, err
}

// createConversations creates n conversations through POST
// /api/conversations from clients goroutines and returns their ids and
// the rate.
func createConversations(ctx context.Context, base string, n, clients int) ([]string, float64, error) {
	ids := make([]string, n)
	var next atomic.Int64
	errs := make(chan error, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				body := fmt.Sprintf(`{"title":"scale %d"}`, i)
				resp, err := scaleClient.Post(base+"/api/conversations", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				var c struct {
					ID string `json:"id"`
				}
				err = json.NewDecoder(resp.Body).Decode(&c)
				resp.Body.Close()
				if err == nil && resp.StatusCode >= 300 {
					err = fmt.Errorf("POST /api/conversations: %s", resp.Status)
				}
				if err != nil {
					errs <- err
					return
				}
				ids[i] = c.ID
			}
		})
	}
	wg.Wait()
	rate := float64(n) / time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, err
	}
	return ids, rate, ctx.Err()
}

// measureGet sends n GETs of path one after another and returns their
// answer times, sorted.
func measureGet(ctx context.Context, base, path string, n int) (latencies, error) {
	lat := make(latencies, 0, n)
	for range n {
		t := time.Now()
		if _, err := get(ctx, base, "", path); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	return lat, nil
}

// scaleEvent is event i of a conversation: mostly actions and
// observations of a terminal, about 300 bytes each; in the big
// conversation, every rareEvery-th an agent error.
func scaleEvent(i int, rare bool) event.Event {
	if rare {
		return &event.AgentError{Base: event.Base{Source: event.SourceAgent}, Error: fmt.Sprint("rare error ", i)}
	}
	if i%2 == 0 {
		return &event.Action{
			Base:       event.Base{Source: event.SourceAgent},
			Thought:    event.Text("list the files again"),
			Action:     &event.TerminalAction{Command: fmt.Sprint("ls -la /workspace/step", i)},
			ToolName:   "terminal",
			ToolCallID: fmt.Sprint("call-", i),
		}
	}
	exit := 0
	return &event.Observation{
		Base: event.Base{Source: event.SourceEnvironment},
		Observation: &event.TerminalObservation{
			ToolOutput: event.ToolOutput{Content: event.Text(fmt.Sprintf("total %d\ndrwxr-xr-x 2 root root 4096 .\n", i))},
			Command:    fmt.Sprint("ls -la /workspace/step", i-1),
			ExitCode:   &exit,
		},
		ToolName:   "terminal",
		ToolCallID: fmt.Sprint("call-", i-1),
	}
}

const rareEvery = 10_000

// fillEvents appends events events in all: bigEvents to ids[0], the rest
// spread over the others, from 4 goroutines.
func fillEvents(ctx context.Context, s *storage.Store, ids []string, events, bigEvents int) error {
	var next atomic.Int64
	errs := make(chan error, 4)
	per := (events - bigEvents) / max(len(ids)-1, 1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) || ctx.Err() != nil {
					return
				}
				n := per
				if i == 0 {
					n = bigEvents
				}
				for lo := 0; lo < n; lo += 1000 {
					evs := make([]event.Event, 0, min(1000, n-lo))
					for j := lo; j < min(lo+1000, n); j++ {
						evs = append(evs, scaleEvent(j, i == 0 && j%rareEvery == rareEvery/2))
					}
					if err := s.Append(ids[i], evs...); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// memory is a process's resident memory: anonymous (heap, stacks) and
// file-backed (the store's mapped pages, the binary), as /proc reports.
type memory struct{ anon, file int64 }

func (m memory) total() int64 { return m.anon + m.file }

// rss returns a process's resident set size in bytes.
func rss(pid int) memory {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memory{}
	}
	var m memory
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		switch name {
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile", "RssShmem":
			m.file += kb << 10
		}
	}
	return m
}

// restart starts the server binary on the state file in dir and returns
// the time from its start to the first answer of /alive, and the server.
func restart(ctx context.Context, bin, dir string, env ...string) (*gohands, time.Duration, error) {
	t := time.Now()
	g, err := startGohandsOn(ctx, bin, filepath.Join(dir, "state.db"), env...)
	if err != nil {
		return nil, 0, err
	}
	for {
		if _, err := get(ctx, g.base, "", "/alive"); err == nil {
			return g, time.Since(t), nil
		}
		if time.Since(t) > listenWait || ctx.Err() != nil {
			g.stop()
			return nil, 0, fmt.Errorf("no answer from /alive within %s", listenWait)
		}
		time.Sleep(time.Millisecond)
	}
}

func scaleBench(ctx context.Context, cfg Config, progress io.Writer) (res scaleResult, err error) {
	res.convs, res.events, res.bigEvents = cfg.ScaleConvs, cfg.ScaleEvents, cfg.ScaleBig
	fmt.Fprintf(progress, "\nscale: %d conversations, %d events (%d in one), against %d conversations\n",
		res.convs, res.events, res.bigEvents, smallConvs)
	if err := ensureBinaries(ctx, cfg.ServerBin, progress); err != nil {
		return res, err
	}
	root := cfg.ScaleDir
	if root == "" {
		if root, err = os.MkdirTemp("", "gohands-bench-scale-"); err != nil {
			return res, err
		}
		defer os.RemoveAll(root)
	}
	smallDir, bigDir := filepath.Join(root, "small"), filepath.Join(root, "big")
	for _, d := range []string{smallDir, bigDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return res, err
		}
	}
	load := startLoad()

	// The small store: 100 conversations, and the creates on an empty
	// store.
	small, err := startInProcess(smallDir)
	if err != nil {
		return res, err
	}
	defer small.close()
	smallIDs, rate, err := createConversations(ctx, small.base, smallConvs, 4)
	if err != nil {
		return res, fmt.Errorf("create on the small store: %w", err)
	}
	res.createRateSmall = rate
	if err := fillEvents(ctx, small.store, smallIDs, smallConvs*100, 100); err != nil {
		return res, err
	}

	big, err := startInProcess(bigDir)
	if err != nil {
		return res, err
	}
	defer big.close()
	ids, rate, err := createConversations(ctx, big.base, res.convs, 4)
	if err != nil {
		return res, fmt.Errorf("create: %w", err)
	}
	res.createRate = rate
	fmt.Fprintf(progress, "  %d conversations created through the API: %.0f/s (4 clients)\n", len(ids), rate)
	t := time.Now()
	if err := fillEvents(ctx, big.store, ids, res.events, res.bigEvents); err != nil {
		return res, fmt.Errorf("events: %w", err)
	}
	res.build = time.Since(t)
	fmt.Fprintf(progress, "  %d events appended in %s\n", res.events, res.build.Round(time.Millisecond))

	// Searches: the two stores take turns, so that the machine's load
	// falls on both.
	const rounds, perRound = 5, 60
	searchPath := "/api/conversations/search?limit=100"
	kindPath := func(k event.Kind) string {
		return "/api/conversations/" + ids[0] + "/events/search?limit=100&kind=" + url.QueryEscape(string(k))
	}
	for range rounds {
		for _, m := range []struct {
			base, path string
			into       *latencies
		}{
			{big.base, searchPath, &res.search},
			{small.base, searchPath, &res.searchSmall},
			{big.base, kindPath(event.KindAgentError), &res.rare},
			{big.base, kindPath(event.KindObservation), &res.common},
		} {
			lat, err := measureGet(ctx, m.base, m.path, perRound)
			if err != nil {
				return res, err
			}
			*m.into = append(*m.into, lat...)
		}
	}
	for _, l := range []*latencies{&res.search, &res.searchSmall, &res.rare, &res.common} {
		slices.Sort(*l)
	}
	big.close()
	small.close()
	if fi, err := os.Stat(filepath.Join(bigDir, "state.db")); err == nil {
		res.fileBytes = fi.Size()
	}

	// The real server restarted on each store.
	gs, alive, err := restart(ctx, cfg.ServerBin, smallDir)
	if err != nil {
		return res, fmt.Errorf("restart on the small store: %w", err)
	}
	res.aliveSmall, res.rssSmall = alive, rss(gs.cmd.Process.Pid)
	gs.stop()
	// The server forgets a conversation idle for cfg.ScaleIdle: one idle
	// window, short so that the bench can wait for it.
	idleEnv := "GOHANDS_CONVERSATION_IDLE=" + cfg.ScaleIdle.String()
	g, alive, err := restart(ctx, cfg.ServerBin, bigDir, idleEnv, "OH_SECRET_KEY="+scaleSecretKey)
	if err != nil {
		return res, fmt.Errorf("restart: %w", err)
	}
	res.alive = alive
	res.rssAlive = rss(g.cmd.Process.Pid)
	fmt.Fprintf(progress, "  server binary restarted on the store: /alive after %s\n", ms(alive))
	t = time.Now()
	err = forEach(ids, func(id string) error {
		_, err := get(ctx, g.base, g.key, "/api/conversations/"+id)
		return err
	})
	if err != nil {
		g.stop()
		return res, fmt.Errorf("read every conversation: %w", err)
	}
	res.touch = time.Since(t)
	res.rssTouched = rss(g.cmd.Process.Pid)
	// A change of each conversation: it is loaded as a live session.
	t = time.Now()
	err = forEach(ids, func(id string) error {
		return g.call(ctx, http.MethodPatch, "/api/conversations/"+id, map[string]any{"title": "touched " + id}, nil)
	})
	if err != nil {
		g.stop()
		return res, fmt.Errorf("change every conversation: %w", err)
	}
	res.change = time.Since(t)
	res.rssChanged = rss(g.cmd.Process.Pid)
	res.idle = cfg.ScaleIdle
	fmt.Fprintf(progress, "  every conversation read and changed; waiting one idle window (%s)\n", cfg.ScaleIdle)
	select {
	case <-time.After(cfg.ScaleIdle + cfg.ScaleIdle/4 + time.Second):
	case <-ctx.Done():
		g.stop()
		return res, ctx.Err()
	}
	res.rssIdle = rss(g.cmd.Process.Pid)
	g.stop()

	if cfg.ScaleSandboxes > 0 {
		if err := recoverBench(ctx, cfg, bigDir, ids, &res, progress); err != nil {
			res.recoverNote = err.Error() // the other figures are printed still
		}
	}
	load.stop()
	res.load = loadAverage()
	return res, nil
}

// forEach calls fn with every id from 4 goroutines and returns the first
// error.
func forEach(ids []string, fn func(id string) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				if err := fn(ids[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// smallConvs is the size of the store the figures are compared with.
const smallConvs = 100

func (r scaleResult) print(w io.Writer) {
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	p95 := func(l latencies) time.Duration { return l.pct(0.95) }
	fmt.Fprintf(w, "\nscale: %d conversations, %d events (%d in one), store file %s; events appended in %s (%.0f/s)\n",
		r.convs, r.events, r.bigEvents, mib(r.fileBytes), r.build.Round(time.Millisecond), float64(r.events)/r.build.Seconds())
	fmt.Fprintf(w, "%-58s %12s %12s %8s %10s\n", "figure", "GoHands", "baseline", "ratio", "target")
	row := func(name, got, base, ratio, target string) {
		fmt.Fprintf(w, "%-58s %12s %12s %8s %10s\n", name, got, base, ratio, target)
	}
	row("create, 4 clients, HTTP, no sandbox backend (/s)", fmt.Sprintf("%.0f", r.createRate), fmt.Sprintf("%.0f", r.createRateSmall),
		fmt.Sprintf("%.2fx", r.createRate/r.createRateSmall), ">= 500")
	row("search?limit=100 p95 (baseline: 100 conversations)", ms(p95(r.search)), ms(p95(r.searchSmall)), ratio(p95(r.search), p95(r.searchSmall)), "10 ms, 2x")
	row("search?limit=100 p50", ms(r.search.pct(0.5)), ms(r.searchSmall.pct(0.5)), ratio(r.search.pct(0.5), r.searchSmall.pct(0.5)), "")
	row("rare kind, 100,000 events, p95 (baseline: common kind)", ms(p95(r.rare)), ms(p95(r.common)), ratio(p95(r.rare), p95(r.common)), "10 ms")
	row("rare kind p50", ms(r.rare.pct(0.5)), ms(r.common.pct(0.5)), ratio(r.rare.pct(0.5), r.common.pct(0.5)), "")
	row("/alive after a restart (baseline: 100 conversations)", ms(r.alive), ms(r.aliveSmall), ratio(r.alive, r.aliveSmall), "1 s")
	row("RSS at /alive (baseline: 100 conversations)", mib(r.rssAlive.total()), mib(r.rssSmall.total()), fmt.Sprintf("%.2fx", float64(r.rssAlive.total())/float64(r.rssSmall.total())), "")
	row("  of it anonymous (heap, stacks)", mib(r.rssAlive.anon), mib(r.rssSmall.anon), fmt.Sprintf("%.2fx", float64(r.rssAlive.anon)/float64(r.rssSmall.anon)), "")
	row(fmt.Sprintf("RSS after a GET of each conversation (%s)", r.touch.Round(time.Millisecond)), mib(r.rssTouched.total()), mib(r.rssAlive.total()),
		fmt.Sprintf("%.2fx", float64(r.rssTouched.total())/float64(r.rssAlive.total())), "150 MiB")
	row("  of it anonymous (baseline: at /alive)", mib(r.rssTouched.anon), mib(r.rssAlive.anon),
		fmt.Sprintf("%.2fx", float64(r.rssTouched.anon)/float64(r.rssAlive.anon)), "")
	row(fmt.Sprintf("RSS after a PATCH of each conversation (%s)", r.change.Round(time.Millisecond)), mib(r.rssChanged.total()), mib(r.rssAlive.total()),
		fmt.Sprintf("%.2fx", float64(r.rssChanged.total())/float64(r.rssAlive.total())), "")
	row("  of it anonymous (baseline: at /alive)", mib(r.rssChanged.anon), mib(r.rssAlive.anon),
		fmt.Sprintf("%.2fx", float64(r.rssChanged.anon)/float64(r.rssAlive.anon)), "")
	row(fmt.Sprintf("RSS one idle window (%s) after the PATCHes", r.idle), mib(r.rssIdle.total()), mib(r.rssAlive.total()),
		fmt.Sprintf("%.2fx", float64(r.rssIdle.total())/float64(r.rssAlive.total())), "150 MiB")
	row("  of it anonymous (baseline: at /alive)", mib(r.rssIdle.anon), mib(r.rssAlive.anon),
		fmt.Sprintf("%.2fx", float64(r.rssIdle.anon)/float64(r.rssAlive.anon)), "")
	if r.recoverNote != "" {
		fmt.Fprintf(w, "restart with sandboxes to recover: not measured: %s\n", r.recoverNote)
	} else if r.sandboxes > 0 {
		row(fmt.Sprintf("/alive after a restart, %d sandboxes to recover (baseline: none)", r.sandboxes), ms(r.aliveRecover), ms(r.alive), ratio(r.aliveRecover, r.alive), "1 s")
		row("  every sandbox recovered (/ready), from the process start", ms(r.recovered), ms(r.aliveRecover), ratio(r.recovered, r.aliveRecover), "")
		fmt.Fprintf(w, "  %d created (never started) containers of the server, made in %s; %d adopted per the server's log\n",
			r.sandboxes, r.sandboxesCreate.Round(time.Millisecond), r.sandboxesRecovered)
	}
	fmt.Fprintf(w, "load average after the scale benchmark: %s\n", r.load)
}
