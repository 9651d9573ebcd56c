package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/metrics"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// sessionPath is GoHands' path, wired as cmd/server wires it but without
// sandboxes: a bbolt store in a temporary folder, a ConversationManager, the
// server's routes on a loopback listener, and one conversation.
type sessionPath struct {
	dir   string
	store *storage.Store
	mgr   *session.ConversationManager
	srv   *server.Server
	hs    *http.Server
	meter *meter
	conv  *session.AgentSession
	addr  string
	first int64
}

var _ fanoutPath = (*sessionPath)(nil)

// meter is the server's metrics plus what the benchmark watches: sockets
// dropped, and when the last event appended was handed to every socket.
type meter struct {
	*metrics.Registry
	dropped  atomic.Int64
	appended atomic.Int64 // monotonic nanoseconds since t0
	t0       time.Time
}

func (m *meter) SocketDropped(reason string) {
	m.dropped.Add(1)
	m.Registry.SocketDropped(reason)
}

// EventAppended is called by the stream once the event is stored and
// queued to every subscriber, before Append returns.
func (m *meter) EventAppended(kind string) {
	m.appended.Store(int64(time.Since(m.t0)))
	m.Registry.EventAppended(kind)
}

func newSessionPath(ctx context.Context, socketBuffer int) (_ *sessionPath, err error) {
	p := &sessionPath{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.dir, err = os.MkdirTemp("", "gohands-bench-"); err != nil {
		return nil, err
	}
	if p.store, err = storage.Open(filepath.Join(p.dir, "state.db"), storage.Options{}); err != nil {
		return nil, err
	}
	reg := metrics.New()
	p.meter = &meter{Registry: reg, t0: time.Now()}
	if p.mgr, err = session.New(session.Options{Store: p.store, Meter: p.meter}); err != nil {
		return nil, err
	}
	p.srv = server.New(server.Config{Conversations: p.mgr, SocketBuffer: socketBuffer, Metrics: p.meter})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = ln.Addr().String()
	p.hs = &http.Server{Handler: p.srv, ReadHeaderTimeout: 10 * time.Second}
	go p.hs.Serve(ln)
	if p.conv, _, err = p.mgr.Create(ctx, session.CreateRequest{Title: "fan-out benchmark"}); err != nil {
		return nil, fmt.Errorf("create conversation: %w", err)
	}
	p.first = p.conv.LastSeq() + 1
	return p, nil
}

func (p *sessionPath) url() string {
	return "ws://" + p.addr + "/sockets/events/" + p.conv.ID() + "?resend_mode=since&after=" + strconv.FormatInt(p.first-1, 10)
}

func (p *sessionPath) firstSeq() int64 { return p.first }

// send appends e. Nothing else writes to the store meanwhile, so the
// store's commit time grows by this append's commit alone.
func (p *sessionPath) send(e *event.Message, _ int64) (queued, commit time.Duration, err error) {
	c0 := p.store.WriteStats().CommitTime
	start := time.Since(p.meter.t0)
	if err := p.conv.Append(e); err != nil {
		return 0, 0, err
	}
	queued = time.Duration(p.meter.appended.Load()) - start
	return queued, p.store.WriteStats().CommitTime - c0, nil
}

func (p *sessionPath) drops() int64 { return p.meter.dropped.Load() }

func (p *sessionPath) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}

// rawPath is the baseline: the same frames over plain gorilla/websocket
// connections, one writer goroutine per client fed by a bounded queue,
// nothing stored.
type rawPath struct {
	up     websocket.Upgrader
	buffer int
	hs     *http.Server
	addr   string

	mu      sync.Mutex
	clients []*rawClient
	dropped atomic.Int64
	wg      sync.WaitGroup
}

var _ fanoutPath = (*rawPath)(nil)

type rawClient struct {
	conn *websocket.Conn
	out  chan []byte
	once sync.Once
	gone chan struct{}
}

// greeting is the baseline's first frame, as full_state is GoHands': a
// frame without a seq.
var greeting = []byte(`{"kind":"ConversationStateUpdateEvent","key":"full_state","value":{}}`)

func newRawPath(buffer int) (*rawPath, error) {
	p := &rawPath{buffer: buffer}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = ln.Addr().String()
	p.hs = &http.Server{Handler: http.HandlerFunc(p.accept), ReadHeaderTimeout: 10 * time.Second}
	go p.hs.Serve(ln)
	return p, nil
}

func (p *rawPath) accept(w http.ResponseWriter, r *http.Request) {
	conn, err := p.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &rawClient{conn: conn, out: make(chan []byte, p.buffer), gone: make(chan struct{})}
	c.out <- greeting
	p.mu.Lock()
	p.clients = append(p.clients, c)
	p.mu.Unlock()
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case f := <-c.out:
				if conn.WriteMessage(websocket.TextMessage, f) != nil {
					c.leave()
					return
				}
			case <-c.gone:
				return
			}
		}
	}()
	go func() { // reads so that control frames and the close are seen
		defer p.wg.Done()
		for {
			if _, _, err := conn.NextReader(); err != nil {
				c.leave()
				return
			}
		}
	}()
}

func (c *rawClient) leave() {
	c.once.Do(func() {
		close(c.gone)
		c.conn.Close()
	})
}

func (p *rawPath) url() string { return "ws://" + p.addr + "/" }

func (p *rawPath) firstSeq() int64 { return 1 }

// send stamps e as storage would, encodes it once and queues the frame for
// every client; a client whose queue is full is dropped.
func (p *rawPath) send(e *event.Message, seq int64) (queued, commit time.Duration, err error) {
	start := time.Now()
	e.ID = event.NewID()
	e.Timestamp = event.TimeOf(time.Now())
	e.Seq = seq
	frame, err := event.Marshal(e)
	if err != nil {
		return 0, 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		select {
		case <-c.gone:
			continue
		default:
		}
		select {
		case c.out <- frame:
		default:
			p.dropped.Add(1)
			c.leave()
		}
	}
	return time.Since(start), 0, nil
}

func (p *rawPath) drops() int64 { return p.dropped.Load() }

func (p *rawPath) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		p.hs.Close()
	}
	p.mu.Lock()
	for _, c := range p.clients {
		c.leave()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
