package kube

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// The tests in this file run the Manager against client-go's fake
// clientset: Pods "run" as soon as they are created (a reactor fills in
// their status) and each sandbox's agent is a small HTTP server that
// answers the handshake for its token and /health.

const testNS = "gohands-test"

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fakeAgent serves the handshake and /health for token.
func fakeAgent(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.HandshakePath, func(w http.ResponseWriter, r *http.Request) {
		var req agentapi.HandshakeRequest
		json.NewDecoder(r.Body).Decode(&req)
		nonce, _ := hex.DecodeString(req.Nonce)
		json.NewEncoder(w).Encode(agentapi.HandshakeAnswer{MAC: hex.EncodeToString(agentapi.HandshakeMAC(token, nonce, agentapi.TCPBinding))})
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	return mux
}

// fakeCluster is a fake clientset whose Pods run at once, unless their
// image is in missing (ErrImageNeverPull), in noShell (the sandbox
// container fails to start as an image without /bin/sh does), or pending
// (unschedulable), or unless early is set: then they stay Pending on a
// node with their containers being created, as the kubelet reports a Pod
// until its next relist.
type fakeCluster struct {
	*fake.Clientset
	mu      sync.Mutex
	missing map[string]bool
	noShell map[string]bool
	pending bool
	denied  map[string]bool // permissions ("verb resource[/sub]") the account lacks
	early   bool
}

func newFakeCluster() *fakeCluster {
	fc := &fakeCluster{Clientset: fake.NewClientset(), missing: make(map[string]bool), noShell: make(map[string]bool), denied: make(map[string]bool)}
	fc.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		ra := r.Spec.ResourceAttributes
		p := permission{ra.Verb, ra.Resource, ra.Subresource}
		fc.mu.Lock()
		r.Status.Allowed = !fc.denied[p.String()]
		fc.mu.Unlock()
		return true, r, nil
	})
	fc.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		fc.mu.Lock()
		defer fc.mu.Unlock()
		installer := corev1.ContainerStatus{Name: installerName, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}
		creating := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
		switch image := imageOf(pod); {
		case fc.missing[image]:
			pod.Status.Phase = corev1.PodPending
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: containerName, State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "Container image is not present with pull policy of Never"}}}}
		case fc.noShell[image]:
			pod.Spec.NodeName = "node-1"
			pod.Status.Phase = corev1.PodRunning // the agent-install container runs
			pod.Status.PodIP = "10.244.0.9"
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{installer, {Name: containerName, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError",
					Message: `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown`}}}}
		case fc.pending:
			pod.Status.Phase = corev1.PodPending
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient memory."}}
		case fc.early:
			pod.Spec.NodeName = "node-1"
			pod.Status.Phase = corev1.PodPending
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: installerName, State: creating}, {Name: containerName, State: creating}}
		default:
			pod.Spec.NodeName = "node-1"
			pod.Status.Phase = corev1.PodRunning
			pod.Status.PodIP = "10.244.0.9"
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{installer, {Name: containerName, Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
		}
		return false, nil, nil
	})
	return fc
}

