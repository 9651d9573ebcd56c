package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/olahol/melody"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/session"
)

// The close codes of the sockets.
const (
	closeUnauthorized = 4001 // missing or wrong API key
	closeNotFound     = 4004 // unknown or deleted conversation
	closeSlow         = 4008 // the client fell behind; resume after its last seq
	closeGoingAway    = 1001 // the server shuts down
	closeInternal     = 1011
)

// authWait is how long a socket without a key may take to send its auth
// frame.
const authWait = 10 * time.Second

// frameWorkers bounds the frames of one /ws or /sockets/bash-events
// socket handled at once (commands run for a while, and a pause must not
// wait behind them). /sockets/events handles its messages one at a time,
// in the order they came.
const frameWorkers = 16

// Frames that come while every worker of a socket is busy wait, in order,
// up to these bounds, and the socket's read loop goes on: a client that
// leaves is noticed at once, and the work it asked for is cancelled (the
// commands it started) or dropped (those still waiting). Past the bounds
// the client is flooding, and its socket's read loop waits for room: the
// flood is held back by its own frames, and piles up no memory or
// goroutines that starve everyone else; a client that leaves meanwhile is
// found by asking the kernel (see handle). (Closing such a socket instead
// would cut it without a close frame: the server would close the
// connection while the client's frames still arrive.)
const (
	maxWaitingFrames = 1024
	maxWaitingBytes  = 16 << 20
)

// heldRecheck is how often a held-back read loop looks whether its socket
// has closed; see handle.
const heldRecheck = time.Second

// replayReserve is the buffer room a replay page needs; see
// session.Subscriber.WaitRoom.
const replayReserve = 256

// sockets holds the melody hubs of the three socket kinds.
type sockets struct {
	srv      *Server
	eventHub *melody.Melody
	bashHub  *melody.Melody
	v0Hub    *melody.Melody
}

// socket is one connected client: a session.Subscriber over a melody
// session, with a bounded count of queued frames.
type socket struct {
	srv    *Server
	ms     *melody.Session
	conn   net.Conn // set by the upgrade, before ms
	kind   string   // "events", "bash" or "v0"
	convID string
	after  int64     // replay after this seq; -1: live only
	since  time.Time // when not zero, replay from the first event stamped at or after it instead
	limit  int64

	ctx    context.Context
	cancel context.CancelFunc

	authed  atomic.Bool
	started atomic.Bool
	dropped atomic.Bool
	queued  atomic.Int64
	lastSeq atomic.Int64
	room    chan struct{}

	work    sync.Mutex // guards the fields below; see handle
	workers int        // how many frames may be handled at once
	taken   *sync.Cond // a waiting frame was taken
	running int
	waiting []waitingFrame
	waitLen int // bytes of the frames waiting

	mu     sync.Mutex
	detach func()
	conv   *session.AgentSession
	causes map[string]int64 // V0: action id -> seq
}

func newSockets(s *Server) *sockets {
	k := &sockets{srv: s}
	k.eventHub = k.hub()
	k.bashHub = k.hub()
	k.v0Hub = k.hub()
	k.eventHub.HandleMessage(func(ms *melody.Session, msg []byte) { sock(ms).eventsFrame(msg) })
	k.bashHub.HandleMessage(func(ms *melody.Session, msg []byte) { sock(ms).bashFrame(msg) })
	k.v0Hub.HandleMessage(func(ms *melody.Session, msg []byte) { sock(ms).v0Frame(msg) })
	return k
}

