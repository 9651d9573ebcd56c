package session

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// newTestManager returns a ConversationManager without sandboxes on a
// fresh store.
func newTestManager(t *testing.T) *ConversationManager {
	t.Helper()
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{SecretKey: "test-key"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close(context.Background())
		store.Close()
	})
	return m
}

// recorder is a Subscriber that keeps what it gets, with a bounded buffer
// that a test can hold full.
type recorder struct {
	mu      sync.Mutex
	seqs    []int64
	limit   int // 0: unbounded
	dropped chan error
	got     chan struct{}
}

func newRecorder(limit int) *recorder {
	return &recorder{limit: limit, dropped: make(chan error, 1), got: make(chan struct{}, 1)}
}

func (r *recorder) Send(d *Delivery) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit > 0 && len(r.seqs) >= r.limit {
		return false
	}
	r.seqs = append(r.seqs, d.Seq)
	select {
	case r.got <- struct{}{}:
	default:
	}
	return true
}

func (r *recorder) WaitRoom(ctx context.Context) error { return ctx.Err() }

func (r *recorder) Drop(err error) {
	select {
	case r.dropped <- err:
	default:
	}
}

func (r *recorder) snapshot() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.seqs...)
}

// waitFor waits until the recorder holds n events.
func (r *recorder) waitFor(t *testing.T, n int) []int64 {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if s := r.snapshot(); len(s) >= n {
			return s
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(r.snapshot()), n)
		}
	}
}

func message(text string) *event.Message {
	e := &event.Message{LLMMessage: event.LLMMessage{Role: "user", Content: event.Text(text)}}
	e.Source = event.SourceUser
	return e
}

// checkSeqs fails unless seqs is from, from+1, ..., to.
func checkSeqs(t *testing.T, seqs []int64, from, to int64) {
	t.Helper()
	if int64(len(seqs)) != to-from+1 {
		t.Fatalf("got %d events (%v...), want seqs %d..%d", len(seqs), head(seqs), from, to)
	}
	for i, s := range seqs {
		if s != from+int64(i) {
			t.Fatalf("event %d has seq %d, want %d (a gap or a duplicate)", i, s, from+int64(i))
		}
	}
}

func head(s []int64) []int64 { return s[:min(len(s), 10)] }

