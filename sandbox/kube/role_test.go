package kube

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gohands/gohands/sandbox"
)

// TestRoleCoversEveryCall runs every operation of the backend on the fake
// clientset and checks that the Role in deploy/kubernetes.yaml allows each
// call it made (and the port-forward, which the fake cannot make), and
// grants nothing on resources the backend never touches.
func TestRoleCoversEveryCall(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.Role
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("deploy/kubernetes.yaml: %v", err)
		}
		if meta.Kind == "Role" {
			role = new(rbacv1.Role)
			if err := yaml.Unmarshal([]byte(doc), role); err != nil {
				t.Fatal(err)
			}
		}
	}
	if role == nil {
		t.Fatal("deploy/kubernetes.yaml has no Role")
	}
	allowed := map[string]bool{}
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				allowed[v+" "+res] = true
			}
		}
	}

	fc := newFakeCluster()
	ctx := testCtx(t)
	m := newFakeManager(t, fc, Options{PoolSize: 1, StorageClass: "standard"})
	for m.PoolSize() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	sb, err := m.Start(ctx, "conv-role", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.Start(ctx, "conv-role-2", sandbox.Spec{Image: "other:1"})
	if err != nil {
		t.Fatal(err)
	}
	sb.Stop(ctx)
	sb.Use(ctx)
	sb.Inspect(ctx)
	sb.(*Sandbox).logs(ctx, 5)
	m.Release(other.Handle())
	m.List(ctx)
	m.Recover(ctx, sandbox.Handle{Owner: "conv-role-2"})
	m.Destroy(ctx, other.Handle())
	sb.Remove(ctx)
	m.Ready(ctx)

	used := map[string]bool{"create pods/portforward": true, "get pods/portforward": true}
	for _, a := range fc.Actions() {
		if a.GetResource().Group == "authorization.k8s.io" {
			continue // a review of its own permissions: every account may (system:basic-user)
		}
		res := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		used[a.GetVerb()+" "+res] = true
	}
	for _, p := range (Options{StorageClass: "standard"}).permissions() {
		if !allowed[p.String()] {
			t.Errorf("New checks for %q, which the Role does not grant", p)
		}
	}
	for call := range used {
		if !allowed[call] {
			t.Errorf("the Role does not allow %q, which the backend does", call)
		}
	}
	for grant := range allowed {
		_, res, _ := strings.Cut(grant, " ")
		if !slices.ContainsFunc(slices.Collect(maps.Keys(used)), func(c string) bool { return strings.HasSuffix(c, " "+res) }) {
			t.Errorf("the Role grants %q on a resource the backend never touches", grant)
		}
	}
}
