package session

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/storage"
)

// removeParallel bounds the removals of deleted conversations' sandboxes
// made at once.
const removeParallel = 4

// removeRetryMax bounds the wait between two tries of the removals that
// failed.
const removeRetryMax = 30 * time.Second

// keepRemoving removes what deleted conversations left outside the store
// (storage.Removal: their sandboxes' containers and workspace volumes,
// their forks' host folders) until Close: at start, what a stopped server left; then each
// delete's as it comes (kickRemovals). What fails is tried again, less and
// less often.
func (m *ConversationManager) keepRemoving() {
	defer m.wg.Done()
	wait := time.Second
	for {
		var retry <-chan time.Time
		if left := m.removePending(m.ctx); left > 0 {
			retry = time.After(wait)
			wait = min(2*wait, removeRetryMax)
		} else {
			wait = time.Second
		}
		select {
		case <-m.ctx.Done():
			return
		case <-m.removalKick:
		case <-retry:
		}
	}
}

// kickRemovals has keepRemoving look at the pending removals now.
func (m *ConversationManager) kickRemovals() {
	select {
	case m.removalKick <- struct{}{}:
	default:
	}
}

// removePending makes the pending removals, removeParallel at once, and
// returns how many are left (failed, or not tried before ctx ended).
func (m *ConversationManager) removePending(ctx context.Context) (left int) {
	rs, err := m.store.Removals()
	if err != nil {
		m.log.Error("reading the pending removals of deleted conversations", "err", err)
		return 1
	}
	var mu sync.Mutex
	work := make(chan storage.Removal)
	var wg sync.WaitGroup
	for range min(removeParallel, len(rs)) {
		wg.Go(func() {
			for r := range work {
				if ctx.Err() != nil || m.removeLeft(ctx, r) != nil {
					mu.Lock()
					left++
					mu.Unlock()
				}
			}
		})
	}
	for _, r := range rs {
		work <- r
	}
	close(work)
	wg.Wait()
	return left
}

// removeLeft removes what one deleted conversation left, and then its
// record.
func (m *ConversationManager) removeLeft(ctx context.Context, r storage.Removal) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	log := m.log.With("conversation", r.ConversationID)
	if (r.ContainerID != "" || r.Volume != "") && m.opts.Sandboxes != nil {
		h := sandbox.Handle{Owner: r.ConversationID, ID: r.ContainerID, Image: r.Image, Volume: r.Volume}
		if err := m.opts.Sandboxes.Destroy(ctx, h); err != nil {
			if !errors.Is(err, sandbox.ErrEngineDown) {
				log.Warn("the sandbox of a deleted conversation was not removed; trying again later", "sandbox", r.ContainerID, "err", err)
			}
			return err
		}
		log.Info("the sandbox of a deleted conversation is removed", "sandbox", r.ContainerID, "volume", r.Volume)
	}
	// A fork's copy-on-write workspace goes once its sandbox has.
	if err := m.trees.drop(ctx, r.ConversationID); err != nil {
		log.Warn("the workspace of a deleted fork was not removed; trying again later", "err", err)
		return err
	}
	if r.HostDir != "" && m.roots.Has(r.HostDir) {
		if err := os.RemoveAll(r.HostDir); err != nil {
			log.Warn("the host folder of a deleted fork was not removed; trying again later", "dir", r.HostDir, "err", err)
			return err
		}
	}
	if err := m.store.DoneRemoval(r.Key); err != nil {
		log.Warn("a removal done is not cleared from the store; it is made again later", "err", err)
		return err
	}
	return nil
}