func TestStreamReplayThenLiveExactlyOnce(t *testing.T) {
	m := newTestManager(t)
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 { // more than one replay page
		if err := a.Append(message(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Appends go on while subscribers attach at different points.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if err := a.Append(message(fmt.Sprint("live ", i))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	recs := make([]*recorder, 8)
	for i := range recs {
		recs[i] = newRecorder(0)
		after := int64(i * 60)
		detach, err := a.Subscribe(context.Background(), recs[i], after)
		if err != nil {
			t.Fatal(err)
		}
		defer detach()
	}
	wg.Wait()
	last := a.LastSeq()
	if last != 500 {
		t.Fatalf("LastSeq = %d, want 500", last)
	}
	for i, r := range recs {
		checkSeqs(t, r.waitFor(t, int(last)-i*60), int64(i*60)+1, last)
	}
}

func TestSlowSubscriberDroppedOthersUnaffected(t *testing.T) {
	m := newTestManager(t)
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	slow, fast := newRecorder(5), newRecorder(0)
	for _, r := range []*recorder{slow, fast} {
		detach, err := a.Subscribe(context.Background(), r, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer detach()
	}
	for i := range 50 {
		if err := a.Append(message(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-slow.dropped:
		if !errors.Is(err, ErrSlowSubscriber) {
			t.Fatalf("slow subscriber dropped with %v, want ErrSlowSubscriber", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow subscriber was not dropped")
	}
	checkSeqs(t, fast.waitFor(t, 50), 1, 50)
	// The slow one resumes after the last event it got: nothing lost,
	// nothing twice.
	got := slow.snapshot()
	checkSeqs(t, got, 1, 5)
	again := newRecorder(0)
	detach, err := a.Subscribe(context.Background(), again, got[len(got)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	checkSeqs(t, append(got, again.waitFor(t, 45)...), 1, 50)
}

func TestDeleteDropsSubscribersAndRefusesAppends(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	a, _, err := m.Create(ctx, CreateRequest{InitialMessage: &MessageRequest{Content: event.Text("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder(0)
	if _, err := a.Subscribe(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, r.waitFor(t, 1), 1, 1)
	if err := m.Delete(ctx, a.ID()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.dropped:
		if !errors.Is(err, ErrDeleted) {
			t.Fatalf("dropped with %v, want ErrDeleted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber not dropped on delete")
	}
	if err := a.Append(message("late")); !errors.Is(err, ErrDeleted) {
		t.Fatalf("append after delete: %v, want ErrDeleted", err)
	}
	if _, err := m.Get(a.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
}

func TestCreateValidatesAndMasks(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	bad := []CreateRequest{
		{ConversationID: "../x"},
		{Agent: &Agent{Tools: []Tool{{Name: "nosuchtool"}}}},
		{Workspace: &Workspace{WorkingDir: "relative"}},
		{MaxIterations: ptr(0)},
		{ConfirmationPolicy: &ConfirmationPolicy{Kind: "Sometimes"}},
		{Secrets: map[string]Secret{"not a name": {Value: "v"}}},
		{Sandbox: &SandboxSettings{Memory: "lots"}},
		{Sandbox: &SandboxSettings{Network: "host"}},
	}
	for _, req := range bad {
		_, _, err := m.Create(ctx, req)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindInvalid {
			t.Errorf("Create(%+v) = %v, want a 422 error", req, err)
		}
	}
	a, created, err := m.Create(ctx, CreateRequest{ConversationID: "conv-1",
		Agent:   &Agent{LLM: LLM{Model: "openai/gpt-4o", APIKey: "sk-secret"}, Tools: []Tool{{Name: "TerminalTool"}}},
		Secrets: map[string]Secret{"TOKEN": {Value: "t0k"}}})
	if err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
	info := a.Info()
	if info.Agent.LLM.APIKey != Masked || info.Agent.Tools[0].Name != "terminal" {
		t.Errorf("info agent = %+v, want the key masked and the tool named terminal", info.Agent)
	}
	if got := a.Settings().Agent.LLM.APIKey; got != "sk-secret" {
		t.Errorf("Settings API key = %q", got)
	}
	if len(info.Secrets) != 1 || info.Secrets[0] != "TOKEN" {
		t.Errorf("info secrets = %v, want [TOKEN]", info.Secrets)
	}
	again, created, err := m.Create(ctx, CreateRequest{ConversationID: "conv-1"})
	if err != nil || created || again.ID() != "conv-1" {
		t.Fatalf("second Create = %v, %v, %v; want the existing conversation", again, created, err)
	}
}

func TestStatusAndTitle(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	a, _, err := m.Create(ctx, CreateRequest{InitialMessage: &MessageRequest{Content: event.Text("  write   a bash script that prints hello  ")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(ctx); !errors.Is(err, ErrNoAgent) {
		t.Fatalf("Run without a loop: %v, want ErrNoAgent", err)
	}
	title, err := a.GenerateTitle(ctx, 20)
	if err != nil || title != "write a bash scri..." {
		t.Fatalf("GenerateTitle = %q, %v", title, err)
	}
	if err := a.setStatus(StatusFinished); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Count(StatusFinished); err != nil || n != 1 {
		t.Fatalf("Count(finished) = %d, %v", n, err)
	}
	evs, _, err := m.store.Events(a.ID(), storage.EventQuery{Kinds: []event.Kind{event.KindStateUpdate}})
	if err != nil || len(evs) != 1 {
		t.Fatalf("state updates = %v, %v; want one", evs, err)
	}
	if string(evs[0].(*event.StateUpdate).Value) != `"finished"` {
		t.Errorf("state update value = %s", evs[0].(*event.StateUpdate).Value)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSecretsAreHiddenInStoredEvents(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	a, _, err := m.Create(ctx, CreateRequest{Secrets: map[string]Secret{"TOKEN": {Value: "tok-5ecret-value"}},
		Agent: &Agent{LLM: LLM{Model: "m", APIKey: "sk-llm-key-123"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := message(`the token is tok-5ecret-value and the key "sk-llm-key-123"`)
	if err := a.Append(e); err != nil {
		t.Fatal(err)
	}
	if e.Seq == 0 || e.ID == "" {
		t.Errorf("the caller's event has seq %d, id %q: want what storage gave", e.Seq, e.ID)
	}
	got, err := m.store.Event(a.ID(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	text := got.(*event.Message).LLMMessage.Content.Text()
	if want := `the token is <secret-hidden> and the key "<secret-hidden>"`; text != want {
		t.Errorf("stored text %q, want %q", text, want)
	}
	if masked := m.ConversationMasker(a.ID()).Mask("log tok-5ecret-value"); masked != "log <secret-hidden>" {
		t.Errorf("conversation masker: %q", masked)
	}
	m.rebuildLogMasker()
	if masked := m.Masker().Mask("log tok-5ecret-value"); masked != "log <secret-hidden>" {
		t.Errorf("manager masker: %q", masked)
	}
}

// rawRecorder is a Subscriber that keeps the JSON it is sent, by seq.
type rawRecorder struct {
	mu   sync.Mutex
	raws map[int64]string
}

func (r *rawRecorder) Send(d *Delivery) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.raws[d.Seq] = string(d.Raw)
	return true
}
func (r *rawRecorder) WaitRoom(ctx context.Context) error { return ctx.Err() }
func (r *rawRecorder) Drop(error)                         {}

// TestLiveDeliveryIsStoredJSON checks that a live subscriber is sent each
// event's JSON as stored, byte for byte: for appends of one event and of
// several, with and without secrets to hide.
func TestLiveDeliveryIsStoredJSON(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	for _, req := range []CreateRequest{{}, {Secrets: map[string]Secret{"TOKEN": {Value: "tok-5ecret-value"}}}} {
		a, _, err := m.Create(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		rec := &rawRecorder{raws: map[int64]string{}}
		detach, err := a.Subscribe(ctx, rec, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Append(message("one tok-5ecret-value")); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(message("two"), message("three tok-5ecret-value"), message("four")); err != nil {
			t.Fatal(err)
		}
		detach()
		stored, err := m.store.RawEvents(a.ID(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 4 || len(rec.raws) != 4 {
			t.Fatalf("%d stored events, %d delivered; want 4 of each", len(stored), len(rec.raws))
		}
		for i, raw := range stored {
			if got := rec.raws[int64(i+1)]; got != string(raw) {
				t.Errorf("seq %d: delivered\n%s\nstored\n%s", i+1, got, raw)
			}
			if req.Secrets != nil && strings.Contains(string(raw), "tok-5ecret-value") {
				t.Errorf("seq %d: a secret is stored: %s", i+1, raw)
			}
		}
	}
}

// discard is a Subscriber that takes every event and keeps none.
type discard struct{}

func (discard) Send(*Delivery) bool                { return true }
func (discard) WaitRoom(ctx context.Context) error { return ctx.Err() }
func (discard) Drop(error)                         {}

// BenchmarkAppend appends one observation-sized event at a time to 16
// conversations at once, each with a live subscriber: storage's durable
// append plus what the session adds (masking and delivery).
func BenchmarkAppend(b *testing.B) {
	store, err := storage.Open(filepath.Join(b.TempDir(), "state.db"), storage.Options{SecretKey: "bench-key"})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	m, err := New(Options{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	const convs = 16
	sessions := make(chan *AgentSession, convs)
	for range convs {
		a, _, err := m.Create(ctx, CreateRequest{})
		if err != nil {
			b.Fatal(err)
		}
		detach, err := a.Subscribe(ctx, discard{}, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer detach()
		sessions <- a
	}
	text := strings.Repeat("total 48\ndrwxr-xr-x 2 user user 4096 Nov 22 10:00 src\n", 20)
	b.SetParallelism((convs + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		a := <-sessions
		for pb.Next() {
			if err := a.Append(message(text)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