// newFakeManager returns a Manager on fc whose agents are fake ones.
func newFakeManager(t *testing.T, fc *fakeCluster, opts Options) *Manager {
	t.Helper()
	if opts.ServerID == "" {
		opts.ServerID = "srv-test"
	}
	opts.Namespace = testNS
	opts.Transport = TransportPodIP
	m, err := New(testCtx(t), fc, nil, opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	agents := make(map[string]*httptest.Server)
	m.newClient = func(s *Sandbox, _ string) *agentapi.Client {
		mu.Lock()
		defer mu.Unlock()
		srv := agents[s.token]
		if srv == nil {
			srv = httptest.NewServer(fakeAgent(s.token))
			agents[s.token] = srv
			t.Cleanup(srv.Close)
		}
		return agentapi.NewClient(srv.URL, s.token)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func TestPodSpec(t *testing.T) {
	o := DefaultOptions()
	o.ServerID, o.Namespace = "srv", testNS
	o.UserID, o.GroupID = 1000, 1000
	o.StorageClass, o.RuntimeClass = "fast", "gvisor"
	o.PullPolicy = corev1.PullNever
	o.Limits.Memory, o.Limits.NanoCPUs = 512<<20, 1.5e9
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{opts: o, instance: "inst"}
	r, err := o.resolve(sandbox.Spec{Image: "python:3.12", AddMounts: []sandbox.Mount{{Source: "datasets", Target: "/data", Volume: true, ReadOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	pod := m.buildPod("gohands-abc", "conv/1 with spaces", false, r)
	if pod.Namespace != testNS || pod.Spec.RestartPolicy != corev1.RestartPolicyNever || *pod.Spec.AutomountServiceAccountToken {
		t.Errorf("namespace %q, restart %q, automount %v", pod.Namespace, pod.Spec.RestartPolicy, *pod.Spec.AutomountServiceAccountToken)
	}
	if pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName != "gvisor" {
		t.Errorf("runtimeClassName = %v, want gvisor", pod.Spec.RuntimeClassName)
	}
	l := pod.Labels
	if l[labelSandbox] != "1" || l[labelServer] != "srv" || l[labelID] != "gohands-abc" || !strings.HasPrefix(l[labelOwner], "sha256-") {
		t.Errorf("labels %v", l)
	}
	if pod.Annotations[annotationOwner] != "conv/1 with spaces" {
		t.Errorf("owner annotation %q", pod.Annotations[annotationOwner])
	}
	if len(pod.Spec.InitContainers) != 0 {
		t.Errorf("init containers %v: the kubelet starts the next container only at its next relist, a second later", pod.Spec.InitContainers)
	}
	if len(pod.Spec.Containers) != 2 || pod.Spec.Containers[0].Name != installerName || pod.Spec.Containers[1].Name != containerName {
		t.Fatalf("containers %v, want %s then %s (the kubelet starts them in order)", pod.Spec.Containers, installerName, containerName)
	}
	inst := pod.Spec.Containers[0]
	if inst.Image != DefaultAgentImage || strings.Join(inst.Command, " ") != "/runtime-agent --install "+sharedAgent+" --stay" || inst.ImagePullPolicy != corev1.PullNever ||
		len(inst.EnvFrom)+len(inst.Env)+len(inst.VolumeMounts) != 0 {
		t.Errorf("agent-install container %s %v %s env %v %v mounts %v", inst.Image, inst.Command, inst.ImagePullPolicy, inst.EnvFrom, inst.Env, inst.VolumeMounts)
	}
	if isc := inst.SecurityContext; !*isc.ReadOnlyRootFilesystem || *isc.AllowPrivilegeEscalation || len(isc.Capabilities.Add) != 0 || isc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("agent-install security context %+v", isc)
	}
	c := *sandboxContainer(pod)
	if c.Image != "python:3.12" || c.Command[0] != launcherShell || c.Command[1] != "-c" || c.Command[2] != launcher ||
		!strings.Contains(strings.Join(c.Command[3:], " "), "--user-id 1000") {
		t.Errorf("container %s %v", c.Image, c.Command)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != "gohands-abc" || len(c.Env) != 0 {
		t.Errorf("env must come from the sandbox's secret only: %v %v", c.EnvFrom, c.Env)
	}
	if got := c.Resources.Limits[corev1.ResourceMemory]; got.Value() != 512<<20 {
		t.Errorf("memory limit %s", got.String())
	}
	if got := c.Resources.Limits[corev1.ResourceCPU]; got.MilliValue() != 1500 {
		t.Errorf("cpu limit %s", got.String())
	}
	sc := c.SecurityContext
	if *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != len(capabilities) {
		t.Errorf("security context %+v", sc)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	if _, ok := mounts[sandbox.AgentDir]; ok {
		t.Errorf("a volume at the agent's folder: %v", c.VolumeMounts)
	}
	if vm := mounts["/data"]; !vm.ReadOnly {
		t.Errorf("claim mount %+v", vm)
	}
	if c, disposable := workspaceOf(pod); mounts[sandbox.WorkspaceDir].Name != volumeWS || c != "gohands-abc-workspace" || !disposable {
		t.Errorf("workspace must be the sandbox's claim with a storage class: %v", pod.Spec.Volumes)
	}
	claim := m.buildClaim(claimName("gohands-abc"), pod)
	if claim.Name != "gohands-abc-workspace" || *claim.Spec.StorageClassName != "fast" || claim.Labels[labelVolume] != "1" || claim.Labels[labelID] != "" {
		t.Errorf("claim %s class %s labels %v", claim.Name, *claim.Spec.StorageClassName, claim.Labels)
	}
	if q := claim.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("10Gi")) != 0 {
		t.Errorf("claim size %s", q.String())
	}
	m.opts.StorageClass = ""
	if bare := m.buildPod("gohands-abd", "c", false, r); len(bare.Spec.Volumes) != 1 {
		t.Errorf("without a storage class, volumes %v: want only the spec's claim (a volume costs the kubelet's mount check)", bare.Spec.Volumes)
	} else if c, disposable := workspaceOf(bare); c != "" || disposable {
		t.Errorf("without a storage class the workspace is the container's own (claim %q, disposable %v)", c, disposable)
	}
	m.opts.StorageClass = "fast"
	r, err = o.resolve(sandbox.Spec{WorkingDir: "/home/user/project"})
	if err != nil {
		t.Fatal(err)
	}
	wd := *sandboxContainer(m.buildPod("gohands-abe", "c", false, r))
	if !strings.Contains(strings.Join(wd.Command, " "), "--workdir /home/user/project") ||
		!slices.ContainsFunc(wd.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == volumeWS && vm.MountPath == "/home/user/project" }) {
		t.Errorf("the workspace is not at the spec's working directory: %v %v", wd.Command, wd.VolumeMounts)
	}
	m.opts.StorageClass = ""
	if none := m.buildPod("gohands-abf", "c", false, r); len(none.Spec.Volumes) != 0 || len(sandboxContainer(none).VolumeMounts) != 0 {
		t.Errorf("default pod has volumes %v", none.Spec.Volumes)
	}
	if _, err := o.resolve(sandbox.Spec{WorkingDir: sandbox.AgentDir}); err == nil {
		t.Error("a working directory over the agent's folder was accepted")
	}
}

func TestOptionsRefuse(t *testing.T) {
	base := DefaultOptions()
	base.ServerID = "s"
	for name, mod := range map[string]func(*Options){
		"transport":   func(o *Options) { o.Transport = "ssh" },
		"network":     func(o *Options) { o.Limits.Network = sandbox.NetworkNone },
		"pull policy": func(o *Options) { o.PullPolicy = "Sometimes" },
		"namespace":   func(o *Options) { o.Namespace = "Not_A_Label" },
		"server":      func(o *Options) { o.ServerID = "" },
	} {
		o := base
		mod(&o)
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	o, _ := base.withDefaults()
	if _, err := o.resolve(sandbox.Spec{AddMounts: []sandbox.Mount{{Source: "/home/me", Target: "/workspace"}}}); !errors.Is(err, sandbox.ErrBadVolume) {
		t.Errorf("host folder mount: err = %v, want ErrBadVolume", err)
	}
	if _, err := o.resolve(sandbox.Spec{Env: map[string]string{"BAD NAME": "x"}}); err == nil {
		t.Error("a variable name with a space was accepted")
	}
}

func getSecret(t *testing.T, fc *fakeCluster, name string) (*corev1.Secret, bool) {
	t.Helper()
	sec, err := fc.CoreV1().Secrets(testNS).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return sec, true
}

func podExists(t *testing.T, fc *fakeCluster, name string) bool {
	t.Helper()
	_, err := fc.CoreV1().Pods(testNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestSecretLifecycle: a sandbox's Secret holds its token and environment
// from Start to Remove, through a stop (no Pod) and a start again.
func TestSecretLifecycle(t *testing.T) {
	fc := newFakeCluster()
	m := newFakeManager(t, fc, Options{Env: map[string]string{"FROM_SERVER": "1"}})
	ctx := testCtx(t)
	sb, err := m.Start(ctx, "conv-1", sandbox.Spec{Env: map[string]string{"API_KEY": "sekrit"}})
	if err != nil {
		t.Fatal(err)
	}
	h := sb.Handle()
	sec, ok := getSecret(t, fc, h.ID)
	if !ok {
		t.Fatal("no secret after start")
	}
	if string(sec.Data[agentapi.TokenEnv]) != h.Token || string(sec.Data["API_KEY"]) != "sekrit" || string(sec.Data["FROM_SERVER"]) != "1" {
		t.Errorf("secret data keys %v", sec.Data)
	}
	if sec.Labels[labelOwner] != "conv-1" || sec.Labels[labelServer] != "srv-test" {
		t.Errorf("secret labels %v", sec.Labels)
	}
	pod, err := fc.CoreV1().Pods(testNS).Get(ctx, h.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(pod.Spec); strings.Contains(string(b), "sekrit") || strings.Contains(string(b), h.Token) {
		t.Error("the pod spec carries a secret value")
	}
	if sb.Status() != sandbox.StatusRunning || sb.Client() == nil {
		t.Fatalf("status %s", sb.Status())
	}
	if err := sb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if podExists(t, fc, h.ID) {
		t.Error("pod still there after Stop")
	}
	if _, ok := getSecret(t, fc, h.ID); !ok {
		t.Error("Stop deleted the secret")
	}
	if sb.Status() != sandbox.StatusStopped {
		t.Errorf("status after stop %s", sb.Status())
	}
	if _, done, err := sb.Use(ctx); err != nil {
		t.Fatalf("use after stop: %v", err)
	} else {
		done()
	}
	if !podExists(t, fc, h.ID) || sb.Status() != sandbox.StatusRunning {
		t.Errorf("Use did not start the pod again (status %s)", sb.Status())
	}
	if err := sb.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := getSecret(t, fc, h.ID); ok || podExists(t, fc, h.ID) {
		t.Error("Remove left the secret or the pod")
	}
	if err := sb.Remove(ctx); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

// TestReaping: a second Manager of the same server lists what the first
// left (and nothing of another server's), recovers one by owner with the
// token from its Secret, and Destroy removes the others' Pods, Secrets
// and claims.
func TestReaping(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	first := newFakeManager(t, fc, Options{StorageClass: "standard"})
	keep, err := first.Start(ctx, "conv-keep", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := first.Start(ctx, "conv-orphan", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	other := newFakeManager(t, fc, Options{ServerID: "another-server"})
	foreign, err := other.Start(ctx, "conv-x", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	first.Close(ctx)

	second := newFakeManager(t, fc, Options{StorageClass: "standard"})
	list, err := second.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, h := range list {
		ids[h.ID] = h.Owner
	}
	if len(ids) != 2 || ids[keep.Handle().ID] != "conv-keep" || ids[orphan.Handle().ID] != "conv-orphan" {
		t.Fatalf("List = %v, want the two sandboxes of this server", list)
	}
	got, err := second.Recover(ctx, sandbox.Handle{Owner: "conv-keep"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Handle().ID != keep.Handle().ID || got.Handle().Token != keep.Handle().Token || got.Status() != sandbox.StatusRunning {
		t.Errorf("recovered %+v (%s)", got.Handle(), got.Status())
	}
	if err := second.Destroy(ctx, orphan.Handle()); err != nil {
		t.Fatal(err)
	}
	id := orphan.Handle().ID
	if _, ok := getSecret(t, fc, id); ok || podExists(t, fc, id) {
		t.Error("Destroy left the secret or the pod")
	}
	if _, err := fc.CoreV1().PersistentVolumeClaims(testNS).Get(ctx, claimName(id), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Destroy left the workspace claim: %v", err)
	}
	if err := second.Destroy(ctx, foreign.Handle()); err != nil {
		t.Fatal(err)
	}
	if _, ok := getSecret(t, fc, foreign.Handle().ID); !ok {
		t.Error("Destroy removed another server's sandbox")
	}
	if list, _ := second.List(ctx); len(list) != 0 {
		t.Errorf("List after recover and destroy = %v", list)
	}
}

// TestRecoverStopped: a sandbox stopped (no Pod) is recovered as stopped
// and starts on Use.
func TestRecoverStopped(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	first := newFakeManager(t, fc, Options{})
	sb, err := first.Start(ctx, "conv-s", sandbox.Spec{Image: "debian:12"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	h := sb.Handle()
	first.Release(h)
	second := newFakeManager(t, fc, Options{})
	got, err := second.Recover(ctx, sandbox.Handle{ID: h.ID, Owner: h.Owner})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status() != sandbox.StatusStopped || got.Handle().Image != "debian:12" {
		t.Fatalf("recovered %s %+v", got.Status(), got.Handle())
	}
	if _, done, err := got.Use(ctx); err != nil {
		t.Fatal(err)
	} else {
		done()
	}
	pod, err := fc.CoreV1().Pods(testNS).Get(ctx, h.ID, metav1.GetOptions{})
	if err != nil || imageOf(pod) != "debian:12" {
		t.Fatalf("pod after Use: %v", err)
	}
}

// TestPodDeletedUnderSandbox: a Pod deleted behind the Manager's back
// gives an exited status on Changes, naming why; Start brings it back.
func TestPodDeletedUnderSandbox(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{})
	sb, err := m.Start(ctx, "conv-d", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.CoreV1().Pods(testNS).Delete(ctx, sb.Handle().ID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case c := <-m.Changes():
			if c.Owner != "conv-d" || c.Status != sandbox.StatusExited {
				continue
			}
			if !errors.Is(c.Err, sandbox.ErrExited) || !strings.Contains(c.Err.Error(), "deleted outside GoHands") {
				t.Fatalf("change error %v", c.Err)
			}
			if err := sb.Start(ctx); err != nil || sb.Status() != sandbox.StatusRunning {
				t.Fatalf("start after exit: %v (%s)", err, sb.Status())
			}
			return
		case <-ctx.Done():
			t.Fatal("no exited change after the pod was deleted")
		}
	}
}

// TestMissingImage: an image the cluster lacks fails the start at once
// with ErrImageMissing naming it, and leaves nothing.
func TestMissingImage(t *testing.T) {
	fc := newFakeCluster()
	fc.missing["no/such:image"] = true
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{PendingTimeout: time.Hour})
	_, err := m.Start(ctx, "conv-m", sandbox.Spec{Image: "no/such:image"})
	if !errors.Is(err, sandbox.ErrImageMissing) || !strings.Contains(err.Error(), `"no/such:image"`) {
		t.Fatalf("err = %v, want ErrImageMissing naming the image", err)
	}
	assertEmpty(t, fc)
}

// TestPendingBound: a Pod that cannot be scheduled fails the start after
// PendingTimeout, saying why, and leaves nothing.
func TestPendingBound(t *testing.T) {
	fc := newFakeCluster()
	fc.pending = true
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{PendingTimeout: 300 * time.Millisecond})
	_, err := m.Start(ctx, "conv-p", sandbox.Spec{})
	if !errors.Is(err, sandbox.ErrNotReady) || !strings.Contains(err.Error(), "Insufficient memory") {
		t.Fatalf("err = %v, want ErrNotReady with the scheduler's reason", err)
	}
	assertEmpty(t, fc)
}

func assertEmpty(t *testing.T, fc *fakeCluster) {
	t.Helper()
	ctx := context.Background()
	pods, _ := fc.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{})
	secrets, _ := fc.CoreV1().Secrets(testNS).List(ctx, metav1.ListOptions{})
	claims, _ := fc.CoreV1().PersistentVolumeClaims(testNS).List(ctx, metav1.ListOptions{})
	if len(pods.Items)+len(secrets.Items)+len(claims.Items) != 0 {
		t.Errorf("left %d pods, %d secrets and %d claims", len(pods.Items), len(secrets.Items), len(claims.Items))
	}
}

// TestForbidden: a server whose account may not list Pods in the
// namespace fails at New, pointing at the Role it needs.
func TestForbidden(t *testing.T) {
	fc := newFakeCluster()
	fc.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no RBAC"))
	})
	o := DefaultOptions()
	o.ServerID, o.Namespace, o.Transport = "s", testNS, TransportPodIP
	_, err := New(testCtx(t), fc, nil, o, nil)
	if err == nil || !strings.Contains(err.Error(), "deploy/kubernetes.yaml") || !strings.Contains(err.Error(), testNS) {
		t.Fatalf("err = %v", err)
	}
}

// TestWarmPoolRelabels: a pool sandbox handed to an owner carries the
// owner's label afterwards (Secret and Pod), so a later server finds it.
func TestWarmPoolRelabels(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{PoolSize: 1})
	for m.PoolSize() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("pool never filled")
		case <-time.After(10 * time.Millisecond):
		}
	}
	sb, err := m.Start(ctx, "conv-w", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	id := sb.Handle().ID
	sec, _ := getSecret(t, fc, id)
	pod, _ := fc.CoreV1().Pods(testNS).Get(ctx, id, metav1.GetOptions{})
	if sec.Labels[labelOwner] != "conv-w" || sec.Labels[labelPool] != "" || pod.Labels[labelOwner] != "conv-w" || pod.Annotations[annotationOwner] != "conv-w" {
		t.Errorf("secret labels %v, pod labels %v", sec.Labels, pod.Labels)
	}
	tmpl, err := templateOf(sec)
	if err != nil || tmpl.Labels[labelOwner] != "conv-w" {
		t.Errorf("recorded pod labels %v (%v)", tmpl, err)
	}
}

// TestExitMapping: how a Pod's end reads in the ExitError.
func TestExitMapping(t *testing.T) {
	now := metav1.Now()
	term := func(code int32, reason string) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{{Name: containerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}}
	}
	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		ended bool
		code  int
		oom   bool
		want  string
	}{
		{"gone", nil, true, -1, false, "deleted outside GoHands"},
		{"exit", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: term(2, "Error")}}, true, 2, false, ""},
		{"oom", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: term(137, "OOMKilled")}}, true, 137, true, ""},
		{"evicted", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}}, true, -1, false, "evicted: The node was low"},
		{"node lost", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodUnknown}}, true, -1, false, "node lost"},
		{"deleted", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true, -1, false, "deleted outside GoHands"},
		{"preempted", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler", Message: "preempted"}}}}, true, -1, false, "PreemptionByScheduler"},
		{"running", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, false, -1, false, ""},
	} {
		e := exitOf(tc.pod)
		if tc.pod != nil && podEnded(tc.pod) != tc.ended {
			t.Errorf("%s: podEnded = %v", tc.name, !tc.ended)
		}
		if e.ExitCode != tc.code || e.OOMKilled != tc.oom || !strings.Contains(e.EngineError, tc.want) {
			t.Errorf("%s: %+v", tc.name, e)
		}
	}
}

func TestLabelValue(t *testing.T) {
	if labelValue("conv-1") != "conv-1" {
		t.Error("a valid label value was changed")
	}
	long := strings.Repeat("x", 64)
	if v := labelValue(long); v == long || len(v) > 63 || labelValue(long) != v {
		t.Errorf("labelValue(64 x) = %q", v)
	}
	if labelValue("a/b") == labelValue("a_b") {
		t.Error("two owners share a label value")
	}
}

// TestConnsCloseAll: the connections of a sandbox whose Pod went are
// closed, a read in flight ends, and a later one is closed at once.
func TestConnsCloseAll(t *testing.T) {
	var set conns
	a, b := net.Pipe()
	defer b.Close()
	c := set.add(a)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	set.closeAll()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read on a closed connection succeeded")
		}
	case <-time.After(time.Minute):
		t.Fatal("a read in flight did not end")
	}
	x, y := net.Pipe()
	defer y.Close()
	late := set.add(x)
	if _, err := late.Write([]byte("x")); err == nil {
		t.Error("a connection added after closeAll is open")
	}
}

