package main

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/sandbox/kube"
	"github.com/gohands/gohands/sandbox/kube/kubetest"
)

// The conversation-level tests of the Kubernetes backend: the real server
// binary with SANDBOX_BACKEND=kubernetes against the real cluster
// kubetest prepares (shared with sandbox/kube's tests), doing what the
// Docker backend's tests do. One server process (and the ones restarted
// on its state) serves every step, to keep the wall time down.

func TestMain(m *testing.M) {
	code := m.Run()
	if c := kubetest.Prepared(); c != nil {
		c.Close()
	}
	os.Exit(code)
}

// kubeServerEnv is the environment of a server on the test cluster, its
// state in dir.
func kubeServerEnv(c *kubetest.Cluster, dir string) map[string]string {
	return map[string]string{
		"SESSION_API_KEY": "key", "OH_SECRET_KEY": "kube-test-secret",
		"GOHANDS_STATE":   filepath.Join(dir, "state.db"),
		"SANDBOX_BACKEND": "kubernetes", "SANDBOX_KUBECONFIG": c.Kubeconfig, "SANDBOX_NAMESPACE": c.Namespace,
		"SANDBOX_AGENT_IMAGE": c.AgentImage, "SANDBOX_IMAGE_PULL_POLICY": "Never",
		"SANDBOX_TRANSPORT": "podip", "SANDBOX_POOL_SIZE": "0",
		"LLM_MODEL": "openai/scripted", "LLM_API_KEY": "test",
	}
}

// startKubeServer starts the server binary bin with env on the test
// cluster and returns it and the label selector of its objects, which
// the test's end deletes: whatever a failed step left, the namespace
// goes only at the end of the run, and the next steps should not see it.
func startKubeServer(t *testing.T, c *kubetest.Cluster, bin string, env map[string]string) (*child, string) {
	t.Helper()
	g := startChild(t, []string{bin}, env)
	if g.serverID == "" {
		t.Fatal("gohands did not log its server id")
	}
	selector := kube.ServerSelector(g.serverID)
	t.Cleanup(func() {
		ctx, opts := context.Background(), metav1.ListOptions{LabelSelector: selector}
		c.Client.CoreV1().Pods(c.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, opts)
		c.Client.CoreV1().Secrets(c.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, opts)
	})
	return g, selector
}

