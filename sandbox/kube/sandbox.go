package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// Sandbox is one sandbox: a Secret (its token, environment and Pod
// template) for its whole life, a Pod while it runs, and a workspace
// claim when the Manager has a storage class. Its methods are safe for
// concurrent use.
type Sandbox struct {
	m     *Manager
	id    string // the name of its Pod and Secret
	image string
	token string
	pod   *corev1.Pod // the template each start creates
	kick  chan struct{}

	op sync.Mutex // serializes lifecycle operations

	// cell holds the owner, the status and the agent's client.
	cell *sandbox.StatusCell

	mu         sync.Mutex // guards the fields below
	volume     string     // the workspace claim, "" for an emptyDir or a mount
	disposable bool       // the workspace outlives the Pod's (claim or mount)
	// dropClaim: the claim was made for a start that has not succeeded
	// yet; removing the sandbox removes it too.
	dropClaim bool
	tunnel    *tunnel
	conns     *conns // of the current Pod's agent client
}

// ID returns the sandbox's id, the name of its Pod.
func (s *Sandbox) ID() string { return s.id }

// Owner returns the owner key the sandbox serves, "" in the warm pool.
func (s *Sandbox) Owner() string { return s.cell.Owner() }

// Status returns the last known status, kept current by the Manager's
// watch of its Pods.
func (s *Sandbox) Status() sandbox.Status { return s.cell.Status() }

// Err returns why the sandbox exited, or nil.
func (s *Sandbox) Err() error { return s.cell.Err() }

// Client returns the agent client while the sandbox runs, or nil.
func (s *Sandbox) Client() *agentapi.Client { return s.cell.Client() }

// Endpoint returns where the agent is reached: "http://POD_IP:7000" or
// "apiserver:NAMESPACE/POD", "" when not running.
func (s *Sandbox) Endpoint() string { return s.cell.Endpoint() }

// Handle returns what the owner saves to recover this sandbox.
func (s *Sandbox) Handle() sandbox.Handle {
	h := sandbox.Handle{Owner: s.Owner(), ID: s.id, Token: s.token, Image: s.image}
	s.mu.Lock()
	defer s.mu.Unlock()
	h.Volume, h.Disposable = s.volume, s.disposable
	return h
}

// setStatus records a status change, which report passes on.
func (s *Sandbox) setStatus(st sandbox.Status, err error) { s.cell.Set(st, err) }

// report passes a status change on to Manager.Changes.
func (s *Sandbox) report(c sandbox.StatusChange) {
	c.ID = s.id
	s.m.reg.Notify(c)
}

// wake tells a start waiting on the Pod that it changed.
func (s *Sandbox) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// closeTunnel ends every connection to the agent of the current Pod (and
// the port-forward they go through): calls in flight fail at once.
func (s *Sandbox) closeTunnel() {
	s.mu.Lock()
	t, c := s.tunnel, s.conns
	s.tunnel, s.conns = nil, nil
	s.mu.Unlock()
	if c != nil {
		c.closeAll()
	}
	if t != nil {
		t.Close()
	}
}

// redialTunnel drops the port-forward connection of the API server
// transport, so that the next agent connection dials a new one: after a
// failed try during a start, the connection it went through may be stuck.
func (s *Sandbox) redialTunnel() {
	s.mu.Lock()
	t := s.tunnel
	s.mu.Unlock()
	if t != nil {
		t.Close()
	}
}

// agentClient is the Manager's default newClient: by the Pod's IP, or
// through the API server.
func (m *Manager) agentClient(s *Sandbox, podIP string) *agentapi.Client {
	onUnverified := agentapi.OnUnverified(func(err error) {
		m.log.Warn("agent connection failed verification", "pod", s.id, "owner", s.Owner(), "err", err)
	})
	s.closeTunnel()
	set := &conns{}
	var dial func(ctx context.Context) (net.Conn, error)
	if m.opts.Transport == TransportPodIP {
		addr := net.JoinHostPort(podIP, strconv.Itoa(AgentPort))
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	} else {
		t := newTunnel(m.cfg, m.cs, m.opts.Namespace, s.id)
		s.mu.Lock()
		s.tunnel = t
		s.mu.Unlock()
		dial = t.DialContext
	}
	s.mu.Lock()
	s.conns = set
	s.mu.Unlock()
	return agentapi.NewDialClient(func(ctx context.Context) (net.Conn, error) {
		c, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		return set.add(c), nil
	}, s.token, onUnverified)
}

func (m *Manager) endpointOf(s *Sandbox, podIP string) string {
	if m.opts.Transport == TransportPodIP {
		return "http://" + net.JoinHostPort(podIP, strconv.Itoa(AgentPort))
	}
	return "apiserver:" + m.opts.Namespace + "/" + s.id
}

