package agentd

import (
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"

	"github.com/gohands/gohands/agentapi"
)

// proxy forwards a request, WebSocket upgrades included, to a server a
// program of the sandbox runs on its loopback: /proxy/PORT/path goes to
// http://127.0.0.1:PORT/path. The agent's token is the agent's: it is not
// passed on.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) error {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		return errorf(http.StatusBadRequest, "port %q is not one of 1-65535", r.PathValue("port"))
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	prefix := agentapi.ProxyPath + "/" + strconv.Itoa(port)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			out.URL.Scheme, out.URL.Host, out.Host = "http", addr, addr
			out.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(pr.In.URL.Path, prefix), "/")
			out.URL.RawPath = ""
			if raw := pr.In.URL.RawPath; raw != "" {
				out.URL.RawPath = "/" + strings.TrimPrefix(strings.TrimPrefix(raw, prefix), "/")
			}
			out.Header.Del("Authorization")
			out.Header.Del("X-Agent-Token")
		},
		Transport:     s.loopback,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, errorf(http.StatusBadGateway, "nothing answers on port %d in the sandbox: %v", port, err))
		},
	}
	rp.ServeHTTP(w, r)
	return nil
}
