package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/storage"
)

// restoreRetryMax bounds the wait between two tries of Restore in the
// background.
const restoreRetryMax = 15 * time.Second

// Restore takes over, at start, the sandboxes this server's conversations
// saved (their runners hold them from then on, so the idle policy covers
// them) and removes the server's other sandboxes, and the workspace
// volumes, which no conversation owns. When the engine does not answer, it says so (an error wrapping
// sandbox.ErrEngineDown) and tries again in the background, less and less
// often, until the engine answers or the manager closes: conversations do
// not wait for it, each recovers its own saved sandbox on first use.
func (m *ConversationManager) Restore(ctx context.Context) error {
	if m.opts.Sandboxes == nil {
		return nil
	}
	err := m.restore(ctx)
	if !errors.Is(err, sandbox.ErrEngineDown) {
		return nil
	}
	m.log.Warn("the engine did not answer: sandboxes will be re-adopted and orphans removed once it does", "err", err)
	m.retryLater(restoreRetryMax, func() bool {
		return !errors.Is(m.restore(m.ctx), sandbox.ErrEngineDown)
	})
	return err
}

// restore is one try of Restore. Only an engine that does not answer is
// an error; what fails for one sandbox is logged, and the rest proceeds.
func (m *ConversationManager) restore(ctx context.Context) error {
	be := m.opts.Sandboxes
	recs, err := m.store.Sandboxes()
	if err != nil {
		m.log.Error("reading sandbox records", "err", err)
		return nil
	}
	list, err := be.List(ctx)
	if err != nil {
		if !errors.Is(err, sandbox.ErrEngineDown) {
			m.log.Warn("re-adopting sandboxes", "err", err)
		}
		return err
	}
	adopted, removed := 0, 0
	kept := make(map[string]bool) // workspace volumes of conversations
	for _, r := range recs {
		if r.Volume != "" {
			kept[r.Volume] = true
		}
	}
	for _, h := range list {
		if h.ID == "" && kept[h.Volume] {
			continue // the workspace of a conversation whose container was removed
		}
		rec, ok := savedFor(recs, h)
		if !ok || h.ID == "" {
			if kept[h.Volume] {
				h.Volume = "" // the container goes, the workspace stays
			}
			err = be.Destroy(ctx, h)
			if err == nil {
				m.log.Info("orphan sandbox removed", "sandbox", h.ID, "volume", h.Volume, "owner", h.Owner)
				removed++
			}
		} else if err = m.recoverInto(ctx, rec, h.ID); err == nil {
			adopted++
		}
		if errors.Is(err, sandbox.ErrEngineDown) {
			return err // tried again later: what is held is skipped then
		}
		if err != nil {
			m.log.Warn("re-adopting sandboxes", "err", err)
		}
	}
	if adopted > 0 || removed > 0 || len(recs) > 0 {
		m.log.Info("sandboxes re-adopted", "adopted", adopted, "recorded", len(recs), "orphans_removed", removed)
	}
	return nil
}

// savedFor finds the record that owns a listed sandbox: by its id (a
// short id too), or by its owner label when the record has no id.
func savedFor(recs []storage.SandboxRecord, h sandbox.Handle) (storage.SandboxRecord, bool) {
	for _, r := range recs {
		switch {
		case r.ContainerID == h.ID,
			len(r.ContainerID) >= 12 && strings.HasPrefix(h.ID, r.ContainerID),
			r.ContainerID == "" && r.ConversationID != "" && r.ConversationID == h.Owner:
			return r, true
		}
	}
	return storage.SandboxRecord{}, false
}

// recoverInto recovers the sandbox id of a record and gives it to its
// conversation's runner.
func (m *ConversationManager) recoverInto(ctx context.Context, rec storage.SandboxRecord, id string) error {
	sb, err := m.opts.Sandboxes.Recover(ctx, sandbox.Handle{Owner: rec.ConversationID, ID: id, Token: rec.Token, Image: rec.Image})
	if err != nil {
		return fmt.Errorf("sandbox of %s: %w", rec.ConversationID, err)
	}
	a, err := m.Get(rec.ConversationID)
	if err != nil {
		return fmt.Errorf("sandbox of %s: %w", rec.ConversationID, err)
	}
	a.sb.adopt(sb)
	return nil
}