func (k *sockets) hub() *melody.Melody {
	m := melody.New()
	m.Config.MaxMessageSize = k.srv.cfg.MaxBodyBytes
	// A pong can wait behind a backlog of frames or a paused machine, and
	// melody moves the read deadline only on pongs: allow for it, so that
	// a slow moment does not cut sockets without a close code.
	m.Config.PingPeriod = 20 * time.Second
	m.Config.PongWait = 2 * time.Minute
	m.Config.MessageBufferSize = k.srv.cfg.SocketBuffer + 16 // room for the close frame
	m.Upgrader.CheckOrigin = func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		return o == "" || k.srv.originAllowed(o) || sameOrigin(r, o)
	}
	m.HandleConnect(func(ms *melody.Session) {
		// The melody session exists only once the request is upgraded;
		// every other use of sk.ms comes after this.
		sk := sock(ms)
		sk.ms = ms
		sk.connected()
	})
	m.HandleDisconnect(func(ms *melody.Session) { sock(ms).disconnected() })
	m.HandleSentMessage(func(ms *melody.Session, _ []byte) { sock(ms).sent() })
	m.HandleError(func(ms *melody.Session, err error) {
		if errors.Is(err, melody.ErrMessageBufferFull) {
			sock(ms).Drop(session.ErrSlowSubscriber)
		}
	})
	return m
}

func sock(ms *melody.Session) *socket { return ms.MustGet("socket").(*socket) }

func (k *sockets) close() {
	msg := melody.FormatCloseMessage(closeGoingAway, "server shutting down")
	k.eventHub.CloseWithMsg(msg)
	k.bashHub.CloseWithMsg(msg)
	k.v0Hub.CloseWithMsg(msg)
}

// accept upgrades a request to a socket of the given kind.
func (k *sockets) accept(c *gin.Context, hub *melody.Melody, kind, convID string, after int64, since time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	workers := frameWorkers
	if kind == "events" {
		workers = 1
	}
	sk := &socket{srv: k.srv, kind: kind, convID: convID, after: after, since: since, limit: int64(k.srv.cfg.SocketBuffer),
		ctx: ctx, cancel: cancel, room: make(chan struct{}, 1), workers: workers,
		causes: make(map[string]int64)}
	sk.taken = sync.NewCond(&sk.work)
	key := c.Query("session_api_key")
	if key == "" {
		key = requestKey(c.Request)
	}
	authed := len(k.srv.keys) == 0 || (key != "" && k.srv.keyOK(key))
	sk.authed.Store(authed)
	keyGiven := key != ""
	w := hijackRecorder{ResponseWriter: c.Writer, conn: &sk.conn}
	if err := hub.HandleRequestWithKeys(w, c.Request, map[string]any{"socket": sk, "key_given": keyGiven}); err != nil {
		cancel()
		k.srv.log.Debug("socket upgrade failed", "err", err)
	}
}

func (sk *socket) connected() {
	if m := sk.srv.cfg.Metrics; m != nil {
		m.SocketOpened()
	}
	if sk.authed.Load() {
		sk.start()
		return
	}
	if given, _ := sk.ms.Get("key_given"); given == true {
		sk.close(closeUnauthorized, "invalid API key")
		return
	}
	// No key yet: the first frame may carry it.
	go func() {
		select {
		case <-time.After(authWait):
			if !sk.authed.Load() {
				sk.close(closeUnauthorized, "missing API key: send it as session_api_key, in the "+keyHeader+" header, or in a first frame {\"type\":\"auth\",\"session_api_key\":...}")
			}
		case <-sk.ctx.Done():
		}
	}()
}

// auth handles a frame of a socket that has not authenticated yet; it
// reports whether the frame was the auth frame.
func (sk *socket) auth(msg []byte) {
	var f struct {
		Type string `json:"type"`
		Key  string `json:"session_api_key"`
	}
	if json.Unmarshal(msg, &f) != nil || f.Type != "auth" {
		sk.close(closeUnauthorized, "missing API key: the first frame must be {\"type\":\"auth\",\"session_api_key\":...}")
		return
	}
	if !sk.srv.keyOK(f.Key) {
		sk.close(closeUnauthorized, "invalid API key")
		return
	}
	sk.authed.Store(true)
	sk.start()
}

func (sk *socket) disconnected() {
	if m := sk.srv.cfg.Metrics; m != nil {
		m.SocketClosed()
	}
	sk.cancel()
	sk.mu.Lock()
	detach := sk.detach
	sk.detach = nil
	sk.mu.Unlock()
	if detach != nil {
		detach()
	}
}

