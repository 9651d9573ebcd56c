package kube

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/kube/kubetest"
)

// The tests in this file run against a real cluster, which kubetest
// prepares (see there): the one GOHANDS_TEST_KUBECONFIG names, or the
// single-node cluster scripts/kube/cluster.sh brings up on this machine,
// with the agent image of this tree, in a namespace of this test
// binary's own. Every object the tests make carries this run's server
// id, and TestMain fails the run when any is left at its end.

// clusterEnv is what the cluster tests share, prepared on first use.
type clusterEnv struct {
	once     sync.Once
	cs       kubernetes.Interface
	cfg      *rest.Config
	err      error
	serverID string
	ns       string
	agentBin string // the runtime-agent built for the tests (the Docker baseline uses it)
	image    string // the agent image built for the tests
	carrying string // the sandbox image with the test agent in it
}

var cluster clusterEnv

func TestMain(m *testing.M) {
	code := m.Run()
	if c := kubetest.Prepared(); c != nil {
		if cluster.serverID != "" {
			if left := c.Leftovers(ServerSelector(cluster.serverID), 2*time.Minute); left != "" {
				fmt.Fprintf(os.Stderr, "kube tests left objects of server %s in the cluster: %s\n", cluster.serverID, left)
				code = 1
			}
		}
		c.Close()
	}
	os.Exit(code)
}

// needCluster skips or fails t as the cluster's preparation says.
func needCluster(t testing.TB) {
	t.Helper()
	c := kubetest.Ensure(t)
	cluster.once.Do(func() {
		cluster.cs, cluster.cfg, cluster.err = Connect(c.Kubeconfig)
		cluster.ns, cluster.agentBin, cluster.image = c.Namespace, c.AgentBinary, c.AgentImage
		cluster.carrying = c.SandboxAgentImage
		cluster.serverID = "kubetest-" + strings.ToLower(rand.Text()[:10])
	})
	if cluster.err != nil {
		t.Fatal(cluster.err)
	}
}

// clusterManager returns a Manager of the test server on the cluster.
func clusterManager(t testing.TB, edit func(*Options)) *Manager {
	t.Helper()
	needCluster(t)
	o := DefaultOptions()
	o.ServerID, o.Namespace = cluster.serverID, cluster.ns
	o.AgentImage, o.PullPolicy = cluster.image, corev1.PullNever
	o.UserID, o.GroupID = 1000, 1000
	o.PendingTimeout = 2 * time.Minute
	o.StartTimeout = 2 * time.Minute
	if edit != nil {
		edit(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := New(ctx, cluster.cs, cluster.cfg, o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		m.Close(ctx)
	})
	return m
}

func clusterCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func echo(ctx context.Context, cl *agentapi.Client, cmd string) (string, error) {
	res, err := cl.Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: cmd, Timeout: 60})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return res.Output, fmt.Errorf("%q exited with %d: %s", cmd, res.ExitCode, res.Output)
	}
	return res.Output, nil
}

