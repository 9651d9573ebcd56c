package kube

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// Manager owns the sandboxes of one server on one cluster: the
// Kubernetes sandbox.Backend. Its methods are safe for concurrent use.
type Manager struct {
	cs       kubernetes.Interface
	cfg      *rest.Config // for port-forward; nil with a fake clientset
	opts     Options
	log      *slog.Logger
	instance string
	poolSpec resolved

	// newClient makes the agent client of a running Pod; tests replace it.
	newClient func(s *Sandbox, podIP string) *agentapi.Client

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pods    corelisters.PodNamespaceLister
	synced  cache.InformerSynced
	factory informers.SharedInformerFactory

	// reg holds the sandboxes by id and by owner, the owner claims and
	// the status changes; pool is the warm pool.
	reg  *sandbox.Registry[*Sandbox]
	pool *sandbox.Pool[*Sandbox]
}

// New returns a Manager for the cluster cs reaches (cfg is its REST
// configuration, for port-forward; see Connect). It checks that the
// server may work with Pods and Secrets in the namespace (a clear error
// otherwise), then starts watching this server's Pods and fills the warm
// pool (when Options.PoolSize > 0). Its owner recovers the sandboxes it
// saved with Recover, and removes the others List shows with Destroy.
func New(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, opts Options, logger *slog.Logger) (*Manager, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		cs:       cs,
		cfg:      cfg,
		opts:     opts,
		log:      logger.With("component", "sandbox", "backend", "kubernetes"),
		instance: strings.ToLower(rand.Text()[:12]),
	}
	m.reg = sandbox.NewRegistry[*Sandbox](m.log)
	m.pool = m.newPool()
	m.newClient = m.agentClient
	if opts.Transport == TransportAPIServer && cfg == nil {
		return nil, errors.New("kubernetes sandbox options: the apiserver transport needs the REST configuration")
	}
	if m.poolSpec, err = opts.resolve(sandbox.Spec{}); err != nil {
		return nil, fmt.Errorf("kubernetes sandbox options: %w", err)
	}
	if err := m.checkAccess(ctx); err != nil {
		return nil, err
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.factory = informers.NewSharedInformerFactoryWithOptions(cs, 0,
		informers.WithNamespace(opts.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.LabelSelector = m.serverSelector().String()
		}))
	inf := m.factory.Core().V1().Pods()
	m.pods = inf.Lister().Pods(opts.Namespace)
	reg, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.onPod(obj, false) },
		UpdateFunc: func(_, obj any) { m.onPod(obj, false) },
		DeleteFunc: func(obj any) { m.onPod(obj, true) },
	})
	if err != nil {
		m.cancel()
		return nil, fmt.Errorf("watch sandbox pods: %w", err)
	}
	m.synced = reg.HasSynced
	m.factory.Start(m.ctx.Done())
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	ok := cache.WaitForCacheSync(sctx.Done(), m.synced)
	scancel()
	if !ok {
		m.cancel()
		m.factory.Shutdown()
		return nil, fmt.Errorf("watch sandbox pods in namespace %s: no answer from the API server: %w", opts.Namespace, sandbox.ErrEngineDown)
	}
	if opts.PoolSize > 0 {
		m.wg.Go(func() { m.pool.Fill(m.ctx) })
	}
	return m, nil
}

// checkAccess makes sure, before anything else, that the server may do
// in the namespace all the backend does: it asks the API server (a
// SelfSubjectAccessReview each, which every account may make) and names
// each permission missing. Then it lists the server's Pods and Secrets
// once, so an API server that does not answer fails the start too.
func (m *Manager) checkAccess(ctx context.Context) error {
	ns := m.opts.Namespace
	if err := m.checkPermissions(ctx); err != nil {
		return err
	}
	lo := metav1.ListOptions{LabelSelector: m.serverSelector().String(), Limit: 1}
	if _, err := m.cs.CoreV1().Pods(ns).List(ctx, lo); err != nil {
		return m.apiErr(fmt.Sprintf("list pods in namespace %s", ns), err)
	}
	if _, err := m.cs.CoreV1().Secrets(ns).List(ctx, lo); err != nil {
		return m.apiErr(fmt.Sprintf("list secrets in namespace %s", ns), err)
	}
	return nil
}

// permission is one thing the backend does in its namespace.
type permission struct{ verb, resource, subresource string }

func (p permission) String() string {
	if p.subresource != "" {
		return p.verb + " " + p.resource + "/" + p.subresource
	}
	return p.verb + " " + p.resource
}

