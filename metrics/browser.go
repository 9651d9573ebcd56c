package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// browserScrapeTimeout bounds the reading of the browsers' memory at one
// scrape.
const browserScrapeTimeout = 5 * time.Second

var browserMemoryDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, "browser", "memory_bytes"),
	"Memory of each conversation's running browser container, as its cgroup counts it (page cache it may drop left out), read at the scrape.",
	[]string{"conversation"}, nil,
)

// BrowserMemory registers the gauge of each conversation's browser memory:
// read asks for it by conversation id at every scrape (session's
// ConversationManager.BrowserMemory). Call it once.
func (r *Registry) BrowserMemory(read func(ctx context.Context) map[string]int64) {
	if r == nil {
		return
	}
	r.reg.MustRegister(browserCollector(read))
}

// browserCollector reports browser memory by conversation.
type browserCollector func(ctx context.Context) map[string]int64

func (browserCollector) Describe(ch chan<- *prometheus.Desc) { ch <- browserMemoryDesc }

func (c browserCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), browserScrapeTimeout)
	defer cancel()
	for conv, n := range c(ctx) {
		ch <- prometheus.MustNewConstMetric(browserMemoryDesc, prometheus.GaugeValue, float64(n), conv)
	}
}
