// Package webhook sends a GoHands server's events and conversation changes
// to HTTP endpoints, in the shape the OpenHands agent-server uses.
//
// For every configured endpoint (a Spec), events are buffered per
// conversation and POSTed as a JSON array to
// {base_url}/events/{conversation_id} when the buffer holds
// EventBufferSize events or FlushDelay after its first event, whichever
// comes first. Conversation info (on start, pause, status change and
// delete) is POSTed as-is to {base_url}/conversations.
//
// Sending never slows the caller: Event and Conversation only append to
// memory. Each endpoint has one sender goroutine working through a bounded
// queue in order, so requests about one conversation arrive in the order
// they were made; when the queue is full the oldest request is dropped. A
// request answered 2xx is done; 408, 429, 5xx and network errors are
// retried with doubling delays (or the answer's Retry-After); any other
// answer fails it at once.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Flush when Close stopped the Dispatcher before
// everything buffered could be sent.
var ErrClosed = errors.New("webhook: dispatcher closed")

// Options are the Dispatcher's dependencies. Every field may be left zero.
type Options struct {
	// Client sends the requests. nil means a client on
	// http.DefaultTransport that does not follow redirects (a redirected
	// POST would lose its body). Each attempt is also cut off after 30
	// seconds whatever the client's own timeout.
	Client *http.Client
	// Logger receives delivery failures and drops; nil discards them.
	Logger *slog.Logger
	// Now tells the time; nil means time.Now. Waits use real timers, so a
	// replacement must advance with the wall clock.
	Now func() time.Time
	// Redact is applied to every request body just before it is first
	// sent, to hide secrets; nil sends bodies unchanged. It must be safe for
	// concurrent use (one sender per endpoint calls it).
	Redact func([]byte) []byte
}

// Stats counts requests: one request is one batch of events or one
// conversation info, for one endpoint.
type Stats struct {
	// Sent were answered 2xx.
	Sent int64
	// Failed were given up on: a non-retryable answer, retries exhausted,
	// or a body that was not JSON.
	Failed int64
	// Dropped never got an answer: pushed out of a full queue, or still
	// queued or in flight when Close gave up.
	Dropped int64
	// Retries counts attempts after the first, over all requests.
	Retries int64
}

// counters are the live Stats, shared by the sinks.
type counters struct {
	sent, failed, dropped, retries atomic.Int64
}

// Dispatcher fans events and conversation info out to the webhooks. Its
// methods are safe for concurrent use, and a nil *Dispatcher, like one made
// from no specs, does nothing.
type Dispatcher struct {
	sinks  []*sink
	log    *slog.Logger
	stats  counters
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeMu sync.Mutex // serialises Close
	closed  bool
}

// New starts a Dispatcher with two goroutines per valid spec (a flush timer
// and a sender); Close stops them. A spec that fails Validate is logged and
// left out. With no specs nothing is started and every method returns at
// once.
func New(specs []Spec, opts Options) *Dispatcher {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "webhook")
	d := &Dispatcher{log: log}

	client := opts.Client
	if client == nil {
		client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	for i, spec := range specs {
		if err := spec.Validate(); err != nil {
			log.Error("webhook left out: invalid spec", "index", i, "err", err)
			continue
		}
		d.sinks = append(d.sinks, newSink(spec, client, now, opts.Redact, &d.stats, log))
	}
	if len(d.sinks) == 0 {
		return d
	}

	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for _, s := range d.sinks {
		d.wg.Add(2)
		go func() {
			defer d.wg.Done()
			s.flushLoop(ctx)
		}()
		go func() {
			defer d.wg.Done()
			s.sendLoop(ctx)
		}()
	}
	return d
}

func (d *Dispatcher) inactive() bool { return d == nil || len(d.sinks) == 0 }

// Event buffers one event of a conversation for every webhook. eventJSON is
// copied, so the caller may reuse it. Event never waits on the network;
// after Close it does nothing.
func (d *Dispatcher) Event(conversationID string, eventJSON []byte) {
	if d.inactive() {
		return
	}
	ev := bytes.Clone(eventJSON)
	for _, s := range d.sinks {
		s.addEvent(conversationID, ev)
	}
}

// Conversation queues infoJSON (a conversation's info) for POST to every
// webhook's /conversations, behind what is already queued. Buffered events
// are not flushed first; call Flush before if they must arrive before it.
// infoJSON is copied. After Close it does nothing.
func (d *Dispatcher) Conversation(infoJSON []byte) {
	if d.inactive() {
		return
	}
	info := bytes.Clone(infoJSON)
	for _, s := range d.sinks {
		s.addConversation(info)
	}
}

// Flush queues every buffered event now and waits until all that was queued
// before it has been sent, failed or dropped. It returns an error only when
// ctx ends first (sending goes on) or when Close gave up on some of it
// (ErrClosed). Delivery failures show in Stats and the log, not here.
func (d *Dispatcher) Flush(ctx context.Context) error {
	if d.inactive() {
		return nil
	}
	targets := make([]uint64, len(d.sinks))
	for i, s := range d.sinks {
		targets[i] = s.cutAll(false)
	}
	for i, s := range d.sinks {
		if err := s.wait(ctx, targets[i]); err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			return fmt.Errorf("webhook: flush: %w", err)
		}
	}
	return nil
}

// Close stops taking events, flushes like Flush, then stops the goroutines
// and waits for them. When ctx ends before everything is sent, requests in
// flight are cancelled, the rest are counted as dropped, and the error says
// so. Calling Close again returns nil.
func (d *Dispatcher) Close(ctx context.Context) error {
	if d.inactive() {
		return nil
	}
	d.closeMu.Lock()
	defer d.closeMu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	targets := make([]uint64, len(d.sinks))
	for i, s := range d.sinks {
		targets[i] = s.cutAll(true)
	}
	var waitErr error
	for i, s := range d.sinks {
		if err := s.wait(ctx, targets[i]); err != nil {
			waitErr = err
			break
		}
	}
	d.cancel()
	d.wg.Wait()
	var lost int
	for _, s := range d.sinks {
		lost += s.abandon()
	}
	if waitErr != nil {
		return fmt.Errorf("webhook: close: %d requests not delivered: %w", lost, waitErr)
	}
	return nil
}

// Stats returns the counts so far, summed over the webhooks.
func (d *Dispatcher) Stats() Stats {
	if d == nil {
		return Stats{}
	}
	return Stats{
		Sent:    d.stats.sent.Load(),
		Failed:  d.stats.failed.Load(),
		Dropped: d.stats.dropped.Load(),
		Retries: d.stats.retries.Load(),
	}
}
