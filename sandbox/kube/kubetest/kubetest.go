// Package kubetest brings up the Kubernetes cluster the tests of the
// Kubernetes backend run against, once per test binary, and shares it
// between the packages that test on it (sandbox/kube, cmd/server).
//
// The cluster is the one GOHANDS_TEST_KUBECONFIG names, or, when that is
// unset, the single-node cluster scripts/kube/cluster.sh brings up on this
// machine (GOHANDS_TEST_KUBE_SCRIPT names another script). The
// runtime-agent of this tree is built, put in an agent image tagged with
// its digest (so that test runs of different trees on the same machine do
// not replace each other's) and imported into the cluster. Each test
// binary works in a namespace of its own, made for it and deleted by
// Close; every object a test server makes carries its server id, and
// Leftovers names those still there.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is the cluster of a test binary.
type Cluster struct {
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	// Namespace is this test binary's own namespace.
	Namespace string
	// AgentImage is the agent image built from this tree, in the
	// cluster's image store (pull policy Never).
	AgentImage string
	// AgentBinary is the static runtime-agent it holds.
	AgentBinary string
	// SandboxAgentImage is the sandbox image (SandboxImage) with that
	// agent at /opt/gohands/runtime-agent, in the cluster's image store:
	// an image that carries the agent (kube.Options.ImagesWithAgent).
	SandboxAgentImage string
	// Client is an admin client of the cluster.
	Client kubernetes.Interface

	dir string
}

var (
	once   sync.Once
	shared *Cluster
	skip   string // why the cluster tests skip
	fatal  string // why they fail
)

// Ensure returns the cluster, preparing it on first use. It skips t under
// -short, or when there is neither GOHANDS_TEST_KUBECONFIG nor the script
// to bring a cluster up (a failure instead under CI=true); it fails t
// when the preparation failed.
func Ensure(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster tests skipped under -short")
	}
	once.Do(func() {
		c, why, err := prepare()
		switch {
		case err != nil:
			fatal = err.Error()
		case why != "" && os.Getenv("CI") == "true":
			fatal = why + " (CI=true: the cluster tests must run)"
		case why != "":
			skip = why
		default:
			shared = c
		}
	})
	if skip != "" {
		t.Skip(skip)
	}
	if fatal != "" {
		t.Fatal(fatal)
	}
	return shared
}

// Prepared returns the cluster when an earlier Ensure prepared it, nil
// otherwise (for TestMain, after the tests).
func Prepared() *Cluster { return shared }

// Root is the module's root folder: the closest parent of the working
// directory with a go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kubetest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// script is the script that brings the test cluster up.
func script(root string) string {
	if p := os.Getenv("GOHANDS_TEST_KUBE_SCRIPT"); p != "" {
		return p
	}
	return filepath.Join(root, "scripts", "kube", "cluster.sh")
}

func prepare() (*Cluster, string, error) {
	root, err := Root()
	if err != nil {
		return nil, "", err
	}
	sc := script(root)
	_, scriptErr := os.Stat(sc)
	kubeconfig := os.Getenv("GOHANDS_TEST_KUBECONFIG")
	if kubeconfig == "" {
		if scriptErr != nil {
			return nil, fmt.Sprintf("no cluster: GOHANDS_TEST_KUBECONFIG is unset and there is no %s to bring one up", sc), nil
		}
		if out, err := run(30*time.Minute, "bash", sc, "up"); err != nil {
			return nil, "", fmt.Errorf("%s up: %v\n%s", sc, err, out)
		}
		out, err := run(time.Minute, "bash", sc, "env")
		if err != nil {
			return nil, "", fmt.Errorf("%s env: %v\n%s", sc, err, out)
		}
		for line := range strings.Lines(out) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "KUBECONFIG="); ok {
				kubeconfig = v
			}
		}
		if kubeconfig == "" {
			return nil, "", fmt.Errorf("%s env printed no KUBECONFIG=: %s", sc, out)
		}
	}
	c := &Cluster{Kubeconfig: kubeconfig}
	if err := c.buildAgentImage(root); err != nil {
		c.Close()
		return nil, "", err
	}
	if scriptErr == nil {
		if out, err := run(5*time.Minute, "bash", sc, "load", c.AgentImage, c.SandboxAgentImage); err != nil {
			c.Close()
			return nil, "", fmt.Errorf("%s load %s %s: %v\n%s", sc, c.AgentImage, c.SandboxAgentImage, err, out)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		c.Close()
		return nil, "", err
	}
	if err := c.makeNamespace(); err != nil {
		c.Close()
		return nil, "", err
	}
	return c, "", nil
}

