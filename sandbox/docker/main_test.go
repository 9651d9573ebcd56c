package docker

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// labelTest marks every container the tests make, so leftovers of a
// crashed run are removed by a later one; labelTestRun tells runs apart, so
// runs going on at the same time leave each other alone.
const (
	labelTest    = "gohands.test"
	labelTestRun = "gohands.testrun"
	// leftoverAge is when another run's container counts as left behind
	// (longer than `make test`'s timeout).
	leftoverAge = 30 * time.Minute
)

// suite is what the Docker tests share. It is prepared on first use, so
// unit tests and fuzzing never build the agent or touch the engine.
type suite struct {
	once     sync.Once
	engine   *client.Client
	agent    string // path of the runtime-agent built for the tests
	dir      string // temp dir holding it
	run      string // this run's id (label gohands.testrun)
	skip     string // why Docker tests skip (no engine)
	fatal    string // why Docker tests fail (agent build, missing image)
	useImage string
}

var env suite

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if env.engine != nil {
		reapTestContainers(filters.Arg("label", labelTestRun+"="+env.run), time.Now().Add(time.Hour))
		env.engine.Close()
	}
	if env.dir != "" {
		os.RemoveAll(env.dir)
	}
	os.Exit(code)
}

// prepare connects to the engine, builds the runtime-agent once, reaps
// old leftovers and checks the image.
func (e *suite) prepare() {
	if testing.Short() {
		e.skip = "Docker tests skipped under -short"
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	engine, err := Connect(ctx)
	cancel()
	if err != nil {
		e.skip = fmt.Sprintf("no Docker engine answers: %v", err)
		return
	}
	e.engine = engine
	e.useImage = sandbox.DefaultImage
	e.run = randomHex(6)

	if e.dir, err = os.MkdirTemp("", "gohands-sandbox-test-"); err != nil {
		e.fatal = err.Error()
		return
	}
	e.agent = filepath.Join(e.dir, "runtime-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", e.agent, "github.com/gohands/gohands/cmd/runtime-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		e.fatal = fmt.Sprintf("build runtime-agent: %v\n%s", err, out)
		return
	}
	reapTestContainers(filters.Arg("label", labelTest+"=1"), time.Now().Add(-leftoverAge))
	ictx, icancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = engine.ImageInspect(ictx, e.useImage)
	icancel()
	if err != nil {
		e.fatal = fmt.Sprintf("sandbox image %s is missing (%v): build it with `make sandbox-image` (`make test` does that first)", e.useImage, err)
	}
}

// reapTestContainers removes test containers matching f created before
// the given time.
func reapTestContainers(f filters.KeyValuePair, before time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := env.engine.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(f)})
	if err != nil {
		return
	}
	for _, c := range list {
		if time.Unix(c.Created, 0).Before(before) {
			env.engine.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
	vols, err := env.engine.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(f)})
	if err != nil {
		return
	}
	for _, v := range vols.Volumes {
		if created, err := time.Parse(time.RFC3339, v.CreatedAt); err != nil || created.Before(before) {
			env.engine.VolumeRemove(ctx, v.Name, true)
		}
	}
}

// needDocker skips under -short or without an engine, and fails when the
// suite could not be prepared.
func needDocker(t testing.TB) {
	t.Helper()
	env.once.Do(env.prepare)
	if env.skip != "" {
		t.Skip(env.skip)
	}
	if env.fatal != "" {
		t.Fatal(env.fatal)
	}
}

// newManager makes a Manager with a unique server id whose containers are
// all removed when the test ends.
func newManager(t testing.TB, edit func(*Options)) *Manager {
	t.Helper()
	return newManagerLogging(t, edit, testLogger(t))
}

// newManagerLogging is newManager with the Manager's logger given.
func newManagerLogging(t testing.TB, edit func(*Options), logger *slog.Logger) *Manager {
	t.Helper()
	needDocker(t)
	opts := testOptions(t, "test-"+strings.ToLower(randomHex(4)))
	if edit != nil {
		edit(&opts)
	}
	m, err := New(env.engine, opts, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close manager: %v", err)
		}
		removeServer(ctx, opts.ServerID)
	})
	return m
}

func testOptions(t testing.TB, serverID string) Options {
	opts := DefaultOptions()
	opts.ServerID = serverID
	opts.AgentBinary = env.agent
	opts.Image = env.useImage
	opts.Labels = map[string]string{labelTest: "1", labelTestRun: env.run}
	opts.RunDir = shortTempDir(t)
	opts.StartTimeout = 30 * time.Second
	return opts
}

// shortTempDir is a temp dir with a short path: Unix socket paths are
// limited to 108 bytes.
func shortTempDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "ghs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// removeServer removes every container of a server id.
func removeServer(ctx context.Context, serverID string) {
	list, err := env.engine.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelServer+"="+serverID))})
	if err != nil {
		return
	}
	for _, c := range list {
		env.engine.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	vols, err := env.engine.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelServer+"="+serverID))})
	if err != nil {
		return
	}
	for _, v := range vols.Volumes {
		env.engine.VolumeRemove(ctx, v.Name, true)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelDebug
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// start starts a sandbox for a fresh conversation and removes it at the end.
func start(t testing.TB, m *Manager, spec sandbox.Spec) *Sandbox {
	t.Helper()
	s, err := m.start(testCtx(t), "conv-"+randomHex(4), spec)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.Remove(ctx)
	})
	return s
}

// run runs a command in the sandbox's main terminal.
func run(t testing.TB, s *Sandbox, command string) agentapi.ExecResult {
	t.Helper()
	res, err := tryRun(testCtx(t), s, command)
	if err != nil {
		t.Fatalf("run %q: %v", command, err)
	}
	return res
}

func tryRun(ctx context.Context, s *Sandbox, command string) (agentapi.ExecResult, error) {
	cl, done, err := s.Use(ctx)
	if err != nil {
		return agentapi.ExecResult{}, err
	}
	defer done()
	return cl.Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: command, Timeout: 30})
}

// assertNoContainers fails when a server id still has containers.
func assertNoContainers(t testing.TB, serverID string) {
	t.Helper()
	list, err := env.engine.ContainerList(testCtx(t), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelServer+"="+serverID))})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("%d containers left for server %s", len(list), serverID)
	}
}

func decodeJSON(t testing.TB, r io.ReadCloser, v any) {
	t.Helper()
	defer r.Close()
	if err := json.NewDecoder(r).Decode(v); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

func hostCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// capMask is the /proc/PID/status hex mask of a capability set.
func capMask(t testing.TB, caps []string) string {
	t.Helper()
	numbers := map[string]uint{"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
		"SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18,
		"MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}
	var mask uint64
	for _, c := range caps {
		n, ok := numbers[c]
		if !ok {
			t.Fatalf("capMask: unknown capability %s", c)
		}
		mask |= 1 << n
	}
	return fmt.Sprintf("%016x", mask)
}