// TestNoShellImage: an image without /bin/sh fails the start with an
// error naming the image and the missing shell, and leaves nothing.
func TestNoShellImage(t *testing.T) {
	fc := newFakeCluster()
	fc.noShell["gcr.io/distroless/static"] = true
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{})
	_, err := m.Start(ctx, "conv-sh", sandbox.Spec{Image: "gcr.io/distroless/static"})
	if err == nil || !strings.Contains(err.Error(), `image "gcr.io/distroless/static" has no /bin/sh`) || !errors.Is(err, sandbox.ErrExited) {
		t.Fatalf("err = %v, want an exit during start naming the image and /bin/sh", err)
	}
	assertEmpty(t, fc)
}

// TestNoTriesBeforeStarted: while the kubelet has not reported the
// sandbox container started, the agent is not tried on either transport
// (early port-forwards were measured to hang), and the start fails at the
// pending bound.
func TestNoTriesBeforeStarted(t *testing.T) {
	fc := newFakeCluster()
	fc.early = true
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{PendingTimeout: 300 * time.Millisecond})
	made := 0
	fakeClient := m.newClient
	m.newClient = func(s *Sandbox, ip string) *agentapi.Client { made++; return fakeClient(s, ip) }
	for _, tr := range []Transport{TransportAPIServer, TransportPodIP} {
		m.opts.Transport = tr // the fake agents stand in for the tunnel
		if _, err := m.Start(ctx, "conv-early-"+string(tr), sandbox.Spec{}); !errors.Is(err, sandbox.ErrNotReady) {
			t.Fatalf("%s: err = %v, want the pending bound", tr, err)
		}
	}
	if made != 0 {
		t.Errorf("%d agent clients made before the container started", made)
	}
}

