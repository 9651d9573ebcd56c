package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// routeResult is what the load on one route measured.
type routeResult struct {
	name      string
	lat       summary // request sent -> answer read
	fromDue   summary // the request's scheduled time -> answer read
	errors    int
	firstErr  string
	late      time.Duration // how late the dispatcher sent a request, at worst
	elapsed   time.Duration // summed over its slices
	serverCPU time.Duration
	clientCPU time.Duration
}

type getResult struct {
	baseline, conv routeResult
	server         string
	sandbox        string // the conversation's sandbox status while measured
	load           *machineLoad
}

// getBench starts the server binary, creates a conversation and loads
// GET /api/conversations/{id} and GET /alive in alternating slices at the
// same fixed rate.
func getBench(ctx context.Context, cfg Config, progress io.Writer) (getResult, error) {
	res := getResult{server: cfg.ServerBin}
	fmt.Fprintf(progress, "\nget: %d requests/s for %s per route, against %s\n", cfg.RPS, cfg.Duration, cfg.ServerBin)
	if err := ensureBinaries(ctx, cfg.ServerBin, progress); err != nil {
		return res, err
	}
	g, err := startGohands(ctx, cfg.ServerBin)
	if err != nil {
		return res, err
	}
	defer func() {
		if err := g.stop(); err != nil {
			fmt.Fprintf(progress, "  server stop: %v\n", err)
		}
	}()
	fmt.Fprintf(progress, "  server pid %d at %s\n", g.cmd.Process.Pid, g.base)

	// A small sandbox with no network; the benchmark waits for its start
	// to finish so that the engine's work does not overlap the load.
	var conv struct {
		ID string `json:"id"`
	}
	create := map[string]any{"title": "GET benchmark",
		"sandbox": map[string]any{"memory": "256m", "cpus": 0.5, "pids_limit": 256, "network": "none"}}
	if err := g.call(ctx, http.MethodPost, "/api/conversations", create, &conv); err != nil {
		return res, err
	}
	defer func() {
		// Removes the sandbox too, which a stopped server would leave
		// running for the next one to adopt.
		del, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := g.call(del, http.MethodDelete, "/api/conversations/"+conv.ID, nil, nil); err != nil {
			fmt.Fprintf(progress, "  delete conversation: %v\n", err)
		}
	}()
	if res.sandbox, err = waitSandbox(ctx, g, conv.ID, cfg.SandboxWait); err != nil {
		return res, err
	}
	fmt.Fprintf(progress, "  conversation %s, sandbox %s\n", conv.ID, res.sandbox)

	l := newLoader(g)
	routes := []struct {
		path string
		rec  *routeRecorder
	}{
		{"/alive", &routeRecorder{}},
		{"/api/conversations/" + conv.ID, &routeRecorder{}},
	}
	n := max(int(cfg.Slice.Seconds()*float64(cfg.RPS)), 1)
	interval := time.Second / time.Duration(cfg.RPS)
	for _, r := range routes {
		if err := l.slice(ctx, r.path, max(int(cfg.Warmup.Seconds()*float64(cfg.RPS)), 1), interval, &routeRecorder{}); err != nil {
			return res, err
		}
	}
	rounds := max(int(cfg.Duration/cfg.Slice), 1)
	res.load = startLoad()
	for range rounds {
		for _, r := range routes {
			srv0, cl0, t0 := processCPU(g.cmd.Process.Pid), cpuTime(), time.Now()
			if err := l.slice(ctx, r.path, n, interval, r.rec); err != nil {
				return res, err
			}
			r.rec.elapsed += time.Since(t0)
			r.rec.serverCPU += processCPU(g.cmd.Process.Pid) - srv0
			r.rec.clientCPU += cpuTime() - cl0
		}
	}
	res.load.stop()
	res.baseline = routes[0].rec.result("GET /alive (baseline)")
	res.conv = routes[1].rec.result("GET /api/conversations/{id}")
	// The sandbox's state at the end, to show it did not change meanwhile.
	if st, err := sandboxStatus(ctx, g, conv.ID); err == nil && st != res.sandbox {
		res.sandbox += " (" + st + " at the end)"
	}
	return res, nil
}