// start attaches an authenticated socket to its conversation.
func (sk *socket) start() {
	if !sk.started.CompareAndSwap(false, true) {
		return
	}
	if sk.kind == "v0" && sk.convID == "" {
		return // attached on the first action
	}
	if sk.kind == "bash" && sk.convID == "" {
		go sk.subscribed(sk.srv.convs.WorkspaceBash().Subscribe(sk))
		return
	}
	a, err := sk.srv.convs.Get(sk.convID)
	if err != nil {
		sk.close(closeNotFound, fmt.Sprintf("conversation %q not found", sk.convID))
		return
	}
	sk.attach(a)
}

// attach subscribes to the conversation in the background: the replay may
// be long, and the socket must keep reading meanwhile.
func (sk *socket) attach(a *session.AgentSession) {
	sk.mu.Lock()
	sk.conv = a
	sk.mu.Unlock()
	go func() {
		var detach func()
		var err error
		switch sk.kind {
		case "bash":
			detach, err = a.SubscribeBash(sk)
		default:
			// "Live only" starts at the last event stored before the
			// full state is taken: whatever is appended after that point
			// (say, a message the client sends as soon as it has the full
			// state) is replayed by Subscribe, never lost.
			after := sk.after
			if after < 0 {
				after = a.LastSeq()
			}
			if !sk.since.IsZero() {
				after = afterTime(a, sk.since)
			}
			if sk.kind == "events" {
				fs := a.FullState()
				raw, _ := event.Marshal(fs)
				sk.Send(&session.Delivery{Raw: raw})
			}
			detach, err = a.Subscribe(sk.ctx, sk, after)
		}
		sk.subscribed(detach, err)
	}()
}

// subscribed keeps the detach of a subscription, or drops the socket
// whose subscription failed.
func (sk *socket) subscribed(detach func(), err error) {
	if err != nil {
		if sk.ctx.Err() == nil {
			sk.Drop(err)
		}
		return
	}
	sk.mu.Lock()
	if sk.ctx.Err() != nil {
		sk.mu.Unlock()
		detach()
		return
	}
	sk.detach = detach
	sk.mu.Unlock()
}

// afterTime is the seq to replay after for the events stamped at or after
// t: the one before the first such event, or the last when there is none
// yet (what is appended next is then stamped later still).
func afterTime(a *session.AgentSession, t time.Time) int64 {
	last := a.LastSeq()
	evs, _, err := a.Events(session.EventQuery{Since: t, Limit: 1})
	if err != nil || len(evs) == 0 {
		return last
	}
	return evs[0].Meta().Seq - 1
}

// waitingFrame is a client frame waiting for a worker of its socket.
type waitingFrame struct {
	fn   func()
	size int
}

// handle runs fn, the work of a client frame of size bytes, on a worker
// of the socket: at once when one is free, else after the frames waiting
// before it. Past maxWaitingFrames or maxWaitingBytes it waits for room,
// holding the socket's read loop. Work that has not started when the
// socket ends is dropped.
//
// While the read loop is held, the socket does not read, and so would not
// see a client that leaves: the wait asks the kernel every heldRecheck
// whether the client closed its end (peerGone). When it has, the work the
// client asked for is cancelled and dropped like at a disconnect, and the
// socket is closed.
func (sk *socket) handle(size int, fn func()) {
	sk.work.Lock()
	if sk.running < sk.workers {
		sk.running++
		sk.work.Unlock()
		go sk.worker(fn)
		return
	}
	for len(sk.waiting) > 0 && (len(sk.waiting) >= maxWaitingFrames || sk.waitLen+size > maxWaitingBytes) {
		if sk.ctx.Err() != nil || sk.ms.IsClosed() || peerGone(sk.conn) {
			sk.work.Unlock()
			sk.cancel()
			sk.ms.Close()
			return
		}
		wake := time.AfterFunc(heldRecheck, func() {
			sk.work.Lock()
			sk.taken.Broadcast()
			sk.work.Unlock()
		})
		sk.taken.Wait()
		wake.Stop()
	}
	sk.waiting = append(sk.waiting, waitingFrame{fn: fn, size: size})
	sk.waitLen += size
	sk.work.Unlock()
}

