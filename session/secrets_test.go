package session

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/storage"
)

// newManagerOn returns a ConversationManager on store with opts.
func newManagerOn(t *testing.T, store *storage.Store, opts Options) *ConversationManager {
	t.Helper()
	opts.Store = store
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func openStore(t testing.TB) *storage.Store {
	t.Helper()
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{SecretKey: "test-key"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// secretsOf makes n secrets whose values are size bytes long.
func secretsOf(n, size int) map[string]Secret {
	out := make(map[string]Secret, n)
	for i := range n {
		v := fmt.Sprintf("value-%d-", i)
		out[fmt.Sprintf("S%d", i)] = Secret{Value: v + strings.Repeat("x", max(size-len(v), 0))}
	}
	return out
}

// wantInvalid checks that err is a 422 naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindInvalid || !strings.HasPrefix(e.Detail, field+":") {
		t.Fatalf("error %v, want a 422 naming %s", err, field)
	}
}

// TestDefaultSecretLimits checks the default limits: 1,000 secrets and
// 64 KiB a value.
func TestDefaultSecretLimits(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	_, _, err := m.Create(ctx, CreateRequest{Secrets: secretsOf(1001, 10)})
	wantInvalid(t, err, "secrets")
	_, _, err = m.Create(ctx, CreateRequest{Secrets: secretsOf(1, 64<<10+1)})
	wantInvalid(t, err, "secrets")
	if n, err := m.Count(""); err != nil || n != 0 {
		t.Fatalf("%d conversations after refused creates (%v), want none", n, err)
	}
	a, _, err := m.Create(ctx, CreateRequest{Secrets: secretsOf(1000, 10)})
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, a.SetSecrets(map[string]Secret{"ONE_MORE": {Value: "one-more"}}), "secrets")
	if n := len(a.Secrets()); n != 1000 {
		t.Errorf("%d secrets after a refused change, want 1000", n)
	}
}

