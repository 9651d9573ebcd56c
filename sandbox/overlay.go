package sandbox

import (
	"context"
	"errors"
)

// ErrNoOverlay says a backend cannot make the copy-on-write volume asked
// for (its engine is not on this host, a path would not pass, or its
// default mounts already hold the target): the caller does without.
var ErrNoOverlay = errors.New("no copy-on-write volume on this backend")

// OverlayVolume is a named volume that is a copy-on-write view of a host
// folder: reads come from Lower, which is never written, and every change
// lands in Upper (Work is the kernel's scratch folder beside it, on the
// same filesystem). All three are absolute host paths the server made.
type OverlayVolume struct {
	Name  string // the volume's name, as a Mount with Volume set gives it
	Owner string // the owner key of the sandbox it is for
	// Target is where the sandbox mounts it; the backend refuses one its
	// default mounts hold already.
	Target string
	Lower  string
	Upper  string
	Work   string
}

// OverlayVolumes is a Backend that can make OverlayVolumes, mounted by a
// Spec's Mount{Source: Name, Volume: true}, and remove them. A volume is
// made without being mounted: a kernel that cannot mount it makes the
// Start of the sandbox that uses it fail. Backends without the interface
// have no such volumes.
type OverlayVolumes interface {
	// CreateOverlayVolume makes the volume, labelled as this server's,
	// or fails with ErrNoOverlay when the backend cannot.
	CreateOverlayVolume(ctx context.Context, v OverlayVolume) error
	// RemoveOverlayVolume removes a volume CreateOverlayVolume made (no
	// other); one that is gone is not an error. The folders stay.
	RemoveOverlayVolume(ctx context.Context, name string) error
}

// OverlayStarter is a Backend that can also give an owner a sandbox
// already running whose working folder is made to show an OverlayVolume
// (the Docker backend's fork pool), so that a fork starts no sandbox.
type OverlayStarter interface {
	// StartOverlay is Start for a spec whose working folder is the
	// volume v (spec's mount of v.Name at v.Target included). It fails
	// with ErrNoOverlay when it cannot serve it (no ready sandbox, a spec
	// its sandboxes do not match, a mount refused): the caller then
	// calls Start.
	StartOverlay(ctx context.Context, owner string, spec Spec, v OverlayVolume) (Sandbox, error)
}
