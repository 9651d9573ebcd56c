package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// The faults of the cluster, on the fake clientset. cluster_test.go has
// the same against a real cluster.

func claimNames(t *testing.T, fc *fakeCluster) []string {
	t.Helper()
	list, err := fc.CoreV1().PersistentVolumeClaims(testNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list.Items {
		names = append(names, c.Name)
	}
	return names
}

// TestWorkspaceClaimOutlivesSandbox: with a storage class, a sandbox's
// workspace is a claim its handle names (Disposable); removing the
// sandbox keeps the claim, the owner's next sandbox mounts it again,
// List shows it once no sandbox mounts it, and Destroy of that handle
// removes it.
func TestWorkspaceClaimOutlivesSandbox(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{StorageClass: "standard"})
	sb, err := m.Start(ctx, "conv-ws", sandbox.Spec{WorkingDir: "/workspace"})
	if err != nil {
		t.Fatal(err)
	}
	h := sb.Handle()
	if h.Volume == "" || !h.Disposable {
		t.Fatalf("handle %+v: want the workspace claim and Disposable", h)
	}
	if err := sb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := getSecret(t, fc, h.ID); ok || podExists(t, fc, h.ID) {
		t.Error("Remove left the secret or the pod")
	}
	if got := claimNames(t, fc); len(got) != 1 || got[0] != h.Volume {
		t.Fatalf("claims after Remove = %v, want %s kept", got, h.Volume)
	}

	next, err := m.Start(ctx, "conv-ws", sandbox.Spec{WorkingDir: "/workspace", Volume: h.Volume})
	if err != nil {
		t.Fatal(err)
	}
	nh := next.Handle()
	if nh.ID == h.ID || nh.Volume != h.Volume || !nh.Disposable {
		t.Fatalf("next sandbox %+v: want a new one on claim %s", nh, h.Volume)
	}
	pod, err := fc.CoreV1().Pods(testNS).Get(ctx, nh.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := workspaceOf(pod); c != h.Volume {
		t.Errorf("the next pod mounts %q, want %s", c, h.Volume)
	}
	if got := claimNames(t, fc); len(got) != 1 {
		t.Errorf("claims = %v, want the one", got)
	}
	m.Release(nh)

	// A later server sees the sandbox with its claim; the claim alone
	// once the sandbox is gone.
	later := newFakeManager(t, fc, Options{StorageClass: "standard"})
	list, err := later.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != nh.ID || list[0].Volume != h.Volume || !list[0].Disposable || list[0].Owner != "conv-ws" {
		t.Fatalf("List = %+v, want the sandbox with its claim", list)
	}
	if err := later.Destroy(ctx, sandbox.Handle{Owner: "conv-ws", ID: nh.ID}); err != nil {
		t.Fatal(err)
	}
	if got := claimNames(t, fc); len(got) != 1 {
		t.Errorf("Destroy of a handle without its volume removed the claim: %v", got)
	}
	list, err = later.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "" || list[0].Volume != h.Volume || !list[0].Disposable || list[0].Owner != "conv-ws" {
		t.Fatalf("List = %+v, want the claim alone", list)
	}
	if err := later.Destroy(ctx, list[0]); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, fc)
	if list, _ := later.List(ctx); len(list) != 0 {
		t.Errorf("List after Destroy = %+v", list)
	}
}

