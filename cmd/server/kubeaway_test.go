package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gohands/gohands/sandbox/kube/kubetest"
)

// newAPIServerProxy puts a TCP proxy of the test's before the API server
// of c, and writes into dir a kubeconfig that reaches the API server
// through it (TLS still verifies the API server's certificate under its
// own name). The proxy starts up.
func newAPIServerProxy(t *testing.T, c *kubetest.Cluster, dir string) (*engineProxy, string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.Clusters[ctx.Cluster] == nil {
		t.Fatalf("kubeconfig %s: no cluster for its current context %q", c.Kubeconfig, cfg.CurrentContext)
	}
	cl := cfg.Clusters[ctx.Cluster]
	u, err := url.Parse(cl.Server)
	if err != nil || u.Host == "" {
		t.Fatalf("API server address %q: %v", cl.Server, err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "443")
	}
	p := &engineProxy{t: t, network: "tcp", path: "127.0.0.1:0", target: target, conns: make(map[net.Conn]bool)}
	t.Cleanup(p.down)
	p.up()
	cl.Server = "https://" + p.path
	if cl.TLSServerName == "" {
		cl.TLSServerName = u.Hostname()
	}
	path := filepath.Join(dir, "proxied.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return p, path
}

// TestKubeAPIServerAway runs the server binary on the Kubernetes backend
// with the API server behind a proxy the test cuts. It does not start
// while the API server is away (and says why). Once it runs, a cut
// leaves it up (/alive, the list of conversations) while what needs the
// cluster answers 503 naming the API server: /ready, a command in a
// running sandbox (reached through the API server), a new conversation's
// first command. When the API server is back the same requests succeed:
// the running sandbox is the same Pod with its file, the new
// conversation gets one, and the Pod watch works again (a Pod deleted
// then is reported). Nothing of the server is left in the cluster.
func TestKubeAPIServerAway(t *testing.T) {
	c := kubetest.Ensure(t)
	dir := t.TempDir()
	bin := buildServer(t, dir)
	proxy, kubeconfig := newAPIServerProxy(t, c, dir)
	env := kubeServerEnv(c, dir)
	env["SANDBOX_KUBECONFIG"] = kubeconfig
	env["SANDBOX_TRANSPORT"] = "apiserver" // commands go through the API server too
	apiDown := func(what string, status int, body []byte) {
		t.Helper()
		if status != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("kubernetes API server not reachable")) {
			t.Errorf("%s with the API server away: status %d: %s; want 503 saying the API server does not answer", what, status, body)
		}
	}

	// The server does not start while the API server is away: it says
	// so and exits (see startKube).
	proxy.down()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	refused := exec.CommandContext(ctx, bin)
	refused.Env = childEnv(env)
	out, err := refused.CombinedOutput()
	cancel()
	if _, exited := err.(*exec.ExitError); !exited || !bytes.Contains(out, []byte("kubernetes API server not reachable")) {
		t.Errorf("start with the API server away: %v; want an exit saying the API server does not answer:\n%s", err, out)
	}

	proxy.up()
	g, selector := startKubeServer(t, c, bin, env)
	serverID := g.serverID
	const noRun = `{"initial_message":{"role":"user","content":[{"type":"text","text":"hi"}],"run":false}}`
	before := g.create(noRun)
	if st, _, body := g.bash(before, "echo kept > /workspace/kept"); st != http.StatusOK {
		t.Fatalf("bash before the outage: status %d: %s", st, body)
	}
	pod := g.info(before).Sandbox.ID

	// The API server goes away.
	proxy.down()
	if st, body := g.call("GET", "/alive", "", nil); st != http.StatusOK {
		t.Errorf("/alive with the API server away: status %d: %s", st, body)
	}
	var list struct {
		Items []convInfo `json:"items"`
	}
	if st, body := g.call("GET", "/api/conversations/search", "", &list); st != http.StatusOK || len(list.Items) != 1 || list.Items[0].ID != before {
		t.Errorf("list with the API server away: status %d: %s", st, body)
	}
	st, body := g.call("GET", "/ready", "", nil)
	apiDown("/ready", st, body)
	// A connection to the agent that the cut broke may fail first as it
	// may; the next command must say why.
	g.bash(before, "true")
	st, _, body = g.bash(before, "cat /workspace/kept")
	apiDown("bash in the running sandbox", st, body)
	during := g.create(noRun)
	st, _, body = g.bash(during, "true")
	apiDown("the first command of a conversation made during the outage", st, body)

	// The API server comes back.
	proxy.up()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, body := g.call("GET", "/ready", "", nil)
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready 30 s after the API server came back: status %d: %s", st, body)
		}
	}
	if st, out, body := g.bash(before, "cat /workspace/kept"); st != http.StatusOK || strings.TrimSpace(out) != "kept" {
		t.Errorf("bash in the sandbox from before, with the API server back: status %d, stdout %q: %s", st, out, body)
	}
	if got := g.info(before).Sandbox.ID; got != pod {
		t.Errorf("the conversation from before has sandbox %s, want its Pod %s kept through the outage", got, pod)
	}
	if st, out, body := g.bash(during, "echo up"); st != http.StatusOK || strings.TrimSpace(out) != "up" {
		t.Errorf("bash in the conversation made during the outage, with the API server back: status %d, stdout %q: %s", st, out, body)
	}
	// The Pod watch works again: a Pod deleted now is seen.
	sock := listen(t, g.url, during)
	second := g.info(during).Sandbox.ID
	zero := int64(0)
	if err := c.Client.CoreV1().Pods(c.Namespace).Delete(context.Background(), second, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	gone := sock.waitFor("a sandbox status event for the deleted Pod", time.Minute, func(f frame) bool {
		return f.Kind == "SandboxStatusEvent" && bytes.Contains(f.Raw, []byte(second)) && !bytes.Contains(f.Raw, []byte(`"status":"running"`))
	})
	t.Logf("the Pod deleted after the outage: %s", gone.Raw)

	for _, id := range []string{before, during} {
		if st, body := g.call("DELETE", "/api/conversations/"+id, "", nil); st != http.StatusOK {
			t.Errorf("delete %s: status %d: %s", id, st, body)
		}
	}
	if left := c.Leftovers(selector, time.Minute); left != "" {
		t.Errorf("objects of server %s left in %s after deleting every conversation: %s", serverID, c.Namespace, left)
	}
	g.stop()
}
