package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// Use returns the agent client of a running sandbox, starting it first
// when it was stopped (a new Pod from its template). One that died gives
// its *ExitError (restart it with Start), one that is gone ErrRemoved.
func (s *Sandbox) Use(ctx context.Context) (cl *agentapi.Client, done func(), err error) {
	return s.cell.Use(ctx, &s.op, s.id, s.boot)
}

// Start starts a stopped or exited sandbox again (same Secret, same
// workspace claim if any) and waits for its agent.
func (s *Sandbox) Start(ctx context.Context) error {
	return s.cell.Start(ctx, &s.op, s.id, s.boot)
}

// Stop deletes the Pod (SIGTERM, SIGKILL after Options.StopTimeout) and
// waits until it is gone. The Secret and the workspace claim stay; the
// next Use or Start makes the Pod again. Files in a workspace without a claim
// go with the Pod.
func (s *Sandbox) Stop(ctx context.Context) error {
	return s.cell.Stop(ctx, &s.op, s.id, s.stopPod)
}

// stopPod is Stop's work once the sandbox is marked stopping, with s.op
// held.
func (s *Sandbox) stopPod(ctx context.Context, _ sandbox.Status) error {
	s.closeTunnel()
	if err := s.deletePod(ctx); err != nil {
		s.setStatus(sandbox.StatusStopped, err)
		return err
	}
	s.setStatus(sandbox.StatusStopped, nil)
	s.m.log.InfoContext(ctx, "sandbox stopped", "pod", s.id, "owner", s.Owner())
	return nil
}

// Remove deletes the Pod and the Secret, and forgets the sandbox. The
// workspace claim (Handle.Volume) stays for the owner's next sandbox, but
// for a warm pool sandbox that never had an owner. Removing twice is not
// an error.
func (s *Sandbox) Remove(ctx context.Context) error {
	s.op.Lock()
	defer s.op.Unlock()
	return s.remove(ctx)
}

func (s *Sandbox) remove(ctx context.Context) error {
	if s.Status() == sandbox.StatusRemoved {
		return nil
	}
	s.setStatus(sandbox.StatusStopping, s.Err())
	s.closeTunnel()
	if err := s.m.deleteObjects(ctx, s.id); err != nil {
		return err
	}
	s.mu.Lock()
	claim := s.volume
	drop := s.dropClaim || s.Owner() == ""
	s.mu.Unlock()
	if claim != "" && drop {
		if err := s.m.removeClaim(ctx, claim); err != nil {
			return err
		}
	}
	s.m.reg.Forget(s)
	s.setStatus(sandbox.StatusRemoved, s.Err())
	return nil
}

// deleteObjects deletes the Pod and the Secret of sandbox id without
// waiting for the Pod to end. Those already gone are no error.
func (m *Manager) deleteObjects(ctx context.Context, id string) error {
	ns := m.opts.Namespace
	grace := int64(max(m.opts.StopTimeout.Seconds(), 1))
	var errs []error
	if err := m.cs.CoreV1().Pods(ns).Delete(ctx, id, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, m.apiErr("delete sandbox pod "+id, err))
	}
	if err := m.cs.CoreV1().Secrets(ns).Delete(ctx, id, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, m.apiErr("delete sandbox secret "+id, err))
	}
	return errors.Join(errs...)
}

// removeClaim deletes a workspace claim of this server; one that is gone
// is not an error, one of another server's (or not a workspace) is
// refused. A Pod still mounting it keeps it until the Pod ends.
func (m *Manager) removeClaim(ctx context.Context, name string) error {
	claims := m.cs.CoreV1().PersistentVolumeClaims(m.opts.Namespace)
	c, err := claims.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return m.apiErr("remove workspace claim "+name, err)
	}
	if !m.ownClaim(c) {
		return fmt.Errorf("remove workspace claim %s: not a workspace of server %s", name, m.opts.ServerID)
	}
	if err := claims.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return m.apiErr("remove workspace claim "+name, err)
	}
	m.log.InfoContext(ctx, "workspace claim removed", "claim", name)
	return nil
}

// ownClaim reports whether c is a workspace claim of this server: one
// made with gohands.volume, or, from before claims outlived sandboxes,
// the claim a sandbox of this server made under claimName.
func (m *Manager) ownClaim(c *corev1.PersistentVolumeClaim) bool {
	if c.Labels[labelSandbox] != "1" || c.Labels[labelServer] != labelValue(m.opts.ServerID) {
		return false
	}
	return c.Labels[labelVolume] == "1" || c.Labels[labelID] != "" && c.Name == claimName(c.Labels[labelID])
}