// TestWorkspaceClaimOwnership: a claim named by Spec.Volume that is
// another server's is refused; one that is gone is made again; a failed
// start removes the claim it made and keeps the one it was given.
func TestWorkspaceClaimOwnership(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{StorageClass: "standard"})
	other := newFakeManager(t, fc, Options{ServerID: "another-server", StorageClass: "standard"})
	foreign, err := other.Start(ctx, "conv-x", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	fv := foreign.Handle().Volume
	if _, err := m.Start(ctx, "conv-y", sandbox.Spec{Volume: fv}); err == nil || !strings.Contains(err.Error(), "not a workspace of server") {
		t.Errorf("start on another server's claim: %v", err)
	}
	if err := m.Destroy(ctx, sandbox.Handle{Volume: fv}); err == nil {
		t.Error("Destroy removed another server's claim")
	}
	if err := other.Destroy(ctx, foreign.Handle()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, "conv-y", sandbox.Spec{Volume: "bad/name"}); !errors.Is(err, sandbox.ErrBadVolume) {
		t.Errorf("a volume that is no claim name: %v", err)
	}

	sb, err := m.Start(ctx, "conv-y", sandbox.Spec{Volume: "gohands-gone-workspace"})
	if err != nil {
		t.Fatal(err)
	}
	if h := sb.Handle(); h.Volume != "gohands-gone-workspace" {
		t.Errorf("volume %q", h.Volume)
	}
	if got := claimNames(t, fc); len(got) != 1 || got[0] != "gohands-gone-workspace" {
		t.Errorf("claims = %v, want the gone one made again", got)
	}
	if err := sb.Remove(ctx); err != nil {
		t.Fatal(err)
	}

	fc.missing["no/such:image"] = true
	if _, err := m.Start(ctx, "conv-z", sandbox.Spec{Image: "no/such:image"}); !errors.Is(err, sandbox.ErrImageMissing) {
		t.Fatal(err)
	}
	if got := claimNames(t, fc); len(got) != 1 {
		t.Errorf("claims after a failed start = %v, want the claim it made removed", got)
	}
	if _, err := m.Start(ctx, "conv-y", sandbox.Spec{Image: "no/such:image", Volume: "gohands-gone-workspace"}); !errors.Is(err, sandbox.ErrImageMissing) {
		t.Fatal(err)
	}
	if got := claimNames(t, fc); len(got) != 1 {
		t.Errorf("claims after a failed start on the owner's claim = %v, want it kept", got)
	}
	if err := m.Destroy(ctx, sandbox.Handle{Volume: "gohands-gone-workspace"}); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, fc)
}

// TestWorkspaceWithoutClaim: without a storage class the workspace is an
// emptyDir, gone with the Pod: not disposable, no volume; under a mount it
// is disposable; and the pool's sandboxes remove their claims.
func TestWorkspaceWithoutClaim(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{})
	sb, err := m.Start(ctx, "conv-e", sandbox.Spec{WorkingDir: "/workspace", Volume: "ignored-without-a-class"})
	if err != nil {
		t.Fatal(err)
	}
	if h := sb.Handle(); h.Volume != "" || h.Disposable {
		t.Errorf("emptyDir workspace: handle %+v, want no volume and not disposable", h)
	}
	mounted, err := m.Start(ctx, "conv-mounted", sandbox.Spec{WorkingDir: "/workspace/project",
		AddMounts: []sandbox.Mount{{Source: "shared", Target: "/workspace", Volume: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if h := mounted.Handle(); h.Volume != "" || !h.Disposable {
		t.Errorf("workspace under a mount: handle %+v, want no volume and disposable", h)
	}

	pfc := newFakeCluster()
	pm := newFakeManager(t, pfc, Options{StorageClass: "standard", PoolSize: 1})
	waitPool(t, pm, 1)
	if got := claimNames(t, pfc); len(got) != 1 {
		t.Fatalf("pool claims = %v", got)
	}
	if err := pm.Close(ctx); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, pfc)
}

// TestQuotaExceeded: a start the namespace's ResourceQuota refuses fails
// naming the quota, and leaves neither its Secret nor its claim.
func TestQuotaExceeded(t *testing.T) {
	fc := newFakeCluster()
	fc.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "gohands-x",
			errors.New("exceeded quota: sandbox-pods, requested: pods=1, used: pods=2, limited: pods=2"))
	})
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{StorageClass: "standard"})
	_, err := m.Start(ctx, "conv-q", sandbox.Spec{})
	if err == nil || !strings.Contains(err.Error(), "ResourceQuota sandbox-pods of namespace "+testNS) || strings.Contains(err.Error(), "deploy/kubernetes.yaml") {
		t.Fatalf("err = %v, want one naming the quota", err)
	}
	assertEmpty(t, fc)
}

