package session_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/browser"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
	"github.com/gohands/gohands/sandbox/sandboxtest"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// browserWorkspace is what browser tools ask of a tool workspace.
type browserWorkspace interface {
	WithBrowser(ctx context.Context, fn func(browser.Page) error) error
}

// A backend that runs no browsers answers ErrNoBrowser, for the tools to
// fall back to the text fetcher.
func TestWithBrowserWithoutBrowsers(t *testing.T) {
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{SecretKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := session.New(session.Options{Store: store, Sandboxes: sandboxtest.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	a, _, err := m.Create(context.Background(), session.CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ws, ok := a.ToolWorkspace().(browserWorkspace)
	if !ok {
		t.Fatal("the tool workspace has no WithBrowser")
	}
	called := false
	err = ws.WithBrowser(context.Background(), func(browser.Page) error { called = true; return nil })
	if !errors.Is(err, browser.ErrNoBrowser) || called {
		t.Errorf("WithBrowser on a backend without browsers: %v (fn called %v), want ErrNoBrowser", err, called)
	}
}

// A conversation on Docker gets a browser beside its sandbox: it reads a
// page the sandbox serves; a killed browser is replaced on the next call
// with an event saying so; its memory is reported; deleting the
// conversation removes it.
func TestConversationBrowser(t *testing.T) {
	be := dockertest.Manager(t, nil)
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{SecretKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := session.New(session.Options{Store: store, Sandboxes: be})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, _, err := m.Create(ctx, session.CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	err = a.WithSandbox(ctx, func(cl *agentapi.Client) error {
		if _, err := cl.WriteFile(ctx, "/tmp/site/index.html", `<html><head><title>Served here</title></head><body><button>Press</button></body></html>`); err != nil {
			return err
		}
		_, err := cl.StartProcess(ctx, agentapi.ProcessSpec{Argv: []string{"python3", "-m", "http.server", "8123", "--bind", "127.0.0.1", "--directory", "/tmp/site"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ws := a.ToolWorkspace().(browserWorkspace)
	navigate := func() (browser.State, error) {
		var st browser.State
		err := ws.WithBrowser(ctx, func(p browser.Page) error {
			var err error
			for range 50 { // the server may still be starting
				if st, err = p.Navigate(ctx, "http://localhost:8123/", false); err == nil || !strings.Contains(err.Error(), "CONNECTION_REFUSED") {
					return err
				}
				time.Sleep(100 * time.Millisecond)
			}
			return err
		})
		return st, err
	}
	st, err := navigate()
	if err != nil || st.Title != "Served here" {
		t.Fatalf("navigate: %q, %v", st.Title, err)
	}
	if mem := m.BrowserMemory(ctx); mem[a.ID()] < 10<<20 {
		t.Errorf("browser memory by conversation: %v, want some MiB for %s", mem, a.ID())
	}

	engine := dockertest.Engine()
	byConv := filters.NewArgs(filters.Arg("label", "gohands.browser=1"), filters.Arg("label", "gohands.conversation="+a.ID()))
	list, err := engine.ContainerList(ctx, container.ListOptions{Filters: byConv})
	if err != nil || len(list) != 1 {
		t.Fatalf("browser containers: %d, %v", len(list), err)
	}
	if err := engine.ContainerKill(ctx, list[0].ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	st, err = navigate()
	if errors.Is(err, browser.ErrCrashed) {
		st, err = navigate()
	}
	if err != nil || st.Title != "Served here" {
		t.Fatalf("after the kill: %q, %v", st.Title, err)
	}
	evs, err := a.EventsAfter(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	told := false
	for _, e := range evs {
		if s, ok := e.(*event.SandboxStatus); ok && strings.Contains(s.Message, "browser stopped unexpectedly") {
			told = true
		}
	}
	if !told {
		t.Error("no event tells of the browser's restart")
	}

	if err := m.Delete(ctx, a.ID()); err != nil {
		t.Fatal(err)
	}
	// The browser goes in the background.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		list, err = engine.ContainerList(ctx, container.ListOptions{All: true, Filters: byConv})
		if err == nil && len(list) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("a minute after delete: %d browser containers, %v", len(list), err)
			break
		}
	}
}
