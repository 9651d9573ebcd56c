package kube

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/kube/kubetest"
)

// The faults of the cluster, against the real one (see cluster_test.go).
// Each uses objects of its own (namespaces, volumes), named for this run.

// tcpProxy forwards a local port to the API server; cut closes the port
// and every connection through it, restore opens the same port again.
type tcpProxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, conns: make(map[net.Conn]bool)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c) || !p.track(up) {
		c.Close()
		up.Close()
		return
	}
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// cut closes the port and every connection through it: the API server is
// away for the client.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore opens the port again.
func (p *tcpProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// proxiedClient returns a client of the test cluster that goes through a
// proxy of its own; TLS still verifies the API server's certificate
// under its own name.
func proxiedClient(t testing.TB) (kubernetes.Interface, *rest.Config, *tcpProxy) {
	t.Helper()
	u, err := url.Parse(cluster.cfg.Host)
	if err != nil || u.Host == "" {
		t.Fatalf("API server address %q: %v", cluster.cfg.Host, err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "443")
	}
	p := newTCPProxy(t, target)
	cfg := rest.CopyConfig(cluster.cfg)
	cfg.Host = "https://" + p.addr
	if cfg.TLSClientConfig.ServerName == "" {
		cfg.TLSClientConfig.ServerName = u.Hostname()
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, cfg, p
}

// TestClusterAPIServerAway: with the API server cut off (a proxy between
// the backend and it), Ready, a start and a command through the API
// server fail with ErrEngineDown and leave nothing; once it is back, the
// watch is re-established (a Pod deleted meanwhile is reported exited)
// and the running sandbox answers again through a new port-forward.
func TestClusterAPIServerAway(t *testing.T) {
	needCluster(t)
	cs, cfg, proxy := proxiedClient(t)
	o := DefaultOptions()
	o.ServerID, o.Namespace = cluster.serverID, cluster.ns
	o.AgentImage, o.PullPolicy = cluster.image, corev1.PullNever
	o.UserID, o.GroupID = 1000, 1000
	o.Transport = TransportAPIServer
	o.PendingTimeout, o.StartTimeout = 2*time.Minute, 2*time.Minute
	ctx := clusterCtx(t)
	m, err := New(ctx, cs, cfg, o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	kept, err := m.Start(ctx, "conv-away-kept", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kept.Remove(context.Background()) })
	lost, err := m.Start(ctx, "conv-away-lost", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lost.Remove(context.Background()) })
	if out, err := echo(ctx, kept.Client(), "echo before"); err != nil || !strings.Contains(out, "before") {
		t.Fatalf("echo before the outage: %q %v", out, err)
	}

	proxy.cut()
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.Ready(actx); !errors.Is(err, sandbox.ErrEngineDown) || !strings.Contains(err.Error(), "kubernetes API server not reachable") {
		t.Errorf("Ready with the API server away: %v, want ErrEngineDown", err)
	}
	if _, err := m.Start(actx, "conv-away-new", sandbox.Spec{}); !errors.Is(err, sandbox.ErrEngineDown) {
		t.Errorf("start with the API server away: %v, want ErrEngineDown", err)
	}
	// A connection of the agent client's that the cut broke may fail
	// first as it may; a new one must say why.
	echo(actx, kept.Client(), "echo during")
	if _, err := echo(actx, kept.Client(), "echo during"); !errors.Is(err, sandbox.ErrEngineDown) {
		t.Errorf("a command through the API server while it is away: %v, want ErrEngineDown", err)
	}
	zero := int64(0)
	if err := cluster.cs.CoreV1().Pods(cluster.ns).Delete(ctx, lost.Handle().ID, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}

	proxy.restore()
	for m.Ready(ctx) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("Ready never answered after the API server came back")
		case <-time.After(200 * time.Millisecond):
		}
	}
	for {
		out, err := echo(ctx, kept.Client(), "echo after")
		if err == nil && strings.Contains(out, "after") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the running sandbox never answered again: %q %v", out, err)
		case <-time.After(time.Second):
		}
	}
	for {
		select {
		case c := <-m.Changes():
			if c.Owner == "conv-away-lost" && c.Status == sandbox.StatusExited {
				if kept.Status() != sandbox.StatusRunning {
					t.Errorf("the kept sandbox is %s", kept.Status())
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("the pod deleted during the outage was never reported: the watch was not re-established")
		}
	}
}

// testNamespace makes a namespace of this run, deleted at the end.
func testNamespace(t testing.TB, what string) string {
	t.Helper()
	name := "gohands-" + what + "-" + strings.ToLower(rand.Text()[:8])
	ctx := clusterCtx(t)
	if _, err := cluster.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// TestClusterQuota: a start that a ResourceQuota of the namespace
// refuses fails naming the quota, and leaves no Secret.
func TestClusterQuota(t *testing.T) {
	needCluster(t)
	ctx := clusterCtx(t)
	ns := testNamespace(t, "quota")
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}
	if _, err := cluster.cs.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := clusterManager(t, func(o *Options) { o.Namespace = ns })
	_, err := m.Start(ctx, "conv-quota", sandbox.Spec{})
	if err == nil || !strings.Contains(err.Error(), "ResourceQuota sandbox-pods of namespace "+ns) {
		t.Fatalf("start over the quota: %v, want an error naming the quota", err)
	}
	if left := kubetest.Prepared().LeftoversIn(ns, ServerSelector(cluster.serverID), time.Minute); left != "" {
		t.Errorf("the refused start left %s", left)
	}
}

// TestClusterNoPermission: an account without a Role in the namespace
// fails New naming what it may not do.
func TestClusterNoPermission(t *testing.T) {
	needCluster(t)
	cfg := rest.CopyConfig(cluster.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "gohands-nobody-" + strings.ToLower(rand.Text()[:8])}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.ServerID, o.Namespace = cluster.serverID, cluster.ns
	o.StorageClass = "any"
	_, err = New(clusterCtx(t), cs, cfg, o, nil)
	for _, want := range []string{"namespace " + cluster.ns, "may not create pods,", "create pods/portforward", "list secrets", "create persistentvolumeclaims", "deploy/kubernetes.yaml"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New without permissions: %v, want it to name %q", err, want)
		}
	}
}

