package server

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// TestStatusOfSession checks the one adapter from session's error kinds to
// HTTP statuses: each kind keeps the status clients were answered with
// when session chose statuses itself.
func TestStatusOfSession(t *testing.T) {
	refused := func(status int) error {
		return &session.Error{Kind: session.KindRefused, Detail: "kill: refused",
			Err: fmt.Errorf("kill: %w", &agentapi.HTTPError{Status: status, Detail: "refused"})}
	}
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantDetail string
	}{
		{"invalid", &session.Error{Kind: session.KindInvalid, Detail: "limit: 0 is less than 1", Err: session.ErrInvalid}, 422, "limit: 0 is less than 1"},
		{"rejected", &session.Error{Kind: session.KindRejected, Detail: "path: contains a NUL byte", Err: session.ErrInvalid}, 400, "path: contains a NUL byte"},
		{"not found", &session.Error{Kind: session.KindNotFound, Detail: `conversation "x" not found`, Err: session.ErrNotFound}, 404, `conversation "x" not found`},
		{"conflict", &session.Error{Kind: session.KindConflict, Detail: "running", Err: session.ErrConflict}, 409, "running"},
		{"no agent loop", &session.Error{Kind: session.KindConflict, Detail: "no loop", Err: session.ErrNoAgent}, 409, "no loop"},
		{"paused sandbox", &session.Error{Kind: session.KindConflict, Detail: "sandbox: paused", Err: sandbox.ErrPaused}, 409, "sandbox: paused"},
		{"too many", &session.Error{Kind: session.KindTooMany, Detail: "100 live", Err: session.ErrTooMany}, 429, "100 live"},
		{"no sandboxes", &session.Error{Kind: session.KindUnavailable, Detail: "this server runs no sandboxes", Err: session.ErrNoAgent}, 503, "this server runs no sandboxes"},
		{"store down", &session.Error{Kind: session.KindUnavailable, Detail: "set status: state store unavailable", Err: storage.ErrUnavailable}, 503, "set status: state store unavailable"},
		{"agent 413", refused(http.StatusRequestEntityTooLarge), 413, "kill: refused"},
		{"agent 404", refused(http.StatusNotFound), 404, "kill: refused"},
		{"agent 400", refused(http.StatusBadRequest), 400, "kill: refused"},
		{"refused without an answer", &session.Error{Kind: session.KindRefused, Detail: "odd", Err: errors.New("odd")}, 500, "odd"},
		{"no kind", &session.Error{Detail: "broke"}, 500, "broke"},
		{"wrapped", fmt.Errorf("create: %w", &session.Error{Kind: session.KindInvalid, Detail: "title: too long", Err: session.ErrInvalid}), 422, "title: too long"},
		{"bare sentinel", fmt.Errorf("get: %w", session.ErrNotFound), 404, "get: not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, detail := statusOf(tt.err)
			if status != tt.wantStatus || detail != tt.wantDetail {
				t.Errorf("statusOf = %d %q, want %d %q", status, detail, tt.wantStatus, tt.wantDetail)
			}
		})
	}
}
