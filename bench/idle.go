package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The idle benchmark is the server binary with Docker sandboxes, a short
// sandbox idle timeout and a live cap: it creates many conversations
// (no model), sends each one command through
// POST /api/conversations/{id}/bash/execute_bash_command, and leaves them
// idle. It counts the engine's containers of this server (label
// gohands.server) while it goes and after the idle timeout: running, and
// stopped (on the engine, doing nothing: stopped and forgotten). The
// target is at most the cap, none stopped, once the idle timeout has
// passed; the baselines in the same run are the cap itself and the first
// conversations' create-and-command time.
type idleResult struct {
	convs, done, clients int
	cap                  int
	idleTimeout          time.Duration
	elapsed              time.Duration // creating and commanding
	stoppedEarly         string        // why fewer than convs were made

	first, all       latencies // create + first command, per conversation
	retries          int       // answers 429/503 waited out
	peakRunning      int       // sampled every 2 s
	peakTotal        int
	atIdle, later    containerCount // last command + idle timeout + grace, + another idle timeout
	atIdleAfter      time.Duration
	laterAfter       time.Duration
	reuse            time.Duration // a command on an idle conversation, after the wait
	reuseErr         string
	rssStart, rssEnd memory
	serverCPU        time.Duration
	load             *machineLoad
	loadEnd          string
}

// idleFirst is how many of the first conversations make the baseline.
const idleFirst = 50

// status sends one request with the API key and returns the answer's
// status, headers and body; out (when not nil) gets a 2xx JSON answer.
func (g *gohands) status(ctx context.Context, method, path string, body, out any) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("X-Session-API-Key", g.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := scaleClient.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, resp.Header, b, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, resp.Header, b, nil
}

// bashCommand runs command in conversation id's sandbox through the bash
// route and checks its output holds want. A 429 or 503 answer (the cap
// full, the sandbox not ready) is waited out (Retry-After, else a second)
// for up to wait; retries counts them.
func (g *gohands) bashCommand(ctx context.Context, id, command, want string, wait time.Duration, retries *atomic.Int64) error {
	deadline := time.Now().Add(wait)
	path := "/api/conversations/" + id + "/bash/execute_bash_command"
	for {
		var res struct {
			ExitCode *int   `json:"exit_code"`
			Stdout   string `json:"stdout"`
			Stderr   string `json:"stderr"`
		}
		st, h, body, err := g.status(ctx, http.MethodPost, path, map[string]any{"command": command, "timeout": 120}, &res)
		switch {
		case err != nil:
			return err
		case st == http.StatusOK:
			if !strings.Contains(res.Stdout, want) {
				return fmt.Errorf("conversation %s: command %q printed %q (stderr %q), want %q", id, command, res.Stdout, res.Stderr, want)
			}
			return nil
		case (st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable) && time.Now().Before(deadline):
			retries.Add(1)
			pause := time.Second
			if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s >= 0 {
				pause = time.Duration(max(s, 1)) * time.Second
			}
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			return fmt.Errorf("conversation %s: bash: %d: %s", id, st, bytes.TrimSpace(body))
		}
	}
}

