package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics from r's handler over a real HTTP server and
// parses the text exposition.
func scrape(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// sample is one value of a scraped series: counters and gauges give their
// value, histograms their count and sum.
type sample struct {
	Count uint64
	Value float64
}

// series finds the series of family name with exactly the given labels
// ("k=v,k=v", "" for none).
func series(t *testing.T, fams map[string]*dto.MetricFamily, name, labels string) (sample, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return sample{}, false
	}
	for _, m := range f.GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(kv)
		if strings.Join(kv, ",") != labels {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return sample{Value: m.GetCounter().GetValue()}, true
		case dto.MetricType_GAUGE:
			return sample{Value: m.GetGauge().GetValue()}, true
		case dto.MetricType_HISTOGRAM:
			h := m.GetHistogram()
			return sample{Count: h.GetSampleCount(), Value: h.GetSampleSum()}, true
		default:
			t.Fatalf("%s: unexpected type %v", name, f.GetType())
		}
	}
	return sample{}, false
}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

func TestInstruments(t *testing.T) {
	t.Parallel()
	r := New()
	r.HTTPRequest("GET", "/api/conversations/:id", 200, 250*time.Millisecond)
	r.HTTPRequest("GET", "/api/conversations/:id", 200, 750*time.Millisecond)
	r.HTTPRequest("BREW", "/api/conversations/:id", 404, time.Second)
	r.EventAppended("MessageEvent")
	r.EventAppended("MessageEvent")
	r.EventAppended("ActionEvent")
	r.SocketOpened()
	r.SocketOpened()
	r.SocketOpened()
	r.SocketClosed()
	r.SocketDropped("slow_reader")
	r.ConversationsLive(7)
	r.SandboxStart(1500*time.Millisecond, false)
	r.SandboxStart(50*time.Millisecond, true)
	r.SandboxesRunning(func() int { return 4 })
	r.WorkspaceSandboxes(func() int { return 2 })
	r.LiveSandboxes(func() (int, int, int) { return 9, 3, 5 })
	r.WebhookSent(true)
	r.WebhookSent(true)
	r.WebhookSent(false)
	r.StorageUnavailable()

	fams := scrape(t, r)
	tests := []struct {
		name, labels string
		want         sample
	}{
		{"gohands_http_request_duration_seconds", "method=GET,route=/api/conversations/:id,status=200", sample{Count: 2, Value: 1}},
		{"gohands_http_request_duration_seconds", "method=OTHER,route=/api/conversations/:id,status=404", sample{Count: 1, Value: 1}},
		{"gohands_events_appended_total", "kind=MessageEvent", sample{Value: 2}},
		{"gohands_events_appended_total", "kind=ActionEvent", sample{Value: 1}},
		{"gohands_sockets_open", "", sample{Value: 2}},
		{"gohands_sockets_dropped_total", "reason=slow_reader", sample{Value: 1}},
		{"gohands_conversations_live", "", sample{Value: 7}},
		{"gohands_sandbox_start_seconds", "pooled=false", sample{Count: 1, Value: 1.5}},
		{"gohands_sandbox_start_seconds", "pooled=true", sample{Count: 1, Value: 0.05}},
		{"gohands_sandboxes_running", "", sample{Value: 4}},
		{"gohands_workspace_sandboxes_running", "", sample{Value: 2}},
		{"gohands_sandboxes_starting", "", sample{Value: 3}},
		{"gohands_sandbox_start_queue", "", sample{Value: 5}},
		{"gohands_webhooks_sent_total", "result=ok", sample{Value: 2}},
		{"gohands_webhooks_sent_total", "result=error", sample{Value: 1}},
		{"gohands_storage_unavailable_total", "", sample{Value: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"{"+tt.labels+"}", func(t *testing.T) {
			got, ok := series(t, fams, tt.name, tt.labels)
			if !ok {
				t.Fatalf("series %s{%s} missing", tt.name, tt.labels)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want)\n%s", diff)
			}
		})
	}
}

// A fresh registry exposes the runtime collectors and reads 0 for the
// series that exist before anything happens.
func TestFreshRegistry(t *testing.T) {
	t.Parallel()
	fams := scrape(t, New())
	for _, name := range []string{
		"go_goroutines",
		"go_memstats_alloc_bytes",
		"process_cpu_seconds_total", // Linux only; the server runs on Linux
		"gohands_sockets_open",
		"gohands_conversations_live",
		"gohands_sandboxes_running",
		"gohands_sandboxes_starting",
		"gohands_sandbox_start_queue",
		"gohands_storage_unavailable_total",
	} {
		if _, ok := fams[name]; !ok {
			t.Errorf("family %s missing", name)
		}
	}
	for _, labels := range []string{"result=ok", "result=error"} {
		if got, ok := series(t, fams, "gohands_webhooks_sent_total", labels); !ok || got.Value != 0 {
			t.Errorf("webhooks_sent_total{%s} = %v, %v; want 0, true", labels, got, ok)
		}
	}
}