// TestClusterLifecycle: on each transport, a sandbox starts, runs a
// command, writes and reads a file, stops (its Pod gone, its Secret kept)
// and starts again, is recovered by a new Manager from a handle without
// its token, and is destroyed with nothing left.
func TestClusterLifecycle(t *testing.T) {
	needCluster(t)
	for _, c := range []struct {
		name string
		edit func(*Options)
	}{
		{string(TransportPodIP), func(o *Options) { o.Transport = TransportPodIP }},
		{string(TransportAPIServer), func(o *Options) { o.Transport = TransportAPIServer }},
		// An image that carries the agent: a Pod of one container.
		{"carried", func(o *Options) {
			o.Transport, o.Image, o.ImagesWithAgent = TransportPodIP, cluster.carrying, []string{cluster.carrying}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := clusterManager(t, c.edit)
			ctx := clusterCtx(t)
			owner := "conv-life-" + c.name
			sb, err := m.Start(ctx, owner, sandbox.Spec{Env: map[string]string{"GREETING": "hello from the secret"}})
			if err != nil {
				t.Fatal(err)
			}
			h := sb.Handle()
			pod, err := cluster.cs.CoreV1().Pods(cluster.ns).Get(ctx, h.ID, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 2}[c.name == "carried"]; len(pod.Spec.Containers) != want {
				t.Errorf("%d containers, want %d", len(pod.Spec.Containers), want)
			}
			cl, done, err := sb.Use(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := echo(ctx, cl, "echo hi; echo $GREETING; id -u"); err != nil || !strings.Contains(out, "hi") ||
				!strings.Contains(out, "hello from the secret") || !strings.Contains(out, "1000") {
				t.Fatalf("echo: %q %v", out, err)
			}
			if out, _ := echo(ctx, cl, "echo token=${"+agentapi.TokenEnv+":-none}"); !strings.Contains(out, "token=none") {
				t.Errorf("the sandbox's shell sees the agent token: %q", out)
			}
			// The agent's hand-over leaves nothing a command may change:
			// the shared copy is gone and the installed one is root's.
			if out, err := echo(ctx, cl, "test -e "+sharedAgent+" && echo shared-left; test -w "+sandbox.AgentPath+" && echo agent-writable; echo checked"); err != nil ||
				!strings.Contains(out, "checked") || strings.Contains(out, "shared-left") || strings.Contains(out, "agent-writable") {
				t.Errorf("agent hand-over: %q %v", out, err)
			}
			if _, err := cl.WriteFile(ctx, "/workspace/note.txt", "kept\n"); err != nil {
				t.Fatal(err)
			}
			if ft, err := cl.ReadFile(ctx, "/workspace/note.txt", 1, -1); err != nil || ft.Content != "kept\n" {
				t.Fatalf("read back %q %v", ft.Content, err)
			}
			done()
			if err := sb.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := cluster.cs.CoreV1().Pods(cluster.ns).Get(ctx, h.ID, metav1.GetOptions{}); err == nil {
				t.Error("pod still there after Stop")
			}
			if err := sb.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if out, err := echo(ctx, sb.Client(), "echo again"); err != nil || !strings.Contains(out, "again") {
				t.Fatalf("after restart: %q %v", out, err)
			}
			m.Release(h)

			next := clusterManager(t, c.edit)
			got, err := next.Recover(ctx, sandbox.Handle{ID: h.ID, Owner: owner})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status() != sandbox.StatusRunning || got.Handle().Token != h.Token {
				t.Fatalf("recovered as %s", got.Status())
			}
			if out, err := echo(ctx, got.Client(), "echo recovered"); err != nil || !strings.Contains(out, "recovered") {
				t.Fatalf("after recover: %q %v", out, err)
			}
			if err := next.Destroy(ctx, h); err != nil {
				t.Fatal(err)
			}
			if list, err := next.List(ctx); err != nil || len(list) != 0 {
				t.Errorf("List after Destroy = %v %v", list, err)
			}
		})
	}
}

// TestClusterPodDeletedUnderCommand: a Pod deleted while a command runs
// gives an exited status on Changes, and the command an error.
func TestClusterPodDeletedUnderCommand(t *testing.T) {
	m := clusterManager(t, func(o *Options) { o.Transport = TransportPodIP })
	ctx := clusterCtx(t)
	sb, err := m.Start(ctx, "conv-deleted", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Remove(context.Background()) })
	cl := sb.Client()
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "sleep 300", Timeout: 600})
		errc <- err
	}()
	time.Sleep(time.Second) // let the command start; the test holds either way
	zero := int64(0)
	if err := cluster.cs.CoreV1().Pods(cluster.ns).Delete(ctx, sb.Handle().ID, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case c := <-m.Changes():
			if c.Owner != "conv-deleted" || c.Status != sandbox.StatusExited {
				continue
			}
			if !errors.Is(c.Err, sandbox.ErrExited) {
				t.Fatalf("change error %v", c.Err)
			}
			select {
			case err := <-errc:
				if err == nil {
					t.Error("the command in the deleted pod returned no error")
				}
			case <-ctx.Done():
				t.Fatal("the command in the deleted pod never returned")
			}
			return
		case <-ctx.Done():
			t.Fatal("no exited change after the pod was deleted")
		}
	}
}

// TestClusterMissingImage: an image the node lacks fails the start with
// ErrImageMissing naming it, well within the pending bound, and leaves
// nothing.
func TestClusterMissingImage(t *testing.T) {
	m := clusterManager(t, func(o *Options) { o.PendingTimeout = 90 * time.Second })
	ctx := clusterCtx(t)
	start := time.Now()
	_, err := m.Start(ctx, "conv-missing", sandbox.Spec{Image: "gohands/no-such-image:never"})
	if !errors.Is(err, sandbox.ErrImageMissing) || !strings.Contains(err.Error(), "gohands/no-such-image:never") {
		t.Fatalf("err = %v, want ErrImageMissing naming the image", err)
	}
	if d := time.Since(start); d > 90*time.Second {
		t.Errorf("took %s, beyond the pending bound", d)
	}
	lo := metav1.ListOptions{LabelSelector: labelServer + "=" + labelValue(cluster.serverID) + "," + labelOwner + "=conv-missing"}
	if secrets, err := cluster.cs.CoreV1().Secrets(cluster.ns).List(ctx, lo); err != nil || len(secrets.Items) != 0 {
		t.Errorf("left secrets after the failed start (%v)", err)
	}
}

// TestClusterNoShellImage: an image without /bin/sh (the agent image: the
// static binary on scratch) fails the start with an error naming the
// image and the missing shell, and leaves nothing.
func TestClusterNoShellImage(t *testing.T) {
	m := clusterManager(t, nil)
	ctx := clusterCtx(t)
	_, err := m.Start(ctx, "conv-no-sh", sandbox.Spec{Image: cluster.image})
	if err == nil || !strings.Contains(err.Error(), "has no /bin/sh") || !strings.Contains(err.Error(), cluster.image) {
		t.Fatalf("err = %v, want one naming the image and /bin/sh", err)
	}
	lo := metav1.ListOptions{LabelSelector: labelServer + "=" + labelValue(cluster.serverID) + "," + labelOwner + "=conv-no-sh"}
	if secrets, err := cluster.cs.CoreV1().Secrets(cluster.ns).List(ctx, lo); err != nil || len(secrets.Items) != 0 {
		t.Errorf("left secrets after the failed start (%v)", err)
	}
}
