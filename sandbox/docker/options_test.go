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

// TestSpecWorkspaceVolume: a working dir no mount covers gets a volume
// (the one given, or a new one); one a mount covers gets none but lives
// outside the container all the same; one no volume may be mounted on
// gets neither. The warm pool serves a new volume at /workspace, or a
// Spec that asks for no working dir.
func TestSpecWorkspaceVolume(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	o.Transport = TransportUnix
	o.Mounts = []sandbox.Mount{{Source: "/srv/data", Target: "/data"}}
	pool, err := o.resolve(sandbox.Spec{WorkingDir: sandbox.WorkspaceDir})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		spec       sandbox.Spec
		volume     string
		disposable bool
		pooled     bool
	}{
		{sandbox.Spec{}, "", false, true},
		{sandbox.Spec{WorkingDir: "/workspace/"}, newVolume, true, true},
		{sandbox.Spec{WorkingDir: "/workspace", Volume: "gohands-ws-1"}, "gohands-ws-1", true, false},
		{sandbox.Spec{WorkingDir: "/home/u/proj"}, newVolume, true, false},
		{sandbox.Spec{WorkingDir: "/data/proj", Volume: "gohands-ws-1"}, "", true, false},
		{sandbox.Spec{WorkingDir: "/tmp/x", AddMounts: []sandbox.Mount{{Source: "/tmp/x", Target: "/tmp/x"}}}, "", true, false},
		{sandbox.Spec{WorkingDir: "/"}, "", false, false},
		{sandbox.Spec{WorkingDir: "/workspace", Env: map[string]string{"A": "b"}}, newVolume, true, false},
	} {
		r, err := o.resolve(c.spec)
		if err != nil {
			t.Fatalf("%+v: %v", c.spec, err)
		}
		if r.volume != c.volume || r.disposable != c.disposable || r.servedByPool(pool) != c.pooled {
			t.Errorf("%+v: volume %q disposable %v pooled %v; want %q %v %v",
				c.spec, r.volume, r.disposable, r.servedByPool(pool), c.volume, c.disposable, c.pooled)
		}
	}
}
