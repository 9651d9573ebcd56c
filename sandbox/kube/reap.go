package kube

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// List returns the handles of this server's sandboxes that the Manager
// does not hold: those an earlier run left, running or stopped, each with
// its workspace claim. A sandbox is found by its Secret or its Pod, so a
// half-made or half-removed one is listed too, for Destroy. Then, as
// handles with no ID, the server's workspace claims that no sandbox
// mounts and this Manager did not make. Tokens are not read.
func (m *Manager) List(ctx context.Context) ([]sandbox.Handle, error) {
	ns := m.opts.Namespace
	lo := metav1.ListOptions{LabelSelector: m.serverSelector().String()}
	seen := make(map[string]bool)
	mounted := make(map[string]bool)
	var out []sandbox.Handle
	add := func(meta metav1.ObjectMeta, pod *corev1.Pod) {
		h := sandbox.Handle{Owner: meta.Annotations[annotationOwner], ID: meta.Labels[labelID]}
		if pod != nil {
			h.Image = imageOf(pod)
			h.Volume, h.Disposable = workspaceOf(pod)
			if h.Volume != "" {
				mounted[h.Volume] = true
			}
		}
		if h.ID == "" || seen[h.ID] || meta.Labels[labelInstance] == m.instance || m.reg.Lookup(h.ID) != nil {
			return
		}
		seen[h.ID] = true
		out = append(out, h)
	}
	secrets, err := m.cs.CoreV1().Secrets(ns).List(ctx, lo)
	if err != nil {
		return nil, m.apiErr("list sandbox secrets", err)
	}
	for _, sec := range secrets.Items {
		pod, _ := templateOf(&sec)
		add(sec.ObjectMeta, pod)
	}
	pods, err := m.cs.CoreV1().Pods(ns).List(ctx, lo)
	if err != nil {
		return nil, m.apiErr("list sandbox pods", err)
	}
	for _, pod := range pods.Items {
		if len(pod.Spec.Containers) == 0 {
			continue
		}
		if pod.DeletionTimestamp != nil {
			// On its way out: nothing left to destroy, but its claim
			// is still in use.
			if c, _ := workspaceOf(&pod); c != "" {
				mounted[c] = true
			}
			continue
		}
		add(pod.ObjectMeta, &pod)
	}
	claims, err := m.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, lo)
	if err != nil {
		return nil, m.apiErr("list sandbox workspace claims", err)
	}
	for _, s := range m.reg.All() {
		if s.volume != "" {
			mounted[s.volume] = true
		}
	}
	for _, c := range claims.Items {
		if mounted[c.Name] || c.Labels[labelInstance] == m.instance || c.DeletionTimestamp != nil || !m.ownClaim(&c) {
			continue
		}
		out = append(out, sandbox.Handle{Owner: c.Annotations[annotationOwner], Volume: c.Name, Disposable: true})
	}
	return out, nil
}

// Destroy removes a sandbox of this server by handle: its Pod and Secret
// (one the Manager holds goes as Remove does), then the workspace claim
// h.Volume when that is set. A handle with no ID removes only the claim.
// Objects not labelled as this server's are left alone.
func (m *Manager) Destroy(ctx context.Context, h sandbox.Handle) error {
	if h.ID == "" && h.Volume == "" {
		return fmt.Errorf("remove sandbox of %s: no id and no workspace claim", h.Owner)
	}
	if h.ID != "" {
		if err := m.destroySandbox(ctx, h); err != nil {
			return err
		}
	}
	if h.Volume != "" {
		return m.removeClaim(ctx, h.Volume)
	}
	return nil
}

// destroySandbox is Destroy of the Pod and Secret alone.
func (m *Manager) destroySandbox(ctx context.Context, h sandbox.Handle) error {
	if s := m.reg.Lookup(h.ID); s != nil {
		return s.Remove(ctx)
	}
	ns := m.opts.Namespace
	lo := metav1.ListOptions{LabelSelector: m.serverSelector().String() + "," + labelID + "=" + h.ID}
	secrets, err := m.cs.CoreV1().Secrets(ns).List(ctx, lo)
	if err != nil {
		return m.apiErr("remove sandbox "+h.ID, err)
	}
	pods, err := m.cs.CoreV1().Pods(ns).List(ctx, lo)
	if err != nil {
		return m.apiErr("remove sandbox "+h.ID, err)
	}
	if len(secrets.Items)+len(pods.Items) == 0 {
		return nil
	}
	if err := m.deleteObjects(ctx, h.ID); err != nil {
		return err
	}
	m.log.InfoContext(ctx, "sandbox removed", "pod", h.ID, "owner", h.Owner)
	return nil
}

// Release forgets the sandbox of h; its objects stay as they are, and
// Recover takes it over again.
func (m *Manager) Release(h sandbox.Handle) {
	s, ok := m.reg.Release(h.ID)
	if !ok {
		return
	}
	s.closeTunnel()
	if cl := s.Client(); cl != nil {
		cl.CloseIdleConnections()
	}
}

