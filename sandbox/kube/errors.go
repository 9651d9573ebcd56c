package kube

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gohands/gohands/sandbox"
)

// ErrAPIServerDown means the Kubernetes API server did not answer (refused
// the connection, dropped it, timed out or said it is unavailable). It
// matches sandbox.ErrEngineDown, which callers branch on: the server
// answers 503 while it lasts.
var ErrAPIServerDown error = engineDown{"kubernetes API server not reachable"}

// engineDown is an error of its own wording that is sandbox.ErrEngineDown.
type engineDown struct{ msg string }

func (e engineDown) Error() string        { return e.msg }
func (e engineDown) Is(target error) bool { return target == sandbox.ErrEngineDown }

// apiErr wraps an API error with what was being done, and says what a
// refusal, a used-up quota or an absent API server means.
func (m *Manager) apiErr(what string, err error) error {
	switch {
	case isQuotaErr(err):
		return fmt.Errorf("%s: %s: %w", what, quotaWords(m.opts.Namespace, err), err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: the server's Kubernetes account may not (see deploy/kubernetes.yaml for the Role it needs): %w", what, err)
	case apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || isConnErr(err):
		return fmt.Errorf("%s: %w: %w", what, ErrAPIServerDown, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isQuotaErr reports whether the API server refused a create because a
// ResourceQuota of the namespace is used up or asks for what the object
// does not say (limits on a Pod without them).
func isQuotaErr(err error) bool {
	if !apierrors.IsForbidden(err) {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "exceeded quota:") || strings.Contains(s, "failed quota:") || strings.Contains(s, "status unknown for quota:")
}

// quotaName finds the ResourceQuota an API refusal names.
var quotaName = regexp.MustCompile(`(?:exceeded|failed|status unknown for) quota: ([a-z0-9.-]+)`)

// quotaWords says which quota of ns refused a create.
func quotaWords(ns string, err error) string {
	if q := quotaName.FindStringSubmatch(err.Error()); q != nil {
		return fmt.Sprintf("ResourceQuota %s of namespace %s does not allow it", q[1], ns)
	}
	return fmt.Sprintf("a ResourceQuota of namespace %s does not allow it", ns)
}

// isConnErr reports whether err is a connection to the API server that
// failed or broke, rather than an answer.
func isConnErr(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.EPIPE, syscall.ETIMEDOUT, io.EOF, io.ErrUnexpectedEOF, net.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	s := err.Error()
	for _, w := range []string{"connection refused", "connection reset", "no route to host", "i/o timeout", "EOF",
		"broken pipe", "client connection lost", "use of closed network connection", "TLS handshake timeout"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