// Inspect asks the API server for the Pod. A sandbox thought running
// whose Pod ended or went is marked exited (see Err); one whose Secret
// went is removed.
func (s *Sandbox) Inspect(ctx context.Context) (sandbox.State, error) {
	m := s.m
	pod, err := m.cs.CoreV1().Pods(m.opts.Namespace).Get(ctx, s.id, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, serr := m.cs.CoreV1().Secrets(m.opts.Namespace).Get(ctx, s.id, metav1.GetOptions{}); apierrors.IsNotFound(serr) {
			s.noticeGone()
			return sandbox.State{Status: sandbox.StatusRemoved}, fmt.Errorf("sandbox %s: %w", s.id, sandbox.ErrRemoved)
		}
		s.noticeExit(ctx, nil)
		return sandbox.State{Status: s.Status()}, nil
	}
	if err != nil {
		return sandbox.State{Status: s.Status()}, m.apiErr("inspect sandbox "+s.id, err)
	}
	var st sandbox.State
	cs := mainStatus(pod)
	st.Running = pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil && cs != nil && cs.State.Running != nil
	if cs != nil {
		if r := cs.State.Running; r != nil {
			st.StartedAt = r.StartedAt.Time
		}
		if t := cs.State.Terminated; t != nil {
			st.ExitCode, st.OOMKilled, st.Error = int(t.ExitCode), t.Reason == "OOMKilled", t.Message
			st.StartedAt, st.FinishedAt = t.StartedAt.Time, t.FinishedAt.Time
		}
	}
	if !st.Running {
		s.noticeExit(ctx, pod)
	}
	st.Status, st.Endpoint = s.Status(), s.Endpoint()
	return st, nil
}

// mainStatus returns the sandbox container's status, or nil.
func mainStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == containerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// noticeExit marks a running sandbox whose Pod ended, went or lost its
// node (pod is nil when it is gone) as exited, with why.
func (s *Sandbox) noticeExit(ctx context.Context, pod *corev1.Pod) {
	if s.Status() != sandbox.StatusRunning {
		return // stopped, removed or started by us meanwhile
	}
	err := s.exitError(ctx, pod, false, "")
	if s.Status() != sandbox.StatusRunning {
		return
	}
	s.closeTunnel()
	s.setStatus(sandbox.StatusExited, err)
	s.m.log.WarnContext(ctx, "sandbox exited unexpectedly", "pod", s.id, "owner", s.Owner(), "err", err)
}

// noticeGone marks a sandbox whose Secret was deleted behind our back.
func (s *Sandbox) noticeGone() {
	switch s.Status() {
	case sandbox.StatusRemoved, sandbox.StatusStopping, sandbox.StatusStarting:
		return
	}
	err := s.Err()
	if err == nil {
		err = fmt.Errorf("sandbox %s: removed outside GoHands", s.id)
	}
	s.closeTunnel()
	s.m.reg.Forget(s)
	s.setStatus(sandbox.StatusRemoved, err)
}

// exitError describes a Pod that ended, went (pod nil) or lost its node.
func (s *Sandbox) exitError(ctx context.Context, pod *corev1.Pod, starting bool, engine string) error {
	e := exitOf(pod)
	e.Container, e.Owner, e.Starting = s.id, s.Owner(), starting
	if engine != "" {
		e.EngineError = engine
	}
	if pod != nil {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		e.Logs = s.logs(lctx, 20)
		cancel()
	}
	return e
}

// exitOf maps a Pod's end to an ExitError: the container's exit code and
// reason, or the kubelet's and the controllers' word (evicted, node lost,
// deleted). pod is nil when the Pod is gone.
func exitOf(pod *corev1.Pod) *sandbox.ExitError {
	e := &sandbox.ExitError{ExitCode: -1}
	if pod == nil {
		e.EngineError = "pod deleted outside GoHands"
		return e
	}
	if cs := mainStatus(pod); cs != nil {
		if t := cs.State.Terminated; t != nil {
			e.ExitCode = int(t.ExitCode)
			e.OOMKilled = t.Reason == "OOMKilled"
			if t.Message != "" {
				e.EngineError = t.Reason + ": " + t.Message
			}
		}
	}
	switch {
	case pod.Status.Reason == "Evicted":
		e.EngineError = "pod evicted: " + pod.Status.Message
	case pod.Status.Reason == "NodeLost" || pod.Status.Phase == corev1.PodUnknown:
		e.EngineError = "pod's node lost: " + pod.Status.Message
	case pod.DeletionTimestamp != nil:
		e.EngineError = "pod deleted outside GoHands"
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
				e.EngineError = fmt.Sprintf("pod deleted by the cluster (%s): %s", c.Reason, c.Message)
			}
		}
	case pod.Status.Reason != "" && e.EngineError == "":
		e.EngineError = pod.Status.Reason + ": " + pod.Status.Message
	}
	return e
}

// podEnded reports whether a Pod no longer runs the sandbox: its sandbox
// container ended (the Pod stays Running then, its agent-install container
// asleep), it failed, succeeded, lost its node, or is being deleted.
func podEnded(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded, corev1.PodUnknown:
		return true
	}
	if cs := mainStatus(pod); cs != nil && cs.State.Terminated != nil {
		return true
	}
	return pod.DeletionTimestamp != nil || pod.Status.Reason == "NodeLost"
}

// onPod is the watch's handler: it wakes starts waiting on the Pod and
// marks a running sandbox whose Pod ended or went as exited.
func (m *Manager) onPod(obj any, deleted bool) {
	if t, ok := obj.(cacheTombstone); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s := m.reg.Lookup(pod.Name)
	if s == nil {
		return
	}
	s.wake()
	if s.Status() != sandbox.StatusRunning {
		return // our own start, stop or remove
	}
	switch {
	case deleted:
		go s.noticeExit(m.ctx, nil)
	case podEnded(pod):
		go s.noticeExit(m.ctx, pod)
	}
}
