package kube

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gohands/gohands/sandbox"
)

// The warm pool keeps Options.PoolSize started, healthy sandboxes of the
// default Spec. Unlike a container's, a Pod's labels can change: a pool
// sandbox handed to an owner is relabelled (Secret and Pod), so List,
// Recover by owner and reaping see it as the owner's.

// fillPool runs until Close, creating pool sandboxes one at a time
// whenever the pool is short. Failures back off from 1s to 30s.
func (m *Manager) fillPool() {
	backoff := time.Second
	for {
		m.mu.Lock()
		short := !m.closed && len(m.pool) < m.opts.PoolSize
		m.mu.Unlock()
		if !short {
			select {
			case <-m.ctx.Done():
				return
			case <-m.refill:
				continue
			}
		}
		s, err := m.create(m.ctx, "", m.poolSpec, true)
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			m.log.Warn("warm pool: create sandbox", "err", err, "retry_in", backoff)
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			m.discard(m.ctx, s)
			return
		}
		m.pool = append(m.pool, s)
		m.mu.Unlock()
	}
}

// take hands the oldest healthy pool sandbox to owner, or returns nil
// when the pool is empty. It asks the pool to refill.
func (m *Manager) take(ctx context.Context, owner string) *Sandbox {
	defer m.kickPool()
	for {
		m.mu.Lock()
		if len(m.pool) == 0 {
			m.mu.Unlock()
			return nil
		}
		s := m.pool[0]
		m.pool = m.pool[1:]
		m.mu.Unlock()
		err := errors.New("not running")
		if cl := s.running(); cl != nil {
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = cl.Health(hctx)
			cancel()
		}
		if err == nil {
			err = m.relabel(ctx, s, owner)
		}
		if err != nil {
			m.log.WarnContext(ctx, "warm pool: dropping sandbox", "pod", s.id, "err", err)
			m.discard(ctx, s)
			continue
		}
		s.mu.Lock()
		s.owner = owner
		s.mu.Unlock()
		m.mu.Lock()
		m.byOwner[owner] = s
		m.mu.Unlock()
		return s
	}
}

// relabel gives the Secret, the Pod (and so the template) of s the
// owner's label and annotation.
func (m *Manager) relabel(ctx context.Context, s *Sandbox, owner string) error {
	ns := m.opts.Namespace
	labels := map[string]any{labelOwner: labelValue(owner), labelPool: nil}
	annotations := map[string]any{annotationOwner: owner}
	tmpl := s.pod.DeepCopy()
	tmpl.Labels[labelOwner] = labelValue(owner)
	delete(tmpl.Labels, labelPool)
	tmpl.Annotations[annotationOwner] = owner
	rec, err := podTemplate(tmpl)
	if err != nil {
		return err
	}
	secretPatch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"labels": labels, "annotations": map[string]any{annotationOwner: owner, annotationPod: rec}}})
	if _, err := m.cs.CoreV1().Secrets(ns).Patch(ctx, s.id, types.MergePatchType, secretPatch, metav1.PatchOptions{}); err != nil {
		return m.apiErr("relabel sandbox secret "+s.id, err)
	}
	s.pod = tmpl
	podPatch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels, "annotations": annotations}})
	if _, err := m.cs.CoreV1().Pods(ns).Patch(ctx, s.id, types.MergePatchType, podPatch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return m.apiErr("relabel sandbox pod "+s.id, err)
	}
	if claim, _ := workspaceOf(tmpl); claim != "" {
		if _, err := m.cs.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, claim, types.MergePatchType, podPatch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return m.apiErr("relabel sandbox claim "+s.id, err)
		}
	}
	return nil
}

func (m *Manager) kickPool() {
	select {
	case m.refill <- struct{}{}:
	default:
	}
}

var _ sandbox.Sandbox = (*Sandbox)(nil)
