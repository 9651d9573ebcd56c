// Package dockertest sets up real Docker sandboxes for the tests of
// packages above sandbox: it connects to the Docker engine, builds the
// runtime-agent once per test binary, and makes docker Managers whose
// containers carry this run's labels and are removed at the end.
//
// Tests call Require, which skips under -short or when no engine answers
// and fails when the agent cannot be built or the image is missing; the
// package's TestMain calls Cleanup after the tests.
package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
)

// The labels put on test sandboxes: leftovers of a crashed run are removed
// by a later one, and runs going on at the same time leave each other
// alone.
const (
	LabelTest    = "gohands.test"
	LabelTestRun = "gohands.testrun"
	leftoverAge  = 30 * time.Minute
)

type suite struct {
	once   sync.Once
	engine *client.Client
	dir    string
	agent  string
	run    string
	skip   string
	fatal  string
}

var env suite

// Require prepares the suite on first use and skips or fails tb when
// sandboxes cannot be had.
func Require(tb testing.TB) {
	tb.Helper()
	env.once.Do(env.prepare)
	if env.skip != "" {
		tb.Skip(env.skip)
	}
	if env.fatal != "" {
		tb.Fatal(env.fatal)
	}
}

// Engine returns the engine client. Call Require first.
func Engine() *client.Client { return env.engine }

// AgentBinary returns the path of the runtime-agent built for the run.
func AgentBinary() string { return env.agent }

func (s *suite) prepare() {
	if testing.Short() {
		s.skip = "sandbox tests skipped under -short"
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	engine, err := docker.Connect(ctx)
	cancel()
	if err != nil {
		s.skip = fmt.Sprintf("no Docker engine answers: %v", err)
		return
	}
	s.engine = engine
	var b [6]byte
	rand.Read(b[:])
	s.run = hex.EncodeToString(b[:])
	if s.dir, err = os.MkdirTemp("", "ghst"); err != nil {
		s.fatal = err.Error()
		return
	}
	s.agent = filepath.Join(s.dir, "runtime-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", s.agent, "github.com/gohands/gohands/cmd/runtime-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		s.fatal = fmt.Sprintf("build runtime-agent: %v\n%s", err, out)
		return
	}
	reap(filters.Arg("label", LabelTest+"=1"), time.Now().Add(-leftoverAge))
	ictx, icancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = engine.ImageInspect(ictx, sandbox.DefaultImage)
	icancel()
	if err != nil {
		s.fatal = fmt.Sprintf("sandbox image %s is missing (%v): build it with `make sandbox-image`", sandbox.DefaultImage, err)
	}
}

// Manager returns a docker Manager with a server id of its own; edit may
// change its options. Its sandboxes are removed when tb ends.
func Manager(tb testing.TB, edit func(*docker.Options)) *docker.Manager {
	tb.Helper()
	Require(tb)
	var b [4]byte
	rand.Read(b[:])
	opts := docker.DefaultOptions()
	opts.ServerID = "test-" + hex.EncodeToString(b[:])
	opts.AgentBinary = env.agent
	opts.Labels = map[string]string{LabelTest: "1", LabelTestRun: env.run}
	opts.StartTimeout = time.Minute
	// Unix socket paths are limited to 108 bytes: keep the run dir short.
	runDir, err := os.MkdirTemp(env.dir, "r")
	if err != nil {
		tb.Fatal(err)
	}
	opts.RunDir = runDir
	if edit != nil {
		edit(&opts)
	}
	m, err := docker.New(env.engine, opts, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.Close(ctx)
		reap(filters.Arg("label", "gohands.server="+opts.ServerID), time.Now().Add(time.Hour))
		// The slots of the fork pool's sandboxes, unmounted once their
		// containers are gone.
		m.ReleaseSlots(ctx)
	})
	return m
}

// Cleanup removes every container and volume of this run and the built agent. Call
// it from TestMain after m.Run.
func Cleanup() {
	if env.engine != nil {
		reap(filters.Arg("label", LabelTestRun+"="+env.run), time.Now().Add(time.Hour))
		env.engine.Close()
	}
	if env.dir != "" {
		os.RemoveAll(env.dir)
	}
}

// reap removes the containers and workspace volumes matching f created
// before the given time.
func reap(f filters.KeyValuePair, before time.Time) {
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
