package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// fanoutPath is one way of getting a conversation's events to WebSocket
// subscribers: GoHands' (storage, stream, melody sockets) or the baseline.
type fanoutPath interface {
	// url is where subscribers connect.
	url() string
	// firstSeq is the seq the first event sent will get.
	firstSeq() int64
	// send hands event e, whose seq will be seq, to the path, and
	// returns how long it took until the event was queued to every
	// subscriber's socket (for GoHands: stored, fsynced and queued), and
	// how much of that was the storage commit.
	send(e *event.Message, seq int64) (queued, commit time.Duration, err error)
	// drops counts subscribers the server dropped as slow.
	drops() int64
	close()
}

// pathRun is one path under load: its subscribers and what was sent.
type pathRun struct {
	name        string
	p           fanoutPath
	subs        []*subscriber
	first, last int64
	clock       *sendClock
	sent        int
	t0          time.Time // shared by the paths and the disk probe
	queued      []sample  // per event: when it was sent, how long until queued
	commits     []time.Duration
	maxLag      time.Duration
	sending     time.Duration // from each round's first send to its last send's return
	wall, cpu   time.Duration
}

// pathResult is what one path measured.
type pathResult struct {
	name     string
	lat      summary // send call -> frame read by the subscriber
	queued   summary // send call -> queued to every socket (GoHands: stored first)
	socket   summary // queued to every socket -> frame read (subscribers without gaps)
	commit   summary // the storage commit within queued (GoHands)
	slowest  string  // the slowest queued stages, with when they started
	maxLag   time.Duration
	rate     float64       // events sent per second of sending
	wall     time.Duration // summed over its rounds
	cpu      time.Duration // this process, clients included
	subs     int
	complete int // subscribers that got every event
	gaps     int64
	dups     int
	missing  int64
	drops    int64
	closes   map[int]int // close codes received
	errs     []string
	closedAt []time.Duration // when subscribers stopped on an error before the end, from t0
}

type fanoutResult struct {
	rounds            int
	baseline, gohands pathResult
	load              *machineLoad
	writes            storage.WriteStats // GoHands' store, over the rounds
	disk              []sample           // the disk probe's fdatasyncs
	timer             []sample           // the timer probe's lateness
}

// fanout connects the same number of subscribers to the baseline and to
// GoHands, then sends the events in rounds that alternate between the two,
// so that both see the same load from the rest of the machine.
func fanout(ctx context.Context, cfg Config, progress io.Writer) (fanoutResult, error) {
	res := fanoutResult{rounds: min(cfg.Rounds, cfg.Events)}
	perPath := time.Duration(float64(cfg.Events) / cfg.Rate * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(progress, "\nfanout: %d subscribers, %d events at %g/s in %d alternating rounds (about %s per path)\n",
		cfg.Subscribers, cfg.Events, cfg.Rate, res.rounds, perPath)
	raw, err := newRawPath(cfg.SocketBuffer)
	if err != nil {
		return res, err
	}
	defer raw.close()
	gh, err := newSessionPath(ctx, cfg.SocketBuffer)
	if err != nil {
		return res, err
	}
	defer gh.close()
	runs := []*pathRun{
		{name: "baseline: gorilla writers, no storage", p: raw},
		{name: "GoHands: Append -> /sockets/events", p: gh},
	}
	for _, r := range runs {
		if err := r.connect(ctx, cfg); err != nil {
			return res, fmt.Errorf("%s: %w", r.name, err)
		}
		defer r.disconnect()
	}
	// The server attaches a socket to the stream just after its greeting;
	// the subscribers asked for everything after first-1, so one attached
	// late still gets every event, from storage.
	time.Sleep(500 * time.Millisecond)

	text := strings.Repeat("x", cfg.TextBytes)
	res.load = startLoad()
	t0 := time.Now()
	for _, r := range runs {
		r.t0 = t0
	}
	probe, err := startDiskProbe(gh.dir, 50*time.Millisecond, t0)
	if err != nil {
		return res, err
	}
	timer := startTimerProbe(t0)
	ws0 := gh.store.WriteStats()
	for round := range res.rounds {
		n := cfg.Events / res.rounds
		if round == res.rounds-1 {
			n = cfg.Events - round*n
		}
		for _, r := range runs {
			if err := r.sendRound(ctx, cfg, n, text); err != nil {
				probe.finish()
				timer.finish()
				return res, fmt.Errorf("%s: %w", r.name, err)
			}
		}
		fmt.Fprintf(progress, "  round %d/%d done\n", round+1, res.rounds)
	}
	res.load.stop()
	res.disk = probe.finish()
	res.timer = timer.finish()
	ws1 := gh.store.WriteStats()
	res.writes = storage.WriteStats{Commits: ws1.Commits - ws0.Commits, Writes: ws1.Writes - ws0.Writes, CommitTime: ws1.CommitTime - ws0.CommitTime}
	res.baseline = runs[0].result()
	res.gohands = runs[1].result()
	return res, nil
}

// connect dials the subscribers and waits for their greetings.
func (r *pathRun) connect(ctx context.Context, cfg Config) error {
	r.first = r.p.firstSeq()
	r.last = r.first + int64(cfg.Events) - 1
	r.clock = newSendClock(r.first, cfg.Events)
	r.queued = make([]sample, 0, cfg.Events)
	var greeted sync.WaitGroup
	subs, err := dialSubscribers(ctx, r.p.url(), cfg.Subscribers, r.first, r.last, r.clock, &greeted)
	if err != nil {
		return err
	}
	r.subs = subs
	if !waitGroup(ctx, &greeted, time.Minute) {
		return errors.New("subscribers not greeted within a minute")
	}
	return nil
}

func (r *pathRun) disconnect() {
	for _, s := range r.subs {
		s.conn.Close()
	}
}

// sendRound sends n events at the steady rate, then waits until every
// subscriber has them (or cfg.Drain passes), so that the next round, on the
// other path, starts on a quiet machine.
func (r *pathRun) sendRound(ctx context.Context, cfg Config, n int, text string) error {
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	cpu0 := cpuTime()
	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else {
			r.maxLag = max(r.maxLag, -d)
		}
		seq := r.first + int64(r.sent)
		e := &event.Message{LLMMessage: event.LLMMessage{Role: "user", Content: event.Text(text)}}
		e.Source = event.SourceUser
		r.clock.mark(seq)
		at := time.Since(r.t0)
		queued, commit, err := r.p.send(e, seq)
		if err != nil {
			return fmt.Errorf("send event %d: %w", seq, err)
		}
		r.queued = append(r.queued, sample{at: at, took: queued})
		r.commits = append(r.commits, commit)
		if e.Seq != seq {
			return fmt.Errorf("event sent as seq %d got seq %d: something else appended to the conversation", seq, e.Seq)
		}
		r.sent++
	}
	r.sending += time.Since(start)
	r.waitCaughtUp(ctx, r.first+int64(r.sent), cfg.Drain)
	r.wall += time.Since(start)
	r.cpu += cpuTime() - cpu0
	return nil
}