// TestSandboxContainerEnded: the sandbox container ending while the
// agent-install container sleeps on (the Pod stays Running) is an exit,
// with the container's code.
func TestSandboxContainerEnded(t *testing.T) {
	fc := newFakeCluster()
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{})
	sb, err := m.Start(ctx, "conv-end", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := fc.CoreV1().Pods(testNS).Get(ctx, sb.Handle().ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == containerName {
			pod.Status.ContainerStatuses[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}
		}
	}
	if _, err := fc.CoreV1().Pods(testNS).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case c := <-m.Changes():
			if c.Owner != "conv-end" || c.Status != sandbox.StatusExited {
				continue
			}
			var e *sandbox.ExitError
			if !errors.As(c.Err, &e) || e.ExitCode != 3 {
				t.Fatalf("change error %v, want the container's exit code 3", c.Err)
			}
			if st, err := sb.Inspect(ctx); err != nil || st.Running {
				t.Errorf("inspect: running %v (%v)", st.Running, err)
			}
			return
		case <-ctx.Done():
			t.Fatal("no exited change after the sandbox container ended")
		}
	}
}

// TestLauncher runs the sandbox container's launcher with the system's
// sh, its paths moved into a temporary folder: it waits for the agent's
// copy, installs it, frees the shared copy and execs it with the
// arguments and the environment it was given, but the token, which
// comes on fd 3.
func TestLauncher(t *testing.T) {
	dir := t.TempDir()
	shared := dir + "/shm/.gohands/runtime-agent"
	agentDir := dir + "/opt/gohands"
	vars := "s=" + sharedAgent + "; d=" + sandbox.AgentDir + "; a=" + sandbox.AgentPath + ";"
	script := strings.Replace(launcher, vars, "s="+shared+"; d="+agentDir+"; a="+agentDir+"/runtime-agent;", 1)
	if script == launcher {
		t.Fatalf("paths not moved:\n%s", script)
	}
	cmd := exec.Command(launcherShell, "-c", script, "gohands-launcher", "--listen", "tcp://0.0.0.0:7000")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "GREETING=hi", agentapi.TokenEnv + "=tok-123"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond) // the launcher waits
	fake := "#!/bin/sh\necho \"agent $0 $* $GREETING token=${" + agentapi.TokenEnv + ":-none} fd3=$(cat <&3)\"\n"
	os.MkdirAll(dir+"/shm/.gohands", 0o755)
	if err := os.WriteFile(shared+".tmp", []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(shared+".tmp", shared); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("launcher: %v: %s", err, out.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("launcher never ran the agent: %s", out.String())
	}
	if got, want := strings.TrimSpace(out.String()), "agent "+agentDir+"/runtime-agent --token-fd 3 --listen tcp://0.0.0.0:7000 hi token=none fd3=tok-123"; got != want {
		t.Errorf("launcher ran %q, want %q", got, want)
	}
	if _, err := os.Stat(shared); !os.IsNotExist(err) {
		t.Errorf("the shared copy is still there (%v)", err)
	}
	if st, err := os.Stat(agentDir + "/runtime-agent"); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("installed agent: %v", err)
	}
}

// TestStartFailureSecretCacheLag: a kubelet that has not seen the
// sandbox's Secret yet is waited for; a container config it refuses
// for good ends the start.
func TestStartFailureSecretCacheLag(t *testing.T) {
	pod := func(msg string) *corev1.Pod {
		return &corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: containerName, Image: "img:1"}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: containerName, State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: msg}}}}},
		}
	}
	if err := startFailure(pod("failed to sync secret cache: timed out waiting for the condition")); err != nil {
		t.Errorf("cache lag ended the start: %v", err)
	}
	if err := startFailure(pod(`secret "gohands-x" not found`)); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing secret: %v, want the kubelet's reason", err)
	}
}
