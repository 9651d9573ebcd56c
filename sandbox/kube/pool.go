package kube

import (
	"context"
	"encoding/json"
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

// newPool returns the warm pool, which m.pool.Fill keeps full.
func (m *Manager) newPool() *sandbox.Pool[*Sandbox] {
	return m.reg.NewPool(sandbox.PoolConfig[*Sandbox]{
		Name: "warm pool",
		Log:  m.log,
		Size: func() int { return m.opts.PoolSize },
		Create: func(ctx context.Context) (*Sandbox, error) {
			return m.create(ctx, "", m.poolSpec, true)
		},
		Check: func(ctx context.Context, s *Sandbox) error {
			return s.cell.Healthy(ctx, 5*time.Second)
		},
		Discard: m.discard,
	})
}

// take hands the oldest healthy pool sandbox to owner, relabelled as
// the owner's, or returns nil when the pool is empty. It asks the pool
// to refill.
func (m *Manager) take(ctx context.Context, owner string) *Sandbox {
	for {
		s, ok := m.pool.Take(ctx)
		if !ok {
			return nil
		}
		if err := m.relabel(ctx, s, owner); err != nil {
			m.log.WarnContext(ctx, "warm pool: dropping sandbox", "pod", s.id, "err", err)
			m.discard(ctx, s)
			continue
		}
		s.cell.SetOwner(owner)
		m.reg.Assign(owner, s)
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

var _ sandbox.Sandbox = (*Sandbox)(nil)
