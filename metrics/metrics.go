// Package metrics holds GoHands' Prometheus instruments. A Registry owns its
// own prometheus.Registry (no global state), so two servers in one process,
// or two tests, never share a counter. Callers record through plain methods
// and never touch prometheus types; Handler serves the text exposition for
// GET /metrics.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "gohands"

// Registry is the set of GoHands metrics. Its methods are safe for
// concurrent use. A nil *Registry records nothing, so components can take
// one optionally without checking.
type Registry struct {
	reg *prometheus.Registry

	httpDuration     *prometheus.HistogramVec
	eventsAppended   *prometheus.CounterVec
	socketsOpen      prometheus.Gauge
	socketsDropped   *prometheus.CounterVec
	conversations    prometheus.Gauge
	sandboxStart     *prometheus.HistogramVec
	sandboxesRunning prometheus.GaugeFunc
	countSandboxes   atomic.Pointer[func() int] // see SandboxesRunning
	sandboxStarting  prometheus.GaugeFunc
	startQueue       prometheus.GaugeFunc
	liveSandboxes    atomic.Pointer[func() (running, starting, queued int)] // see LiveSandboxes
	workspaces       prometheus.GaugeFunc
	countWorkspaces  atomic.Pointer[func() int] // see WorkspaceSandboxes
	webhooks         *prometheus.CounterVec
	storageDown      prometheus.Counter
	checkpointTime   *prometheus.HistogramVec
	checkpoints      prometheus.GaugeFunc
	checkpointBytes  prometheus.GaugeFunc
	checkpointUsage  atomic.Pointer[func() (int, int64)] // see CheckpointUsage
}

// New makes a Registry with the Go runtime and process collectors and every
// GoHands instrument registered.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time to answer an HTTP request, by method, route template and status code. WebSocket upgrades count until the hijack.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
		eventsAppended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "events_appended_total",
			Help:      "Events appended to conversation streams, by event kind.",
		}, []string{"kind"}),
		socketsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "sockets_open",
			Help:      "WebSocket connections open now.",
		}),
		socketsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "sockets_dropped_total",
			Help:      "WebSocket connections the server closed on its own, by reason.",
		}, []string{"reason"}),
		conversations: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "conversations_live",
			Help:      "Conversations loaded in memory now.",
		}),
		sandboxStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Subsystem: "sandbox",
			Name:      "start_seconds",
			Help:      "Time from asking for a sandbox to its runtime-agent answering, by whether it came from the warm pool.",
			// From a warm-pool hand-over (milliseconds) to an image pull (minutes).
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300},
		}, []string{"pooled"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "webhooks_sent_total",
			Help:      "Webhook deliveries, by result (ok or error).",
		}, []string{"result"}),
		storageDown: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "storage_unavailable_total",
			Help:      "Requests refused because the state store could not be read or written.",
		}),
	}
	r.sandboxesRunning = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "sandboxes_running",
		Help:      "Sandbox containers running now (paused ones too), warm pool included.",
	}, func() float64 {
		if f := r.countSandboxes.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	live := func(pick func(running, starting, queued int) int) func() float64 {
		return func() float64 {
			if f := r.liveSandboxes.Load(); f != nil {
				return float64(pick((*f)()))
			}
			return 0
		}
	}
	r.sandboxStarting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "sandboxes_starting",
		Help:      "Sandboxes of conversations and workspaces being started now, each on a reserved slot of the live cap.",
	}, live(func(_, starting, _ int) int { return starting }))
	r.startQueue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "sandbox_start_queue",
		Help:      "Sandbox starts waiting now for room under the live cap (max_live_sandboxes).",
	}, live(func(_, _, queued int) int { return queued }))
	r.workspaces = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "gohands",
		Name:      "workspace_sandboxes_running",
		Help:      "Workspace sandboxes of the global workspace routes running now (counted in sandboxes_running too).",
	}, func() float64 {
		if f := r.countWorkspaces.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	r.checkpointTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "checkpoint_seconds",
		Help:      "Time to checkpoint a sandbox's files after an action (snapshot and record), by result (ok or error).",
		Buckets:   []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"result"})
	usage := func(bytes bool) func() float64 {
		return func() float64 {
			f := r.checkpointUsage.Load()
			if f == nil {
				return 0
			}
			n, b := (*f)()
			if bytes {
				return float64(b)
			}
			return float64(n)
		}
	}
	r.checkpoints = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "checkpoints",
		Help:      "Checkpoints of sandbox files kept now, all conversations.",
	}, usage(false))
	r.checkpointBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "checkpoint_bytes",
		Help:      "Bytes of file content the kept checkpoints hold on disk.",
	}, usage(true))
	r.reg.MustRegister(
		r.checkpointTime,
		r.checkpoints,
		r.checkpointBytes,
		r.workspaces,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.httpDuration,
		r.eventsAppended,
		r.socketsOpen,
		r.socketsDropped,
		r.conversations,
		r.sandboxStart,
		r.sandboxesRunning,
		r.sandboxStarting,
		r.startQueue,
		r.webhooks,
		r.storageDown,
	)
	// Series that exist from the start read 0 instead of being absent, so
	// rate() and alerts work before the first event.
	for _, v := range []string{"ok", "error"} {
		r.webhooks.WithLabelValues(v)
	}
	for _, v := range []string{"true", "false"} {
		r.sandboxStart.WithLabelValues(v)
	}
	return r
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics
// when the scraper asks for it), for GET /metrics.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		Registry:          r.reg, // counts the handler's own errors
		EnableOpenMetrics: true,
	})
}

