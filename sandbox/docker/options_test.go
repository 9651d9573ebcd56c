package docker

import (
	"errors"
	"slices"
	"testing"

	"github.com/gohands/gohands/sandbox"
)

func TestSpecMountsChecked(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	o.Transport = TransportUnix
	for _, m := range []sandbox.Mount{
		{Source: "/x", Target: "relative"},
		{Source: "/x", Target: "/opt/gohands"},
		{Source: "not a name", Target: "/a", Volume: true},
	} {
		if _, err := o.resolve(sandbox.Spec{Mounts: []sandbox.Mount{m}}); !errors.Is(err, sandbox.ErrBadVolume) {
			t.Errorf("resolve with mount %+v: err = %v, want ErrBadVolume", m, err)
		}
	}
}

func TestSpecAddMounts(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	o.Transport = TransportUnix
	o.Mounts = []sandbox.Mount{{Source: "/srv/ws", Target: sandbox.WorkspaceDir}}
	host := sandbox.Mount{Source: "/tmp/proj", Target: "/tmp/proj"}
	r, err := o.resolve(sandbox.Spec{AddMounts: []sandbox.Mount{host}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []sandbox.Mount{o.Mounts[0], host}; !slices.Equal(r.mounts, want) {
		t.Errorf("mounts = %v, want %v", r.mounts, want)
	}
	if len(o.Mounts) != 1 {
		t.Errorf("the options' mounts changed: %v", o.Mounts)
	}
	twice := sandbox.Mount{Source: "/tmp/other", Target: sandbox.WorkspaceDir}
	if _, err := o.resolve(sandbox.Spec{AddMounts: []sandbox.Mount{twice}}); !errors.Is(err, sandbox.ErrBadVolume) {
		t.Errorf("a second mount on %s: err = %v, want ErrBadVolume", sandbox.WorkspaceDir, err)
	}
}
