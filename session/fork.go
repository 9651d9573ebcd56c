package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// DefaultMaxForks bounds the count of one fork request when
// Options.MaxForks is 0.
const DefaultMaxForks = 8

// ForkRequest is the body of POST /api/conversations/{id}/fork.
type ForkRequest struct {
	// ID is the fork's id; new when empty. With Count above 1 the forks
	// are ID-1, ID-2, ...
	ID    string            `json:"id,omitempty"`
	Title string            `json:"title,omitempty"`
	Tags  map[string]string `json:"tags,omitempty"`
	// ResetMetrics (default true) starts the fork's cost and token counts
	// at zero; false copies the original's.
	ResetMetrics *bool `json:"reset_metrics,omitempty"`
	// FromEventID forks the conversation as it was at that event; empty:
	// as it is now.
	FromEventID string `json:"from_event_id,omitempty"`
	// Count makes that many forks at once (GoHands only; default 1).
	Count int `json:"count,omitempty"`
}

// forkPendingKey is the server value that marks a fork being made, until
// it is ready: a server that stops meanwhile removes it at its next start.
const forkPendingKey = "fork.pending."

// forkPending is what the mark of a fork being made holds.
type forkPending struct {
	Source   string `json:"source"`
	HostCopy string `json:"host_copy,omitempty"`
}

// Fork makes req.Count new conversations (one by default) whose events
// are this one's up to req.FromEventID (all of them by default) and whose
// sandboxes start from the checkpoint of the files at that event, each
// with its own workspace: a new volume, or, for a workspace in a host
// folder, a new folder beside it that the checkpoint fills. The original
// goes on as it was (its run, its sockets, its sandbox).
//
// Each fork is marked pending in the store until its sandbox is restored:
// one that fails is removed whole, and so is one a server stopped in the
// middle of, at the next start (RemovePendingForks).
func (a *AgentSession) Fork(ctx context.Context, req ForkRequest) ([]Info, error) {
	m := a.m
	n := req.Count
	if n == 0 {
		n = 1
	}
	maxForks := m.opts.MaxForks
	if maxForks <= 0 {
		maxForks = DefaultMaxForks
	}
	if n < 1 || n > maxForks {
		return nil, invalid("count: %d is not between 1 and %d", req.Count, maxForks)
	}
	if err := validTags(req.Tags); err != nil {
		return nil, err
	}
	if len(req.Title) > 200 {
		return nil, invalid("title: longer than 200 characters")
	}
	ids, err := m.forkIDs(req.ID, n)
	if err != nil {
		return nil, err
	}
	if !a.forking.TryLock() {
		return nil, conflict("conversation %s is being forked or rewound already; try again when that is done", a.id)
	}
	defer a.forking.Unlock()
	if a.Status() == StatusWaitingForConfirmation {
		return nil, conflict("conversation %s waits for the confirmation of an action: confirm or reject it first", a.id)
	}
	src, err := a.forkSource(ctx, req.FromEventID)
	if err != nil {
		return nil, err
	}
	infos := make([]Info, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = a.forkOne(ctx, id, req, src)
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		// All or none: the forks that were made go too.
		for i, id := range ids {
			if errs[i] == nil {
				m.removeFork(context.WithoutCancel(ctx), id)
			}
		}
		return nil, err
	}
	return infos, nil
}

// firstError returns the first error of errs, which keeps its kind.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// forkIDs returns the ids of n forks, refusing one that is taken.
func (m *ConversationManager) forkIDs(id string, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		switch {
		case id == "":
			ids[i] = NewID()
		case n == 1:
			ids[i] = id
		default:
			ids[i] = fmt.Sprintf("%s-%d", id, i+1)
		}
		if !idPattern.MatchString(ids[i]) {
			return nil, invalid("id: %q is not a valid id (letters, digits, '_', '.', '-'; at most 128)", ids[i])
		}
		if _, err := m.store.Conversation(ids[i]); err == nil {
			return nil, conflict("conversation %s already exists", ids[i])
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, storeError("look up conversation", err)
		}
	}
	return ids, nil
}