// createWith makes a conversation whose agent asks model, with a first
// message that runs it.
func (c api) createWith(model *llmtest.Server, extra string) string {
	c.t.Helper()
	return c.create(fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"own-key"}},%s
		"initial_message":{"role":"user","content":[{"type":"text","text":"go"}]}}`, model.URL()+"/v1", extra))
}

// upload sends content as the multipart file of an upload to path.
func (c api) upload(id, path string, content []byte) (int, []byte) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", filepath.Base(path))
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", c.url+"/api/conversations/"+id+"/file/upload?path="+url.QueryEscape(path), &body)
	req.Header.Set("X-Session-API-Key", "key")
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// kubePod returns a Pod of the test namespace, nil when there is none.
func kubePod(t *testing.T, c *kubetest.Cluster, name string) *corev1.Pod {
	t.Helper()
	p, err := c.Client.CoreV1().Pods(c.Namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return p
}

// waitSandboxRunning waits until a conversation's sandbox is running and
// returns its id (the Pod's name).
func waitSandboxRunning(t *testing.T, g api, id string) string {
	t.Helper()
	info := g.info(id)
	for deadline := time.Now().Add(2 * time.Minute); info.Sandbox.Status != "running"; info = g.info(id) {
		if time.Now().After(deadline) {
			t.Fatalf("conversation %s: sandbox %+v, want one running", id, info.Sandbox)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return info.Sandbox.ID
}

// TestKubeConversations runs conversations on the Kubernetes backend
// through the server binary: the scripted model's task; commands, files,
// upload and download; a graceful restart that keeps the conversation
// and its Pod; SIGKILL of the server under a running command, then
// recovery of the same Pods; a Pod deleted under a running command (an
// event saying so, and the conversation goes on in a new Pod); and 20
// conversations at once. Once every conversation is deleted, no Pod,
// Secret or claim of the server is left, and none after it stops.
func TestKubeConversations(t *testing.T) {
	c := kubetest.Ensure(t)
	top := t // the servers live across the steps
	dir := t.TempDir()
	bin := buildServer(t, dir)
	env := kubeServerEnv(c, dir)
	g, selector := startKubeServer(t, c, bin, env)
	serverID := g.serverID
	var convs []string

	// The seeds' task: write a script, run it, finish.
	var taskConv string
	t.Run("task", func(t *testing.T) {
		g.t = t
		model := llmtest.New(t,
			llmtest.Reply{Text: "Writing the script.", ToolCalls: []llmtest.Call{{Name: "file_editor",
				Args: `{"command":"create","path":"/workspace/hello.sh","file_text":"#!/bin/bash\necho hello\n"}`}}},
			llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"bash /workspace/hello.sh"}`}}},
			llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"hello.sh prints hello"}`}}},
		)
		taskConv = g.createWith(model, `"secrets":{"API_TOKEN":"tok-kube"},`)
		convs = append(convs, taskConv)
		g.waitStatus(taskConv, 3*time.Minute, "finished")
		evs := g.events(taskConv)
		checkSeqs(t, "the task", evs)
		if o, ok := find(evs, "ObservationEvent", "bash /workspace/hello.sh"); !ok || !bytes.Contains(o.Raw, []byte(`hello\n`)) && !bytes.Contains(o.Raw, []byte(`"hello"`)) {
			t.Errorf("no observation of the script saying hello: %s", o.Raw)
		}
		pod := kubePod(t, c, g.info(taskConv).Sandbox.ID)
		if pod == nil || pod.Labels["gohands.server"] != serverID {
			t.Fatalf("the conversation's sandbox %q is not a Pod of server %s in %s", g.info(taskConv).Sandbox.ID, serverID, c.Namespace)
		}
	})

	// Commands, files, upload and download on the same conversation.
	t.Run("files", func(t *testing.T) {
		g.t = t
		if taskConv == "" {
			t.Skip("no conversation: the task failed")
		}
		if st, out, body := g.bash(taskConv, `[ "$API_TOKEN" = tok-kube ] && echo secret-set; cat /workspace/hello.sh`); st != http.StatusOK ||
			!strings.Contains(out, "secret-set") || !strings.Contains(out, "echo hello") {
			t.Errorf("bash: status %d, stdout %q: %s", st, out, body)
		}
		content := []byte("uploaded through the server\n")
		if st, body := g.upload(taskConv, "/workspace/up/in.txt", content); st != http.StatusOK {
			t.Fatalf("upload: status %d: %s", st, body)
		}
		if st, out, _ := g.bash(taskConv, "cat /workspace/up/in.txt"); st != http.StatusOK || strings.TrimSpace(out) != strings.TrimSpace(string(content)) {
			t.Errorf("the uploaded file in the sandbox: status %d, %q", st, out)
		}
		st, body := g.call("GET", "/api/conversations/"+taskConv+"/file/download?path="+url.QueryEscape("/workspace/hello.sh"), "", nil)
		if st != http.StatusOK || string(body) != "#!/bin/bash\necho hello\n" {
			t.Errorf("download: status %d, %q", st, body)
		}
		if st, body := g.call("GET", "/api/conversations/"+taskConv+"/file/download?path="+url.QueryEscape("/workspace/none.txt"), "", nil); st != http.StatusNotFound {
			t.Errorf("download of a missing file: status %d: %s", st, body)
		}
	})

	// A graceful restart keeps the conversation and its running Pod.
	t.Run("restart", func(t *testing.T) {
		g.t = t
		if taskConv == "" {
			t.Skip("no conversation: the task failed")
		}
		before := g.info(taskConv).Sandbox.ID
		count := len(g.events(taskConv))
		g.stop()
		if p := kubePod(t, c, before); p == nil || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			t.Fatalf("Pod %s after a graceful stop: %v; want it left running", before, p != nil)
		}
		g = startChild(top, []string{bin}, env)
		g.t = t
		waitRecovered(t, g.api)
		if info := g.info(taskConv); info.Sandbox.ID != before {
			t.Errorf("sandbox %q after the restart, want the same Pod %s", info.Sandbox.ID, before)
		}
		if evs := g.events(taskConv); len(evs) < count {
			t.Errorf("%d events after the restart, %d before", len(evs), count)
		}
		if st, out, body := g.bash(taskConv, "cat /workspace/up/in.txt"); st != http.StatusOK || strings.TrimSpace(out) != "uploaded through the server" {
			t.Errorf("the file uploaded before the restart: status %d, %q: %s", st, out, body)
		}
	})

	// SIGKILL while a command runs, then recovery on the same Pod.
	t.Run("kill", func(t *testing.T) {
		g.t = t
		model := llmtest.New(t,
			llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"echo before > /workspace/before.txt"}`}}},
			llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"sleep 3; echo slept"}`}}},
			llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"done after the restart"}`}}},
		)
		id := g.createWith(model, "")
		convs = append(convs, id)
		sock := listen(t, g.url, id)
		sock.waitFor("action running sleep", 3*time.Minute, func(f frame) bool {
			return f.Kind == "ActionEvent" && bytes.Contains(f.Raw, []byte("sleep 3"))
		})
		pod := waitSandboxRunning(t, g.api, id)
		time.Sleep(500 * time.Millisecond) // into the command; the test holds either way
		g.kill()
		sock.gone(10 * time.Second)
		received := sock.received()

		g = startChild(top, []string{bin}, env)
		g.t = t
		if g.serverID != serverID {
			t.Fatalf("server id %s after the restart, was %s", g.serverID, serverID)
		}
		waitRecovered(t, g.api)
		stored := g.events(id)
		checkSeqs(t, "after the kill", stored)
		for _, f := range received {
			if f.Seq > int64(len(stored)) || stored[f.Seq-1].ID != f.ID {
				t.Errorf("event seq %d id %s was received before the kill but is not stored so", f.Seq, f.ID)
			}
		}
		if info := g.info(id); info.Sandbox.ID != pod {
			t.Errorf("sandbox %q after the restart, want the same Pod %s", info.Sandbox.ID, pod)
		}
		info := g.waitStatus(id, 2*time.Minute, "waiting_for_confirmation", "error", "finished")
		if info.ExecutionStatus == "error" {
			t.Fatal("the conversation cut short in its command ended in error; want it to wait for confirmation")
		}
		if info.ExecutionStatus == "waiting_for_confirmation" {
			if st, data := g.call("POST", "/api/conversations/"+id+"/events/respond_to_confirmation", `{"accept":true}`, nil); st != http.StatusOK {
				t.Fatalf("accept: status %d: %s", st, data)
			}
		}
		g.waitStatus(id, 2*time.Minute, "finished")
		if _, ok := find(g.events(id), "ObservationEvent", "slept"); !ok {
			t.Error("no observation of the command that was cut short, run again after the confirmation")
		}
		if st, out, _ := g.bash(id, "cat /workspace/before.txt"); st != http.StatusOK || strings.TrimSpace(out) != "before" {
			t.Errorf("file written before the kill: status %d, %q", st, out)
		}
		if p := kubePod(t, c, pod); p == nil || p.DeletionTimestamp != nil {
			t.Errorf("Pod %s is gone after the recovery", pod)
		}
	})

	// A Pod deleted under a running command: an event saying so, an
	// error observation for the command, and the next action in a new
	// Pod.
	t.Run("pod-deleted", func(t *testing.T) {
		g.t = t
		model := llmtest.New(t,
			llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"sleep 120"}`}}},
			llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"echo after-the-deletion"}`}}},
			llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"went on"}`}}},
		)
		id := g.createWith(model, "")
		convs = append(convs, id)
		sock := listen(t, g.url, id)
		sock.waitFor("the sleep action", 3*time.Minute, func(f frame) bool {
			return f.Kind == "ActionEvent" && bytes.Contains(f.Raw, []byte("sleep 120"))
		})
		first := waitSandboxRunning(t, g.api, id)
		time.Sleep(time.Second) // into the command; the test holds either way
		p := kubePod(t, c, first)
		if p == nil {
			t.Fatalf("no Pod %s", first)
		}
		zero := int64(0)
		if err := c.Client.CoreV1().Pods(c.Namespace).Delete(context.Background(), first, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		dead := sock.waitFor("a sandbox error event", 2*time.Minute, func(f frame) bool {
			return f.Kind == "SandboxStatusEvent" && bytes.Contains(f.Raw, []byte(`"status":"error"`))
		})
		t.Logf("after the deletion: %s", dead.Raw)
		if !bytes.Contains(dead.Raw, []byte(first)) || !bytes.Contains(dead.Raw, []byte("pod deleted")) {
			t.Errorf("the sandbox error event does not say that Pod %s was deleted: %s", first, dead.Raw)
		}
		g.waitStatus(id, 3*time.Minute, "finished")
		evs := g.events(id)
		checkSeqs(t, "after the deletion", evs)
		if o, ok := find(evs, "ObservationEvent", "sleep 120"); !ok || !bytes.Contains(o.Raw, []byte(`"is_error":true`)) {
			t.Errorf("the command under the deletion has no error observation: %s", o.Raw)
		}
		if o, ok := find(evs, "ObservationEvent", "after-the-deletion"); !ok || bytes.Contains(o.Raw, []byte(`"is_error":true`)) {
			t.Errorf("the next action did not run: %s", o.Raw)
		}
		// A new Pod, whether under the same name or another.
		second := g.info(id).Sandbox.ID
		if np := kubePod(t, c, second); np == nil || np.UID == p.UID {
			t.Errorf("sandbox after the deletion is %q, want a new Pod (the deleted one was %s)", second, first)
		}
	})

	// 20 conversations at once on the single node: all start, all finish.
	t.Run("twenty", func(t *testing.T) {
		g.t = t
		const n = 20
		ids := make([]string, n)
		start := time.Now()
		for i := range ids {
			model := llmtest.New(t,
				llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: fmt.Sprintf(`{"command":"echo mark-$((%d+100)) > /workspace/mark.txt; cat /workspace/mark.txt"}`, i)}}},
				llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"done"}`}}},
			)
			ids[i] = g.createWith(model, "")
			convs = append(convs, ids[i])
		}
		peak := 0
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			pods, err := c.Client.CoreV1().Pods(c.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
			if err == nil {
				peak = max(peak, len(pods.Items))
			}
			done := 0
			for _, id := range ids {
				switch st := g.info(id).ExecutionStatus; st {
				case "finished":
					done++
				case "error", "stuck":
					t.Fatalf("conversation %s is %s: %s", id, st, g.events(id)[len(g.events(id))-1].Raw)
				}
			}
			if done == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d conversations finished within 5 minutes", done, n)
			}
		}
		t.Logf("%d conversations at once: all finished %s after the first was created; at most %d Pods of the server at a time", n, time.Since(start).Round(time.Millisecond), peak)
		seen := map[string]bool{}
		for i, id := range ids {
			if _, ok := find(g.events(id), "ObservationEvent", fmt.Sprintf("mark-%d", i+100)); !ok {
				t.Errorf("conversation %d (%s): no observation of its own mark", i, id)
			}
			sb := g.info(id).Sandbox.ID
			if sb == "" || seen[sb] {
				t.Errorf("conversation %d: sandbox %q, want a Pod of its own", i, sb)
			}
			seen[sb] = true
		}
	})

	// Nothing of the server is left once its conversations are deleted,
	// nor after it stops.
	g.t = t
	for _, id := range convs {
		if st, data := g.call("DELETE", "/api/conversations/"+id, "", nil); st != http.StatusOK {
			t.Errorf("delete %s: status %d: %s", id, st, data)
		}
	}
	if left := c.Leftovers(selector, 2*time.Minute); left != "" {
		t.Errorf("objects of server %s left in %s after deleting every conversation: %s", serverID, c.Namespace, left)
	}
	g.stop()
	if left := c.Leftovers(selector, 10*time.Second); left != "" {
		t.Errorf("objects of server %s left in %s after it stopped: %s", serverID, c.Namespace, left)
	}
}
