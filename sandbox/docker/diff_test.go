package docker

import (
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/sandbox"
)

// TestChangedPaths lists what a command changed in the container's own
// layer (the workspace is in it, without a volume), and not /tmp.
func TestChangedPaths(t *testing.T) {
	t.Parallel()
	m := newManager(t, nil)
	s := start(t, m, sandbox.Spec{})
	home := strings.TrimSpace(run(t, s, "mkdir -p $HOME/ck && echo x > $HOME/ck/made && echo w > /workspace/w && echo t > /tmp/t && echo $HOME").Output)
	got, err := s.ChangedPaths(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{home + "/ck/made", "/workspace/w"} {
		if !slices.Contains(got, want) {
			t.Errorf("ChangedPaths = %v, want %s among them", got, want)
		}
	}
	for _, p := range got {
		if strings.HasPrefix(p, "/tmp") || strings.HasPrefix(p, sandbox.AgentDir) || strings.HasPrefix(p, "/proc") {
			t.Errorf("ChangedPaths lists %s, which is not the sandbox's own layer's work", p)
		}
	}
}

func TestSnapshotted(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"/usr/local/lib/x": true, "/root": true, "/": false, "/tmp": false, "/tmp/a": false, "/tmpfile": true,
		"/opt/gohands/runtime-agent": false, "/etc/hosts": false, "/etc/hostsfile": true, "rel": false,
	} {
		if got := snapshotted(p); got != want {
			t.Errorf("snapshotted(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestOwnChanges(t *testing.T) {
	t.Parallel()
	changes := []container.FilesystemChange{
		{Kind: container.ChangeModify, Path: "/opt"},
		{Kind: container.ChangeAdd, Path: "/opt/gohands"},
		{Kind: container.ChangeModify, Path: "/home"},
		{Kind: container.ChangeAdd, Path: "/home/u"},
		{Kind: container.ChangeAdd, Path: "/home/u/made"},
		{Kind: container.ChangeModify, Path: "/etc/motd"},
		{Kind: container.ChangeDelete, Path: "/etc/gone"},
		{Kind: container.ChangeModify, Path: "/etc"},
		{Kind: container.ChangeAdd, Path: "/tmp/x"},
	}
	want := []string{"/home/u", "/home/u/made", "/etc/motd", "/etc/gone"}
	if diff := cmp.Diff(ownChanges(changes), want); diff != "" {
		t.Errorf("ownChanges (-got +want):\n%s", diff)
	}
}