// forkPoint is what every fork of one request copies.
type forkPoint struct {
	eventID string // the from_event_id asked, "" for all
	upTo    int64  // the events copied are those with seq 1..upTo
	ck      Checkpoint
	hasCk   bool
	// moveTo moves the fork's head back to the event when the events
	// copied go past it.
	moveTo *event.HeadMoved
}

// forkSource finds the events and the checkpoint a fork copies: those up
// to the event fromID, or, for "", the conversation as it is now (its
// files checkpointed first).
func (a *AgentSession) forkSource(ctx context.Context, fromID string) (forkPoint, error) {
	p := forkPoint{eventID: fromID}
	checkpoints := a.CheckpointsOn()
	if fromID == "" && checkpoints {
		if _, err := a.checkpoint(ctx, a.LastSeq()); err != nil {
			return p, err
		}
	}
	t, evs, err := a.tree()
	if err != nil {
		return p, err
	}
	target := t.Head()
	p.upTo = int64(len(evs))
	if fromID != "" {
		seq, ok := t.Seq(fromID)
		if !ok {
			if _, err := a.Event(fromID); err == nil {
				return p, invalid("from_event_id: %s is a state or sandbox update, not an event to fork from", fromID)
			}
			return p, notFound("event", fromID)
		}
		target, p.upTo = seq, seq
	}
	if a.m.opts.Sandboxes == nil {
		return p, nil // no files to copy
	}
	if !checkpoints {
		return p, conflict("conversation %s takes no checkpoints (checkpoints: off), so its files cannot be forked", a.id)
	}
	ck, ok := checkpointFor(t, evs, target, a.m.opts.Checkpoints.List(a.id))
	if !ok {
		return p, conflict("event %s has no checkpoint of the sandbox's files (none was taken before it, or it was collected)", fromID)
	}
	p.ck, p.hasCk = ck, true
	// A checkpoint taken after the event goes with the events up to it,
	// so that its seq means the same in the fork, whose head is then
	// moved back to the event.
	if ck.Seq > p.upTo {
		p.upTo = ck.Seq
	}
	if t.HeadAfter(p.upTo) != target {
		p.moveTo = &event.HeadMoved{LeafEventID: fromID, LeafSeq: target, PreviousLeafEventID: idOf(evs, t.HeadAfter(p.upTo))}
		p.moveTo.Source = event.SourceUser
	}
	return p, nil
}

// idOf returns the id of the event seq of the log evs.
func idOf(evs []event.Event, seq int64) string {
	if seq >= 1 && seq <= int64(len(evs)) {
		return evs[seq-1].Meta().ID
	}
	return ""
}

