package kube

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// createdPod waits for the first Pod made on fc and returns it.
func createdPod(ctx context.Context, t *testing.T, fc *fakeCluster) *corev1.Pod {
	t.Helper()
	for {
		pods, err := fc.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) > 0 {
			return &pods.Items[0]
		}
		select {
		case <-ctx.Done():
			t.Fatal("no pod made")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// announceURLOf returns the --announce argument of pod's sandbox
// container, "" if it has none.
func announceURLOf(pod *corev1.Pod) string {
	cmd := sandboxContainer(pod).Command
	if i := slices.Index(cmd, "--announce"); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

// post sends an announce to u with proof and returns the status code.
func post(t *testing.T, method, u, proof string) int {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if proof != "" {
		req.Header.Set(agentapi.AnnounceHeader, proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func proofOf(token, u string) string {
	return hex.EncodeToString(agentapi.AnnounceMAC(token, u[strings.Index(u[len("http://"):], "/")+len("http://"):]))
}

// TestAnnounceStartsTheAgent: a Pod whose status never says its
// container runs (the kubelet has not reported it yet) still starts when
// its agent announces itself with its token's proof: the agent is tried
// at the announce's source. Bad announces change nothing, and all get
// the same answer.
func TestAnnounceStartsTheAgent(t *testing.T) {
	fc := newFakeCluster()
	fc.early = true
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{Announce: "127.0.0.1:0", PendingTimeout: 20 * time.Second})
	var (
		mu    sync.Mutex
		tried []string
	)
	fakeClient := m.newClient
	m.newClient = func(s *Sandbox, ip string) *agentapi.Client {
		mu.Lock()
		tried = append(tried, ip)
		mu.Unlock()
		return fakeClient(s, ip)
	}
	type result struct {
		sb  sandbox.Sandbox
		err error
	}
	done := make(chan result, 1)
	go func() {
		sb, err := m.Start(ctx, "conv-announce", sandbox.Spec{})
		done <- result{sb, err}
	}()
	pod := createdPod(ctx, t, fc)
	u := announceURLOf(pod)
	if !strings.HasPrefix(u, m.announceBase+announcePrefix+pod.Name+"/") {
		t.Fatalf("announce URL %q of pod %s, want one under %s", u, pod.Name, m.announceBase)
	}
	tok := m.reg.Lookup(pod.Name).token
	stale := strings.Replace(u, announcePrefix+pod.Name+"/", announcePrefix+pod.Name+"/0000/", 1)
	other := strings.Replace(u, pod.Name, "gohands-000000", 1)
	for _, c := range []struct {
		method, u, proof string
		want             int
	}{
		{http.MethodPost, u, "", http.StatusNotFound},
		{http.MethodPost, u, proofOf("not-the-token", u), http.StatusNotFound},
		{http.MethodGet, u, proofOf(tok, u), http.StatusMethodNotAllowed},
		{http.MethodPost, other, proofOf(tok, other), http.StatusNotFound},
		{http.MethodPost, stale, proofOf(tok, stale), http.StatusNotFound},
		{http.MethodPost, m.announceBase + "/agents/" + pod.Name + "/ready", proofOf(tok, u), http.StatusNotFound},
		{http.MethodPost, m.announceBase + "/" + strings.Repeat("a", 600), "", http.StatusNotFound},
	} {
		if got := post(t, c.method, c.u, c.proof); got != c.want {
			t.Errorf("%s %s proof %q: %d, want %d", c.method, c.u, c.proof, got, c.want)
		}
	}
	select {
	case r := <-done:
		t.Fatalf("started before its agent announced itself: %v", r.err)
	case <-time.After(300 * time.Millisecond):
	}
	mu.Lock()
	if len(tried) != 0 {
		t.Errorf("agent tried at %v before a good announce", tried)
	}
	mu.Unlock()
	if got := post(t, http.MethodPost, u, proofOf(tok, u)); got != http.StatusNoContent {
		t.Fatalf("good announce: %d", got)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.sb.(*Sandbox).Endpoint(); got != "http://127.0.0.1:7000" {
		t.Errorf("endpoint %q, want the announce's source", got)
	}
	mu.Lock()
	if !slices.Equal(tried, []string{"127.0.0.1"}) {
		t.Errorf("agent tried at %v, want the announce's source", tried)
	}
	mu.Unlock()
	// The start is over: the same announce is no longer taken.
	if got := post(t, http.MethodPost, u, proofOf(tok, u)); got != http.StatusNotFound {
		t.Errorf("announce after the start: %d, want 404", got)
	}
}

// TestAnnounceSourceNotTrusted: what answers at an announce's source
// without the sandbox's token (a NAT's address, say) does not end the
// start; the agent at the Pod's own IP, once the status has it, does.
func TestAnnounceSourceNotTrusted(t *testing.T) {
	fc := newFakeCluster()
	fc.early = true
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{Announce: "127.0.0.1:0", PendingTimeout: 20 * time.Second})
	impostor := httptest.NewServer(fakeAgent("not-the-token"))
	defer impostor.Close()
	fakeClient := m.newClient
	m.newClient = func(s *Sandbox, ip string) *agentapi.Client {
		if ip == "127.0.0.1" {
			return agentapi.NewClient(impostor.URL, s.token)
		}
		return fakeClient(s, ip)
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.Start(ctx, "conv-nat", sandbox.Spec{})
		done <- err
	}()
	pod := createdPod(ctx, t, fc)
	u := announceURLOf(pod)
	if got := post(t, http.MethodPost, u, proofOf(m.reg.Lookup(pod.Name).token, u)); got != http.StatusNoContent {
		t.Fatalf("announce: %d", got)
	}
	select {
	case err := <-done:
		t.Fatalf("start ended on the impostor's answer: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = "10.244.0.9"
	for i := range pod.Status.ContainerStatuses {
		pod.Status.ContainerStatuses[i].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	}
	if _, err := fc.CoreV1().Pods(testNS).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("start at the Pod's own IP: %v", err)
	}
}

func TestAnnounceAddressRefused(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "no-port"} {
		_, err := New(testCtx(t), newFakeCluster(), nil, Options{ServerID: "s", Namespace: testNS, Transport: TransportPodIP, Announce: addr}, nil)
		if err == nil || !strings.Contains(err.Error(), "announce") {
			t.Errorf("announce address %q: err %v, want a refusal naming it", addr, err)
		}
	}
}

// FuzzAnnouncePath: whatever path an announce comes with, a path taken
// is exactly the announce route of its id and key, neither of which
// holds a slash, and no path longer than the bound is taken.
func FuzzAnnouncePath(f *testing.F) {
	for _, s := range []string{"/agents/gohands-abc/0011aabb/ready", "/agents//k/ready", "/agents/a/b/c/ready", "/agents/a/ready", "/ready", "/agents/%2f/k/ready"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		id, key, ok := announcePath(path)
		if !ok {
			return
		}
		if id == "" || key == "" || strings.Contains(id, "/") || strings.Contains(key, "/") {
			t.Fatalf("%q: id %q key %q", path, id, key)
		}
		if announcePrefix+id+"/"+key+announceSuffix != path || len(path) > agentapi.AnnounceMaxPath {
			t.Fatalf("%q taken as id %q key %q", path, id, key)
		}
	})
}
