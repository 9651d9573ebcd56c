package browser_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/browser"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
)

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// The browser reaches the app the sandbox serves on its own localhost,
// types into the form, clicks the button, and reads what the page's
// JavaScript wrote; the container is confined as the package says.
func TestDrivesAppInSandbox(t *testing.T) {
	f := newFixture(t, sandbox.NetworkBridge, nil, browser.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	st, err := f.b.Navigate(ctx, appURL("/"), false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Title != "Greeter" || !strings.HasPrefix(st.URL, appURL("/")) {
		t.Fatalf("title %q, url %q: want the app's page", st.Title, st.URL)
	}
	in := find(t, st, "input", "Your name")
	btn := find(t, st, "button", "Greet")
	if !strings.Contains(st.Text, "Title: Greeter") || !strings.Contains(st.Text, "<button") {
		t.Errorf("state text lacks the title or the button:\n%s", st.Text)
	}
	if st, err = f.b.Type(ctx, in, "Ada"); err != nil {
		t.Fatal(err)
	}
	if st, err = f.b.Click(ctx, btn, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Text, "Hello, Ada!") {
		t.Fatalf("after the click the state lacks the greeting the script added:\n%s", st.Text)
	}
	content, err := f.b.Content(ctx, false, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(content, "Greeted Ada") || !strings.Contains(content, "Greeter") {
		t.Errorf("content lacks the changed text:\n%s", content)
	}
	if part, err := f.b.Content(ctx, false, 2, 5); err != nil || !strings.Contains(part, "characters 2 to 7 of") {
		t.Errorf("bounded content = %q, %v", part, err)
	}

	shot, err := f.b.State(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(shot.Screenshot, pngMagic) || len(shot.Screenshot) < 1000 {
		t.Errorf("screenshot is not a PNG (%d bytes)", len(shot.Screenshot))
	}

	// A dialog is accepted and reported.
	warn := find(t, shot, "button", "Warn me")
	st, err = f.b.Click(ctx, warn, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Text, "careful now") || !strings.Contains(st.Text, "accepted") {
		st, _ = f.b.State(ctx, false) // the event can come just after the click's state
		if !strings.Contains(st.Text, "careful now") {
			t.Errorf("the alert is not reported:\n%s", st.Text)
		}
	}

	// A link loads the next page; the old indices are then stale.
	link := find(t, st, "a", "Second page")
	st, err = f.b.Click(ctx, link, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Title != "Second" {
		t.Fatalf("after the link: title %q, want Second", st.Title)
	}
	if _, err := f.b.Click(ctx, btn, false); !errors.Is(err, browser.ErrNoElement) {
		t.Errorf("click on a stale index: %v, want ErrNoElement", err)
	}
	if st, err = f.b.Back(ctx); err != nil || st.Title != "Greeter" {
		t.Errorf("back: title %q, %v", st.Title, err)
	}

	// Tabs.
	st, err = f.b.Navigate(ctx, appURL("/second.html"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tabs) != 2 {
		t.Fatalf("after a new tab: %d tabs, want 2: %+v", len(st.Tabs), st.Tabs)
	}
	var first browser.Tab
	for _, tab := range st.Tabs {
		if !tab.Active {
			first = tab
		}
	}
	if st, err = f.b.SwitchTab(ctx, first.ID); err != nil || st.Title != "Greeter" {
		t.Fatalf("switch tab: title %q, %v", st.Title, err)
	}
	tabs, err := f.b.CloseTab(ctx, first.ID)
	if err != nil || len(tabs) != 1 || !tabs[0].Active || tabs[0].Title != "Second" {
		t.Fatalf("close tab: %+v, %v", tabs, err)
	}
	if _, err := f.b.SwitchTab(ctx, first.ID); !errors.Is(err, browser.ErrNoTab) {
		t.Errorf("switch to a closed tab: %v, want ErrNoTab", err)
	}

	// Memory is reported.
	if n, ok, err := f.b.Memory(ctx); err != nil || !ok || n < 10<<20 {
		t.Errorf("memory = %d, %v, %v; want some MiB", n, ok, err)
	}

	// The container: in the sandbox's network, confined, labelled.
	list, err := dockertest.Engine().ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "gohands.browser=1"), filters.Arg("label", "gohands.conversation="+f.owner))})
	if err != nil || len(list) != 1 {
		t.Fatalf("browser containers of %s: %d, %v", f.owner, len(list), err)
	}
	info, err := dockertest.Engine().ContainerInspect(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	hc := info.HostConfig
	if string(hc.NetworkMode) != "container:"+f.sb.Handle().ID {
		t.Errorf("network mode %q, want the sandbox's", hc.NetworkMode)
	}
	if hc.Init == nil || !*hc.Init || len(hc.CapDrop) != 1 || hc.CapDrop[0] != "ALL" || len(hc.PortBindings) != 0 {
		t.Errorf("browser container: init %v, cap drop %v, ports %v; want an init, no capabilities, no ports", hc.Init, hc.CapDrop, hc.PortBindings)
	}
	if !hc.ReadonlyRootfs || info.Config.User != "1000:1000" || len(info.Mounts) != 0 || hc.Memory == 0 || hc.PidsLimit == nil || *hc.PidsLimit == 0 {
		t.Errorf("browser container not confined: readonly %v, user %q, mounts %v, memory %d, pids %v",
			hc.ReadonlyRootfs, info.Config.User, info.Mounts, hc.Memory, hc.PidsLimit)
	}

	// It stops with its sandbox.
	if err := f.sb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := dockertest.Engine().ContainerInspect(ctx, list[0].ID)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the browser container outlived its sandbox's stop")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