// worker runs fn, then the frames waiting, until none is left.
func (sk *socket) worker(fn func()) {
	for {
		if sk.ctx.Err() == nil {
			fn()
		}
		sk.work.Lock()
		if len(sk.waiting) == 0 {
			sk.running--
			sk.waiting = nil // let a burst's backing array go
			sk.work.Unlock()
			return
		}
		next := sk.waiting[0]
		sk.waiting[0] = waitingFrame{}
		sk.waiting = sk.waiting[1:]
		sk.waitLen -= next.size
		sk.taken.Signal()
		sk.work.Unlock()
		fn = next.fn
	}
}

// Send queues a frame; see session.Subscriber.
func (sk *socket) Send(d *session.Delivery) bool {
	if sk.dropped.Load() {
		return false
	}
	frame, ok := sk.encode(d)
	if !ok {
		return true
	}
	queued, full := sk.write(frame)
	if !queued {
		return !full && !sk.ms.IsClosed() // a closed socket is detached on disconnect
	}
	if d.Seq > 0 {
		sk.lastSeq.Store(d.Seq)
	}
	return true
}

// write queues a frame, counted against the socket's buffer. full says
// the buffer had no room.
func (sk *socket) write(frame []byte) (queued, full bool) {
	if sk.queued.Add(1) > sk.limit {
		sk.queued.Add(-1)
		return false, true
	}
	if sk.ms.Write(frame) != nil {
		sk.queued.Add(-1)
		return false, false
	}
	return true, false
}

// encode turns a delivery into the socket's frame; false skips it.
func (sk *socket) encode(d *session.Delivery) ([]byte, bool) {
	if sk.kind != "v0" {
		return d.Raw, true
	}
	e, err := d.Event()
	if err != nil {
		return nil, false
	}
	if _, ok := e.(*event.Action); ok && d.Seq > 0 {
		if len(sk.causes) > 10000 {
			clear(sk.causes)
		}
		sk.causes[e.Meta().ID] = d.Seq
	}
	f, ok := event.ToV0(e, func(id string) (int64, bool) {
		seq, ok := sk.causes[id]
		return seq, ok
	})
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(f)
	return b, err == nil
}

func (sk *socket) sent() {
	sk.queued.Add(-1)
	select {
	case sk.room <- struct{}{}:
	default:
	}
}

// WaitRoom waits until a replay page fits in the buffer: replayReserve
// free places, or half the buffer when it is smaller than twice that (a
// buffer of replayReserve places or fewer would never have room).
func (sk *socket) WaitRoom(ctx context.Context) error {
	reserve := min(replayReserve, max(sk.limit/2, 1))
	for sk.queued.Load() > sk.limit-reserve {
		select {
		case <-sk.room:
		case <-ctx.Done():
			return ctx.Err()
		case <-sk.ctx.Done():
			return sk.ctx.Err()
		}
	}
	return nil
}

// Drop closes the socket with a code that says why.
func (sk *socket) Drop(err error) {
	if !sk.dropped.CompareAndSwap(false, true) {
		return
	}
	switch {
	case errors.Is(err, session.ErrSlowSubscriber):
		if m := sk.srv.cfg.Metrics; m != nil {
			m.SocketDropped("slow")
		}
		sk.forceClose(closeSlow, "slow consumer: reconnect with resend_mode=since&after="+strconv.FormatInt(sk.lastSeq.Load(), 10))
	case errors.Is(err, session.ErrDeleted):
		sk.forceClose(closeNotFound, "conversation deleted")
	case errors.Is(err, session.ErrClosed):
		sk.forceClose(closeGoingAway, "server shutting down")
	case errors.Is(err, context.Canceled):
	default:
		sk.forceClose(closeInternal, err.Error())
	}
}

// close closes the socket with a code, after what is queued.
func (sk *socket) close(code int, reason string) {
	sk.dropped.Store(true)
	sk.forceClose(code, reason)
}