// waitSandbox waits until the conversation's sandbox has started or failed.
func waitSandbox(ctx context.Context, g *gohands, id string, wait time.Duration) (string, error) {
	start := time.Now()
	for {
		st, err := sandboxStatus(ctx, g, id)
		if err != nil {
			return "", err
		}
		// "none" comes first, until the background start says
		// "creating"; it stays only when the server runs no sandboxes.
		switch {
		case st == "running" || st == "error" || st == "none" && time.Since(start) > 5*time.Second:
			return st, nil
		case time.Since(start) > wait:
			return st + " (still, after " + wait.String() + ")", nil
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func sandboxStatus(ctx context.Context, g *gohands, id string) (string, error) {
	var info struct {
		Sandbox struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"sandbox"`
	}
	if err := g.call(ctx, http.MethodGet, "/api/conversations/"+id, nil, &info); err != nil {
		return "", err
	}
	return info.Sandbox.Status, nil
}

// loader sends GETs at a fixed rate, open loop: each request leaves at its
// scheduled time whatever the ones before it are doing, on a pool of
// keep-alive connections.
type loader struct {
	g      *gohands
	client *http.Client
}

func newLoader(g *gohands) *loader {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &loader{g: g, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

type routeRecorder struct {
	mu        sync.Mutex
	lat, due  []time.Duration
	errors    int
	firstErr  string
	late      time.Duration
	elapsed   time.Duration
	serverCPU time.Duration
	clientCPU time.Duration
}

func (r *routeRecorder) add(lat, due time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		return
	}
	r.lat = append(r.lat, lat)
	r.due = append(r.due, due)
}

func (r *routeRecorder) result(name string) routeResult {
	return routeResult{name: name, lat: summarize(r.lat), fromDue: summarize(r.due), errors: r.errors, firstErr: r.firstErr,
		late: r.late, elapsed: r.elapsed, serverCPU: r.serverCPU, clientCPU: r.clientCPU}
}

// slice sends n requests to path, one every interval, and waits for the
// answers.
func (l *loader) slice(ctx context.Context, path string, n int, interval time.Duration, rec *routeRecorder) error {
	url := l.g.base + path
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			wg.Wait()
			return err
		}
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else {
			rec.mu.Lock()
			rec.late = max(rec.late, -d)
			rec.mu.Unlock()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			err := l.get(ctx, url)
			end := time.Now()
			rec.add(end.Sub(t), end.Sub(due), err)
		}()
	}
	wg.Wait()
	return nil
}

func (l *loader) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Session-API-Key", l.g.key)
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// processCPU returns the CPU time (user + system) of process pid so far,
// from /proc (in clock ticks of 10 ms).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces; fields count
	// from after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func (res getResult) print(w io.Writer, cfg Config) {
	fmt.Fprintf(w, "\n## GET at %d requests/s, open loop, %s per route in alternating %s slices, keep-alive, from this process to %s\n",
		cfg.RPS, cfg.Duration, cfg.Slice, res.server)
	fmt.Fprintf(w, "conversation's sandbox: %s\n\n", res.sandbox)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "route\trequests\terrors\tp50\tp99\tmax\tp99 from schedule\tsend late max\tserver CPU/req\tclient CPU/req\t")
	for _, r := range []routeResult{res.baseline, res.conv} {
		reqs := r.lat.N + r.errors
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.name, reqs, r.errors,
			ms(r.lat.P50), ms(r.lat.P99), ms(r.lat.Max), ms(r.fromDue.P99), ms(r.late),
			perRequest(r.serverCPU, reqs), perRequest(r.clientCPU, reqs))
	}
	b, c := res.baseline, res.conv
	fmt.Fprintf(tw, "ratio conversation/alive\t\t\t%s\t%s\t%s\t%s\t\t%s\t\t\n", ratio(c.lat.P50, b.lat.P50), ratio(c.lat.P99, b.lat.P99),
		ratio(c.lat.Max, b.lat.Max), ratio(c.fromDue.P99, b.fromDue.P99), ratio(c.serverCPU, b.serverCPU))
	tw.Flush()
	fmt.Fprintln(w, "\nlatency: the request is sent -> its answer is read; \"from schedule\" counts from when the open-loop")
	fmt.Fprintln(w, "schedule meant to send it. Server CPU is read from /proc (10 ms ticks).")
	fmt.Fprintf(w, "machine during the load: %s\n", res.load)
	for _, r := range []routeResult{b, c} {
		if r.firstErr != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", r.name, r.firstErr)
		}
	}
	fmt.Fprintf(w, "target: GET /api/conversations/{id} p99 <= %s: %s (p99 %s)\n", ms(cfg.GetTarget), verdict(c.lat.P99, cfg.GetTarget), ms(c.lat.P99))
}

func perRequest(d time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(n))
}