// Two registries share nothing.
func TestRegistriesIndependent(t *testing.T) {
	t.Parallel()
	a, b := New(), New()
	a.StorageUnavailable()
	if got, _ := series(t, scrape(t, b), "gohands_storage_unavailable_total", ""); got.Value != 0 {
		t.Errorf("b counted a's event: %v", got)
	}
}

func TestNilRegistry(t *testing.T) {
	t.Parallel()
	var r *Registry
	r.HTTPRequest("GET", "/", 200, time.Second)
	r.EventAppended("MessageEvent")
	r.SocketOpened()
	r.SocketClosed()
	r.SocketDropped("x")
	r.ConversationsLive(1)
	r.SandboxStart(time.Second, true)
	r.SandboxesRunning(func() int { return 1 })
	r.WorkspaceSandboxes(func() int { return 1 })
	r.WebhookSent(true)
	r.StorageUnavailable()
	r.CheckpointTaken(time.Second, nil)
	r.CheckpointUsage(func() (int, int64) { return 1, 1 })
}

// The checkpoints kept are counted at every scrape; each one taken is
// timed, by result.
func TestCheckpoints(t *testing.T) {
	t.Parallel()
	r := New()
	if got, ok := series(t, scrape(t, r), "gohands_checkpoints", ""); !ok || got.Value != 0 {
		t.Errorf("gohands_checkpoints before any store = %v, %v; want 0", got, ok)
	}
	r.CheckpointUsage(func() (int, int64) { return 3, 4096 })
	r.CheckpointTaken(20*time.Millisecond, nil)
	r.CheckpointTaken(time.Second, fmt.Errorf("disk full"))
	fams := scrape(t, r)
	if got, _ := series(t, fams, "gohands_checkpoints", ""); got.Value != 3 {
		t.Errorf("gohands_checkpoints = %v, want 3", got.Value)
	}
	if got, _ := series(t, fams, "gohands_checkpoint_bytes", ""); got.Value != 4096 {
		t.Errorf("gohands_checkpoint_bytes = %v, want 4096", got.Value)
	}
	for _, labels := range []string{"result=ok", "result=error"} {
		if got, _ := series(t, fams, "gohands_checkpoint_seconds", labels); got.Count != 1 {
			t.Errorf("gohands_checkpoint_seconds{%s} count = %d, want 1", labels, got.Count)
		}
	}
}

// The running sandboxes are counted at every scrape, by the function given.
func TestSandboxesRunningCounted(t *testing.T) {
	t.Parallel()
	r := New()
	var n atomic.Int64
	r.SandboxesRunning(func() int { return int(n.Load()) })
	for _, want := range []int64{0, 2, 1} {
		n.Store(want)
		if got, _ := series(t, scrape(t, r), "gohands_sandboxes_running", ""); got.Value != float64(want) {
			t.Errorf("gohands_sandboxes_running = %v with %d running", got.Value, want)
		}
	}
}

func TestGinMiddleware(t *testing.T) {
	t.Parallel()
	r := New()
	e := gin.New()
	e.Use(r.GinMiddleware())
	e.GET("/api/conversations/:id", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"id": c.Param("id")}) })
	e.POST("/api/conversations/:id/run", func(c *gin.Context) {
		c.JSON(http.StatusConflict, gin.H{"detail": "already running"})
	})
	e.GET("/sockets/events/:id", func(c *gin.Context) {
		conn, rw, err := c.Writer.Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: close\r\n\r\n")
		rw.Flush()
	})
	srv := httptest.NewServer(e)
	defer srv.Close()

	for _, req := range []struct{ method, path string }{
		{"GET", "/api/conversations/a"},
		{"GET", "/api/conversations/b"},
		{"POST", "/api/conversations/a/run"},
		{"GET", "/no/such/path"},
		{"GET", "/sockets/events/a"},
	} {
		rq, err := http.NewRequest(req.method, srv.URL+req.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatalf("%s %s: %v", req.method, req.path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	srv.Close() // every handler has returned

	fams := scrape(t, r)
	tests := []struct {
		labels string
		count  uint64
	}{
		{"method=GET,route=/api/conversations/:id,status=200", 2},
		{"method=POST,route=/api/conversations/:id/run,status=409", 1},
		{"method=GET,route=unmatched,status=404", 1},
		{"method=GET,route=/sockets/events/:id,status=101", 1},
	}
	for _, tt := range tests {
		got, ok := series(t, fams, "gohands_http_request_duration_seconds", tt.labels)
		if !ok {
			t.Errorf("series {%s} missing", tt.labels)
			continue
		}
		if got.Count != tt.count {
			t.Errorf("{%s} count = %d, want %d", tt.labels, got.Count, tt.count)
		}
	}
	// Only templates become labels, never raw paths.
	routes := map[string]bool{}
	for _, m := range fams["gohands_http_request_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" {
				routes[l.GetValue()] = true
			}
		}
	}
	want := map[string]bool{"/api/conversations/:id": true, "/api/conversations/:id/run": true, "unmatched": true, "/sockets/events/:id": true}
	if diff := cmp.Diff(routes, want); diff != "" {
		t.Errorf("route labels (-got +want)\n%s", diff)
	}
}
