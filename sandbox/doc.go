// Package sandbox is the seam between GoHands and the engines that run its
// sandboxes: the Backend interface and the types it speaks (Spec, Limits,
// Mount, Handle, Status, StatusChange, State and the errors callers
// branch on). A sandbox runs the runtime-agent, reached through package
// agentapi.
//
// A Backend starts a sandbox for an owner key, an opaque string its
// caller chooses (session uses a conversation's id), and gives back a
// Sandbox whose Handle the caller saves. After a restart the caller gives
// the saved handles to Recover and removes with Destroy what List shows
// and no handle names. Status changes come on one stream, keyed by owner.
// Nothing here decides when a sandbox is idle: its owner stops it.
//
// A Backend that can run a web browser beside a sandbox, in the
// sandbox's network, also implements Browsers: StartBrowser gives a
// BrowserConn, the DevTools channel of a fresh Chromium (package browser
// drives it). A backend without browsers simply lacks the interface, and
// its callers answer ErrNoBrowser.
//
// What every backend keeps of its sandboxes is here once: a Registry of
// them by id and by owner (with the claim of an owner whose sandbox is
// being started, and the stream of status changes), its warm Pools, and
// for each sandbox a StatusCell (owner, status, exit error and agent
// client), whose Use, Start and Stop do the status checks of the
// Sandbox methods of those names.
//
// Backends: sandbox/docker (the Docker engine, the first), and
// sandbox/sandboxtest (in memory, for tests). A Kubernetes backend, a
// sandbox being a Pod, is meant to implement the same interface.
package sandbox
