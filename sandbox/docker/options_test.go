package docker

import (
	"errors"
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