// waitCaughtUp waits until every subscriber expects next (or has stopped).
func (r *pathRun) waitCaughtUp(ctx context.Context, next int64, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, s := range r.subs {
		for !s.caughtUp(next) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// result closes the subscribers and adds up what they saw.
func (r *pathRun) result() pathResult {
	res := pathResult{name: r.name, subs: len(r.subs), closes: make(map[int]int), maxLag: r.maxLag, wall: r.wall, cpu: r.cpu,
		rate: float64(r.sent) / r.sending.Seconds()}
	for _, s := range r.subs {
		s.conn.Close()
		<-s.done
	}
	res.drops = r.p.drops()
	var all, socket []time.Duration
	for _, s := range r.subs {
		all = append(all, s.lat...)
		if s.gaps == 0 {
			// The k-th latency is of seq first+k: what the frame took
			// once queued is its latency less the send call's queueing.
			for k, l := range s.lat {
				socket = append(socket, l-r.queued[k].took)
			}
		}
		s.lat = nil
		res.gaps += s.gaps
		res.dups += s.dups
		missing := r.last - (s.next - 1) // events after the last one received
		res.missing += missing
		if s.gaps == 0 && s.dups == 0 && missing == 0 {
			res.complete++
		}
		if s.code != 0 {
			res.closes[s.code]++
		}
		if missing > 0 && s.err != nil {
			if len(res.errs) < 3 {
				res.errs = append(res.errs, s.err.Error())
			}
			res.closedAt = append(res.closedAt, s.ended.Sub(r.t0))
		}
	}
	res.lat = summarize(all)
	res.queued = summarize(took(r.queued))
	res.commit = summarize(slices.Clone(r.commits))
	res.slowest = r.slowest(3)
	res.socket = summarize(socket)
	return res
}

// slowest formats the n slowest queued stages: when, how long, and how
// much of it the storage commit took.
func (r *pathRun) slowest(n int) string {
	idx := make([]int, len(r.queued))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(r.queued[b].took - r.queued[a].took) })
	var parts []string
	for _, i := range idx[:min(n, len(idx))] {
		parts = append(parts, fmt.Sprintf("%s at %.1f s (commit %s)", ms(r.queued[i].took), r.queued[i].at.Seconds(), ms(r.commits[i])))
	}
	return strings.Join(parts, ", ")
}

// waitGroup waits for wg for at most d.
func waitGroup(ctx context.Context, wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
	case <-ctx.Done():
	}
	return false
}

