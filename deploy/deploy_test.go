package deploy

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

const (
	baseImage = "gohands/sandbox:bookworm"
	port      = nat.Port("3000/tcp")
	// labelTest marks what this test creates, so a later run removes what
	// a crashed one left behind.
	labelTest   = "gohands.test"
	labelValue  = "deploy"
	leftoverAge = 30 * time.Minute
	// socketInContainer is where the image expects the engine's socket.
	socketInContainer = "/var/run/docker.sock"
)

func TestDockerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Docker image: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	engine := connect(ctx, t)
	reapLeftovers(ctx, t, engine)

	if _, err := engine.ImageInspect(ctx, baseImage); err != nil {
		if errdefs.IsNotFound(err) {
			t.Fatalf("base image %s is missing: build it with `make sandbox-image` (`make test` does that first)", baseImage)
		}
		t.Fatalf("inspect base image %s: %v", baseImage, err)
	}
	ver, err := engine.ServerVersion(ctx)
	if err != nil {
		t.Fatalf("engine version: %v", err)
	}

	start := time.Now()
	dir := buildContext(t, ver.Os, ver.Arch)
	t.Logf("binaries built in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	tag := "gohands/gohands-test:" + randomHex(t, 6)
	buildImage(ctx, t, engine, dir, tag)
	t.Logf("image %s built in %v", tag, time.Since(start).Round(time.Millisecond))
	checkImageConfig(ctx, t, engine, tag)

	start = time.Now()
	id := runContainer(ctx, t, engine, tag)
	base := publishedURL(ctx, t, engine, id)

	var health struct{ Status string }
	waitJSON(ctx, t, engine, id, base+"/health", &health, func() bool { return health.Status == "ok" })

	var info struct {
		Version string `json:"version"`
		Title   string `json:"title"`
	}
	waitJSON(ctx, t, engine, id, base+"/server_info", &info, func() bool { return info.Version != "" })
	t.Logf("GoHands %s (%q) answers at %s, %v after the container was created", info.Version, info.Title, base, time.Since(start).Round(time.Millisecond))

	// The mounted socket reaches the engine from inside the container:
	// that is what the server will drive sandboxes through.
	if out, code := execIn(ctx, t, engine, id, "curl", "-sS", "--unix-socket", socketInContainer, "http://docker/_ping"); code != 0 || out != "OK" {
		t.Errorf("engine ping from inside the container: exit %d, %q", code, out)
	}
	if out, code := execIn(ctx, t, engine, id, "test", "-x", "/usr/local/bin/runtime-agent"); code != 0 {
		t.Errorf("runtime-agent not executable in the image: exit %d %s", code, out)
	}
	if _, ok := unixSocket(engine.DaemonHost()); ok {
		smokeConversation(t, base)
	}
}

// smokeConversation makes a conversation through the containerised
// server, runs a command in its sandbox and deletes it (which removes the
// sandbox).
func smokeConversation(t *testing.T, base string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Minute}
	post := func(path, body string, out any) {
		t.Helper()
		resp, err := hc.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %s: %s", path, resp.Status, data)
		}
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, data)
		}
	}
	var conv struct {
		ID string `json:"id"`
	}
	post("/api/conversations", `{}`, &conv)
	defer func() {
		req, _ := http.NewRequest(http.MethodDelete, base+"/api/conversations/"+conv.ID, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("delete conversation: %v", err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("delete conversation: %s", resp.Status)
		}
	}()
	var res struct {
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
	}
	post("/api/conversations/"+conv.ID+"/bash/execute_bash_command", `{"command":"echo hello from $(hostname)"}`, &res)
	if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "hello from ") {
		t.Errorf("command in the sandbox of the containerised server: %+v", res)
	}
}

