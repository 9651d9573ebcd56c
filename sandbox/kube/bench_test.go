package kube

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
)

// The benchmarks run on the test cluster (see cluster_test.go) and, for
// the Docker baseline, the local engine. Each takes a fixed number of
// samples, interleaved with its baseline so both see the same load, and
// reports medians.
//
//	GOHANDS_TEST_KUBECONFIG=... go test -run '^$' -bench . -benchtime 1x ./sandbox/kube/

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkClusterStart: Manager.Start (Secret, Pod of the agent-install
// and sandbox containers, agent healthy) by Pod IP and through the API
// server, against a bare Pod of the same image (sleep infinity, one
// container, no volume) from create to Running, seen by a watch; and the
// start of an image that carries the agent (one container, by Pod IP)
// against a bare Pod of that image. The five are interleaved sample by
// sample, in a rotating order.
func BenchmarkClusterStart(b *testing.B) {
	needCluster(b)
	carried := clusterManager(b, func(o *Options) {
		o.Transport, o.Image, o.ImagesWithAgent = TransportPodIP, cluster.carrying, []string{cluster.carrying}
	})
	byIP := clusterManager(b, func(o *Options) { o.Transport = TransportPodIP })
	viaAPI := clusterManager(b, func(o *Options) { o.Transport = TransportAPIServer })
	const samples = 9
	for b.Loop() {
		var car, bareCar, ip, api, bare []time.Duration
		measure := func(m *Manager, into *[]time.Duration) func() {
			return func() {
				t0 := time.Now()
				s, err := m.start(context.Background(), "bench-"+randomHex(4), sandbox.Spec{})
				if err != nil {
					b.Fatal(err)
				}
				*into = append(*into, time.Since(t0))
				removeAndWait(b, s)
			}
		}
		steps := []func(){
			measure(carried, &car), func() { bareCar = append(bareCar, timePod(b, barePodSpec(carried))) },
			measure(byIP, &ip), func() { bare = append(bare, timePod(b, barePodSpec(byIP))) }, measure(viaAPI, &api),
		}
		for i := range samples {
			for j := range steps {
				steps[(i+j)%len(steps)]()
			}
		}
		pc, pcb := median(car), median(bareCar)
		b.ReportMetric(ms(pc), "ms-carried-p50")
		b.ReportMetric(ms(pcb), "ms-carried-bare-pod-p50")
		b.ReportMetric(float64(pc)/float64(pcb), "carried/bare")
		b.Logf("image carrying the agent: start to healthy p50 %s %v; bare pod of that image create to Running p50 %s %v", pc, car, pcb, bareCar)
		pi, pa, pb := median(ip), median(api), median(bare)
		b.ReportMetric(ms(pi), "ms-podip-p50")
		b.ReportMetric(ms(pa), "ms-apiserver-p50")
		b.ReportMetric(ms(pb), "ms-bare-pod-p50")
		b.ReportMetric(float64(pi)/float64(pb), "podip/bare")
		b.ReportMetric(float64(pa)/float64(pb), "apiserver/bare")
		b.Logf("start to healthy p50: by Pod IP %s %v, through the API server %s %v; bare pod create to Running p50 %s %v", pi, ip, pa, api, pb, bare)
	}
}

// BenchmarkClusterPodShapes: create to Running (by a watch) of the Pod
// shapes the agent's delivery was chosen among, the same image each time,
// interleaved: a bare Pod (one container, no volume); the same with one
// emptyDir mounted; an init container of the agent image then the
// container, sharing an emptyDir (the earlier design); the agent-install
// container beside the sandbox container, sharing an emptyDir; and the
// same sharing /dev/shm only, no volume (the design kept).
func BenchmarkClusterPodShapes(b *testing.B) {
	m := clusterManager(b, nil)
	const samples = 7
	shapes := []struct {
		name string
		pod  func() *corev1.Pod
	}{
		{"bare", func() *corev1.Pod { return barePodSpec(m) }},
		{"bare+emptydir", func() *corev1.Pod { return withVolume(barePodSpec(m)) }},
		{"init+emptydir", func() *corev1.Pod {
			p := withVolume(barePodSpec(m))
			p.Spec.InitContainers = []corev1.Container{installer(m, "/shared/runtime-agent", false)}
			p.Spec.InitContainers[0].VolumeMounts = p.Spec.Containers[0].VolumeMounts
			return p
		}},
		{"two+emptydir", func() *corev1.Pod {
			p := withVolume(barePodSpec(m))
			p.Spec.Containers = append([]corev1.Container{installer(m, "/shared/runtime-agent", true)}, p.Spec.Containers...)
			p.Spec.Containers[0].VolumeMounts = p.Spec.Containers[1].VolumeMounts
			return p
		}},
		{"two+shm", func() *corev1.Pod {
			p := barePodSpec(m)
			p.Spec.Containers = append([]corev1.Container{installer(m, sharedAgent, true)}, p.Spec.Containers...)
			return p
		}},
	}
	for b.Loop() {
		took := make([][]time.Duration, len(shapes))
		for i := range samples {
			for j := range shapes {
				k := (i + j) % len(shapes)
				took[k] = append(took[k], timePod(b, shapes[k].pod()))
			}
		}
		base := median(took[0])
		for k, sh := range shapes {
			p := median(took[k])
			b.ReportMetric(ms(p), "ms-"+sh.name+"-p50")
			b.Logf("%s: create to Running p50 %s (%.2fx bare) %v", sh.name, p, float64(p)/float64(base), took[k])
		}
	}
}

// installer is an agent-install container copying the agent to dest.
func installer(m *Manager, dest string, stay bool) corev1.Container {
	cmd := []string{agentInImage, "--install", dest}
	if stay {
		cmd = append(cmd, "--stay")
	}
	return corev1.Container{Name: installerName, Image: m.opts.AgentImage, ImagePullPolicy: m.opts.PullPolicy, Command: cmd}
}

// withVolume mounts an emptyDir at /shared in pod's container.
func withVolume(pod *corev1.Pod) *corev1.Pod {
	pod.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
	return pod
}

// removeAndWait removes s and waits for its Pod to be gone, so samples do
// not overlap.
func removeAndWait(b *testing.B, s *Sandbox) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Remove(ctx); err != nil {
		b.Fatal(err)
	}
	waitGone(b, s.id)
}