// Recover takes over a sandbox of this server for h.Owner: by h.ID, or,
// when that is empty, the one whose Secret carries the owner's label.
// With h.Token empty the token is read from the Secret. A running Pod
// must answer its health check; a sandbox without a Pod (stopped) is
// taken over as stopped, and one whose Pod ended as exited.
func (m *Manager) Recover(ctx context.Context, h sandbox.Handle) (sandbox.Sandbox, error) {
	s, err := m.recover(ctx, h)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m *Manager) recover(ctx context.Context, h sandbox.Handle) (*Sandbox, error) {
	sec, err := m.secretOf(ctx, h)
	if err != nil {
		return nil, err
	}
	owner := h.Owner
	if owner == "" {
		owner = sec.Annotations[annotationOwner]
	}
	if owner == "" {
		return nil, fmt.Errorf("adopt sandbox %s: no owner", sec.Name)
	}
	token := h.Token
	if token == "" {
		token = string(sec.Data[agentapi.TokenEnv])
	}
	if token == "" {
		return nil, fmt.Errorf("adopt sandbox %s: no token recorded or in its secret", sec.Name)
	}
	tmpl, err := templateOf(sec)
	if err != nil {
		return nil, fmt.Errorf("adopt sandbox %s: %w", sec.Name, err)
	}
	s := &Sandbox{m: m, id: sec.Name, image: imageOf(tmpl), token: token, pod: tmpl, kick: make(chan struct{}, 1)}
	s.cell = sandbox.NewStatusCell(owner, sandbox.StatusStopped, s.report)
	s.volume, s.disposable = workspaceOf(tmpl)
	if held, err := m.reg.Hold(s); held != nil || err != nil {
		return held, err
	}
	s.op.Lock()
	defer s.op.Unlock()
	if sec.Annotations[annotationOwner] != owner {
		// A pool sandbox handed out before its labels were updated.
		if err := m.relabel(ctx, s, owner); err != nil {
			m.log.WarnContext(ctx, "relabel adopted sandbox", "pod", s.id, "err", err)
		}
	}
	pod, err := m.cs.CoreV1().Pods(m.opts.Namespace).Get(ctx, s.id, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Stopped: the next Use makes the Pod again.
	case err != nil:
		m.reg.Forget(s)
		return nil, m.apiErr("adopt sandbox "+s.id, err)
	case podEnded(pod):
		s.setStatus(sandbox.StatusExited, s.exitError(ctx, pod, false, ""))
	default:
		s.setStatus(sandbox.StatusStarting, nil)
		var (
			cl    *agentapi.Client
			podIP string
		)
		if cl, podIP, err = s.waitAgent(ctx, pod.UID); err == nil {
			s.cell.SetAgent(sandbox.StatusRunning, cl, m.endpointOf(s, podIP))
		}
		if err != nil {
			s.closeTunnel()
			m.reg.Forget(s)
			return nil, fmt.Errorf("adopt sandbox %s: %w", s.id, err)
		}
	}
	m.log.InfoContext(ctx, "sandbox adopted", "pod", s.id, "owner", owner, "status", s.Status())
	return s, nil
}

// secretOf finds the Secret of h: by h.ID, or the one labelled with h.Owner.
func (m *Manager) secretOf(ctx context.Context, h sandbox.Handle) (*corev1.Secret, error) {
	secrets := m.cs.CoreV1().Secrets(m.opts.Namespace)
	if h.ID != "" {
		sec, err := secrets.Get(ctx, h.ID, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("adopt sandbox %s: %w", h.ID, sandbox.ErrRemoved)
		}
		if err != nil {
			return nil, m.apiErr("adopt sandbox "+h.ID, err)
		}
		if sec.Labels[labelSandbox] != "1" || sec.Labels[labelServer] != labelValue(m.opts.ServerID) {
			return nil, fmt.Errorf("adopt sandbox %s: not a sandbox of server %s", h.ID, m.opts.ServerID)
		}
		return sec, nil
	}
	lo := metav1.ListOptions{LabelSelector: m.serverSelector().String() + "," + labelOwner + "=" + labelValue(h.Owner)}
	list, err := secrets.List(ctx, lo)
	if err != nil {
		return nil, m.apiErr("adopt sandbox of "+h.Owner, err)
	}
	var found []*corev1.Secret
	for i := range list.Items {
		if list.Items[i].Annotations[annotationOwner] == h.Owner {
			found = append(found, &list.Items[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("adopt sandbox of %s: %w", h.Owner, sandbox.ErrRemoved)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("adopt sandbox of %s: %d sandboxes carry its label", h.Owner, len(found))
}

// templateOf reads the Pod template a Secret records.
func templateOf(sec *corev1.Secret) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := json.Unmarshal([]byte(sec.Annotations[annotationPod]), &pod); err != nil {
		return nil, fmt.Errorf("secret %s records no pod: %w", sec.Name, err)
	}
	if sandboxContainer(&pod) == nil || pod.Name != sec.Name {
		return nil, fmt.Errorf("secret %s records no pod of its own", sec.Name)
	}
	return &pod, nil
}