// connect returns a client for the engine named by the environment, or
// skips when there is no engine at all.
func connect(ctx context.Context, t *testing.T) *client.Client {
	t.Helper()
	engine, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { engine.Close() })
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := engine.Ping(pctx); err != nil {
		if sock, ok := unixSocket(engine.DaemonHost()); ok {
			if _, serr := os.Stat(sock); errors.Is(serr, fs.ErrNotExist) {
				t.Skipf("no Docker engine: %s does not exist (set DOCKER_HOST to use another)", sock)
			}
		}
		t.Fatalf("Docker engine at %s does not answer: %v", engine.DaemonHost(), err)
	}
	engine.NegotiateAPIVersion(ctx)
	return engine
}

// unixSocket returns the socket path of a unix:// daemon host.
func unixSocket(host string) (string, bool) {
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "unix" {
		return "", false
	}
	return u.Path, true
}

// reapLeftovers removes containers and images of earlier runs that did not
// clean up (killed by a timeout); runs going on now are younger and kept.
func reapLeftovers(ctx context.Context, t *testing.T, engine *client.Client) {
	t.Helper()
	before := time.Now().Add(-leftoverAge)
	f := filters.NewArgs(filters.Arg("label", labelTest+"="+labelValue))
	if cs, err := engine.ContainerList(ctx, container.ListOptions{All: true, Filters: f}); err == nil {
		for _, c := range cs {
			if time.Unix(c.Created, 0).Before(before) {
				engine.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
	}
	if ims, err := engine.ImageList(ctx, image.ListOptions{Filters: f}); err == nil {
		for _, im := range ims {
			if time.Unix(im.Created, 0).Before(before) {
				engine.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
			}
		}
	}
}

// buildContext makes a build context: the repository's Dockerfile and
// .dockerignore, and the two binaries built static for the engine's
// platform, where the Dockerfile expects them.
func buildContext(t *testing.T, goos, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"Dockerfile", ".dockerignore"} {
		b, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for bin, pkg := range map[string]string{
		"gohands":       "github.com/gohands/gohands/cmd/server",
		"runtime-agent": "github.com/gohands/gohands/cmd/runtime-agent",
	} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "bin", bin), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

// tarDir writes dir as a tar stream, paths relative to dir.
func tarDir(dir string) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &buf, tw.Close()
}

// buildImage builds the context with the engine's classic builder, which
// every engine has (BuildKit over the API needs a session). The image is
// removed when the test ends.
func buildImage(ctx context.Context, t *testing.T, engine *client.Client, dir, tag string) {
	t.Helper()
	tarball, err := tarDir(dir)
	if err != nil {
		t.Fatalf("build context: %v", err)
	}
	resp, err := engine.ImageBuild(ctx, tarball, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Labels:      map[string]string{labelTest: labelValue},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		t.Fatalf("image build: %v", err)
	}
	defer resp.Body.Close()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := engine.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("remove image %s: %v", tag, err)
		}
	})
	// The engine reports a failed step in the stream, not as an HTTP error.
	var out strings.Builder
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Status      string `json:"status"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("image build: reading the output: %v\n%s", err, out.String())
		}
		out.WriteString(msg.Stream)
		if msg.Status != "" {
			out.WriteString(msg.Status + "\n")
		}
		if msg.Error != "" {
			t.Fatalf("image build failed: %s\n%s", cmp.Or(msg.ErrorDetail.Message, msg.Error), out.String())
		}
	}
	if _, err := engine.ImageInspect(ctx, tag); err != nil {
		t.Fatalf("image %s missing after the build: %v\n%s", tag, err, out.String())
	}
}

// checkImageConfig checks what the Dockerfile promises to whoever runs it.
func checkImageConfig(ctx context.Context, t *testing.T, engine *client.Client, tag string) {
	t.Helper()
	im, err := engine.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg := im.Config
	for _, kv := range []string{"GOHANDS_AGENT_BINARY=/usr/local/bin/runtime-agent", "SANDBOX_INJECT=copy", "SANDBOX_TRANSPORT=unix"} {
		if !slices.Contains(cfg.Env, kv) {
			t.Errorf("image env %v lacks %s", cfg.Env, kv)
		}
	}
	if _, ok := cfg.ExposedPorts[string(port)]; !ok {
		t.Errorf("image exposes %v, want %s", cfg.ExposedPorts, port)
	}
	if _, ok := cfg.Volumes["/var/lib/gohands"]; !ok {
		t.Errorf("image volumes %v, want /var/lib/gohands", cfg.Volumes)
	}
	cmd := strings.Join(append(slices.Clone(cfg.Entrypoint), cfg.Cmd...), " ")
	if want := "/usr/local/bin/gohands --host 0.0.0.0 --port 3000 --state /var/lib/gohands/state.db"; cmd != want {
		t.Errorf("image runs %q, want %q", cmd, want)
	}
}

// runContainer starts the image with the engine's socket mounted and port
// 3000 published on a random loopback port. The container and its state
// volume are removed when the test ends.
func runContainer(ctx context.Context, t *testing.T, engine *client.Client, tag string) string {
	t.Helper()
	hc := &container.HostConfig{
		PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: ""}}},
	}
	env := []string{"SANDBOX_POOL_SIZE=0"} // start no sandbox the test would have to clean up
	if sock, ok := unixSocket(engine.DaemonHost()); ok {
		// The sandboxes' socket folders, at the same path on the host
		// and in the container, as the Dockerfile says.
		run, err := os.MkdirTemp("", "gohands-deploy-run-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(run) })
		hc.Binds = []string{sock + ":" + socketInContainer, run + ":" + run}
		env = append(env, "SANDBOX_RUN_DIR="+run)
	} else {
		// A TCP engine is reached the same way from inside the container.
		env = append(env, "DOCKER_HOST="+engine.DaemonHost())
	}
	created, err := engine.ContainerCreate(ctx, &container.Config{
		Image:        tag,
		Env:          env,
		ExposedPorts: nat.PortSet{port: {}},
		Labels:       map[string]string{labelTest: labelValue},
	}, hc, nil, nil, "")
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			t.Logf("container logs:\n%s", logs(ctx, engine, created.ID))
		}
		if err := engine.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Errorf("remove container: %v", err)
		}
	})
	if err := engine.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container: %v", err)
	}
	return created.ID
}

// publishedURL is the base URL of the container's port 3000 on the host.
func publishedURL(ctx context.Context, t *testing.T, engine *client.Client, id string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := engine.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatalf("inspect container: %v", err)
		}
		if c.NetworkSettings != nil {
			for _, b := range c.NetworkSettings.Ports[port] {
				if b.HostPort != "" && b.HostPort != "0" {
					return "http://127.0.0.1:" + b.HostPort
				}
			}
		}
		if c.State != nil && !c.State.Running {
			t.Fatalf("container stopped (exit %d) before publishing its port", c.State.ExitCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s never published: %+v", port, c.NetworkSettings.Ports)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitJSON polls url until it answers 200 with JSON that makes done true.
// It fails at once when the container stops.
func waitJSON(ctx context.Context, t *testing.T, engine *client.Client, id, url string, v any, done func() bool) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(time.Minute)
	var last string
	for {
		resp, err := hc.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%s: %s", resp.Status, body)
			if resp.StatusCode == http.StatusOK && json.Unmarshal(body, v) == nil && done() {
				return
			}
		} else {
			last = err.Error()
		}
		if c, err := engine.ContainerInspect(ctx, id); err == nil && c.State != nil && !c.State.Running {
			t.Fatalf("GET %s: the container stopped (exit %d); last answer: %s", url, c.State.ExitCode, last)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("GET %s: no good answer within a minute; last: %s", url, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// execIn runs a command in the container and returns its trimmed output
// and exit code.
func execIn(ctx context.Context, t *testing.T, engine *client.Client, id string, cmd ...string) (string, int) {
	t.Helper()
	ex, err := engine.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	att, err := engine.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec %v: attach: %v", cmd, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		t.Fatalf("exec %v: read: %v", cmd, err)
	}
	st, err := engine.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		t.Fatalf("exec %v: inspect: %v", cmd, err)
	}
	return strings.TrimSpace(out.String()), st.ExitCode
}

func logs(ctx context.Context, engine *client.Client, id string) string {
	rc, err := engine.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "200"})
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	defer rc.Close()
	var out bytes.Buffer
	stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