// TestClusterPendingBound: a Pod no node can take (it asks for more
// memory than the node has) fails the start after PendingTimeout with the
// scheduler's reason, and a Pod whose agent never answers after
// StartTimeout; neither leaves anything.
func TestClusterPendingBound(t *testing.T) {
	m := clusterManager(t, func(o *Options) { o.PendingTimeout = 10 * time.Second })
	ctx := clusterCtx(t)
	_, err := m.Start(ctx, "conv-pending", sandbox.Spec{Limits: sandbox.Limits{Memory: 1 << 50}})
	if !errors.Is(err, sandbox.ErrNotReady) || !strings.Contains(err.Error(), "Insufficient memory") {
		t.Fatalf("err = %v, want ErrNotReady with the scheduler's reason", err)
	}
	lo := metav1.ListOptions{LabelSelector: labelServer + "=" + labelValue(cluster.serverID) + "," + labelOwner + "=conv-pending"}
	if secrets, err := cluster.cs.CoreV1().Secrets(cluster.ns).List(ctx, lo); err != nil || len(secrets.Items) != 0 {
		t.Errorf("left secrets after the failed start (%v)", err)
	}

	// A Pod that runs but whose agent never answers (the client is
	// pointed where nothing listens) is deleted with its Secret after
	// StartTimeout.
	m = clusterManager(t, func(o *Options) { o.StartTimeout, o.Transport = 5*time.Second, TransportPodIP })
	m.newClient = func(s *Sandbox, _ string) *agentapi.Client {
		return agentapi.NewClient("http://127.0.0.1:1", s.token)
	}
	_, err = m.Start(ctx, "conv-unhealthy", sandbox.Spec{})
	if !errors.Is(err, sandbox.ErrNotReady) || !strings.Contains(err.Error(), "did not answer /health") {
		t.Fatalf("err = %v, want ErrNotReady from the health check", err)
	}
	lo.LabelSelector = labelServer + "=" + labelValue(cluster.serverID) + "," + labelOwner + "=conv-unhealthy"
	if secrets, err := cluster.cs.CoreV1().Secrets(cluster.ns).List(ctx, lo); err != nil || len(secrets.Items) != 0 {
		t.Errorf("left secrets after the failed start (%v)", err)
	}
}

// TestClusterWorkspaceClaim: with a storage class (here one of this run,
// with volumes on the node's disk made for it), the workspace claim
// outlives the sandbox: removed, the owner's next sandbox mounts the
// claim and finds the file; Destroy of the claim's handle removes it.
func TestClusterWorkspaceClaim(t *testing.T) {
	needCluster(t)
	ctx := clusterCtx(t)
	class := "gohands-kubetest-" + strings.ToLower(rand.Text()[:8])
	dir, err := os.MkdirTemp("", "gohands-kubetest-pv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	immediate := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class},
		Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &immediate}
	if _, err := cluster.cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.cs.StorageV1().StorageClasses().Delete(context.Background(), class, metav1.DeleteOptions{})
	})
	hostPath := corev1.HostPathDirectoryOrCreate
	for i := range 2 {
		name := class + "-" + string(rune('a'+i))
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{
				StorageClassName:              class,
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: filepath.Join(dir, name), Type: &hostPath}},
			},
		}
		if _, err := cluster.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cluster.cs.CoreV1().PersistentVolumes().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
	m := clusterManager(t, func(o *Options) {
		o.StorageClass, o.StorageSize = class, resource.MustParse("1Gi")
		o.UserID, o.GroupID = 0, 0 // the volume's folder is root's
		o.Transport = TransportPodIP
	})
	first, err := m.Start(ctx, "conv-claim", sandbox.Spec{WorkingDir: "/workspace"})
	if err != nil {
		t.Fatal(err)
	}
	h := first.Handle()
	if h.Volume == "" || !h.Disposable {
		t.Fatalf("handle %+v: want its workspace claim, disposable", h)
	}
	if _, err := first.Client().WriteFile(ctx, "/workspace/kept.txt", "outlives the pod\n"); err != nil {
		t.Fatal(err)
	}
	if err := first.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.cs.CoreV1().PersistentVolumeClaims(cluster.ns).Get(ctx, h.Volume, metav1.GetOptions{}); err != nil {
		t.Fatalf("the claim did not outlive the sandbox: %v", err)
	}
	second, err := m.Start(ctx, "conv-claim", sandbox.Spec{WorkingDir: "/workspace", Volume: h.Volume})
	if err != nil {
		t.Fatal(err)
	}
	if ft, err := second.Client().ReadFile(ctx, "/workspace/kept.txt", 1, -1); err != nil || ft.Content != "outlives the pod\n" {
		t.Errorf("the next sandbox reads %q %v", ft.Content, err)
	}
	if err := m.Destroy(ctx, second.Handle()); err != nil {
		t.Fatal(err)
	}
	// The claim goes once the Pod that mounts it has ended (the
	// cluster's pvc-protection finalizer).
	for {
		c, err := cluster.cs.CoreV1().PersistentVolumeClaims(cluster.ns).Get(ctx, h.Volume, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if err == nil && c.DeletionTimestamp == nil {
			t.Fatal("Destroy did not delete the claim")
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the claim was never gone: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