func (sk *socket) forceClose(code int, reason string) {
	if len(reason) > 120 {
		reason = reason[:120] // a close frame's payload is at most 125 bytes
	}
	if err := sk.ms.CloseWithMsg(melody.FormatCloseMessage(code, reason)); err != nil {
		sk.ms.Close()
	}
}

// sendError tells the client a frame was bad; the socket stays open.
func (sk *socket) sendError(code, detail string) {
	var frame []byte
	if sk.kind == "v0" {
		frame, _ = json.Marshal(&event.V0Observation{ID: sk.lastSeq.Load(), Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
			Source: event.SourceEnvironment, Message: detail, Observation: "error", Content: detail,
			Extras: map[string]any{"error_id": code}})
	} else {
		e := &event.ServerError{Code: code, Detail: detail}
		e.ID = event.NewID()
		e.Source = event.SourceEnvironment
		e.Timestamp = event.TimeOf(time.Now())
		frame, _ = event.Marshal(e)
	}
	sk.write(frame)
}

// events answers /sockets/events/{id}.
func (k *sockets) events(c *gin.Context) {
	after, err := parseReplay(c.Request.URL.Query())
	if err != nil {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"detail": err.Error()})
		return
	}
	since, err := parseReplaySince(c.Request.URL.Query())
	if err != nil {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"detail": err.Error()})
		return
	}
	k.accept(c, k.eventHub, "events", c.Param("id"), after, since)
}

// request decodes a client frame into v and returns the socket's
// conversation; a bad frame, or one before the socket is attached, is
// answered with an error frame and reports false.
func (sk *socket) request(msg []byte, v any) (*session.AgentSession, bool) {
	if err := json.Unmarshal(msg, v); err != nil {
		sk.sendError("BadFrame", "frame: "+jsonError(err).Error())
		return nil, false
	}
	sk.mu.Lock()
	a := sk.conv
	sk.mu.Unlock()
	if a == nil {
		sk.sendError("BadFrame", "the socket is not attached to a conversation yet")
		return nil, false
	}
	return a, true
}

// eventsFrame handles a client frame of /sockets/events: a user message.
func (sk *socket) eventsFrame(msg []byte) {
	if !sk.authed.Load() {
		sk.auth(msg)
		return
	}
	var req session.MessageRequest
	a, ok := sk.request(msg, &req)
	if !ok {
		return
	}
	if req.Run == nil {
		run := true
		req.Run = &run
	}
	sk.handle(len(msg), func() {
		if _, err := a.SendMessage(sk.ctx, req); err != nil && !errors.Is(err, session.ErrNoAgent) {
			_, detail := statusOf(err)
			sk.sendError("BadFrame", detail)
		}
	})
}

// bash answers /sockets/bash-events[/{id}].
func (k *sockets) bash(c *gin.Context) {
	id := c.Param("id")
	if id == "" {
		id = c.Query("conversation_id")
	}
	// Without a conversation: the workspace sandboxes' bash events, and
	// commands run in the workspace sandbox of their cwd.
	k.accept(c, k.bashHub, "bash", id, 0, time.Time{})
}

// bashFrame handles a client frame of /sockets/bash-events: a command to
// run, whose output comes back as bash events.
func (sk *socket) bashFrame(msg []byte) {
	if !sk.authed.Load() {
		sk.auth(msg)
		return
	}
	var req session.BashRequest
	var a workspace // nil: the workspace sandbox of the command's cwd
	if sk.convID == "" {
		if err := json.Unmarshal(msg, &req); err != nil {
			sk.sendError("BadFrame", "frame: "+jsonError(err).Error())
			return
		}
	} else {
		conv, ok := sk.request(msg, &req)
		if !ok {
			return
		}
		a = conv
	}
	sk.handle(len(msg), func() {
		w := a
		if w == nil {
			ws, err := sk.srv.convs.Workspace(req.Cwd, true)
			if err != nil {
				_, detail := statusOf(err)
				sk.sendError("BashError", detail)
				return
			}
			w = ws
		}
		if _, err := w.Bash(sk.ctx, req); err != nil {
			_, detail := statusOf(err)
			sk.sendError("BashError", detail)
		}
	})
}