// create makes the Secret, the workspace claim (with a storage class,
// unless r names the owner's claim and it is there) and the Pod of a new
// sandbox and waits for its agent. On failure nothing it made is left.
func (m *Manager) create(ctx context.Context, owner string, r resolved, pooled bool) (*Sandbox, error) {
	s := &Sandbox{
		m:     m,
		id:    "gohands-" + randomHex(6),
		image: r.image,
		token: rand.Text(),
		kick:  make(chan struct{}, 1),
	}
	s.cell = sandbox.NewStatusCell(owner, sandbox.StatusStarting, s.report)
	s.pod = m.buildPod(s.id, owner, pooled, r)
	s.volume, s.disposable = workspaceOf(s.pod)
	secret, err := m.buildSecret(s.pod, s.token, r.env)
	if err != nil {
		return nil, err
	}
	ns := m.opts.Namespace
	if _, err := m.cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return nil, m.apiErr("create sandbox secret", err)
	}
	m.reg.Add(s)
	ok := false
	defer func() {
		if !ok {
			m.discard(ctx, s)
		}
	}()
	if s.volume != "" {
		made, err := m.workspaceClaim(ctx, s.volume, s.pod)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.dropClaim = made
		s.mu.Unlock()
	}
	if err := s.boot(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.dropClaim = false
	s.mu.Unlock()
	ok = true
	return s, nil
}

// workspaceClaim makes sure the workspace claim name of the sandbox pod
// runs is there: an owner's claim from an earlier sandbox is used as it
// is (made again, empty, when it is gone), and refused when it is not
// this server's. It reports whether it made the claim.
func (m *Manager) workspaceClaim(ctx context.Context, name string, pod *corev1.Pod) (made bool, err error) {
	claims := m.cs.CoreV1().PersistentVolumeClaims(m.opts.Namespace)
	if name != claimName(pod.Name) {
		c, err := claims.Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			if !m.ownClaim(c) {
				return false, fmt.Errorf("workspace claim %s: not a workspace of server %s", name, m.opts.ServerID)
			}
			if c.DeletionTimestamp != nil {
				return false, fmt.Errorf("workspace claim %s is being deleted", name)
			}
			return false, nil
		case !apierrors.IsNotFound(err):
			return false, m.apiErr("workspace claim "+name, err)
		}
		m.log.WarnContext(ctx, "workspace claim gone; making it again, empty", "claim", name, "owner", pod.Annotations[annotationOwner])
	}
	if _, err := claims.Create(ctx, m.buildClaim(name, pod), metav1.CreateOptions{}); err != nil {
		return false, m.apiErr("create sandbox workspace claim "+name, err)
	}
	return true, nil
}

// discard removes a sandbox that failed to start, even when ctx is done.
func (m *Manager) discard(ctx context.Context, s *Sandbox) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.remove(ctx); err != nil {
		m.log.WarnContext(ctx, "remove failed sandbox", "pod", s.id, "err", err)
	}
}

// boot creates the Pod from the template and waits for it to run and its
// agent to answer. The caller holds s.op or owns s exclusively.
func (s *Sandbox) boot(ctx context.Context) error {
	m := s.m
	s.setStatus(sandbox.StatusStarting, nil)
	pods := m.cs.CoreV1().Pods(m.opts.Namespace)
	created, err := pods.Create(ctx, s.pod.DeepCopy(), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// A Pod that ended on its own (or is still going): make it afresh.
		if err = s.deletePod(ctx); err == nil {
			created, err = pods.Create(ctx, s.pod.DeepCopy(), metav1.CreateOptions{})
		}
	}
	if err != nil {
		err = m.apiErr("create sandbox pod "+s.id, err)
		s.setStatus(sandbox.StatusStopped, err)
		return err
	}
	cl, podIP, err := s.waitAgent(ctx, created.UID)
	if err != nil {
		return s.failStart(ctx, err)
	}
	s.cell.SetAgent(sandbox.StatusRunning, cl, m.endpointOf(s, podIP))
	return nil
}

// failStart deletes the Pod of a start that failed and records err.
func (s *Sandbox) failStart(ctx context.Context, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.deletePod(ctx)
	st := sandbox.StatusStopped
	if errors.Is(err, sandbox.ErrExited) {
		st = sandbox.StatusExited
	}
	s.setStatus(st, err)
	return err
}

