package server_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/server"
)

// agentMessages makes n agent messages of the given text size.
func agentMessages(n, size int, prefix string) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		text := fmt.Sprintf("%s %d ", prefix, i)
		if size > len(text) {
			text += strings.Repeat("x", size-len(text))
		}
		m := &event.Message{LLMMessage: event.LLMMessage{Role: "assistant", Content: event.Text(text)}}
		m.Source = event.SourceAgent
		out[i] = m
	}
	return out
}

// appendEvents appends events to a conversation through its session.
func (e *env) appendEvents(id string, evs ...event.Event) {
	e.t.Helper()
	a, err := e.convs.Get(id)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := a.Append(evs...); err != nil {
		e.t.Fatal(err)
	}
}

// lastSeq is the seq of the conversation's newest event.
func (e *env) lastSeq(id string) int64 {
	e.t.Helper()
	a, err := e.convs.Get(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.LastSeq()
}

// fullState reads the first frame of an events socket, which must be the
// full state of the conversation.
func (s *socket) fullState(id string) {
	s.t.Helper()
	f := s.event()
	if f.Kind != "ConversationStateUpdateEvent" || f.Key != "full_state" || !strings.Contains(string(f.Value), `"id":"`+id+`"`) {
		s.t.Fatalf("first frame %+v (value %s), want the full state of %s", f, f.Value, id)
	}
}

// seqsUntil reads events until one with seq last and returns their seqs.
func (s *socket) seqsUntil(last int64) []int64 {
	s.t.Helper()
	var seqs []int64
	for {
		f := s.event()
		if f.Seq == 0 {
			s.t.Fatalf("frame without a seq: %+v", f)
		}
		seqs = append(seqs, f.Seq)
		if f.Seq >= last {
			return seqs
		}
	}
}

// checkRun fails unless seqs is from, from+1, ..., to.
func checkRun(t testing.TB, what string, seqs []int64, from, to int64) {
	t.Helper()
	if int64(len(seqs)) != to-from+1 {
		t.Fatalf("%s: %d events %v, want seqs %d..%d", what, len(seqs), abbrev(seqs), from, to)
	}
	for i, s := range seqs {
		if s != from+int64(i) {
			t.Fatalf("%s: event %d has seq %d, want %d (a gap or a duplicate): %v", what, i, s, from+int64(i), abbrev(seqs))
		}
	}
}

func abbrev(s []int64) string {
	if len(s) <= 20 {
		return fmt.Sprint(s)
	}
	return fmt.Sprint(s[:10], "...", s[len(s)-10:])
}

func TestEventSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	// seeded makes a conversation holding n events.
	seeded := func(e *env, n int) string {
		id := e.create(nil).ID
		e.appendEvents(id, agentMessages(n, 0, "seed")...)
		return id
	}

	t.Run("full state then live", func(t *testing.T) {
		e := e.in(t)
		id := seeded(e, 5)
		s := e.dial("/sockets/events/"+id, nil)
		s.fullState(id)
		// Without a replay the socket gets only what comes next; the
		// first live event tells that the subscription is in place.
		waitLive(t, e, s, id)
	})

	t.Run("resend all", func(t *testing.T) {
		e := e.in(t)
		id := seeded(e, 300) // more than a replay page
		last := e.lastSeq(id)
		for _, q := range []string{"resend_all=true", "resend_mode=all", "resend_mode=since&after=0"} {
			s := e.dial("/sockets/events/"+id+"?"+q, nil)
			s.fullState(id)
			checkRun(t, q, s.seqsUntil(last), 1, last)
			e.appendEvents(id, agentMessages(1, 0, "live")...)
			last++
			if f := s.event(); f.Seq != last {
				t.Fatalf("%s: after the replay got %+v, want the live event %d", q, f, last)
			}
		}
	})

	t.Run("since", func(t *testing.T) {
		e := e.in(t)
		id := seeded(e, 20)
		last := e.lastSeq(id)
		for _, after := range []int64{0, 1, 7, last - 1} {
			s := e.dial(fmt.Sprintf("/sockets/events/%s?resend_mode=since&after=%d", id, after), nil)
			s.fullState(id)
			checkRun(t, fmt.Sprint("after=", after), s.seqsUntil(last), after+1, last)
		}
		// after=last replays nothing: the next frame is a live one.
		s := e.dial(fmt.Sprintf("/sockets/events/%s?resend_mode=since&after=%d", id, last), nil)
		s.fullState(id)
		e.appendEvents(id, agentMessages(1, 0, "live")...)
		if f := s.event(); f.Seq != last+1 {
			t.Errorf("after=%d: got %+v, want the live event %d", last, f, last+1)
		}
		for _, q := range []string{"resend_mode=since", "resend_mode=since&after=-1", "resend_mode=since&after=x", "resend_mode=some"} {
			status, body := e.request(http.MethodGet, "/sockets/events/"+id+"?"+q, nil, nil)
			if status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d %s, want 422", q, status, body)
			}
		}
	})

	t.Run("reconnect", func(t *testing.T) {
		e := e.in(t)
		id := seeded(e, 10)
		const appends = 200
		a, err := e.convs.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			for i := range appends {
				if err := a.Append(agentMessages(1, 100, fmt.Sprint("during ", i))...); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		s := e.dial("/sockets/events/"+id+"?resend_all=true", nil)
		s.fullState(id)
		first := s.seqsUntil(60)
		s.c.Close() // the client drops
		last := first[len(first)-1]
		s = e.dial(fmt.Sprintf("/sockets/events/%s?resend_mode=since&after=%d", id, last), nil)
		s.fullState(id)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		second := s.seqsUntil(10 + appends)
		checkRun(t, "both connections", append(first, second...), 1, 10+appends)
	})

	t.Run("client message", func(t *testing.T) {
		e := e.in(t)
		id := seeded(e, 3)
		s := e.dial("/sockets/events/"+id, nil)
		s.fullState(id)
		s.send(map[string]any{"role": "user", "content": []map[string]any{{"type": "text", "text": "from the socket"}}})
		f := s.event()
		if f.Kind != "MessageEvent" || f.Source != "user" || f.text() != "from the socket" || f.Seq != 4 {
			t.Fatalf("after a client message got %+v, want it back as event 4", f)
		}
		stored := e.events(id, url.Values{"source": {"user"}})
		if len(stored) != 1 || stored[0].ID != f.ID {
			t.Errorf("stored user messages %+v, want the socket's", stored)
		}
	})

	t.Run("bad frames", func(t *testing.T) {
		e := e.in(t)
		id := seeded(e, 1)
		s := e.dial("/sockets/events/"+id, nil)
		s.fullState(id)
		for _, bad := range []string{
			`not json`,
			`{"role": "user", "content": 5}`,
			`{"role": "assistant", "content": [{"type": "text", "text": "x"}]}`,
			`{"role": "user", "content": []}`,
			`[]`,
			`{"type": "auth", "session_api_key": "k"}`,
		} {
			s.send(bad)
			f := s.event()
			if f.Kind != "ServerErrorEvent" || f.Code == "" || f.Detail == "" {
				t.Errorf("after %s got %+v, want an error event", bad, f)
			}
			if f.Seq != 0 {
				t.Errorf("the error event for %s was stored (seq %d)", bad, f.Seq)
			}
		}
		// The socket is still up and works.
		s.send(message("still here", true))
		if f := s.event(); f.Kind != "MessageEvent" || f.text() != "still here" || f.Seq != 2 {
			t.Errorf("after the bad frames got %+v, want the message as event 2", f)
		}
		if n := len(e.events(id, nil)); n != 2 {
			t.Errorf("%d events stored, want 2: bad frames must store nothing", n)
		}
	})

	t.Run("deleted", func(t *testing.T) {
		e := e.in(t)
		id := seeded(e, 1)
		s := e.dial("/sockets/events/"+id, nil)
		s.fullState(id)
		waitLive(t, e, s, id)
		e.call(http.MethodDelete, "/api/conversations/"+id, nil, http.StatusOK, nil)
		if code, _ := s.closed(nil); code != 4004 {
			t.Errorf("close code %d when the conversation is deleted, want 4004", code)
		}
	})
}

