package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// The announce listener (Options.Announce) is where the sandboxes' agents
// say that they serve, as soon as they do (see agentapi.Announce). A start
// then tries its agent at once, at the address the announce came from,
// instead of waiting for the kubelet to report the container running,
// which it does at its next pass over the Pod, up to a second later.
// Nothing is trusted on an announce's word: it carries a proof made with
// the sandbox's token, and the agent it points at must still pass the
// handshake. The Pods must reach the listener (the server's Pod IP in the
// deploy/ manifest); where a NetworkPolicy or a NAT stands between them,
// starts are as fast as the cluster's status allows, no slower.

// announcePrefix and announceSuffix frame a sandbox's id and its
// start's key in the path of its announce URL:
// /agents/ID/KEY/ready. The key is new at each start, so the agent of an
// earlier Pod of the sandbox cannot announce itself as the new one's.
const (
	announcePrefix = "/agents/"
	announceSuffix = "/ready"
)

// listenAnnounce starts the announce listener at addr and returns the
// base URL the Pods are given.
func (m *Manager) listenAnnounce(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("announce address %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		return fmt.Errorf("announce address %q: give the address the Pods reach this server at, not a wildcard", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("announce listener: %w", err)
	}
	m.announceSrv = &http.Server{
		Handler:           http.HandlerFunc(m.serveAnnounce),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       10 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          nil,
	}
	m.announceBase = "http://" + ln.Addr().String()
	m.wg.Go(func() {
		if err := m.announceSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("announce listener stopped", "err", err)
		}
	})
	return nil
}

// closeAnnounce stops the announce listener, if any.
func (m *Manager) closeAnnounce() {
	if m.announceSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.announceSrv.Shutdown(ctx); err != nil {
		m.announceSrv.Close()
	}
}

// announceURL is the announce URL of the start key of sandbox id, ""
// without a listener.
func (m *Manager) announceURL(id, key string) string {
	if m.announceBase == "" {
		return ""
	}
	return m.announceBase + announcePrefix + id + "/" + key + announceSuffix
}

// serveAnnounce takes an agent's announce: POST /agents/ID/KEY/ready
// with the proof of the sandbox ID's token. It answers 204 when it took
// it: it records the address the announce came from and wakes the
// sandbox's start. Anything else (no such sandbox, a start that is over
// or not this one, a bad proof) gets the same 404 after the same work,
// so the Pods, which may be hostile, learn nothing of the others.
func (m *Manager) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "announce is a POST", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.EscapedPath()
	id, key, ok := announcePath(path)
	addr, err := netip.ParseAddrPort(r.RemoteAddr)
	if !ok || err != nil {
		http.Error(w, "no announce awaited here", http.StatusNotFound)
		return
	}
	s := m.reg.Lookup(id)
	token := noSandboxToken
	if s != nil {
		token = s.token
	}
	if !agentapi.VerifyAnnounce(token, path, r.Header.Get(agentapi.AnnounceHeader)) || s == nil ||
		!s.announced(key, addr.Addr().Unmap().String()) {
		m.log.Debug("announce refused", "pod", id, "from", r.RemoteAddr, "known", s != nil)
		http.Error(w, "no announce awaited here", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// noSandboxToken stands in for the token of a sandbox that is not there,
// so a refusal costs the same work either way.
const noSandboxToken = "no sandbox"

// announcePath returns the sandbox id and start key of an announce
// path.
func announcePath(path string) (id, key string, ok bool) {
	if len(path) > agentapi.AnnounceMaxPath {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(path, announcePrefix)
	if !ok {
		return "", "", false
	}
	rest, ok = strings.CutSuffix(rest, announceSuffix)
	if !ok {
		return "", "", false
	}
	id, key, ok = strings.Cut(rest, "/")
	if !ok || id == "" || key == "" || strings.Contains(key, "/") {
		return "", "", false
	}
	return id, key, true
}

// announced records that the agent of the Pod started with key
// announced itself from ip, and wakes the start. It reports false when
// key is not the current start's.
func (s *Sandbox) announced(key, ip string) bool {
	s.mu.Lock()
	if key != s.startKey {
		s.mu.Unlock()
		return false
	}
	s.announcedIP = ip
	s.mu.Unlock()
	s.wake()
	return true
}

// announcedFrom returns the address the current Pod's agent announced
// itself from, "" if it has not.
func (s *Sandbox) announcedFrom() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.announcedIP
}