// waitAgent waits until the Pod of uid (any, when uid is empty) runs the
// agent and the agent answers /health, and returns the agent's client and
// the Pod's IP ("" if not known yet).
//
// It tries the agent as soon as the kubelet reports the sandbox container
// started (and, by Pod IP, the Pod's IP: the kubelet reports both at
// once), whatever the Pod's phase says. Through the API server the
// port-forward could reach the Pod's network earlier, as soon as its
// sandbox exists, but tries made then were measured to hang for up to
// half a minute (BENCHMARKS.md), so it waits as the Pod IP transport
// does. Nothing is trusted before the agent's handshake proves the
// sandbox's token (ErrUnverified ends the start).
//
// It fails at once on a missing image, a container that cannot be made
// (an image without /bin/sh, say), when the sandbox container or the Pod
// ends, when the Pod has been waiting for its sandbox container longer
// than Options.PendingTimeout, and when the agent has not answered within
// Options.StartTimeout of the container's start.
//
// The watch's cache may still hold the Pod of the previous start for a
// moment: only the Pod of uid counts.
func (s *Sandbox) waitAgent(ctx context.Context, uid types.UID) (*agentapi.Client, string, error) {
	m := s.m
	start := time.Now()
	pending := time.NewTimer(m.opts.PendingTimeout)
	defer pending.Stop()
	var (
		cl          *agentapi.Client
		podIP       string
		last        *corev1.Pod
		lastErr     error
		running     time.Time // when the sandbox container was first seen running
		healthTimer <-chan time.Time
	)
	health := time.NewTimer(m.opts.StartTimeout)
	health.Stop()
	defer health.Stop()
	delay := 2 * time.Millisecond
	// A try through the API server that reaches the Pod before its agent
	// listens was measured to hang now and then rather than fail: the
	// first tries get a short bound, doubled up to 5 s at each failure,
	// so a hang costs little and a slow cluster still gets through.
	try := 500 * time.Millisecond
	for {
		if pod, err := m.pods.Get(s.id); err == nil && (uid == "" || pod.UID == uid) {
			last = pod
			if err := startFailure(pod); err != nil {
				return nil, "", fmt.Errorf("sandbox %s: %w", s.id, err)
			}
			if cs := mainStatus(pod); (cs != nil && cs.State.Terminated != nil) || podEnded(pod) {
				return nil, "", s.exitError(ctx, pod, true, startEngineError(pod))
			}
			if cs := mainStatus(pod); running.IsZero() && cs != nil && cs.State.Running != nil {
				running = time.Now()
				pending.Stop()
				health.Reset(m.opts.StartTimeout)
				healthTimer = health.C
			}
			if pod.Status.PodIP != "" {
				podIP = pod.Status.PodIP
			}
		}
		if cl == nil && reachable(m.opts.Transport, podIP, running) {
			cl = m.newClient(s, podIP)
		}
		polling := cl != nil
		if polling {
			hctx, hcancel := context.WithTimeout(ctx, try)
			lastErr = cl.Health(hctx)
			hcancel()
			try = min(2*try, 5*time.Second)
			if lastErr == nil {
				return cl, podIP, nil
			}
			if errors.Is(lastErr, agentapi.ErrUnverified) {
				return nil, "", fmt.Errorf("sandbox %s: %w", s.id, lastErr)
			}
			s.redialTunnel()
		}
		wait := 250 * time.Millisecond // in case the watch lags
		if polling {
			wait = delay
			delay = min(delay*3/2, 50*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if running.IsZero() {
				return nil, "", fmt.Errorf("sandbox %s: waiting for its pod to run: %w", s.id, ctx.Err())
			}
			return nil, "", fmt.Errorf("sandbox %s: waiting for its runtime-agent: %w", s.id, ctx.Err())
		case <-pending.C:
			t.Stop()
			return nil, "", fmt.Errorf("%w: sandbox %s: its pod was still pending after %s: %s",
				sandbox.ErrNotReady, s.id, time.Since(start).Round(time.Millisecond), pendingReason(last))
		case <-healthTimer:
			t.Stop()
			return nil, "", fmt.Errorf("%w: sandbox %s: runtime-agent did not answer /health within %s of its container's start (last error: %v); last log lines:\n%s",
				sandbox.ErrNotReady, s.id, time.Since(running).Round(time.Millisecond), lastErr, s.logs(context.WithoutCancel(ctx), 20))
		case <-s.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// reachable reports whether the agent may be tried: once the sandbox
// container runs, and by Pod IP once the Pod has an IP.
func reachable(tr Transport, podIP string, running time.Time) bool {
	return !running.IsZero() && (tr != TransportPodIP || podIP != "")
}

// imageMissing are the waiting reasons of a container whose image the
// node does not have and will not get.
var imageMissing = map[string]bool{
	"ErrImageNeverPull": true,
	"ImagePullBackOff":  true,
	"InvalidImageName":  true,
}

// startFailure returns the error of a Pod that cannot start as it is: an
// image missing (ErrImageMissing, naming it) or a container the kubelet
// cannot make. nil while it may yet start.
func startFailure(pod *corev1.Pod) error {
	images := make(map[string]string)
	for _, c := range pod.Spec.InitContainers {
		images[c.Name] = c.Image
	}
	for _, c := range pod.Spec.Containers {
		images[c.Name] = c.Image
	}
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if t := cs.State.Terminated; t != nil && cs.Name == installerName && t.ExitCode != 0 {
			return fmt.Errorf("container %s (image %q), which installs the runtime-agent, failed with code %d: %s %s", cs.Name, images[cs.Name], t.ExitCode, t.Reason, t.Message)
		}
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch {
		case imageMissing[w.Reason]:
			return fmt.Errorf("%w: image %q (container %s) is not in the cluster: %s: %s", sandbox.ErrImageMissing, images[cs.Name], cs.Name, w.Reason, w.Message)
		case w.Reason == "CreateContainerConfigError" && kubeletCacheLag(w.Message):
			// The kubelet's copy of the Secret is late (a busy API server
			// or kubelet); it tries again at its next pass over the Pod,
			// and the pending bound still holds.
			continue
		case w.Reason == "CreateContainerConfigError" || w.Reason == "CreateContainerError" || w.Reason == "RunContainerError":
			if cs.Name == containerName && noShell(w.Message) {
				return fmt.Errorf("%s: %s: %s", noShellError(images[cs.Name]), w.Reason, w.Message)
			}
			return fmt.Errorf("container %s cannot start: %s: %s", cs.Name, w.Reason, w.Message)
		}
	}
	return nil
}

// kubeletCacheLag reports whether a kubelet's message says it could not
// yet see a Secret or ConfigMap the container takes its environment from:
// a delay, not a refusal.
func kubeletCacheLag(msg string) bool {
	return strings.Contains(msg, "failed to sync secret cache") || strings.Contains(msg, "failed to sync configmap cache")
}

// noShell reports whether a container runtime's message says the
// launcher's shell is not in the image.
func noShell(msg string) bool {
	return strings.Contains(msg, launcherShell) &&
		(strings.Contains(msg, "no such file") || strings.Contains(msg, "not found"))
}

func noShellError(image string) string {
	return fmt.Sprintf("image %q has no %s: a Kubernetes sandbox starts its runtime-agent with the image's sh (and runs commands with its bash)", image, launcherShell)
}

// startEngineError is what the runtime said of a sandbox container that
// ended before its agent answered, made plain when it is the image
// lacking /bin/sh; "" to leave the exit's own description.
func startEngineError(pod *corev1.Pod) string {
	cs := mainStatus(pod)
	if cs == nil || cs.State.Terminated == nil || !noShell(cs.State.Terminated.Message) {
		return ""
	}
	t := cs.State.Terminated
	return fmt.Sprintf("%s: %s: %s", noShellError(imageOf(pod)), t.Reason, t.Message)
}

// pendingReason says why a Pod is still pending, as well as its status
// tells.
func pendingReason(pod *corev1.Pod) string {
	if pod == nil {
		return "the pod was never seen"
	}
	for _, c := range pod.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			return fmt.Sprintf("%s: %s: %s", c.Type, c.Reason, c.Message)
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			return fmt.Sprintf("container %s: %s %s", cs.Name, w.Reason, w.Message)
		}
	}
	return "phase " + string(pod.Status.Phase)
}

// logs returns the last n lines of the sandbox container's output, best
// effort.
func (s *Sandbox) logs(ctx context.Context, n int) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tail := int64(n)
	b, err := s.m.cs.CoreV1().Pods(s.m.opts.Namespace).GetLogs(s.id, &corev1.PodLogOptions{Container: containerName, TailLines: &tail}).DoRaw(ctx)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// deletePod deletes the Pod and waits until it is gone (its name is
// reused at the next start). A Pod already gone is not an error.
func (s *Sandbox) deletePod(ctx context.Context) error {
	m := s.m
	pods := m.cs.CoreV1().Pods(m.opts.Namespace)
	grace := int64(max(m.opts.StopTimeout.Seconds(), 1))
	err := pods.Delete(ctx, s.id, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return m.apiErr("delete sandbox pod "+s.id, err)
	}
	wait := time.Duration(grace)*time.Second + 2*time.Minute
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		_, err := pods.Get(ctx, s.id, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox %s: its pod was not gone after %s: %w", s.id, wait, ctx.Err())
		case <-s.kick:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
