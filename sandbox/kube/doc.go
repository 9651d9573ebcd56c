// Package kube is the Kubernetes sandbox.Backend: a sandbox is a Pod in a
// configured namespace, from any image the cluster can run, with the
// runtime-agent as its command. The package talks to the cluster only
// through client-go; the cluster schedules, GoHands does not.
//
// The agent gets into the Pod without a rebuild of the user's image: an
// init container of the agent image (make agent-image: the static binary
// alone, FROM scratch) runs `runtime-agent --install` into an emptyDir,
// which the sandbox container mounts read-only at sandbox.AgentDir and
// runs the agent from (see buildPod for why this and not another way).
//
// The server reaches the agent in one of two ways (Options.Transport):
// through the API server's port-forward of the Pod (TransportAPIServer,
// the default: it works from wherever the API server is reachable), or by
// the Pod's IP when the server runs inside the cluster network
// (TransportPodIP). Either way the agent client's handshake proves the
// peer holds the sandbox's token before the token is sent.
//
// Each sandbox has, for its whole life, a Secret named like it (its id):
// the agent's token and the sandbox's environment (envFrom), and, in an
// annotation, the Pod to make at each start. A stopped sandbox has no
// Pod; Use or Start makes it again from the Secret, so Recover works for a
// stopped sandbox as for a running one. The workspace is an emptyDir
// (gone with the Pod), or, with Options.StorageClass, a
// PersistentVolumeClaim that outlives the Pod and the sandbox: it is the
// owner's (Handle.Volume, Disposable), kept by Remove, mounted again by
// the owner's next sandbox (Spec.Volume) and deleted by Destroy with
// the handle that names it. Resources map to the container's limits,
// Options.RuntimeClass to runtimeClassName.
//
// Every object carries the labels gohands.sandbox=1, gohands.server, the
// owner in gohands.conversation (a digest when the key is not a valid
// label value; the key itself is in the gohands.owner annotation) and the
// sandbox id in gohands.id. Unlike a container's, a Pod's labels can
// change: a warm pool sandbox handed to an owner is relabelled. List
// finds a sandbox by any of its objects, so Destroy also reaps what a
// crash left half made.
//
// A watch of the server's Pods (a shared informer) wakes starts waiting
// on a Pod and turns a Pod that fails, is evicted, is deleted or loses its
// node under a running sandbox into a StatusExited change on Changes, with
// an *sandbox.ExitError saying which. A start is bounded: a Pod Pending
// longer than Options.PendingTimeout fails naming why, and an image the
// node lacks (ErrImageNeverPull, ImagePullBackOff) fails at once with
// sandbox.ErrImageMissing naming the image.
//
// New checks, by SelfSubjectAccessReviews, that the server's account may
// do all the backend does in the namespace, and fails naming what it may
// not. An API server that does not answer gives errors that are
// ErrAPIServerDown (and so sandbox.ErrEngineDown); the watch and the
// port-forwards are made again when it is back. A create a ResourceQuota
// refuses fails naming the quota.
//
// The package knows nothing of conversations or the HTTP server.
package kube