func TestCreateSecretLimits(t *testing.T) {
	store := openStore(t)
	m := newManagerOn(t, store, Options{SecretLimits: SecretLimits{Count: 10, ValueBytes: 100, TotalBytes: 500}})
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		req   CreateRequest
		field string
	}{
		{"too many", CreateRequest{Secrets: secretsOf(11, 10)}, "secrets"},
		{"far too many", CreateRequest{Secrets: secretsOf(100_000, 10)}, "secrets"},
		{"too long", CreateRequest{Secrets: secretsOf(1, 101)}, "secrets"},
		{"too much in all", CreateRequest{Secrets: secretsOf(6, 100)}, "secrets"},
		{"escaped forms count", CreateRequest{Secrets: map[string]Secret{"A": {Value: strings.Repeat("<\n", 50)}}}, "secrets"},
		{"LLM key too long", CreateRequest{Agent: &Agent{LLM: LLM{Model: "m", APIKey: strings.Repeat("k", 101)}}}, "agent.llm.api_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := m.Create(ctx, tc.req)
			wantInvalid(t, err, tc.field)
		})
	}
	if n, err := m.Count(""); err != nil || n != 0 {
		t.Fatalf("%d conversations after refused creates (%v), want none", n, err)
	}
	// At the limits: 400 bytes of secrets and 100 of key.
	a, _, err := m.Create(ctx, CreateRequest{Secrets: secretsOf(4, 100), Agent: &Agent{LLM: LLM{Model: "m", APIKey: strings.Repeat("k", 100)}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(a.Secrets()); n != 4 {
		t.Errorf("%d secrets, want 4", n)
	}
}

func TestSetSecretLimits(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	roomy := newManagerOn(t, store, Options{})
	a, _, err := roomy.Create(ctx, CreateRequest{Secrets: secretsOf(8, 50)})
	if err != nil {
		t.Fatal(err)
	}
	id := a.ID()

	// A server with lower limits holds the same conversation, past them.
	m := newManagerOn(t, store, Options{SecretLimits: SecretLimits{Count: 5, ValueBytes: 60, TotalBytes: 300}})
	a, err = m.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() map[string]string {
		t.Helper()
		s, err := store.Secrets(id)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := stored()
	for _, tc := range []struct {
		name string
		put  map[string]Secret
	}{
		{"one more", map[string]Secret{"NEW": {Value: "new-value"}}},
		{"too long", map[string]Secret{"S0": {Value: strings.Repeat("y", 61)}}},
		{"more in all", map[string]Secret{"S0": {Value: strings.Repeat("y", 60)}}},
		{"many more", secretsOf(2000, 5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalid(t, a.SetSecrets(tc.put), "secrets")
			if diff := cmp.Diff(stored(), before); diff != "" {
				t.Errorf("stored secrets changed (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(a.Secrets(), before); diff != "" {
				t.Errorf("held secrets changed (-got +want):\n%s", diff)
			}
		})
	}
	// Fewer secrets, still past the limits, and a value replaced by one
	// no longer: allowed.
	if err := a.SetSecrets(map[string]Secret{"S0": {}, "S1": {Value: "short"}}); err != nil {
		t.Fatal(err)
	}
	if got := len(stored()); got != 7 {
		t.Errorf("%d secrets stored, want 7", got)
	}
	if got := a.masker().Mask(before["S1"] + " short " + before["S0"]); got != before["S1"]+" <secret-hidden> "+before["S0"] {
		t.Errorf("masked %q: the masker is not the new secrets'", got)
	}
}

// TestSetSecretsConcurrently checks that changes of secrets are checked
// one after the other: of two that each fit alone, only one is made.
func TestSetSecretsConcurrently(t *testing.T) {
	m := newManagerOn(t, openStore(t), Options{SecretLimits: SecretLimits{Count: 10}})
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			put := make(map[string]Secret)
			for j := range 6 {
				put[fmt.Sprintf("G%d_%d", i, j)] = Secret{Value: fmt.Sprintf("value-%d-%d", i, j)}
			}
			errs[i] = a.SetSecrets(put)
		})
		wg.Go(func() {
			for range 50 {
				a.masker().Mask("value-0-0 value-1-0")
				m.Masker().Mask("value-0-0 value-1-0")
			}
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("errors %v: want one change made and one refused", errs)
	}
	if n := len(a.Secrets()); n != 6 {
		t.Errorf("%d secrets, want 6", n)
	}
}

// TestLogMasker checks the Maskers of log lines: a conversation's hides
// its secrets as soon as they are set; the Masker of all conversations is
// rebuilt in the background after changes and forgets a deleted one's.
func TestLogMasker(t *testing.T) {
	built := make(chan struct{}, 16)
	m := newManagerOn(t, openStore(t), Options{logMaskerBuilt: func() { built <- struct{}{} }})
	ctx := context.Background()
	a, _, err := m.Create(ctx, CreateRequest{Secrets: map[string]Secret{"A": {Value: "first-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	const line = "first-secret second-secret"
	if got := m.ConversationMasker(a.ID()).Mask(line); got != "<secret-hidden> second-secret" {
		t.Errorf("conversation masker: %q", got)
	}
	<-built
	if got := m.Masker().Mask(line); got != "<secret-hidden> second-secret" {
		t.Errorf("masker of all: %q", got)
	}

	if err := a.SetSecrets(map[string]Secret{"B": {Value: "second-secret"}}); err != nil {
		t.Fatal(err)
	}
	if got := m.ConversationMasker(a.ID()).Mask(line); got != "<secret-hidden> <secret-hidden>" {
		t.Errorf("conversation masker after a change: %q", got)
	}
	<-built
	if got := m.Masker().Mask(line); got != "<secret-hidden> <secret-hidden>" {
		t.Errorf("masker of all after a change: %q", got)
	}

	if err := m.Delete(ctx, a.ID()); err != nil {
		t.Fatal(err)
	}
	if mk := m.ConversationMasker(a.ID()); mk != nil {
		t.Error("a deleted conversation has a masker")
	}
	<-built
	if !m.Masker().Empty() {
		t.Errorf("the masker of all hides %q after the only conversation was deleted", m.Masker().Mask(line))
	}
}

// TestLogMaskerUnion checks that the Masker of all hides the secrets of
// every conversation held, not those of a deleted one.
func TestLogMaskerUnion(t *testing.T) {
	m := newManagerOn(t, openStore(t), Options{})
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		a, _, err := m.Create(ctx, CreateRequest{Secrets: map[string]Secret{"K": {Value: fmt.Sprintf("conv-%d-secret", i)}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID())
	}
	if err := m.Delete(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	m.rebuildLogMasker()
	got := m.Masker().Mask("conv-0-secret conv-1-secret conv-2-secret")
	if want := "<secret-hidden> <secret-hidden> conv-2-secret"; got != want {
		t.Errorf("masked %q, want %q", got, want)
	}
}