// permissions lists what the backend does in its namespace (the Role of
// deploy/kubernetes.yaml grants each): claims are made and patched only
// with a storage class, but always listed and deleted (the workspaces of
// conversations from when the server had one are reaped).
func (o Options) permissions() []permission {
	var ps []permission
	for _, v := range []string{"create", "get", "list", "watch", "delete", "patch"} {
		ps = append(ps, permission{v, "pods", ""})
	}
	ps = append(ps, permission{"create", "pods", "portforward"}, permission{"get", "pods", "log"})
	for _, v := range []string{"create", "get", "list", "patch", "delete"} {
		ps = append(ps, permission{v, "secrets", ""})
	}
	claimVerbs := []string{"get", "list", "delete"}
	if o.StorageClass != "" {
		claimVerbs = []string{"create", "get", "list", "patch", "delete"}
	}
	for _, v := range claimVerbs {
		ps = append(ps, permission{v, "persistentvolumeclaims", ""})
	}
	return ps
}

// checkPermissions asks the API server whether the server's account may
// do each of Options.permissions, and fails naming those it may not. An
// API server that cannot answer such a question (the authorization API
// refused or absent) leaves the check to the lists of checkAccess.
func (m *Manager) checkPermissions(ctx context.Context) error {
	ns := m.opts.Namespace
	var denied []string
	for _, p := range m.opts.permissions() {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: p.verb, Resource: p.resource, Subresource: p.subresource}}}
		got, err := m.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		switch {
		case err != nil && (apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)):
			m.log.WarnContext(ctx, "the API server does not review permissions; checking by listing", "err", err)
			return nil
		case err != nil:
			return m.apiErr("review the server's permissions in namespace "+ns, err)
		case !got.Status.Allowed:
			denied = append(denied, p.String())
		}
	}
	if len(denied) > 0 {
		return fmt.Errorf("namespace %s: the server's Kubernetes account may not %s (see deploy/kubernetes.yaml for the Role it needs)",
			ns, strings.Join(denied, ", "))
	}
	return nil
}

// Start gives owner a ready sandbox: one from the warm pool when spec
// asks for nothing the pool's sandboxes lack, otherwise a new Pod. An
// image the cluster does not have gives ErrImageMissing, and a Pod that
// stays Pending longer than Options.PendingTimeout an error naming why.
func (m *Manager) Start(ctx context.Context, owner string, spec sandbox.Spec) (sandbox.Sandbox, error) {
	s, err := m.start(ctx, owner, spec)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m *Manager) start(ctx context.Context, owner string, spec sandbox.Spec) (*Sandbox, error) {
	r, err := m.opts.resolve(spec)
	if err != nil {
		return nil, fmt.Errorf("start sandbox for %s: %w", owner, err)
	}
	release, err := m.reg.Claim(owner)
	if err != nil {
		return nil, err
	}
	defer release()
	if m.opts.PoolSize > 0 && r.equal(m.poolSpec) {
		if s := m.take(ctx, owner); s != nil {
			m.log.InfoContext(ctx, "sandbox from warm pool", "pod", s.id, "owner", owner)
			return s, nil
		}
	}
	s, err := m.create(ctx, owner, r, false)
	if err != nil {
		return nil, err
	}
	m.reg.Assign(owner, s)
	m.log.InfoContext(ctx, "sandbox started", "pod", s.id, "owner", owner, "image", s.image)
	return s, nil
}

// Running returns how many of the Manager's sandboxes, warm pool
// included, are up.
func (m *Manager) Running() int {
	return m.reg.CountUp()
}

// PoolSize returns how many ready sandboxes wait in the warm pool.
func (m *Manager) PoolSize() int { return m.pool.Len() }

// Ready reports whether the API server answers.
func (m *Manager) Ready(ctx context.Context) error {
	lo := metav1.ListOptions{LabelSelector: m.serverSelector().String(), Limit: 1}
	if _, err := m.cs.CoreV1().Pods(m.opts.Namespace).List(ctx, lo); err != nil {
		return m.apiErr("kubernetes API server", err)
	}
	return nil
}

// Close stops the watch and the pool, and removes the pool's sandboxes.
// Sandboxes held for owners keep running, for the next server to Recover.
func (m *Manager) Close(ctx context.Context) error {
	if !m.reg.Close() {
		return nil
	}
	pool := m.pool.Drain()
	m.cancel()
	m.wg.Wait()
	m.factory.Shutdown()
	err := sandbox.RemoveAll(ctx, pool)
	for _, s := range m.reg.All() {
		s.closeTunnel()
	}
	return err
}

// Changes delivers the status changes of the sandboxes held for owners.
func (m *Manager) Changes() <-chan sandbox.StatusChange { return m.reg.Changes() }

var _ sandbox.Backend = (*Manager)(nil)