func idleBench(ctx context.Context, cfg Config, progress io.Writer) (res idleResult, err error) {
	res.convs, res.clients, res.cap, res.idleTimeout = cfg.IdleConvs, cfg.IdleClients, cfg.LiveCap, cfg.IdleTimeout
	fmt.Fprintf(progress, "\nidle: %d conversations, one command each, %d clients; live cap %d, sandbox idle timeout %s; at most %s\n",
		res.convs, res.clients, res.cap, res.idleTimeout, cfg.IdleBudget)
	if err := ensureBinaries(ctx, cfg.ServerBin, progress); err != nil {
		return res, err
	}
	env := append([]string{
		"SANDBOX_IDLE_TIMEOUT=" + cfg.IdleTimeout.String(),
		"GOHANDS_MAX_CONVERSATIONS=" + strconv.Itoa(cfg.LiveCap),
		"BROWSER_IMAGE=none",
	}, cfg.ServerEnv...)
	g, eng, cleanup, err := startLive(ctx, cfg, env, progress)
	if err != nil {
		return res, err
	}
	defer cleanup()
	// The figures go out before the cleanup, which can take minutes on a
	// loaded engine.
	defer func() {
		if err == nil {
			res.print(progress)
		}
	}()
	pid := g.cmd.Process.Pid
	res.rssStart = rss(pid)
	cpu0 := processCPU(pid)
	res.load = startLoad()

	// The engine, sampled every 2 s for the peak.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	var (
		peakMu  sync.Mutex
		sampled sync.WaitGroup
	)
	sampled.Go(func() {
		for {
			if c, err := eng.count(sampleCtx); err == nil {
				peakMu.Lock()
				res.peakRunning = max(res.peakRunning, c.running)
				res.peakTotal = max(res.peakTotal, c.total())
				peakMu.Unlock()
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	})

	var (
		next, made, retries atomic.Int64
		mu                  sync.Mutex
		lat                 = make([]time.Duration, res.convs)
		ids                 = make([]string, res.convs)
		firstErr            error
		lastCommand         time.Time
		wg                  sync.WaitGroup
	)
	runCtx, stopRun := context.WithTimeout(ctx, cfg.IdleBudget)
	defer stopRun()
	start := time.Now()
	for range res.clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= res.convs || runCtx.Err() != nil {
					return
				}
				t := time.Now()
				var c struct {
					ID string `json:"id"`
				}
				err := g.call(runCtx, http.MethodPost, "/api/conversations", map[string]any{"title": fmt.Sprint("idle ", i)}, &c)
				if err == nil {
					want := fmt.Sprint("idle-", i)
					err = g.bashCommand(runCtx, c.ID, "echo "+want, want, 3*time.Minute, &retries)
				}
				mu.Lock()
				if err != nil {
					if firstErr == nil && runCtx.Err() == nil {
						firstErr = err
					}
					mu.Unlock()
					stopRun()
					return
				}
				lat[i], ids[i] = time.Since(t), c.ID
				lastCommand = time.Now()
				mu.Unlock()
				if n := made.Add(1); n%50 == 0 || int(n) == res.convs {
					c, _ := eng.count(ctx)
					fmt.Fprintf(progress, "  %d/%d conversations commanded in %s; engine: %s\n",
						n, res.convs, time.Since(start).Round(time.Second), c)
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.retries = int(retries.Load())
	if firstErr != nil {
		return res, firstErr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	for i, d := range lat {
		if ids[i] == "" {
			continue
		}
		res.done++
		res.all = append(res.all, d)
		if i < idleFirst {
			res.first = append(res.first, d)
		}
	}
	if res.done < res.convs {
		res.stoppedEarly = fmt.Sprintf("stopped after %d of %d: -idle-budget %s spent", res.done, res.convs, cfg.IdleBudget)
		fmt.Fprintf(progress, "  %s\n", res.stoppedEarly)
	}
	slices.Sort(res.all)
	slices.Sort(res.first)

	// Idle: the count once the timeout has passed for the last
	// conversation commanded, and once more one timeout later.
	grace := max(cfg.IdleTimeout/2, 15*time.Second)
	for _, w := range []struct {
		after time.Duration
		into  *containerCount
		at    *time.Duration
	}{
		{cfg.IdleTimeout + grace, &res.atIdle, &res.atIdleAfter},
		{2*cfg.IdleTimeout + grace, &res.later, &res.laterAfter},
	} {
		wait := time.Until(lastCommand.Add(w.after))
		fmt.Fprintf(progress, "  idle: waiting %s (until %s after the last command)\n", wait.Round(time.Second), w.after)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		c, err := eng.count(ctx)
		if err != nil {
			return res, err
		}
		*w.into, *w.at = c, time.Since(lastCommand)
		fmt.Fprintf(progress, "  %s after the last command: %s\n", w.at.Round(time.Second), c)
	}
	stopSampling()
	sampled.Wait()

	// One idle conversation used again.
	if res.done > 0 {
		t := time.Now()
		if err := g.bashCommand(ctx, ids[0], "echo again-0", "again-0", 3*time.Minute, &retries); err != nil {
			res.reuseErr = err.Error()
		}
		res.reuse = time.Since(t)
	}
	res.rssEnd = rss(pid)
	res.serverCPU = processCPU(pid) - cpu0
	res.load.stop()
	res.loadEnd = loadAverage()
	return res, nil
}

// startLive starts the server binary with Docker sandboxes and the
// settings in env, and the view of its containers on the engine. cleanup
// stops the server and removes every container and volume it left.
func startLive(ctx context.Context, cfg Config, env []string, progress io.Writer) (*gohands, *engine, func(), error) {
	g, err := startGohandsWith(ctx, cfg.ServerBin, "", env)
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err := newEngine(g.serverID)
	if err != nil {
		g.stop()
		return nil, nil, nil, err
	}
	fmt.Fprintf(progress, "  server pid %d at %s, server id %s\n", g.cmd.Process.Pid, g.base, g.serverID)
	cleanup := func() {
		t := time.Now()
		if err := g.stop(); err != nil {
			fmt.Fprintf(progress, "  server stop: %v\n", err)
		}
		rctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		// A loaded engine may time out on some: they are tried again.
		removed := 0
		for pass := 0; pass < 3; pass++ {
			n, err := eng.removeAll(rctx)
			removed += n
			if err == nil {
				break
			}
			fmt.Fprintf(progress, "  removing containers: %v\n", err)
		}
		vols, err := eng.removeVolumes(rctx)
		if err != nil {
			fmt.Fprintf(progress, "  removing volumes: %v\n", err)
		}
		fmt.Fprintf(progress, "  server stopped and the %d containers and %d volumes it left removed in %s\n", removed, vols, time.Since(t).Round(time.Second))
		eng.close()
	}
	return g, eng, cleanup, nil
}

func (r idleResult) print(w io.Writer) {
	fmt.Fprintf(w, "\n## idle: %d conversations created, one command each (%d clients), then left idle; live cap %d, sandbox idle timeout %s\n",
		r.done, r.clients, r.cap, r.idleTimeout)
	if r.stoppedEarly != "" {
		fmt.Fprintf(w, "%s\n", r.stoppedEarly)
	}
	fmt.Fprintf(w, "created and commanded in %s (%.1f/s), %d answers 429/503 waited out; server CPU %.1f s (%.0f ms a conversation)\n",
		r.elapsed.Round(time.Second), float64(r.done)/r.elapsed.Seconds(), r.retries, r.serverCPU.Seconds(),
		float64(r.serverCPU.Milliseconds())/float64(max(r.done, 1)))
	fmt.Fprintf(w, "%-62s %12s %12s %8s %12s\n", "figure", "GoHands", "baseline", "ratio", "target")
	row := func(name, got, base, ratio, target string) {
		fmt.Fprintf(w, "%-62s %12s %12s %8s %12s\n", name, got, base, ratio, target)
	}
	count := func(n int) string { return strconv.Itoa(n) }
	per := func(a, b int) string { return fmt.Sprintf("%.2fx", float64(a)/float64(max(b, 1))) }
	row(fmt.Sprintf("containers %s after the last command (baseline: cap)", r.atIdleAfter.Round(time.Second)),
		count(r.atIdle.total()), count(r.cap), per(r.atIdle.total(), r.cap), "<= cap")
	row("  of them running", count(r.atIdle.running), count(r.cap), per(r.atIdle.running, r.cap), "")
	row("  of them stopped (on the engine, doing nothing)", count(r.atIdle.stopped), "0", "", "0")
	row(fmt.Sprintf("containers %s after the last command", r.laterAfter.Round(time.Second)),
		count(r.later.total()), count(r.cap), per(r.later.total(), r.cap), "<= cap")
	row("  of them stopped", count(r.later.stopped), "0", "", "0")
	row("peak running while commanding (sampled every 2 s; baseline: cap)", count(r.peakRunning), count(r.cap), per(r.peakRunning, r.cap), "<= cap")
	row("peak containers on the engine (per conversation made)", count(r.peakTotal), count(r.done), per(r.peakTotal, r.done), "")
	row(fmt.Sprintf("create + command p50 (baseline: the first %d)", idleFirst), ms(r.all.pct(0.5)), ms(r.first.pct(0.5)), ratio(r.all.pct(0.5), r.first.pct(0.5)), "")
	row("create + command p95", ms(r.all.pct(0.95)), ms(r.first.pct(0.95)), ratio(r.all.pct(0.95), r.first.pct(0.95)), "")
	reuse := ms(r.reuse)
	if r.reuseErr != "" {
		reuse = "failed"
	}
	row("command on the first conversation after the wait (baseline: p50)", reuse, ms(r.all.pct(0.5)), ratio(r.reuse, r.all.pct(0.5)), "")
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	row("server RSS at the end (baseline: at its start)", mib(r.rssEnd.total()), mib(r.rssStart.total()),
		fmt.Sprintf("%.2fx", float64(r.rssEnd.total())/float64(max(r.rssStart.total(), 1))), "")
	if r.reuseErr != "" {
		fmt.Fprintf(w, "command after the wait: %s\n", r.reuseErr)
	}
	verdict := "met"
	if r.atIdle.total() > r.cap || r.atIdle.stopped > 0 || r.done < r.convs {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "target (containers at most the cap after the idle timeout, none stopped, all %d made): %s\n", r.convs, verdict)
	fmt.Fprintf(w, "machine while it ran: %s; load average after: %s\n", r.load, r.loadEnd)
}
