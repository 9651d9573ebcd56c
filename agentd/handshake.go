package agentd

import (
	"encoding/hex"
	"net/http"

	"github.com/gohands/gohands/agentapi"
)

// handshake is the agent's side of the handshake the client runs on every
// new connection (see agentapi.HandshakeMAC): it proves it holds the token and listens
// at Config.Binding. It needs no token itself.
func (s *Server) handshake(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.HandshakeRequest
	if err := s.decode(r, &req); err != nil {
		return err
	}
	nonce, err := hex.DecodeString(req.Nonce)
	if err != nil || len(nonce) != agentapi.NonceSize {
		return errorf(http.StatusUnprocessableEntity, "nonce: want %d bytes in hex", agentapi.NonceSize)
	}
	writeJSON(w, http.StatusOK, agentapi.HandshakeAnswer{MAC: hex.EncodeToString(agentapi.HandshakeMAC(s.cfg.Token, nonce, s.cfg.Binding))})
	return nil
}