// HTTPRequest records one answered request. route is the route template
// (/api/conversations/:id), never the raw path: raw paths carry ids and
// would make a series per conversation.
func (r *Registry) HTTPRequest(method, route string, status int, d time.Duration) {
	if r == nil {
		return
	}
	r.httpDuration.WithLabelValues(methodLabel(method), route, strconv.Itoa(status)).Observe(d.Seconds())
}

// EventAppended counts one event written to a conversation's stream.
func (r *Registry) EventAppended(kind string) {
	if r == nil {
		return
	}
	r.eventsAppended.WithLabelValues(kind).Inc()
}

// SocketOpened counts a WebSocket connection in; pair it with SocketClosed.
func (r *Registry) SocketOpened() {
	if r == nil {
		return
	}
	r.socketsOpen.Inc()
}

// SocketClosed counts a WebSocket connection out, whoever closed it.
func (r *Registry) SocketClosed() {
	if r == nil {
		return
	}
	r.socketsOpen.Dec()
}

// SocketDropped counts a connection the server closed on its own (slow
// reader, bad key, unknown conversation). reason must come from a small
// fixed set: it is a label.
func (r *Registry) SocketDropped(reason string) {
	if r == nil {
		return
	}
	r.socketsDropped.WithLabelValues(reason).Inc()
}

// ConversationsLive sets how many conversations are loaded now.
func (r *Registry) ConversationsLive(n int) {
	if r == nil {
		return
	}
	r.conversations.Set(float64(n))
}

// SandboxStart records how long a sandbox took to be ready, and whether it
// was taken from the warm pool.
func (r *Registry) SandboxStart(d time.Duration, pooled bool) {
	if r == nil {
		return
	}
	r.sandboxStart.WithLabelValues(strconv.FormatBool(pooled)).Observe(d.Seconds())
}

// SandboxesRunning sets what counts the sandbox containers running, the
// sandbox manager's Running: it is asked at every scrape, so the gauge is
// never behind the manager.
func (r *Registry) SandboxesRunning(count func() int) {
	if r == nil {
		return
	}
	r.countSandboxes.Store(&count)
}

// LiveSandboxes sets what counts the sandboxes under the live cap (the
// session manager's LiveSandboxes), asked at every scrape: those being
// started give gohands_sandboxes_starting, the starts waiting for room
// gohands_sandbox_start_queue.
func (r *Registry) LiveSandboxes(count func() (running, starting, queued int)) {
	if r == nil {
		return
	}
	r.liveSandboxes.Store(&count)
}

// WorkspaceSandboxes sets what counts the workspace sandboxes running
// (session's WorkspaceSandboxes), asked at every scrape.
func (r *Registry) WorkspaceSandboxes(count func() int) {
	if r == nil {
		return
	}
	r.countWorkspaces.Store(&count)
}

// WebhookSent counts one webhook delivery attempt that ended.
func (r *Registry) WebhookSent(ok bool) {
	if r == nil {
		return
	}
	result := "error"
	if ok {
		result = "ok"
	}
	r.webhooks.WithLabelValues(result).Inc()
}

// StorageUnavailable counts a request refused because storage failed.
func (r *Registry) StorageUnavailable() {
	if r == nil {
		return
	}
	r.storageDown.Inc()
}

// methodLabel keeps the method label to the standard set: a client can send
// any token as a method, and each would otherwise become a series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// CheckpointTaken records one checkpoint of a sandbox's files and how long
// it took.
func (r *Registry) CheckpointTaken(d time.Duration, err error) {
	if r == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	r.checkpointTime.WithLabelValues(result).Observe(d.Seconds())
}

// CheckpointUsage sets what reports the checkpoints kept and their bytes
// (the checkpoint store's Usage), asked at every scrape.
func (r *Registry) CheckpointUsage(usage func() (count int, bytes int64)) {
	if r == nil {
		return
	}
	r.checkpointUsage.Store(&usage)
}
