// Package docker is the Docker engine's sandbox.Backend: one container
// per sandbox with the runtime-agent as PID 1.
//
// Any image with bash works. The static runtime-agent binary is put into the
// container before it starts (a read-only bind mount on a local engine, a
// copy otherwise), so there is no image build and a sandbox starts about as
// fast as the engine starts a container. Each sandbox gets a fresh random
// token. The server reaches the agent over a Unix socket in a per-sandbox
// host folder bind-mounted at /run/gohands when the engine is local (the
// default: publishing a port makes every start slower), or over a port
// published on 127.0.0.1 only (TransportTCP, and always for a remote
// engine). A sandbox with network mode "none" always uses the socket.
//
// A sandbox's root can write in its run folder, so the server trusts
// nothing it finds there: the agent client never follows a symlink to the
// socket, and sends the token only on connections whose peer proved, with
// the agent's handshake, that it holds the token and listens on the very
// socket file dialled (agentapi.ErrUnverified otherwise; such failures are
// logged, and a sandbox whose agent fails it at start counts as not
// healthy). The agent hides the token from the sandbox's processes (see
// cmd/runtime-agent).
//
// A Manager holds the sandboxes of one server: it creates them (or hands
// one out of its warm pool), restarts a stopped one on Use, notices
// containers that die (the engine's event stream, reported on Changes),
// takes over those an earlier run left (Recover) and lists and removes
// the others (List, Destroy). When a sandbox is idle is its owner's
// business: the Manager stops one only when asked.
//
// Every container carries the labels gohands.sandbox=1,
// gohands.server=<server id> and the owner key in gohands.conversation
// (the label keeps the name it had when conversations were the only
// owners, so containers made by an older server are still recognised).
// Labels cannot change after a container is created, so a sandbox taken
// from the warm pool keeps an empty owner label (and gohands.pool=1); the
// Manager records which owner it serves, and the owner saves the Handle
// (container id and token) to recover it after a restart. The token is not
// put in a label; when a Handle has none, Recover reads it back from the
// container's environment, which only holders of engine access can see.
//
// StartBrowser (sandbox.Browsers) runs a Chromium container beside an
// owner's sandbox, in the sandbox's network namespace (NetworkMode
// container:<sandbox>), from the browser image (make browser-image): as
// user 1000 with no capabilities, a read-only root and a tmpfs profile, no
// mounts, no log, its own memory and pids limits (BrowserOptions). The
// server speaks the DevTools protocol with it over the container's stdin
// and stdout, attached through the engine: Chromium opens no port that the
// sandbox, which shares its loopback, could take or reach. A browser
// carries gohands.browser=1, gohands.server and the owner label; it is
// removed when its sandbox stops or goes, by Close, and, when an earlier
// run left it, by the next Manager of the same server.
//
// The package talks to the engine only through the Docker Go client, with
// API version negotiation (Debian's docker.io 20.10 speaks API 1.41).
package docker