// forkOne makes one fork: marked pending, its record and events and
// checkpoint copied, its sandbox started and restored, then marked ready.
// On failure what was made of it is removed.
func (a *AgentSession) forkOne(ctx context.Context, id string, req ForkRequest, p forkPoint) (info Info, err error) {
	m := a.m
	began := m.now()
	a.mu.Lock()
	s := a.settings
	s.Agent.Tools = append([]Tool(nil), s.Agent.Tools...)
	secrets := maps.Clone(a.secrets)
	a.mu.Unlock()
	origin := &ForkOrigin{ConversationID: a.id, EventID: p.eventID}
	if dir := s.Workspace.WorkingDir; m.roots.Has(dir) {
		origin.HostCopy = filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".fork-"+id)
		if !m.roots.Has(origin.HostCopy) {
			return Info{}, invalid("the workspace of conversation %s is the host root %s itself: a fork's copy would be outside the host roots", a.id, dir)
		}
		if s.ForkedFrom != nil {
			origin.HostDirs = append(origin.HostDirs, s.ForkedFrom.HostDirs...)
		}
		origin.HostDirs = append(origin.HostDirs, dir)
		s.Workspace.WorkingDir = origin.HostCopy
	}
	// The id is this fork's from here on, in this server: another fork
	// of the same id waits for the answer of this one.
	if !m.reserveFork(id) {
		return Info{}, conflict("conversation %s is being made by another fork", id)
	}
	created := false
	defer func() {
		switch {
		case err == nil:
		case created:
			m.removeFork(context.WithoutCancel(ctx), id)
		default: // the id may be another conversation's: only the mark goes
			m.store.PutServerValues(map[string][]byte{forkPendingKey + id: nil})
			m.forkReady(id)
		}
	}()
	pending, _ := json.Marshal(forkPending{Source: a.id, HostCopy: origin.HostCopy})
	if err := m.store.PutServerValues(map[string][]byte{forkPendingKey + id: pending}); err != nil {
		return Info{}, storeError("mark the fork pending", err)
	}
	s.ForkedFrom = origin
	if req.Tags != nil {
		s.Tags = req.Tags
	}
	if req.ResetMetrics == nil || *req.ResetMetrics {
		s.Metrics, s.Stats = Metrics{}, Stats{}
	}
	spec, err := json.Marshal(s)
	if err != nil {
		return Info{}, fmt.Errorf("encode settings: %w", err)
	}
	now := m.now().UTC()
	// As the reference server: the fork's title is the one asked for,
	// none by default; its tags are the original's unless given.
	conv := storage.Conversation{ID: id, Title: req.Title, Status: StatusIdle, CreatedAt: now, UpdatedAt: now, Spec: spec}
	if err := m.store.CreateConversation(conv); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return Info{}, conflict("conversation %s already exists", id)
		}
		return Info{}, storeError("create the fork", err)
	}
	created = true
	if len(secrets) > 0 {
		if err := m.store.PutSecrets(id, secrets); err != nil {
			return Info{}, storeError("copy secrets", err)
		}
	}
	lastStatus, err := m.copyEvents(a.id, id, p.upTo)
	if err != nil {
		return Info{}, err
	}
	if lastStatus != "" && lastStatus != StatusIdle {
		// The copied log ends in the original's status (running, say);
		// the fork is idle, and a client replaying its log must see so.
		value, _ := json.Marshal(StatusIdle)
		st := &event.StateUpdate{Key: event.StateKeyExecutionStatus, Value: value}
		st.Source = event.SourceEnvironment
		st.Timestamp = event.TimeOf(m.now())
		if err := m.store.Append(id, st); err != nil {
			return Info{}, storeError("record the fork's status", err)
		}
	}
	if p.moveTo != nil {
		move := *p.moveTo
		if err := m.store.Append(id, &move); err != nil {
			return Info{}, storeError("move the fork's head", err)
		}
	}
	if origin.HostCopy != "" {
		// Made now: a sandbox is not used on a host folder that is gone.
		if err := os.MkdirAll(origin.HostCopy, 0o755); err != nil {
			return Info{}, fmt.Errorf("make the fork's host folder: %w", err)
		}
	}
	f, err := m.get(id) // Get does not show it yet
	if err != nil {
		return Info{}, err
	}
	var records, made, started, restored time.Duration
	workspace := ""
	if p.hasCk {
		ck, err := m.opts.Checkpoints.Copy(a.id, p.ck.ID, id)
		if err != nil {
			return Info{}, checkpointError("copy the checkpoint", err)
		}
		t := m.now()
		records = t.Sub(began)
		cow := origin.HostCopy == "" && m.makeForkTree(ctx, id, a.id, p.ck.ID, f.WorkingDir())
		if _, left := m.trees.volume(id); left && !cow {
			return Info{}, conflict("the workspace of an earlier fork %s is still being removed; try again later", id)
		}
		made = m.now().Sub(t)
		if err := f.startForked(ctx, &cow); err != nil {
			return Info{}, err
		}
		started = m.now().Sub(t) - made
		f.ck.mu.Lock()
		if cow {
			_, err = f.restoreForked(ctx, ck)
		} else {
			_, err = f.restoreFiles(ctx, "", ck)
		}
		f.ck.mu.Unlock()
		if err != nil {
			return Info{}, err
		}
		restored = m.now().Sub(t) - made - started
		workspace = "restored"
		if cow {
			workspace = "copy-on-write"
		}
	}
	if err := m.store.PutServerValues(map[string][]byte{forkPendingKey + id: nil}); err != nil {
		return Info{}, storeError("mark the fork ready", err)
	}
	m.forkReady(id)
	m.log.InfoContext(ctx, "conversation forked", "conversation", a.id, "fork", id, "events", p.upTo, "from_event", p.eventID,
		"records", records, "workspace", workspace, "workspace_made", made, "sandbox_start", started, "restore", restored)
	f.publishInfo()
	return f.Info(), nil
}