func waitGone(b *testing.B, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		if _, err := cluster.cs.CoreV1().Pods(cluster.ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("pod %s not gone", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// barePodSpec is a Pod of m's default image running sleep: one
// container, no volume.
func barePodSpec(m *Manager) *corev1.Pod {
	name := "gohands-bare-" + randomHex(4)
	no := false
	grace := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.ns, Labels: m.objectLabels(name, "", false)},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: &no, EnableServiceLinks: &no,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "bare", Image: m.opts.Image, ImagePullPolicy: m.opts.PullPolicy,
				Command: []string{"sleep", "infinity"}}},
		},
	}
}

// timePod creates pod, times create to Running (by a watch), and deletes
// it.
func timePod(b *testing.B, pod *corev1.Pod) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := pod.Name
	grace := int64(0)
	pods := cluster.cs.CoreV1().Pods(cluster.ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	t0 := time.Now()
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	for ev := range w.ResultChan() {
		if p, ok := ev.Object.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning {
			took = time.Since(t0)
			break
		}
	}
	pods.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if took == 0 {
		b.Fatalf("pod %s never ran", name)
	}
	waitGone(b, name)
	return took
}

// BenchmarkClusterPoolStart: Manager.Start served from a full warm pool
// (a health call and the relabelling of the Secret and the Pod).
func BenchmarkClusterPoolStart(b *testing.B) {
	m := clusterManager(b, func(o *Options) { o.Transport = TransportPodIP; o.PoolSize = 1 })
	const samples = 7
	for b.Loop() {
		var took []time.Duration
		for range samples {
			deadline := time.Now().Add(3 * time.Minute)
			for m.PoolSize() == 0 {
				if time.Now().After(deadline) {
					b.Fatal("the pool did not fill")
				}
				time.Sleep(20 * time.Millisecond)
			}
			t0 := time.Now()
			s, err := m.start(context.Background(), "bench-"+randomHex(4), sandbox.Spec{})
			if err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
			if m.PoolSize() != 0 {
				b.Fatal("the start was not served from the pool")
			}
			removeAndWait(b, s)
		}
		b.ReportMetric(ms(median(took)), "ms-p50")
		b.ReportMetric(ms(slices.Max(took)), "ms-max")
		b.Logf("pool start p50 %s, samples %v", median(took), took)
	}
}