func (res fanoutResult) print(w io.Writer, cfg Config) {
	fmt.Fprintf(w, "\n## socket fan-out: 1 conversation, %d subscribers, %d events at %g/s (%d alternating rounds), socket buffer %d\n\n",
		cfg.Subscribers, cfg.Events, cfg.Rate, res.rounds, cfg.SocketBuffer)
	b, g := res.baseline, res.gohands
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "delivery latency\tp50\tp99\tmax\tcomplete subs\tgaps\tdups\tmissing\tdrops")
	for _, r := range []pathResult{b, g} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\n", r.name, ms(r.lat.P50), ms(r.lat.P99), ms(r.lat.Max),
			r.complete, r.subs, r.gaps, r.dups, r.missing, r.drops)
	}
	fmt.Fprintf(tw, "ratio GoHands/baseline\t%s\t%s\t%s\t\t\t\t\t\n", ratio(g.lat.P50, b.lat.P50), ratio(g.lat.P99, b.lat.P99), ratio(g.lat.Max, b.lat.Max))
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "stages\tqueued p50\tp99\tmax\tsocket p50\tp99\tmax\tsend late max\trate kept\tCPU\twall")
	for _, r := range []pathResult{b, g} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f/s\t%.1f s\t%.1f s\n", r.name,
			ms(r.queued.P50), ms(r.queued.P99), ms(r.queued.Max), ms(r.socket.P50), ms(r.socket.P99), ms(r.socket.Max),
			ms(r.maxLag), r.rate, r.cpu.Seconds(), r.wall.Seconds())
	}
	fmt.Fprintf(tw, "ratio GoHands/baseline\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t%s\t\n",
		ratio(g.queued.P50, b.queued.P50), ratio(g.queued.P99, b.queued.P99), ratio(g.queued.Max, b.queued.Max),
		ratio(g.socket.P50, b.socket.P50), ratio(g.socket.P99, b.socket.P99), ratio(g.socket.Max, b.socket.Max), ratio(g.cpu, b.cpu))
	tw.Flush()
	fmt.Fprintln(w, "\ndelivery latency: the send call (Append, or the baseline's broadcast) starts -> the subscriber has read")
	fmt.Fprintln(w, "the frame; every frame of every subscriber counts. It is the sum of two stages. queued: the send call")
	fmt.Fprintln(w, "starts -> the frame is queued to every socket (GoHands: stored and fsynced by storage.Append first, under")
	fmt.Fprintln(w, "the stream's lock). socket: queued -> read by the subscriber (melody or gorilla writer, loopback, client).")
	fmt.Fprintf(w, "send late: how far the steady schedule fell behind; rate kept: events sent per second while sending\n")
	fmt.Fprintf(w, "(the schedule asks for %g/s). CPU is this process's, its %d clients included.\n", cfg.Rate, cfg.Subscribers)
	for _, r := range []pathResult{b, g} {
		if len(r.closes) > 0 {
			var parts []string
			for _, c := range slices.Sorted(maps.Keys(r.closes)) {
				parts = append(parts, fmt.Sprintf("%d x%d", c, r.closes[c]))
			}
			fmt.Fprintf(w, "%s: close codes received: %s\n", r.name, strings.Join(parts, ", "))
		}
		if len(r.closedAt) > 0 {
			slices.Sort(r.closedAt)
			fmt.Fprintf(w, "%s: %d subscribers stopped early, the first at %.1f s, the last at %.1f s\n",
				r.name, len(r.closedAt), r.closedAt[0].Seconds(), r.closedAt[len(r.closedAt)-1].Seconds())
		}
		for _, e := range r.errs {
			fmt.Fprintf(w, "%s: a subscriber stopped early: %s\n", r.name, e)
		}
	}
	check := "every subscriber got every event once, in seq order, none dropped"
	if g.complete != g.subs || g.gaps != 0 || g.dups != 0 || g.missing != 0 || g.drops != 0 {
		check = "FAILED: not every subscriber got every event once, in order"
	}
	if c := res.writes.Commits; c > 0 {
		fmt.Fprintf(w, "GoHands storage (storage.WriteStats): %d commits for %d appends; a commit (bbolt transaction, fdatasyncs\n", c, res.writes.Writes)
		fmt.Fprintf(w, "included) took p50 %s, p99 %s, max %s, mean %s, of the mean %s queued stage\n",
			ms(g.commit.P50), ms(g.commit.P99), ms(g.commit.Max), ms(g.commit.Mean), ms(g.queued.Mean))
	}
	if len(res.disk) > 0 {
		d := summarize(took(res.disk))
		fmt.Fprintf(w, "disk alone: a 4 KiB write + fdatasync beside the state file every 50 ms during the rounds: p50 %s, p99 %s, max %s\n",
			ms(d.P50), ms(d.P99), ms(d.Max))
		fmt.Fprintf(w, "slowest GoHands Appends: %s\n", g.slowest)
		fmt.Fprintf(w, "slowest disk probes: %s\n", slowest(res.disk, 3))
	}
	if len(res.timer) > 0 {
		t := summarize(took(res.timer))
		fmt.Fprintf(w, "this process, a 10 ms sleep in a loop: woke late by p50 %s, p99 %s, max %s; latest: %s\n",
			ms(t.P50), ms(t.P99), ms(t.Max), slowest(res.timer, 3))
	}
	fmt.Fprintf(w, "machine during the rounds: %s\n", res.load)
	fmt.Fprintf(w, "GoHands delivery check: %s\n", check)
	fmt.Fprintf(w, "target: GoHands p99 <= %s: %s (p99 %s)\n", ms(cfg.FanoutTarget), verdict(g.lat.P99, cfg.FanoutTarget), ms(g.lat.P99))
}
