package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The agents benchmark runs conversations through the real agent loop of
// the server binary, with Docker sandboxes and the scripted model of this
// process (scriptedModel): each conversation's model calls the terminal
// tool with one short command per step for -agent-steps steps, then
// finish. First one conversation alone (the baseline), then -agent-convs
// at once. A step is the time from the model's receiving request k to its
// receiving request k+1: the model's answer, the server reading it and
// storing the action, the command in the sandbox, the observation stored,
// the next request built and sent. The agent loop's overhead of a step is
// that less the model's own time (request read to answer written, which
// the model measures) and less the command's time: from the terminal
// ActionEvent's timestamp to its ObservationEvent's, which the server
// stamps (the command in the sandbox and the way there and back). The
// first step of each conversation is left out: it holds the sandbox's
// start when the sandbox starts with the run. For scale, the same command
// through the bash route (POST .../bash/execute_bash_command) is timed
// from this process on the single conversation's idle sandbox.
type agentsResult struct {
	convs, steps int
	command      string

	single, many agentRun
	bashRoute    latencies // the command through the bash route, single conversation idle
	load         *machineLoad
	loadEnd      string
}

// agentRun is what one run of conversations measured.
type agentRun struct {
	convs           int
	id              string // the conversation, when there is one
	finished        int
	lost            []string // conversations that did not finish with every step stored, and why
	wall            time.Duration
	start           latencies // the runs posted -> each conversation's first model request
	first           latencies // each conversation's first step (sandbox start, if any)
	step            latencies // every later step, request to request
	model           latencies // the model's own time of those steps
	tool            latencies // the terminal action's time: its event to its observation's
	overhead        latencies // step - model - tool
	serverCPU       time.Duration
	rssBefore       memory // the server, before the conversations were made
	rssIdle         memory // and once they had finished
	sandboxes       int    // containers of the server running once they had finished
	sandboxMem      containerMemory
	sandboxMeasured int
}

// agentCommand is conversation n's command at step k: short, and
// different each step (the stuck detector would stop a loop of equal
// ones).
func agentCommand(n, k int) string { return fmt.Sprintf("echo conversation-%d-step-%d", n, k) }