// buildAgentImage builds the runtime-agent of this tree and the agent
// image from it, as make agent-image does, tagged with the binary's
// digest.
func (c *Cluster) buildAgentImage(root string) error {
	dir, err := os.MkdirTemp("", "gohands-kubetest-")
	if err != nil {
		return err
	}
	c.dir = dir
	bin := filepath.Join(dir, "runtime-agent")
	c.AgentBinary = bin
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/runtime-agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build runtime-agent: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	// Tagged with the agent's digest: an image of that tag already built
	// holds this agent, and is neither built nor imported again.
	c.AgentImage = "gohands/runtime-agent:kubetest-" + hex.EncodeToString(sum[:6])
	if _, err := run(time.Minute, "docker", "image", "inspect", c.AgentImage); err != nil {
		if out, err := run(10*time.Minute, "bash", filepath.Join(root, "scripts", "agent-image.sh"), bin, c.AgentImage); err != nil {
			return fmt.Errorf("agent image: %v\n%s", err, out)
		}
	}
	// The sandbox image with the agent is tagged with both the agent's
	// digest and the base image's id: an image of that tag already built
	// is the same one, and is neither built nor imported again.
	base, err := run(time.Minute, "docker", "image", "inspect", "-f", "{{.Id}}", SandboxImage)
	if err != nil {
		return fmt.Errorf("sandbox image %s (make sandbox-image): %v\n%s", SandboxImage, err, base)
	}
	both := sha256.Sum256(append(sum[:], strings.TrimSpace(base)...))
	c.SandboxAgentImage = "gohands/sandbox-agent:kubetest-" + hex.EncodeToString(both[:6])
	if _, err := run(time.Minute, "docker", "image", "inspect", c.SandboxAgentImage); err == nil {
		return nil
	}
	if out, err := run(10*time.Minute, "bash", filepath.Join(root, "scripts", "sandbox-agent-image.sh"), bin, SandboxImage, c.SandboxAgentImage); err != nil {
		return fmt.Errorf("sandbox image with the agent: %v\n%s", err, out)
	}
	return nil
}

// SandboxImage is the sandbox image the cluster script imports
// (make sandbox-image builds it).
const SandboxImage = "gohands/sandbox:bookworm"

// makeNamespace makes the test binary's namespace and waits for its
// default service account, without which no Pod is admitted.
func (c *Cluster) makeNamespace() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "gohands-test-" + strings.ToLower(rand.Text()[:10])
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"gohands.test": "1"}}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	c.Namespace = name
	for {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("service account default in %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s has no default service account after 2 minutes", name)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Leftovers names the Pods, Secrets and claims of the namespace that
// selector matches (e.g. the labels of a server id), after waiting up to
// wait for them to go (Pods being deleted count until they are gone).
func (c *Cluster) Leftovers(selector string, wait time.Duration) string {
	return c.LeftoversIn(c.Namespace, selector, wait)
}

// LeftoversIn is Leftovers for another namespace ns, one a test made.
func (c *Cluster) LeftoversIn(ns, selector string, wait time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	lo := metav1.ListOptions{LabelSelector: selector}
	for {
		var names []string
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, lo)
		if err != nil {
			return "cannot list: " + err.Error()
		}
		for _, p := range pods.Items {
			names = append(names, "pod/"+p.Name)
		}
		if secrets, err := c.Client.CoreV1().Secrets(ns).List(ctx, lo); err == nil {
			for _, s := range secrets.Items {
				names = append(names, "secret/"+s.Name)
			}
		}
		if claims, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, lo); err == nil {
			for _, p := range claims.Items {
				names = append(names, "pvc/"+p.Name)
			}
		}
		if len(names) == 0 {
			return ""
		}
		select {
		case <-ctx.Done():
			return strings.Join(names, " ")
		case <-time.After(time.Second):
		}
	}
}

// Close deletes the namespace (and so whatever a failed test left in it,
// once Leftovers has named it) and the built agent. The agent image stays
// in Docker and in the cluster: a concurrent run of the same tree may use
// it, and the next run of the same tree reuses it.
func (c *Cluster) Close() {
	if c.Namespace != "" && c.Client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c.Client.CoreV1().Namespaces().Delete(ctx, c.Namespace, metav1.DeleteOptions{})
		cancel()
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

func run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}
