package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// engine is the Docker engine the server under test runs its sandboxes
// on, seen from the benchmark: it counts and measures only the containers
// that carry the server's label gohands.server=<its id>, so that other
// servers on the same engine do not show in the figures.
type engine struct {
	cli      *client.Client
	serverID string
}

func newEngine(serverID string) (*engine, error) {
	if serverID == "" {
		return nil, fmt.Errorf("the server logged no server_id: its containers cannot be told from others")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &engine{cli: cli, serverID: serverID}, nil
}

func (e *engine) close() { e.cli.Close() }

// containerCount is the server's containers on the engine by state.
type containerCount struct {
	running  int // running, restarting or paused
	stopped  int // created (never started), exited or dead: on the engine, doing nothing
	browsers int // of all of them, browser containers
	ids      []string
	live     []string // ids of the running ones
}

func (c containerCount) total() int { return c.running + c.stopped }

func (c containerCount) String() string {
	return fmt.Sprintf("%d containers (%d running, %d stopped)", c.total(), c.running, c.stopped)
}

// count lists the server's containers, sandboxes and browsers alike.
func (e *engine) count(ctx context.Context) (containerCount, error) {
	var c containerCount
	list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "gohands.server="+e.serverID))})
	if err != nil {
		return c, fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range list {
		c.ids = append(c.ids, ct.ID)
		if ct.Labels["gohands.browser"] == "1" {
			c.browsers++
		}
		switch ct.State {
		case "running", "restarting", "paused":
			c.running++
			c.live = append(c.live, ct.ID)
		default:
			c.stopped++
		}
	}
	return c, nil
}

// containerMemory is what one container costs in memory: inside its
// cgroup as `docker stats` counts it (usage less the page cache it may
// drop), and outside it, the RSS of its containerd shim on this host.
type containerMemory struct {
	cgroup, shim int64
}

// memory measures the containers ids, up to 4 at a time; it returns the
// sum and how many of them it could measure (a container that stopped
// meanwhile is left out).
func (e *engine) memory(ctx context.Context, ids []string) (containerMemory, int) {
	shims := shimRSS()
	var (
		mu  sync.Mutex
		sum containerMemory
		n   int
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, 4)
	for _, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			use, err := e.cgroupMemory(ctx, id)
			if err != nil || use == 0 {
				return
			}
			mu.Lock()
			sum.cgroup += use
			sum.shim += shims[id]
			n++
			mu.Unlock()
		})
	}
	wg.Wait()
	return sum, n
}

// cgroupMemory reads a container's memory use from its cgroup files when
// this host shows them (cgroup v1 with the cgroupfs driver, or v2 under
// systemd), else from the engine's stats, which can take seconds a
// container on a loaded machine.
func (e *engine) cgroupMemory(ctx context.Context, id string) (int64, error) {
	for _, f := range []struct{ usage, stat, inactive string }{
		{"/sys/fs/cgroup/memory/docker/" + id + "/memory.usage_in_bytes", "/sys/fs/cgroup/memory/docker/" + id + "/memory.stat", "total_inactive_file"},
		{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/memory.current", "/sys/fs/cgroup/system.slice/docker-" + id + ".scope/memory.stat", "inactive_file"},
	} {
		b, err := os.ReadFile(f.usage)
		if err != nil {
			continue
		}
		use, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(f.stat)
		for line := range strings.Lines(string(stat)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), f.inactive+" "); ok {
				if c, err := strconv.ParseInt(v, 10, 64); err == nil && c < use {
					use -= c
				}
			}
		}
		return use, nil
	}
	st, err := e.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return 0, err
	}
	defer st.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(st.Body).Decode(&s); err != nil {
		return 0, err
	}
	use := s.MemoryStats.Usage
	// cgroup v1 names the page cache total_inactive_file, v2 inactive_file.
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if c, ok := s.MemoryStats.Stats[k]; ok && c < use {
			use -= c
			break
		}
	}
	return int64(use), nil
}

// shimRSS maps container ids to the resident memory of the containerd
// shim serving each (containerd-shim-runc-v2 -id <container id>), read
// from /proc; empty when the engine's processes are not visible here.
func shimRSS() map[string]int64 {
	out := make(map[string]int64)
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), "containerd-shim") {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		for i, a := range args {
			if a == "-id" && i+1 < len(args) {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
				out[args[i+1]] += rss(pid).total()
			}
		}
	}
	return out
}

// removeAll force-removes the server's containers that are still on the
// engine, with their anonymous volumes, 8 at a time: what a benchmark
// leaves behind when it stops, whatever the server under test did.
func (e *engine) removeAll(ctx context.Context) (int, error) {
	c, err := e.count(ctx)
	if err != nil {
		return 0, err
	}
	return removeEach(c.ids, func(id string) error {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		return e.cli.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
}

// removeVolumes removes the server's volumes (workspaces it keeps for
// conversations whose sandbox is gone), 8 at a time.
func (e *engine) removeVolumes(ctx context.Context) (int, error) {
	list, err := e.cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "gohands.server="+e.serverID))})
	if err != nil {
		return 0, fmt.Errorf("list volumes: %w", err)
	}
	names := make([]string, 0, len(list.Volumes))
	for _, v := range list.Volumes {
		names = append(names, v.Name)
	}
	return removeEach(names, func(name string) error { return e.cli.VolumeRemove(ctx, name, true) })
}

// removeEach calls rm on every name, 8 at a time, and returns how many
// were removed (or were gone already) and the first other error.
func removeEach(names []string, rm func(string) error) (removed int, first error) {
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	sem := make(chan struct{}, 8)
	for _, name := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			err := rm(name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !cerrdefs.IsNotFound(err) {
				if first == nil {
					first = err
				}
				return
			}
			removed++
		})
	}
	wg.Wait()
	return removed, first
}