// copyEvents copies the events 1..upTo of one conversation to another
// (new, with none), as they are: same ids, same seqs, same times. It
// returns the last execution status the copied events recorded, if any.
func (m *ConversationManager) copyEvents(from, to string, upTo int64) (lastStatus string, err error) {
	const page = 500
	var after int64
	for after < upTo {
		raws, err := m.store.RawEvents(from, uint64(after), int(min(page, upTo-after)))
		if err != nil {
			return "", readError(err)
		}
		if len(raws) == 0 {
			break
		}
		evs := make([]event.Event, 0, len(raws))
		for _, raw := range raws {
			e, err := event.Unmarshal(raw)
			if err != nil {
				return "", fmt.Errorf("stored event: %w", err)
			}
			if su, ok := e.(*event.StateUpdate); ok && su.Key == event.StateKeyExecutionStatus {
				var v string
				if json.Unmarshal(su.Value, &v) == nil {
					lastStatus = v
				}
			}
			evs = append(evs, e)
		}
		if err := m.store.Append(to, evs...); err != nil {
			return "", storeError("copy events", err)
		}
		after = evs[len(evs)-1].Meta().Seq
	}
	return lastStatus, nil
}

// reserveFork marks id as a fork being made, which Get, View and Search
// do not show until it is ready; false when it is one already.
func (m *ConversationManager) reserveFork(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.forks[id] {
		return false
	}
	if m.forks == nil {
		m.forks = make(map[string]bool)
	}
	m.forks[id] = true
	return true
}

// forkReady shows a fork made.
func (m *ConversationManager) forkReady(id string) {
	m.mu.Lock()
	delete(m.forks, id)
	m.mu.Unlock()
}

// pendingFork reports whether id is a fork being made.
func (m *ConversationManager) pendingFork(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.forks[id]
}

// removeFork removes what was made of a fork: its sandbox, its record,
// events and checkpoints, its host folder, and then its pending mark.
func (m *ConversationManager) removeFork(ctx context.Context, id string) {
	raw, _ := m.store.ServerValue(forkPendingKey + id)
	var p forkPending
	json.Unmarshal(raw, &p)
	m.mu.Lock()
	a := m.convs[id]
	m.mu.Unlock()
	if a != nil {
		if err := m.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			m.log.Warn("remove a fork that failed", "fork", id, "err", err)
		}
	} else {
		if err := m.store.DeleteConversation(id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			m.log.Warn("remove a fork that failed", "fork", id, "err", err)
		}
		m.dropForkTree(ctx, id)
	}
	if m.opts.Checkpoints != nil {
		if err := m.opts.Checkpoints.DeleteOwner(id); err != nil {
			m.log.Warn("remove the checkpoints of a fork that failed", "fork", id, "err", err)
		}
	}
	if p.HostCopy != "" && m.roots.Has(p.HostCopy) && strings.Contains(filepath.Base(p.HostCopy), ".fork-") {
		if err := os.RemoveAll(p.HostCopy); err != nil {
			m.log.Warn("remove the host folder of a fork that failed", "fork", id, "dir", p.HostCopy, "err", err)
		}
	}
	if err := m.store.PutServerValues(map[string][]byte{forkPendingKey + id: nil}); err != nil {
		m.log.Warn("unmark a fork that failed", "fork", id, "err", err)
	}
	m.forkReady(id)
}

