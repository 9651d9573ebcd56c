package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
)

// tunnel is the API server's port-forward of one Pod: one upgraded
// connection, a pair of streams (error, data) per agent connection. A lost
// connection (the Pod went, the API server restarted) is dialled again on
// the next connection.
type tunnel struct {
	cfg  *rest.Config
	cs   kubernetes.Interface
	ns   string
	name string

	mu     sync.Mutex
	conn   httpstream.Connection
	nextID int
}

func newTunnel(cfg *rest.Config, cs kubernetes.Interface, ns, name string) *tunnel {
	return &tunnel{cfg: cfg, cs: cs, ns: ns, name: name}
}

// connection returns the open port-forward connection, dialling one when
// there is none or it closed.
func (t *tunnel) connection() (httpstream.Connection, int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil {
		select {
		case <-t.conn.CloseChan():
			t.conn = nil
		default:
		}
	}
	if t.conn == nil {
		conn, err := t.dial()
		if err != nil {
			return nil, 0, err
		}
		t.conn = conn
	}
	id := t.nextID
	t.nextID++
	return t.conn, id, nil
}

// dial opens a port-forward connection: over a websocket first (what the
// API server prefers since 1.31), SPDY when the server will not upgrade to
// one.
func (t *tunnel) dial() (httpstream.Connection, error) {
	u := t.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(t.ns).Name(t.name).SubResource("portforward").URL()
	rt, upgrader, err := spdy.RoundTripperFor(t.cfg)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s: %w", t.name, err)
	}
	dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	if ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, t.cfg); err == nil {
		dialer = portforward.NewFallbackDialerForStreaming(ws, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	conn, proto, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		if isConnErr(err) {
			return nil, fmt.Errorf("port-forward to pod %s: %w: %w", t.name, ErrAPIServerDown, err)
		}
		return nil, fmt.Errorf("port-forward to pod %s: %w", t.name, err)
	}
	if proto != portforward.PortForwardProtocolV1Name {
		conn.Close()
		return nil, fmt.Errorf("port-forward to pod %s: the API server speaks %q, not %q", t.name, proto, portforward.PortForwardProtocolV1Name)
	}
	return conn, nil
}

// DialContext opens a connection to the agent's port through the tunnel.
// The net.Conn it returns is one end of a pipe whose other end a pair of
// goroutines copy to and from the data stream, so that deadlines (the
// agent client's handshake needs them) work as on a socket.
func (t *tunnel) DialContext(ctx context.Context) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := t.open()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func (t *tunnel) open() (net.Conn, error) {
	c, err := t.openOnce()
	if err != nil && !errors.Is(err, ErrAPIServerDown) {
		// The connection broke before it said so (the API server went
		// or restarted): once more, on a connection dialled afresh.
		c, err = t.openOnce()
	}
	return c, err
}

func (t *tunnel) openOnce() (net.Conn, error) {
	conn, id, err := t.connection()
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(AgentPort))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.Itoa(id))
	errStream, err := conn.CreateStream(h)
	if err != nil {
		t.drop(conn)
		return nil, fmt.Errorf("port-forward to pod %s: error stream: %w", t.name, err)
	}
	errStream.Close() // nothing to send on it
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(h)
	if err != nil {
		conn.RemoveStreams(errStream)
		t.drop(conn)
		return nil, fmt.Errorf("port-forward to pod %s: data stream: %w", t.name, err)
	}
	local, remote := net.Pipe()
	done := make(chan struct{})
	go func() {
		// The kubelet says on the error stream why it could not connect
		// (nothing listens on the port yet, say): end the pipe with it.
		msg, _ := io.ReadAll(errStream)
		if len(msg) > 0 {
			remote.Close()
			data.Reset()
		}
		<-done
		conn.RemoveStreams(errStream, data)
	}()
	go func() {
		io.Copy(remote, data)
		remote.Close()
	}()
	go func() {
		defer close(done)
		io.Copy(data, remote)
		data.Reset()
		remote.Close()
	}()
	return local, nil
}

// drop forgets conn after a failure, so the next connection dials anew.
func (t *tunnel) drop(conn httpstream.Connection) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == conn {
		t.conn.Close()
		t.conn = nil
	}
}

// Close ends the tunnel's connection and every stream on it.
func (t *tunnel) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil {
		t.conn.Close()
		t.conn = nil
	}
}
