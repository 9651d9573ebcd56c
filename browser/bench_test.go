package browser_test

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/browser"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
)

// benchPort serves the app on every address of the sandbox, so that a
// browser on the host reaches the same server by the sandbox's address.
const benchPort = 8002

// benchFixture is a fixture whose app the host reaches too, at hostURL.
func benchFixture(b *testing.B) (*fixture, string) {
	f := newFixture(b, sandbox.NetworkBridge, nil, browser.Options{IdleTimeout: -1})
	f.serve(b, []string{"python3", "-m", "http.server", fmt.Sprint(benchPort), "--directory", "/tmp/app"}, benchPort)
	info, err := dockertest.Engine().ContainerInspect(context.Background(), f.sb.Handle().ID)
	if err != nil {
		b.Fatal(err)
	}
	ip := ""
	for _, n := range info.NetworkSettings.Networks {
		ip = cmp.Or(ip, n.IPAddress)
	}
	if ip == "" {
		b.Fatal("the sandbox has no address the host reaches")
	}
	return f, fmt.Sprintf("http://%s:%d/", ip, benchPort)
}

// hostBrowser starts a bare headless Chromium on the host with chromedp's
// own allocator (a pipe, no container), attached to its first tab.
func hostBrowser(b testing.TB) (context.Context, context.CancelFunc) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		b.Fatalf("no chromium on the host for the baseline: %v", err)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1280, 800))...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		acancel()
		b.Fatal(err)
	}
	return ctx, func() { cancel(); acancel() }
}

// p50 returns the median of ds in milliseconds.
func p50(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

// firstSamples is how many starts one iteration of BenchmarkFirstAction
// measures of each kind, so that a run of the default length has a median.
const firstSamples = 5

// millis rounds ds to whole milliseconds, for the log.
func millis(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	return out
}

// BenchmarkFirstAction: the first browser action of a conversation (the
// browser container's start and a navigation to a page served in the
// sandbox) against a bare headless Chromium started on the host and the
// same navigation, to the same server, in the same run, alternated. One
// iteration is firstSamples of each.
func BenchmarkFirstAction(b *testing.B) {
	f, hostURL := benchFixture(b)
	var ours, bare []time.Duration
	for b.Loop() {
		for range firstSamples {
			start := time.Now()
			br := browser.New(func(ctx context.Context) (browser.Conn, error) { return f.m.StartBrowser(ctx, f.owner) }, browser.Options{IdleTimeout: -1})
			st, err := br.Navigate(context.Background(), fmt.Sprintf("http://localhost:%d/", benchPort), false)
			ours = append(ours, time.Since(start))
			br.Close()
			if err != nil || st.Title != "Greeter" {
				b.Fatalf("navigate: %q, %v", st.Title, err)
			}

			start = time.Now()
			ctx, cancel := hostBrowser(b)
			err = chromedp.Do(ctx, chromedp.Navigate(hostURL))
			bare = append(bare, time.Since(start))
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("first action (ms): %v", millis(ours))
	b.Logf("bare (ms): %v", millis(bare))
	b.ReportMetric(p50(ours), "first-p50-ms")
	b.ReportMetric(p50(bare), "bare-p50-ms")
	b.ReportMetric(p50(ours)/p50(bare), "x-bare")
}

// BenchmarkAction: each later action through Browser (which finds the
// element again, acts, waits for a navigation the action may start, and
// reads the page's state for the model) against the same CDP call made
// directly with chromedp on a bare host Chromium showing the same page.
func BenchmarkAction(b *testing.B) {
	f, hostURL := benchFixture(b)
	ctx := context.Background()
	st, err := f.b.Navigate(ctx, fmt.Sprintf("http://localhost:%d/", benchPort), false)
	if err != nil {
		b.Fatal(err)
	}
	in := find(b, st, "input", "Your name")
	btn := find(b, st, "button", "Greet")
	hctx, hcancel := hostBrowser(b)
	defer hcancel()
	if err := chromedp.Do(hctx, chromedp.Navigate(hostURL)); err != nil {
		b.Fatal(err)
	}
	// Where the button is on the host's page, for the direct click.
	type xy struct{ X, Y float64 }
	pt, err := chromedp.Run(hctx, chromedp.Evaluate[xy](`(() => { const r = document.getElementById('go').getBoundingClientRect(); return {x: r.left + r.width/2, y: r.top + r.height/2}; })()`))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name   string
		ours   func() error
		direct func() error
	}{
		{"click", func() error { _, err := f.b.Click(ctx, btn, false); return err },
			func() error { return chromedp.Do(hctx, chromedp.MouseClickXY(pt.X, pt.Y)) }},
		{"type", func() error { _, err := f.b.Type(ctx, in, "Ada"); return err },
			func() error {
				_, err := chromedp.Call(hctx, input.InsertText, input.InsertTextParams{Text: "Ada"})
				return err
			}},
		{"state", func() error { _, err := f.b.State(ctx, false); return err },
			func() error { _, err := chromedp.Run(hctx, chromedp.Title()); return err }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var ours, direct []time.Duration
			for b.Loop() {
				start := time.Now()
				if err := c.ours(); err != nil {
					b.Fatal(err)
				}
				ours = append(ours, time.Since(start))
				start = time.Now()
				if err := c.direct(); err != nil {
					b.Fatal(err)
				}
				direct = append(direct, time.Since(start))
			}
			b.ReportMetric(p50(ours), "p50-ms")
			b.ReportMetric(p50(direct), "direct-p50-ms")
			b.ReportMetric(p50(ours)-p50(direct), "added-p50-ms")
		})
	}
}

// BenchmarkIdleMemory: what an idle browser holds, per conversation, after
// it showed the app: the container's memory as its cgroup counts it.
func BenchmarkIdleMemory(b *testing.B) {
	f, _ := benchFixture(b)
	ctx := context.Background()
	var mib float64
	for b.Loop() {
		if _, err := f.b.Navigate(ctx, fmt.Sprintf("http://localhost:%d/", benchPort), false); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		n, ok, err := f.b.Memory(ctx)
		if err != nil || !ok {
			b.Fatalf("memory: %v, %v", ok, err)
		}
		mib = float64(n) / (1 << 20)
	}
	b.ReportMetric(mib, "idle-MiB")
}
