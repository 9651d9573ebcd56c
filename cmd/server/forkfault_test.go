package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/gohands/gohands/llm/llmtest"
)

// checkpointCount reads gohands_checkpoints from /metrics.
func checkpointCount(t *testing.T, g api) int {
	t.Helper()
	st, data := g.call("GET", "/metrics", "", nil)
	if st != http.StatusOK {
		t.Fatalf("/metrics: %d", st)
	}
	m := regexp.MustCompile(`(?m)^gohands_checkpoints (\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no gohands_checkpoints in /metrics")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// forkFault is a gohands for the fork-fault tests, on a state folder of
// its own, and a conversation on it whose one action wrote a.txt in its
// working folder, finished.
type forkFault struct {
	engine   *client.Client
	bin      string
	state    string            // the state folder: state.db, fork-trees, fork-slots
	env      map[string]string // the server's environment, for its restarts
	work     string            // the conversation's host folder, if it has one
	g        *child
	serverID string
	id       string // the conversation
	obs      frame  // its observation of the write
}

// startForkFault starts gohands with extra added to the environment the
// fork-fault tests share and runs the conversation, in a host folder
// under GOHANDS_WORKSPACE_ROOTS when hostFolder says so, else in the
// sandbox's /workspace. The test's end removes the server's sandboxes and
// volumes (dockerSetup unmounts what a killed server left mounted).
func startForkFault(t *testing.T, hostFolder bool, extra map[string]string) *forkFault {
	t.Helper()
	engine, dir, agent := dockerSetup(t)
	f := &forkFault{engine: engine, bin: buildServer(t, dir), state: filepath.Join(dir, "state")}
	f.env = map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(f.state, "state.db"),
		"GOHANDS_AGENT_BINARY": agent, "SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
		"LLM_MODEL": "openai/scripted", "LLM_API_KEY": "test",
	}
	maps.Copy(f.env, extra)
	target, workspace := "/workspace/a.txt", ""
	if hostFolder {
		root := filepath.Join(dir, "roots")
		f.work = filepath.Join(root, "proj")
		if err := os.MkdirAll(f.work, 0o755); err != nil {
			t.Fatal(err)
		}
		f.env["GOHANDS_WORKSPACE_ROOTS"] = root
		target = f.work + "/a.txt"
		workspace = fmt.Sprintf(`"workspace":{"working_dir":%q},`, f.work)
	}
	model := llmtest.New(t,
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: fmt.Sprintf(`{"command":"echo A > %s"}`, target)}}},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"done"}`}}},
	)
	f.g = startChild(t, []string{f.bin}, f.env)
	f.serverID = f.g.serverID
	t.Cleanup(func() {
		removeOwnedBy(engine, f.serverID)
		vols, _ := engine.VolumeList(context.Background(), volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "gohands.server="+f.serverID))})
		for _, v := range vols.Volumes {
			engine.VolumeRemove(context.Background(), v.Name, true)
		}
	})
	f.id = f.g.create(fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"own-key"}},%s
		"initial_message":{"role":"user","content":[{"type":"text","text":"go"}]}}`, model.URL()+"/v1", workspace))
	f.g.waitStatus(f.id, 2*time.Minute, "finished")
	var ok bool
	if f.obs, ok = find(f.g.events(f.id), "ObservationEvent", "a.txt"); !ok {
		t.Fatal("no observation of the write")
	}
	return f
}

// restart starts gohands again on the same state.
func (f *forkFault) restart(t *testing.T) {
	t.Helper()
	f.g = startChild(t, []string{f.bin}, f.env)
}

// killMidFork asks for the fork "mid-fork" of the conversation at its
// write and kills gohands with SIGKILL as soon as the fork's sandbox
// exists, before the fork is answered. It returns the filter of the
// fork's containers.
func (f *forkFault) killMidFork(t *testing.T) filters.Args {
	t.Helper()
	answered := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", f.g.url+"/api/conversations/"+f.id+"/fork",
			strings.NewReader(fmt.Sprintf(`{"id":"mid-fork","from_event_id":%q}`, f.obs.ID)))
		req.Header.Set("X-Session-API-Key", "key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- fmt.Sprintf("%d %s", resp.StatusCode, data)
	}()
	owned := filters.NewArgs(filters.Arg("label", "gohands.server="+f.serverID), filters.Arg("label", "gohands.conversation=mid-fork"))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		list, err := f.engine.ContainerList(context.Background(), container.ListOptions{All: true, Filters: owned})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 0 {
			break
		}
		select {
		case a := <-answered:
			t.Fatalf("the fork was answered before its sandbox appeared: %s", a)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the fork's sandbox never appeared")
		}
	}
	f.g.kill()
	return owned
}

// TestFaultForkKilled kills gohands with SIGKILL while it makes a fork
// (its sandbox exists, its files are not restored yet). The next gohands
// on the same state removes everything of the fork: no conversation, no
// sandbox, no checkpoint, no host folder; the original is as it was.
func TestFaultForkKilled(t *testing.T) {
	f := startForkFault(t, true, nil)
	engine, g, id, obs, work := f.engine, f.g, f.id, f.obs, f.work
	before := checkpointCount(t, g.api)
	if before == 0 {
		t.Fatal("no checkpoint after an action")
	}
	owned := f.killMidFork(t)

	f.restart(t)
	g = f.g
	if st, data := g.call("GET", "/api/conversations/mid-fork", "", nil); st != http.StatusNotFound {
		t.Errorf("the half-made fork after the restart: %d %s, want 404", st, data)
	}
	var page struct {
		Items []convInfo `json:"items"`
	}
	g.call("GET", "/api/conversations/search", "", &page)
	if len(page.Items) != 1 || page.Items[0].ID != id {
		t.Errorf("conversations after the restart: %+v, want the original alone", page.Items)
	}
	// The fork's sandbox, which no record names after the restart, is an
	// orphan that the restart's recovery removes, in the background after
	// the server listens: once /ready says the recovery is done, it is
	// gone (no wait bounded by a guess at the engine's speed).
	waitRecovered(t, g.api)
	if list, err := engine.ContainerList(context.Background(), container.ListOptions{All: true, Filters: owned}); err != nil || len(list) != 0 {
		t.Errorf("the half-made fork's sandboxes after the restart's recovery: %v (%v), want none", containerNames(list), err)
	}
	if after := checkpointCount(t, g.api); after != before {
		t.Errorf("%d checkpoints after the restart, want the %d of before the fork", after, before)
	}
	if _, err := os.Stat(work + ".fork-mid-fork"); !os.IsNotExist(err) {
		t.Errorf("the half-made fork's host folder: %v, want it gone", err)
	}
	// The original is whole, and a fork now works.
	if st, data := g.call("POST", "/api/conversations/"+id+"/fork", fmt.Sprintf(`{"id":"mid-fork","from_event_id":%q}`, obs.ID), nil); st != http.StatusCreated {
		t.Fatalf("fork after the restart: %d %s", st, data)
	}
	if st, out, _ := g.bash("mid-fork", "cat "+work+".fork-mid-fork/a.txt"); st != http.StatusOK || strings.TrimSpace(out) != "A" {
		t.Errorf("the fork's copy of a.txt: %d %q", st, out)
	}
	if data, err := os.ReadFile(filepath.Join(work+".fork-mid-fork", "a.txt")); err != nil || strings.TrimSpace(string(data)) != "A" {
		t.Errorf("the fork's host folder holds a.txt: %q, %v", data, err)
	}
	for _, c := range []string{"mid-fork", id} {
		if st, data := g.call("DELETE", "/api/conversations/"+c, "", nil); st != http.StatusOK {
			t.Fatalf("delete %s: %d %s", c, st, data)
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		_, err := os.Stat(work + ".fork-mid-fork")
		if os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the deleted fork's host folder: %v, want it gone", err)
			break
		}
	}
	if n := checkpointCount(t, g.api); n != 0 {
		t.Errorf("%d checkpoints after deleting every conversation, want 0", n)
	}
	g.stop()
}

// containerNames gives the names, ids and states of listed containers.
func containerNames(list []container.Summary) []string {
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = fmt.Sprintf("%s %.12s %s", strings.Join(c.Names, ","), c.ID, c.State)
	}
	return out
}

// TestFaultForkKilledCopyOnWrite kills gohands with SIGKILL while it makes
// a fork whose workspace is a copy-on-write volume (its sandbox, on that
// volume, exists). The next gohands removes the fork's sandbox, its
// volume, its folders and the base they were over; a fork then works.
func TestFaultForkKilledCopyOnWrite(t *testing.T) {
	f := startForkFault(t, false, nil)
	engine, id, obs := f.engine, f.id, f.obs
	volumes := filters.NewArgs(filters.Arg("label", "gohands.overlay-owner=mid-fork"))
	owned := f.killMidFork(t)
	trees := filepath.Join(f.state, "fork-trees")
	if vols, err := engine.VolumeList(context.Background(), volume.ListOptions{Filters: volumes}); err != nil || len(vols.Volumes) != 1 {
		t.Fatalf("the fork's workspace volume before the restart: %v %v, want one", vols.Volumes, err)
	}

	f.restart(t)
	g := f.g
	if st, data := g.call("GET", "/api/conversations/mid-fork", "", nil); st != http.StatusNotFound {
		t.Errorf("the half-made fork after the restart: %d %s, want 404", st, data)
	}
	if list, err := engine.ContainerList(context.Background(), container.ListOptions{All: true, Filters: owned}); err != nil || len(list) != 0 {
		t.Errorf("the half-made fork's sandbox after the restart: %d %v", len(list), err)
	}
	if vols, err := engine.VolumeList(context.Background(), volume.ListOptions{Filters: volumes}); err != nil || len(vols.Volumes) != 0 {
		t.Errorf("the half-made fork's volume after the restart: %v %v", vols.Volumes, err)
	}
	for _, sub := range []string{"bases", "forks"} {
		if entries, err := os.ReadDir(filepath.Join(trees, sub)); err != nil || len(entries) != 0 {
			t.Errorf("%s after the restart: %d entries, %v; want none", sub, len(entries), err)
		}
	}
	if st, data := g.call("POST", "/api/conversations/"+id+"/fork", fmt.Sprintf(`{"id":"mid-fork","from_event_id":%q}`, obs.ID), nil); st != http.StatusCreated {
		t.Fatalf("fork after the restart: %d %s", st, data)
	}
	if st, out, _ := g.bash("mid-fork", "cat /workspace/a.txt; awk '$2 == \"/workspace\" {print $3}' /proc/mounts"); st != http.StatusOK || strings.TrimSpace(out) != "A\noverlay" {
		t.Errorf("the fork's a.txt and workspace mount: %d %q", st, out)
	}
	if st, data := g.call("DELETE", "/api/conversations/mid-fork", "", nil); st != http.StatusOK {
		t.Fatalf("delete the fork: %d %s", st, data)
	}
	// The delete answers once the store has it; the volume goes in the
	// background.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		vols, err := engine.VolumeList(context.Background(), volume.ListOptions{Filters: volumes})
		if err == nil && len(vols.Volumes) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the deleted fork's volume a minute after the delete: %v %v", vols.Volumes, err)
			break
		}
	}
	g.stop()
}

// slotOf returns the slot folder under slots that the fork id's sandbox
// took from the fork pool, "" when none did.
func slotOf(t *testing.T, slots, id string) string {
	t.Helper()
	entries, _ := os.ReadDir(slots)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(slots, e.Name(), "slot.json"))
		if err == nil && strings.Contains(string(raw), `"owner":"`+id+`"`) {
			return filepath.Join(slots, e.Name())
		}
	}
	return ""
}

// mountsUnder counts the mounts of this namespace at or under dir.
func mountsUnder(t *testing.T, dir string) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			n++
		}
	}
	return n
}

// unmountUnder unmounts every mount at or under dir, the deepest first.
func unmountUnder(dir string) {
	raw, _ := os.ReadFile("/proc/self/mountinfo")
	var points []string
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// TestFaultForkPoolKilled: a fork whose sandbox came from the fork pool
// (its overlay mounted on a running sandbox's slot) survives a SIGKILL of
// gohands: the next one takes it over with its files. Killed again right
// after the fork's delete answered, the next gohands removes its sandbox
// and unmounts and removes its slot; stopped, it leaves no mount.
func TestFaultForkPoolKilled(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the fork pool needs a root server")
	}
	f := startForkFault(t, false, map[string]string{"SANDBOX_FORK_POOL_SIZE": "1"})
	engine, g, id, obs, serverID := f.engine, f.g, f.id, f.obs, f.serverID
	slots := filepath.Join(f.state, "fork-slots")
	// The first fork starts its own sandbox and has the pool filled; a
	// later one takes the pool's.
	pooled, slot := "", ""
	for i := 0; slot == "" && i < 60; i++ {
		fid := fmt.Sprintf("pool-fork-%d", i)
		if st, data := g.call("POST", "/api/conversations/"+id+"/fork", fmt.Sprintf(`{"id":%q,"from_event_id":%q}`, fid, obs.ID), nil); st != http.StatusCreated {
			t.Fatalf("fork: %d %s", st, data)
		}
		if slot = slotOf(t, slots, fid); slot != "" {
			pooled = fid
			break
		}
		if st, data := g.call("DELETE", "/api/conversations/"+fid, "", nil); st != http.StatusOK {
			t.Fatalf("delete %s: %d %s", fid, st, data)
		}
		time.Sleep(time.Second)
	}
	if slot == "" {
		t.Fatal("no fork took a sandbox of the fork pool in a minute")
	}
	if st, out, _ := g.bash(pooled, "cat a.txt; echo B > b.txt"); st != http.StatusOK || strings.TrimSpace(out) != "A" {
		t.Fatalf("the pooled fork's a.txt: %d %q", st, out)
	}
	g.kill()

	f.restart(t)
	g = f.g
	if st, out, _ := g.bash(pooled, "cat a.txt b.txt"); st != http.StatusOK || strings.TrimSpace(out) != "A\nB" {
		t.Errorf("the pooled fork after a kill: %d %q, want its files", st, out)
	}
	if st, data := g.call("DELETE", "/api/conversations/"+pooled, "", nil); st != http.StatusOK {
		t.Fatalf("delete the pooled fork: %d %s", st, data)
	}
	g.kill()

	f.restart(t)
	g = f.g
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		_, err := os.Stat(slot)
		if os.IsNotExist(err) && mountsUnder(t, slot) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted fork's slot a minute after the restart: %v, %d mounts", err, mountsUnder(t, slot))
		}
	}
	owned := filters.NewArgs(filters.Arg("label", "gohands.server="+serverID), filters.Arg("label", "gohands.slot=1"))
	g.stop()
	if n := mountsUnder(t, slots); n != 0 {
		t.Errorf("%d mounts under %s after a stop with no fork left", n, slots)
	}
	if list, err := engine.ContainerList(context.Background(), container.ListOptions{All: true, Filters: owned}); err != nil || len(list) != 0 {
		t.Errorf("fork pool sandboxes after the stop: %d %v", len(list), err)
	}
}