// RemovePendingForks removes the forks an earlier server was making when
// it stopped (their records, events, checkpoints and host folders; their
// sandboxes, which no record owns then, go with Restore's orphans). It
// returns how many it removed. Call it before Restore.
func (m *ConversationManager) RemovePendingForks(ctx context.Context) (int, error) {
	pending, err := m.store.ServerValues(forkPendingKey)
	if err != nil {
		return 0, storeError("read pending forks", err)
	}
	for key := range pending {
		id := strings.TrimPrefix(key, forkPendingKey)
		m.removeFork(ctx, id)
		m.log.Info("a fork left half made by a stopped server is removed", "fork", id)
	}
	// The workspace of a fork whose record is gone (its deletion was cut
	// short) goes too.
	for _, id := range m.trees.ids() {
		if _, err := m.store.Conversation(id); errors.Is(err, storage.ErrNotFound) {
			m.dropForkTree(ctx, id)
		}
	}
	return len(pending), nil
}

// dropForkTree removes the copy-on-write workspace of a fork that no
// loaded conversation holds, after the sandboxes of the fork an earlier
// server left (the engine does not remove a volume in use).
func (m *ConversationManager) dropForkTree(ctx context.Context, id string) {
	if !slices.Contains(m.trees.ids(), id) {
		return
	}
	if hs, err := m.opts.Sandboxes.List(ctx); err == nil {
		for _, h := range hs {
			if h.Owner == id {
				if err := m.opts.Sandboxes.Destroy(ctx, h); err != nil {
					m.log.Warn("sandbox of a removed fork not removed", "fork", id, "sandbox", h.ID, "err", err)
				}
			}
		}
	}
	if err := m.trees.drop(ctx, id); err != nil {
		m.log.Warn("workspace volume of a removed fork not removed", "fork", id, "err", err)
	}
}

// makeForkTree makes the workspace of the fork id a copy-on-write view of
// the workspace (the folder root) of owner's checkpoint ckID, whose files
// are written once for every fork of it. It reports false, the reason
// logged, when it cannot: the fork's agent restores the whole workspace
// then.
func (m *ConversationManager) makeForkTree(ctx context.Context, id, owner, ckID, root string) bool {
	if !m.trees.on() {
		return false
	}
	key := baseKey(owner, ckID)
	err := m.trees.acquire(ctx, key, func(dir string) error {
		_, _, err := m.opts.Checkpoints.Materialize(owner, ckID, root, dir)
		return err
	})
	if err == nil {
		if err = m.trees.make(ctx, id, owner, key, root); err != nil {
			m.trees.release(key)
		}
	}
	if err != nil {
		m.log.InfoContext(ctx, "the fork's workspace is restored whole, not a copy-on-write view", "fork", id, "err", err)
		return false
	}
	return true
}

// startForked starts the sandbox of a fork being made. The first sandbox
// on a copy-on-write workspace tells whether the engine can mount one:
// when it cannot, the workspace volume goes, *cow turns false, and this
// sandbox and every later fork's do without.
func (a *AgentSession) startForked(ctx context.Context, cow *bool) error {
	trees := a.m.trees
	_, err := a.sb.get(ctx)
	if err != nil && *cow && trees.mount.Load() == 0 {
		if trees.drop(context.WithoutCancel(ctx), a.id) != nil {
			return err
		}
		*cow = false
		if _, err = a.sb.get(ctx); err == nil {
			trees.mount.Store(-1)
			a.log.Warn("the engine cannot mount a copy-on-write workspace: forks' workspaces are restored whole from now on")
		}
	}
	if err == nil && *cow {
		trees.mount.CompareAndSwap(0, 1)
	}
	return err
}