// TestPermissionsNamed: an account that lacks some of what the backend
// does fails New, naming each missing permission.
func TestPermissionsNamed(t *testing.T) {
	fc := newFakeCluster()
	fc.denied["create pods/portforward"] = true
	fc.denied["delete secrets"] = true
	o := DefaultOptions()
	o.ServerID, o.Namespace, o.Transport = "s", testNS, TransportPodIP
	_, err := New(testCtx(t), fc, nil, o, nil)
	if err == nil || !strings.Contains(err.Error(), "may not create pods/portforward, delete secrets") || !strings.Contains(err.Error(), testNS) {
		t.Fatalf("err = %v, want the missing permissions named", err)
	}
	// Claims are made only with a storage class.
	fc.denied = map[string]bool{"create persistentvolumeclaims": true}
	m, err := New(testCtx(t), fc, nil, o, nil)
	if err != nil {
		t.Fatalf("without a storage class: %v", err)
	}
	m.Close(context.Background())
	o.StorageClass = "standard"
	if _, err := New(testCtx(t), fc, nil, o, nil); err == nil || !strings.Contains(err.Error(), "create persistentvolumeclaims") {
		t.Fatalf("with a storage class: %v", err)
	}
}

// TestAPIServerDown: an API server that does not answer gives errors
// that are sandbox.ErrEngineDown and say so, at New, at a start (leaving
// nothing) and at Ready.
func TestAPIServerDown(t *testing.T) {
	fc := newFakeCluster()
	var down bool
	refuse := func(a k8stesting.Action) (bool, runtime.Object, error) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if !down {
			return false, nil, nil
		}
		return true, nil, fmt.Errorf("Post \"https://10.0.0.1:6443/api/v1/namespaces/%s/secrets\": dial tcp 10.0.0.1:6443: connect: %w", testNS, syscall.ECONNREFUSED)
	}
	fc.PrependReactor("*", "*", refuse)
	setDown := func(v bool) {
		fc.mu.Lock()
		down = v
		fc.mu.Unlock()
	}
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{})
	setDown(true)
	_, err := m.Start(ctx, "conv-down", sandbox.Spec{})
	if !errors.Is(err, sandbox.ErrEngineDown) || !strings.Contains(err.Error(), "kubernetes API server not reachable") {
		t.Fatalf("start: %v", err)
	}
	if err := m.Ready(ctx); !errors.Is(err, sandbox.ErrEngineDown) {
		t.Errorf("Ready: %v", err)
	}
	o := DefaultOptions()
	o.ServerID, o.Namespace, o.Transport = "s", testNS, TransportPodIP
	if _, err := New(ctx, fc, nil, o, nil); !errors.Is(err, sandbox.ErrEngineDown) {
		t.Errorf("New: %v", err)
	}
	setDown(false)
	if err := m.Ready(ctx); err != nil {
		t.Errorf("Ready after: %v", err)
	}
	sb, err := m.Start(ctx, "conv-down", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, fc)
}

func TestConnErrors(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("x: %w", syscall.ECONNRESET),
		errors.New(`Get "https://127.0.0.1:1/api": EOF`),
		errors.New("http2: client connection lost"),
	} {
		if !isConnErr(err) {
			t.Errorf("%v is not taken for a connection failure", err)
		}
	}
	if isConnErr(apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "x")) {
		t.Error("an answer taken for a connection failure")
	}
}

func waitPool(t *testing.T, m *Manager, n int) {
	t.Helper()
	ctx := testCtx(t)
	for m.PoolSize() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("the pool has %d sandboxes, want %d", m.PoolSize(), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestAgentNeverHealthy: a Pod that runs but whose agent never answers
// fails the start after StartTimeout, and leaves nothing.
func TestAgentNeverHealthy(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{StartTimeout: 300 * time.Millisecond, StorageClass: "standard"})
	m.newClient = func(s *Sandbox, _ string) *agentapi.Client {
		return agentapi.NewClient("http://127.0.0.1:1", s.token) // nothing listens there
	}
	_, err := m.Start(ctx, "conv-unhealthy", sandbox.Spec{})
	if !errors.Is(err, sandbox.ErrNotReady) || !strings.Contains(err.Error(), "did not answer /health") {
		t.Fatalf("err = %v, want ErrNotReady", err)
	}
	assertEmpty(t, fc)
}
