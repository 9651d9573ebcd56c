package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/storage"
)

// restoreRetryMax bounds the wait between two tries of Restore in the
// background.
const restoreRetryMax = 15 * time.Second

// restoreParallel bounds the sandboxes Restore takes over (or removes) at
// once: each costs the engine an inspect and, for a running one, a health
// check of its agent, which overlap well; more at once would only queue in
// the engine.
const restoreParallel = 8

// StartRestore runs Restore in the background and returns at once, so
// that the server answers while the sandboxes are taken over: reads need
// none, and a conversation used before Restore reaches it recovers its
// own sandbox at once (the runner's get), which Restore then skips.
// Recovering says how many are left.
func (m *ConversationManager) StartRestore() {
	if m.opts.Sandboxes == nil {
		return
	}
	m.listing.Store(true)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.Restore(m.ctx)
	}()
}

// Recovering returns how many saved sandboxes Restore has yet to take
// over: 0 once it is done, or when it did not run; at least 1 while the
// pass StartRestore began runs (it may not have listed them yet).
func (m *ConversationManager) Recovering() int {
	n := int(max(m.recovering.Load(), 0))
	if m.listing.Load() {
		n = max(n, 1)
	}
	return n
}

// Restore takes over, at start, the sandboxes this server's conversations
// saved (their runners hold them from then on, so the idle policy covers
// them) and removes the server's other sandboxes, and the workspace
// volumes, which no conversation owns, restoreParallel at a time; it
// returns once done. When the engine does not answer, it says so (an
// error wrapping sandbox.ErrEngineDown) and tries again in the
// background, less and less often, until the engine answers or the
// manager closes: conversations do not wait for it, each recovers its own
// saved sandbox on first use.
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

// restoreJob is one sandbox Restore found: to take over for rec, or to
// remove when orphan.
type restoreJob struct {
	h      sandbox.Handle
	rec    storage.SandboxRecord
	orphan bool
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
	defer m.listing.Store(false)
	if err != nil {
		if !errors.Is(err, sandbox.ErrEngineDown) {
			m.log.Warn("re-adopting sandboxes", "err", err)
		}
		return err
	}
	kept := make(map[string]bool) // workspace volumes of conversations
	for _, r := range recs {
		if r.Volume != "" {
			kept[r.Volume] = true
		}
	}
	saved := indexRecords(recs)
	jobs := make([]restoreJob, 0, len(list))
	for _, h := range list {
		if h.ID == "" && kept[h.Volume] {
			continue // the workspace of a conversation whose container was removed
		}
		rec, ok := saved.owner(h)
		if !ok || h.ID == "" {
			if kept[h.Volume] {
				h.Volume = "" // the container goes, the workspace stays
			}
			jobs = append(jobs, restoreJob{h: h, orphan: true})
			continue
		}
		jobs = append(jobs, restoreJob{h: h, rec: rec})
		m.recovering.Add(1)
	}
	var adopted, removed atomic.Int64
	var down atomic.Bool
	work := make(chan restoreJob)
	var wg sync.WaitGroup
	for range min(restoreParallel, len(jobs)) {
		wg.Go(func() {
			for j := range work {
				if down.Load() || ctx.Err() != nil {
					if !j.orphan {
						m.recovering.Add(-1)
					}
					continue // tried again later: what is held is skipped then
				}
				var err error
				if j.orphan {
					if err = be.Destroy(ctx, j.h); err == nil {
						m.log.Info("orphan sandbox removed", "sandbox", j.h.ID, "volume", j.h.Volume, "owner", j.h.Owner)
						removed.Add(1)
					}
				} else {
					if err = m.recoverInto(ctx, j.rec, j.h.ID); err == nil {
						adopted.Add(1)
					}
					m.recovering.Add(-1)
				}
				switch {
				case errors.Is(err, sandbox.ErrEngineDown):
					down.Store(true)
				case err != nil:
					m.log.Warn("re-adopting sandboxes", "err", err)
				}
			}
		})
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	if down.Load() {
		return fmt.Errorf("re-adopting sandboxes: %w", sandbox.ErrEngineDown)
	}
	if adopted.Load() > 0 || removed.Load() > 0 || len(recs) > 0 {
		m.log.Info("sandboxes re-adopted", "adopted", adopted.Load(), "recorded", len(recs), "orphans_removed", removed.Load())
	}
	return nil
}

// savedRecords are the sandbox records by container id and, for those
// without one, by conversation.
type savedRecords struct {
	byID, byOwner map[string]storage.SandboxRecord
	all           []storage.SandboxRecord
}

func indexRecords(recs []storage.SandboxRecord) savedRecords {
	s := savedRecords{byID: make(map[string]storage.SandboxRecord), byOwner: make(map[string]storage.SandboxRecord), all: recs}
	for _, r := range recs {
		if r.ContainerID != "" {
			s.byID[r.ContainerID] = r
		} else if r.ConversationID != "" {
			s.byOwner[r.ConversationID] = r
		}
	}
	return s
}

// owner finds the record that owns a listed sandbox: by its id (a short
// id too), or by its owner label when the record has no id.
func (s savedRecords) owner(h sandbox.Handle) (storage.SandboxRecord, bool) {
	if r, ok := s.byID[h.ID]; ok {
		return r, true
	}
	if r, ok := s.byOwner[h.Owner]; ok && h.Owner != "" {
		return r, true
	}
	for _, r := range s.all {
		if len(r.ContainerID) >= 12 && strings.HasPrefix(h.ID, r.ContainerID) {
			return r, true
		}
	}
	return storage.SandboxRecord{}, false
}

// recoverInto recovers the sandbox id of a record for its conversation's
// runner, unless the runner holds one already (recovered on use before
// Restore came to it). A conversation deleted meanwhile is skipped: its
// sandbox goes with the deletion's pending removal.
func (m *ConversationManager) recoverInto(ctx context.Context, rec storage.SandboxRecord, id string) error {
	a, err := m.Get(rec.ConversationID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox of %s: %w", rec.ConversationID, err)
	}
	h := sandbox.Handle{Owner: rec.ConversationID, ID: id, Token: rec.Token, Image: rec.Image}
	if err := a.sb.takeOver(ctx, h); err != nil {
		return fmt.Errorf("sandbox of %s: %w", rec.ConversationID, err)
	}
	return nil
}