// BenchmarkClusterEcho: `echo hi` through the agent client by Pod IP and
// through the API server's port-forward, against the Docker backend's
// agent (its default Unix socket transport) and client-go's plain exec
// (what kubectl exec does) in the same run.
func BenchmarkClusterEcho(b *testing.B) {
	ctx := context.Background()
	byIP := clusterManager(b, func(o *Options) { o.Transport = TransportPodIP })
	s, err := byIP.start(ctx, "bench-echo", sandbox.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	defer removeAndWait(b, s)
	viaAPI := clusterManager(b, func(o *Options) { o.Transport = TransportAPIServer })
	byIP.Release(s.Handle())
	t, err := viaAPI.recover(ctx, s.Handle())
	if err != nil {
		b.Fatal(err)
	}
	tunnelled := t.Client()
	direct := byIP.newClient(s, podIP(b, s.id))

	engine, err := docker.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close()
	dopts := docker.DefaultOptions()
	dopts.ServerID, dopts.AgentBinary = cluster.serverID+"-docker", cluster.agentBin
	dm, err := docker.New(engine, dopts, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer dm.Close(ctx)
	ds, err := dm.Start(ctx, "bench-echo", sandbox.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	defer ds.Remove(ctx)
	dcl := ds.Client()

	run := func(cl *agentapi.Client) time.Duration {
		t0 := time.Now()
		res, err := cl.Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "echo hi"})
		if err != nil || !strings.Contains(res.Output, "hi") {
			b.Fatalf("echo: %q %v", res.Output, err)
		}
		return time.Since(t0)
	}
	for _, cl := range []*agentapi.Client{direct, tunnelled, dcl} {
		run(cl) // connections and terminals warmed up
	}
	for b.Loop() {
		var ip, api, dock, exec []time.Duration
		for i := range 100 {
			ip = append(ip, run(direct))
			dock = append(dock, run(dcl))
			api = append(api, run(tunnelled))
			if i%5 == 0 {
				exec = append(exec, plainExec(b, s.id))
			}
		}
		pi, pa, pd, pe := median(ip), median(api), median(dock), median(exec)
		b.ReportMetric(ms(pi), "ms-podip-p50")
		b.ReportMetric(ms(pd), "ms-docker-p50")
		b.ReportMetric(float64(pi)/float64(pd), "podip/docker")
		b.ReportMetric(ms(pa), "ms-apiserver-p50")
		b.ReportMetric(ms(pe), "ms-clientgo-exec-p50")
		b.ReportMetric(float64(pa)/float64(pe), "apiserver/exec")
		b.Logf("echo hi p50: pod IP %s, Docker backend %s, API server port-forward %s, client-go exec %s", pi, pd, pa, pe)
	}
}

func podIP(b *testing.B, name string) string {
	pod, err := cluster.cs.CoreV1().Pods(cluster.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return pod.Status.PodIP
}

// plainExec runs `echo hi` in the sandbox container with client-go's exec
// (a websocket, SPDY when refused), as kubectl exec does.
func plainExec(b *testing.B, name string) time.Duration {
	t0 := time.Now()
	u := cluster.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(cluster.ns).Name(name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: containerName, Command: []string{"echo", "hi"}, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
	spdyExec, err := remotecommand.NewSPDYExecutor(cluster.cfg, "POST", u)
	if err != nil {
		b.Fatal(err)
	}
	exec := spdyExec
	if ws, err := remotecommand.NewWebSocketExecutor(cluster.cfg, "GET", u.String()); err == nil {
		exec, _ = remotecommand.NewFallbackExecutor(ws, spdyExec, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	var out strings.Builder
	if err := exec.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &out, Stderr: &out}); err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(out.String(), "hi") {
		b.Fatalf("exec output %q", out.String())
	}
	return time.Since(t0)
}
