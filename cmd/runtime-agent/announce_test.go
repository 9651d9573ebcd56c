package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// TestAnnounceOnceServing: an agent given --announce posts the proof of
// its token for the URL's path once it serves, and the agent answers at
// that moment.
func TestAnnounceOnceServing(t *testing.T) {
	const token, path = "s3cret", "/agents/sb-1/k1/ready"
	sock := filepath.Join(t.TempDir(), "agent.sock")
	got := make(chan bool, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := r.Method == http.MethodPost && r.URL.Path == path &&
			agentapi.VerifyAnnounce(token, path, r.Header.Get(agentapi.AnnounceHeader))
		// The agent must serve when it says it does.
		if ok {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			ok = agentapi.NewUnixClient(sock, token).Health(ctx) == nil
		}
		got <- ok
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	startOnSocket(ctx, t, sock, token, exec.Command(agentBin, "--listen", "unix://"+sock, "--workdir", dir,
		"--output-dir", filepath.Join(dir, "out"), "--announce", srv.URL+path))
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("the announce did not carry the token's proof for its path, or came before the agent served")
		}
	case <-ctx.Done():
		t.Fatal("no announce")
	}
	select {
	case <-got:
		t.Fatal("announced again after the server took it")
	case <-time.After(200 * time.Millisecond):
	}
}