// waitLive appends an event and reads it from s, which proves s is live.
func waitLive(t testing.TB, e *env, s *socket, id string) {
	t.Helper()
	e.appendEvents(id, agentMessages(1, 0, "probe")...)
	want := e.lastSeq(id)
	if f := s.event(); f.Seq != want {
		t.Fatalf("got %+v, want the live event %d", f, want)
	}
}

// dropWatch is a server.Metrics that tells when a socket is dropped.
type dropWatch struct{ dropped chan string }

func (d *dropWatch) GinMiddleware() gin.HandlerFunc { return func(*gin.Context) {} }
func (d *dropWatch) Handler() http.Handler          { return http.NotFoundHandler() }
func (d *dropWatch) SocketOpened()                  {}
func (d *dropWatch) SocketClosed()                  {}
func (d *dropWatch) SocketDropped(reason string) {
	select {
	case d.dropped <- reason:
	default:
	}
}

func TestSlowSubscriber(t *testing.T) {
	t.Parallel()
	watch := &dropWatch{dropped: make(chan string, 1)}
	e := newEnv(t, options{config: func(c *server.Config) {
		c.SocketBuffer = 8
		c.Metrics = watch
	}})
	id := e.create(nil).ID

	slow := e.dial("/sockets/events/"+id, nil)
	slow.fullState(id)
	waitLive(t, e, slow, id)

	fast := e.dial("/sockets/events/"+id, nil)
	fast.fullState(id)
	waitLive(t, e, fast, id)
	start := e.lastSeq(id)
	if f := slow.event(); f.Seq != start { // the fast one's probe
		t.Fatalf("slow subscriber got %+v, want event %d", f, start)
	}

	// The fast client reads all the time, until the seq in target.
	var target atomic.Int64
	target.Store(math.MaxInt64)
	var fastSeqs []int64
	var fastErr error
	var fastLast atomic.Int64 // the last seq the fast client read
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			data, err := fast.tryRead(time.Minute)
			if err != nil {
				fastErr = err
				return
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil || f.Seq == 0 {
				fastErr = fmt.Errorf("frame %.200s: %v", data, err)
				return
			}
			fastSeqs = append(fastSeqs, f.Seq)
			fastLast.Store(f.Seq)
			if f.Seq >= target.Load() {
				return
			}
		}
	})

	// The slow one reads nothing while large events go by, more than the
	// kernel buffers hold, until its queue fills up and it is dropped.
	// The server gives up on a blocked write after a while, so the test
	// reads again as soon as the drop is reported.
	// A batch is smaller than the buffer, and the next waits until the
	// fast client has read the last: a reader that keeps up is never
	// dropped, however fast storage is.
	const perBatch, size = 4, 64 << 10
	dropped := false
	for i := 0; i < 250 && !dropped; i++ {
		e.appendEvents(id, agentMessages(perBatch, size, fmt.Sprint("batch ", i))...)
		last := e.lastSeq(id)
		for deadline := time.Now().Add(10 * time.Second); fastLast.Load() < last && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		select {
		case reason := <-watch.dropped:
			if reason != "slow" {
				t.Fatalf("socket dropped as %q", reason)
			}
			dropped = true
		default:
		}
	}
	if !dropped {
		t.Fatal("the subscriber that does not read was never dropped")
	}
	var slowSeqs []int64
	code, reason := slow.closed(func(data []byte) bool {
		var f frame
		if err := json.Unmarshal(data, &f); err != nil || f.Seq == 0 {
			return false
		}
		slowSeqs = append(slowSeqs, f.Seq)
		return true
	})
	if code != 4008 {
		t.Fatalf("slow subscriber closed with %d %q, want 4008", code, reason)
	}
	if len(slowSeqs) == 0 {
		t.Fatal("the slow subscriber got nothing before the close")
	}
	checkRun(t, "slow subscriber before the drop", slowSeqs, start+1, slowSeqs[len(slowSeqs)-1])
	got := slowSeqs[len(slowSeqs)-1]
	if want := fmt.Sprintf("after=%d", got); !strings.Contains(reason, want) {
		t.Errorf("close reason %q does not say %s", reason, want)
	}

	// One more event, the last; the fast one gets everything.
	total := e.lastSeq(id) + 1
	target.Store(total)
	e.appendEvents(id, agentMessages(1, 0, "last")...)
	wg.Wait()
	if fastErr != nil {
		t.Fatalf("fast subscriber: %v after %v", fastErr, abbrev(fastSeqs))
	}
	checkRun(t, "fast subscriber", fastSeqs, start+1, total)
	if got >= total {
		t.Fatalf("the slow subscriber got everything (%d) and was still dropped", got)
	}

	// The slow one reconnects after the last event it got and gets the
	// rest.
	again := e.dial(fmt.Sprintf("/sockets/events/%s?resend_mode=since&after=%d", id, got), nil)
	again.fullState(id)
	checkRun(t, "after reconnecting", again.seqsUntil(total), got+1, total)
	waitLive(t, e, fast, id)
}

// TestOversizedFrame: a client frame over the body limit closes that
// socket with 1009 (message too big); another client goes on.
func TestOversizedFrame(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{config: func(c *server.Config) { c.MaxBodyBytes = 4096 }})
	id := e.create(nil).ID
	big := e.dial("/sockets/events/"+id, nil)
	big.fullState(id)
	other := e.dial("/sockets/events/"+id, nil)
	other.fullState(id)
	// The server closes the connection as soon as it has read the frame's
	// header, which the rest of the frame may still be on its way: a write
	// that fails then is expected, and what counts is the close frame.
	data, _ := json.Marshal(message(strings.Repeat("x", 8192), false))
	big.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := big.c.WriteMessage(websocket.TextMessage, data); err != nil {
		t.Logf("writing the oversized frame: %v", err)
	}
	if code, reason := big.closed(nil); code != 1009 {
		t.Fatalf("oversized frame: close %d %q, want %d", code, reason, 1009)
	}
	other.send(message("still here", false))
	for {
		f := other.event()
		if f.Kind == "MessageEvent" {
			break
		}
	}
}