func agentsBench(ctx context.Context, cfg Config, progress io.Writer) (res agentsResult, err error) {
	res.convs, res.steps, res.command = cfg.AgentConvs, cfg.AgentSteps, agentCommand(0, 0)
	fmt.Fprintf(progress, "\nagents: %d conversations at once, %d terminal steps each, against 1 alone; scripted model in this process\n",
		res.convs, res.steps)
	if err := ensureBinaries(ctx, cfg.ServerBin, progress); err != nil {
		return res, err
	}
	model, err := startScriptedModel(res.steps, agentCommand)
	if err != nil {
		return res, err
	}
	defer model.close()
	// Room for every conversation's sandbox at once, and no idle stop
	// while the benchmark measures.
	env := append([]string{
		"SANDBOX_IDLE_TIMEOUT=30m",
		"GOHANDS_CONVERSATION_IDLE=60m",
		"GOHANDS_MAX_CONVERSATIONS=" + strconv.Itoa(res.convs+10),
		"BROWSER_IMAGE=none",
		"LLM_MODEL=openai/scripted", "LLM_API_KEY=bench", "LLM_BASE_URL=" + model.baseURL(0),
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
	res.load = startLoad()

	// The baseline: one conversation alone, conversation number 0.
	if res.single, err = runAgents(ctx, cfg, g, eng, model, 0, 1, progress); err != nil {
		return res, fmt.Errorf("single conversation: %w", err)
	}
	if len(res.single.lost) > 0 {
		return res, fmt.Errorf("the single conversation did not finish: %s", res.single.lost[0])
	}
	single := res.single.id
	for i := range 20 {
		t := time.Now()
		var retries atomic.Int64
		if err := g.bashCommand(ctx, single, agentCommand(0, i), fmt.Sprintf("conversation-0-step-%d", i), time.Minute, &retries); err != nil {
			return res, fmt.Errorf("bash route: %w", err)
		}
		res.bashRoute = append(res.bashRoute, time.Since(t))
	}
	slices.Sort(res.bashRoute)

	// Many at once: conversations 1..convs.
	if res.many, err = runAgents(ctx, cfg, g, eng, model, 1, res.convs, progress); err != nil {
		return res, fmt.Errorf("%d conversations: %w", res.convs, err)
	}
	res.load.stop()
	res.loadEnd = loadAverage()
	if f := model.failures(); len(f) > 0 {
		return res, fmt.Errorf("the scripted model refused %d requests, the first: %s", len(f), f[0])
	}
	return res, nil
}

// runAgents creates conversations first..first+n-1, each with its own
// model URL and no run, starts every run at once and waits for them to
// finish; then it takes the steps' times from the model and the idle
// memory of the server and of its sandboxes.
func runAgents(ctx context.Context, cfg Config, g *gohands, eng *engine, model *scriptedModel, first, n int, progress io.Writer) (agentRun, error) {
	run := agentRun{convs: n}
	pid := g.cmd.Process.Pid
	run.rssBefore = rss(pid)
	ids := make([]string, n)
	for i := range n {
		var c struct {
			ID string `json:"id"`
		}
		create := map[string]any{
			"title": fmt.Sprint("agents ", first+i),
			"agent": map[string]any{"llm": map[string]any{"model": "openai/scripted", "base_url": model.baseURL(first + i), "api_key": "bench"}},
			"initial_message": map[string]any{"role": "user", "run": false,
				"content": []any{map[string]any{"type": "text", "text": fmt.Sprintf("run %d commands", cfg.AgentSteps)}}},
		}
		if err := g.call(ctx, http.MethodPost, "/api/conversations", create, &c); err != nil {
			return run, err
		}
		ids[i] = c.ID
	}
	if n == 1 {
		run.id = ids[0]
	}
	cpu0, t0 := processCPU(pid), time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, id := range ids {
		wg.Go(func() {
			// The cap's queue may answer 429 with Retry-After: wait it out.
			deadline := time.Now().Add(cfg.AgentBudget)
			for {
				st, h, body, err := g.status(ctx, http.MethodPost, "/api/conversations/"+id+"/run", nil, nil)
				switch {
				case err != nil:
					errs[i] = err
				case st == http.StatusTooManyRequests && time.Now().Before(deadline):
					s, _ := strconv.Atoi(h.Get("Retry-After"))
					time.Sleep(time.Duration(max(s, 1)) * time.Second)
					continue
				case st >= 300:
					errs[i] = fmt.Errorf("run %s: %d: %s", id, st, body)
				}
				return
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return run, err
		}
	}
	// Wait for every run to end, bounded.
	status := make([]string, n)
	deadline := time.Now().Add(cfg.AgentBudget)
	lastReport := time.Now()
	for {
		ended := 0
		for i, id := range ids {
			if done(status[i]) {
				ended++
				continue
			}
			var info struct {
				Status string `json:"execution_status"`
			}
			if err := g.call(ctx, http.MethodGet, "/api/conversations/"+id, nil, &info); err != nil {
				return run, err
			}
			if status[i] = info.Status; done(status[i]) {
				ended++
			}
		}
		if ended == n {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(progress, "  %d of %d runs ended within -agent-budget %s\n", ended, n, cfg.AgentBudget)
			break
		}
		if time.Since(lastReport) > 15*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(progress, "  %d of %d conversations ended after %s\n", ended, n, time.Since(t0).Round(time.Second))
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return run, ctx.Err()
		}
	}
	run.wall = time.Since(t0)
	run.serverCPU = processCPU(pid) - cpu0
	fmt.Fprintf(progress, "  %d conversation(s) of %d steps ran in %s\n", n, cfg.AgentSteps, run.wall.Round(time.Millisecond))

	// Every conversation finished, with each step's observation stored.
	for i, id := range ids {
		tools, err := toolTimes(ctx, g, id)
		if err != nil {
			return run, err
		}
		n := first + i
		turns := model.turns(n)
		switch {
		case status[i] != "finished":
			run.lost = append(run.lost, fmt.Sprintf("%s: %s", id, status[i]))
		case len(turns) != cfg.AgentSteps+1:
			run.lost = append(run.lost, fmt.Sprintf("%s: the model was asked %d times, want %d", id, len(turns), cfg.AgentSteps+1))
		default:
			run.start = append(run.start, turns[0].arrived.Sub(t0))
			stored := 0
			for k := range cfg.AgentSteps {
				tool, ok := tools[callID(n, k)]
				if !ok {
					continue
				}
				stored++
				step := turns[k+1].arrived.Sub(turns[k].arrived)
				if k == 0 {
					run.first = append(run.first, step)
					continue
				}
				model := turns[k].answered.Sub(turns[k].arrived)
				run.step = append(run.step, step)
				run.model = append(run.model, model)
				run.tool = append(run.tool, tool)
				run.overhead = append(run.overhead, step-model-tool)
			}
			if stored != cfg.AgentSteps {
				run.lost = append(run.lost, fmt.Sprintf("%s: %d terminal actions with their observation stored, want %d", id, stored, cfg.AgentSteps))
				continue
			}
			run.finished++
		}
	}
	for _, l := range []*latencies{&run.start, &run.first, &run.step, &run.model, &run.tool, &run.overhead} {
		slices.Sort(*l)
	}

	// Idle: the server and the sandboxes once every run has ended.
	time.Sleep(5 * time.Second)
	run.rssIdle = rss(pid)
	c, err := eng.count(ctx)
	if err != nil {
		return run, err
	}
	run.sandboxes = len(c.live)
	t := time.Now()
	run.sandboxMem, run.sandboxMeasured = eng.memory(ctx, c.live)
	fmt.Fprintf(progress, "  idle memory of %d running containers read in %s\n", run.sandboxes, time.Since(t).Round(time.Millisecond))
	return run, nil
}

func done(status string) bool {
	switch status {
	case "finished", "error", "stuck", "paused":
		return true
	}
	return false
}

func (r agentsResult) print(w io.Writer) {
	s, m := r.single, r.many
	fmt.Fprintf(w, "\n## agents: %d conversations at once, %d terminal steps each (%q), scripted model; baseline: 1 conversation alone, same run\n",
		r.convs, r.steps, r.command)
	fmt.Fprintf(w, "finished with every step stored: %d of %d (baseline %d of 1); ran in %s (baseline %s)\n",
		m.finished, m.convs, s.finished, m.wall.Round(time.Millisecond), s.wall.Round(time.Millisecond))
	for i, l := range m.lost {
		if i == 5 {
			fmt.Fprintf(w, "  ... %d more\n", len(m.lost)-5)
			break
		}
		fmt.Fprintf(w, "  lost: %s\n", l)
	}
	fmt.Fprintf(w, "%-62s %12s %12s %8s\n", "figure", "GoHands", "baseline", "ratio")
	row := func(name string, got, base time.Duration) {
		fmt.Fprintf(w, "%-62s %12s %12s %8s\n", name, ms(got), ms(base), ratio(got, base))
	}
	row("step, model request to the next, p50 (steps 2..n)", m.step.pct(0.5), s.step.pct(0.5))
	row("step p99", m.step.pct(0.99), s.step.pct(0.99))
	row("  the model's own time, p50", m.model.pct(0.5), s.model.pct(0.5))
	row("  the terminal action's time, p50 (action event to observation)", m.tool.pct(0.5), s.tool.pct(0.5))
	row("  the terminal action's time, p99", m.tool.pct(0.99), s.tool.pct(0.99))
	row("agent-loop overhead per step p50 (step - model - action)", m.overhead.pct(0.5), s.overhead.pct(0.5))
	row("agent-loop overhead per step p99", m.overhead.pct(0.99), s.overhead.pct(0.99))
	fmt.Fprintf(w, "%-62s %12s\n", "for scale: the same command through the bash route, p50", ms(r.bashRoute.pct(0.5)))
	row("runs posted to the first model request p50", m.start.pct(0.5), s.start.pct(0.5))
	row("runs posted to the first model request max", m.start.pct(1), s.start.pct(1))
	row("first step p50 (holds the sandbox's start, if at the run)", m.first.pct(0.5), s.first.pct(0.5))
	row("first step max", m.first.pct(1), s.first.pct(1))
	cpuPer := func(run agentRun) time.Duration {
		return run.serverCPU / time.Duration(max(run.convs*r.steps, 1))
	}
	row("server CPU per step (/proc/PID/stat, the whole run)", cpuPer(m), cpuPer(s))
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	per := func(b int64, n int) int64 { return b / int64(max(n, 1)) }
	mrow := func(name string, got, base int64) {
		fmt.Fprintf(w, "%-62s %12s %12s %8s\n", name, mib(got), mib(base), fmt.Sprintf("%.2fx", float64(got)/float64(max(base, 1))))
	}
	fmt.Fprintf(w, "idle, once the runs ended: %d running containers measured of %d (baseline %d of %d)\n",
		m.sandboxMeasured, m.sandboxes, s.sandboxMeasured, s.sandboxes)
	cg, cgBase := per(m.sandboxMem.cgroup, m.sandboxMeasured), per(s.sandboxMem.cgroup, s.sandboxMeasured)
	sh, shBase := per(m.sandboxMem.shim, m.sandboxMeasured), per(s.sandboxMem.shim, s.sandboxMeasured)
	srv := per(m.rssIdle.total()-m.rssBefore.total(), m.convs)
	srvBase := per(s.rssIdle.total()-s.rssBefore.total(), s.convs)
	mrow("idle memory per sandbox: container cgroup (agent and shell)", cg, cgBase)
	mrow("  its containerd shim's RSS on the host", sh, shBase)
	mrow("  the server's RSS growth per conversation", srv, srvBase)
	mrow("  in all", cg+sh+srv, cgBase+shBase+srvBase)
	fmt.Fprintln(w, "step k: from the model receiving request k to receiving request k+1 (the first step of each conversation")
	fmt.Fprintln(w, "left out); the model's own time: request read to answer flushed, as the model measured it; the action's")
	fmt.Fprintln(w, "time: the terminal ActionEvent's timestamp to its ObservationEvent's, as the server stamped them (the")
	fmt.Fprintln(w, "command in the sandbox and the way there and back); overhead: the rest, each step on its own. The bash")
	fmt.Fprintln(w, "route figure is the same command from this process through POST .../bash/execute_bash_command (idle).")
	fmt.Fprintf(w, "machine while it ran: %s; load average after: %s\n", r.load, r.loadEnd)
}

// callID is the tool call id the scripted model gives conversation n's
// call at step k.
func callID(n, k int) string { return fmt.Sprintf("call_c%d-%d", n, k) }

// toolTimes reads a conversation's terminal actions and observations and
// returns, by tool call id, the time from the action's event to its
// observation's: the command's time in the sandbox and the way there and
// back, as the server stamped the events (microseconds).
func toolTimes(ctx context.Context, g *gohands, id string) (map[string]time.Duration, error) {
	type ev struct {
		Timestamp  string `json:"timestamp"`
		ToolName   string `json:"tool_name"`
		ToolCallID string `json:"tool_call_id"`
	}
	read := func(kind string) (map[string]time.Time, error) {
		var page struct {
			Items []ev `json:"items"`
		}
		q := "/api/conversations/" + id + "/events/search?limit=100&kind=" + url.QueryEscape(kind)
		if err := g.call(ctx, http.MethodGet, q, nil, &page); err != nil {
			return nil, err
		}
		out := make(map[string]time.Time)
		for _, e := range page.Items {
			if e.ToolName != "terminal" {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, e.Timestamp)
			if err != nil {
				return nil, fmt.Errorf("conversation %s: %s timestamp %q: %w", id, kind, e.Timestamp, err)
			}
			out[e.ToolCallID] = t
		}
		return out, nil
	}
	actions, err := read("ActionEvent")
	if err != nil {
		return nil, err
	}
	observations, err := read("ObservationEvent")
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Duration)
	for call, a := range actions {
		if o, ok := observations[call]; ok {
			out[call] = o.Sub(a)
		}
	}
	return out, nil
}
