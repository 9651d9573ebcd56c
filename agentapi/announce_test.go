package agentapi

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAnnounceProof(t *testing.T) {
	proof := hex.EncodeToString(AnnounceMAC("tok", "/agents/a/k/ready"))
	if !VerifyAnnounce("tok", "/agents/a/k/ready", proof) {
		t.Fatal("a proof does not verify")
	}
	for _, c := range []struct{ token, path, proof string }{
		{"other", "/agents/a/k/ready", proof},
		{"tok", "/agents/b/k/ready", proof},
		{"tok", "/agents/a/k/ready", proof[:10]},
		{"tok", "/agents/a/k/ready", "zz" + proof[2:]},
		{"tok", "/agents/a/k/ready", ""},
		// The handshake's proof of the same bytes is no announce's.
		{"tok", "/agents/a/k/ready", hex.EncodeToString(HandshakeMAC("tok", nil, "/agents/a/k/ready"))},
	} {
		if VerifyAnnounce(c.token, c.path, c.proof) {
			t.Errorf("token %q path %q proof %q verified", c.token, c.path, c.proof)
		}
	}
}

// TestAnnounceRetries: a server error is tried again, a refusal is not,
// and a server that never answers costs no more than ctx.
func TestAnnounceRetries(t *testing.T) {
	var calls, status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) >= 3 {
			w.WriteHeader(int(status.Load()))
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status.Store(http.StatusNoContent)
	if err := Announce(ctx, srv.URL+"/agents/a/k/ready", "tok"); err != nil || calls.Load() != 3 {
		t.Fatalf("err %v after %d calls, want success at the third", err, calls.Load())
	}
	calls.Store(10)
	status.Store(http.StatusForbidden)
	if err := Announce(ctx, srv.URL+"/x", "tok"); !errors.Is(err, ErrAnnounceRefused) || calls.Load() != 11 {
		t.Fatalf("err %v after %d calls, want one refused call", err, calls.Load()-10)
	}
	short, cancel2 := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel2()
	if err := Announce(short, "http://127.0.0.1:1/x", "tok"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's", err)
	}
	for _, u := range []string{"ftp://h/x", "http:///x", "://", "http://h/" + strings.Repeat("a", AnnounceMaxPath)} {
		if err := Announce(ctx, u, "tok"); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("URL %q: err %v, want a refusal of the URL", u, err)
		}
	}
}
