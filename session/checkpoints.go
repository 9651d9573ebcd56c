package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
)

// Checkpoints keeps checkpoints of the files of conversations' sandboxes,
// by owner (a conversation's id): each one the snapshot the runtime-agent
// made after an event, stored as the change from the checkpoint before
// it. The checkpoint package's Store is one.
type Checkpoints interface {
	// Record stores the agent's snapshot tar as a checkpoint of owner
	// taken after the event seq, following the checkpoint parent.
	Record(owner string, seq int64, parent string, snapshot io.Reader, limit int64) (checkpoint.Checkpoint, error)
	// List returns owner's checkpoints, oldest first.
	List(owner string) []checkpoint.Checkpoint
	// State returns the files a checkpoint holds.
	State(owner, id string) (checkpoint.Manifest, error)
	// WriteRestore writes the tar the agent's /restore takes to bring
	// the files from the state from to that of checkpoint toID of
	// toOwner, under roots (all paths when empty).
	WriteRestore(w io.Writer, from checkpoint.Manifest, toOwner, toID string, roots []string) (files int, bytes int64, err error)
	// Copy makes checkpoint id of fromOwner one of toOwner too, at the
	// same seq, sharing its content.
	Copy(fromOwner, id, toOwner string) (checkpoint.Checkpoint, error)
	// DeleteOwner deletes every checkpoint of owner.
	DeleteOwner(owner string) error
}

var _ Checkpoints = (*checkpoint.Store)(nil)

// Checkpoint is one checkpoint of a conversation's sandbox files.
type Checkpoint = checkpoint.Checkpoint

// CheckpointMeter counts checkpoints; a Meter that is one is told of
// each.
type CheckpointMeter interface {
	CheckpointTaken(d time.Duration, err error)
}

// DefaultCheckpointMaxBytes bounds the content of one checkpoint's
// snapshot when Options.CheckpointMaxBytes is 0.
const DefaultCheckpointMaxBytes = 1 << 30

// snapshotExclude are paths never snapshotted: the kernel's, the
// engine's and GoHands' own (the agent and its run folder).
var snapshotExclude = []string{"/proc", "/sys", "/dev", "/run", sandbox.AgentDir}

// checkpointer is the checkpoint state of one conversation's sandbox.
type checkpointer struct {
	mu sync.Mutex // one snapshot or restore at a time
	// last is the checkpoint the sandbox's files derive from: the last
	// taken or restored. since is the agent's generation of it, valid for
	// the sandbox sandboxID only (another agent knows none of it).
	last      string
	since     string
	sandboxID string
	// paths are the container's own changed paths.
	paths changedPaths
}

// listChangedPaths asks the engine, in the background, for the paths the
// conversation's container changed in its own filesystem, which the
// checkpoints from then on hold. It is called when a run ends, not at
// each step: on some storage drivers (fuse-overlayfs) the engine walks the
// whole image to answer, for seconds, holding up its other calls on the
// container meanwhile. A path made during a run is in the checkpoints
// from the next run on.
func (a *AgentSession) listChangedPaths() {
	if !a.CheckpointsOn() {
		return
	}
	sb := a.sb.current()
	if cl, ok := sb.(sandbox.ChangeLister); ok && sb.Status() == sandbox.StatusRunning {
		a.ck.paths.refresh(a.m, sb.Handle().ID, cl)
	}
}

// changedPathsEvery bounds how often the engine is asked for a
// container's changed paths.
const changedPathsEvery = 30 * time.Second

// changedPaths keeps the changed paths the engine last listed for a
// sandbox, and asks again in the background, one listing at a time and
// at most every changedPathsEvery.
type changedPaths struct {
	mu        sync.Mutex
	sandboxID string
	list      []string
	asking    bool
	asked     time.Time
}

// set keeps list as the paths listed for the sandbox id.
func (c *changedPaths) set(id string, list []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sandboxID, c.list, c.asked = id, list, time.Now()
}

// get returns the paths listed for the sandbox id.
func (c *changedPaths) get(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sandboxID != id {
		return nil
	}
	return c.list
}

// refresh asks the engine again in the background, unless it is being
// asked or was asked lately.
func (c *changedPaths) refresh(m *ConversationManager, id string, cl sandbox.ChangeLister) {
	c.mu.Lock()
	if c.asking || c.sandboxID == id && time.Since(c.asked) < changedPathsEvery {
		c.mu.Unlock()
		return
	}
	c.asking = true
	c.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, 2*time.Minute)
		defer cancel()
		list, err := cl.ChangedPaths(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.asking, c.asked = false, time.Now()
		if err != nil {
			return
		}
		c.sandboxID, c.list = id, list
	}()
}

// CheckpointsOn reports whether the conversation's sandbox files are
// checkpointed after each action.
func (a *AgentSession) CheckpointsOn() bool {
	a.mu.Lock()
	setting := a.settings.Checkpoints
	a.mu.Unlock()
	return a.m.checkpointsOn(setting)
}

func (m *ConversationManager) checkpointsOn(setting string) bool {
	if m.opts.Checkpoints == nil || m.opts.Sandboxes == nil {
		return false
	}
	switch setting {
	case "on":
		return true
	case "off":
		return false
	}
	return m.opts.CheckpointsDefault
}

// checkpointed reports whether an observation of the tool may follow a
// change of the sandbox's files: every tool but those that only think,
// plan, search or fetch pages (MCP tools and unknown ones count).
func checkpointed(tool string) bool {
	switch tool {
	case event.ToolThink, event.ToolFinish, event.ToolTaskTracker, event.ToolGlob, event.ToolGrep, event.ToolBrowser:
		return false
	}
	return tool != "" && tool != "browser_navigate" && tool != "browser_get_content"
}

// afterStored takes a checkpoint after the last observation among evs
// whose tool may have changed files. A failure is logged and counted;
// the step goes on.
func (a *AgentSession) afterStored(evs []event.Event) {
	var seq int64
	for _, e := range evs {
		if o, ok := e.(*event.Observation); ok && checkpointed(o.ToolName) {
			seq = o.Seq
		}
	}
	if seq == 0 || !a.CheckpointsOn() {
		return
	}
	ctx, cancel := context.WithTimeout(a.m.ctx, 5*time.Minute)
	defer cancel()
	if _, err := a.checkpoint(ctx, seq); err != nil && a.m.ctx.Err() == nil {
		a.log.Warn("checkpoint not taken", "seq", seq, "err", err)
	}
}

// checkpoint snapshots the sandbox's files (the working folder and what
// changed in the container's own filesystem) as a checkpoint after the
// event seq.
func (a *AgentSession) checkpoint(ctx context.Context, seq int64) (Checkpoint, error) {
	a.ck.mu.Lock()
	defer a.ck.mu.Unlock()
	return a.checkpointLocked(ctx, seq)
}

func (a *AgentSession) checkpointLocked(ctx context.Context, seq int64) (ck Checkpoint, err error) {
	began := a.m.now()
	defer func() {
		if cm, ok := a.m.opts.Meter.(CheckpointMeter); ok {
			cm.CheckpointTaken(a.m.now().Sub(began), err)
		}
	}()
	cl, sb, done, err := a.sb.use(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	defer done()
	return a.checkpointOf(ctx, seq, cl, sb)
}

// checkpointOf takes the checkpoint of checkpointLocked in sb, whose
// agent client is cl. The caller holds a.ck.mu.
func (a *AgentSession) checkpointOf(ctx context.Context, seq int64, cl *agentapi.Client, sb sandbox.Sandbox) (ck Checkpoint, err error) {
	req := agentapi.SnapshotRequest{Roots: []string{a.WorkingDir()}, Exclude: snapshotExclude,
		MaxBytes: a.m.checkpointMaxBytes()}
	// The container's own changed paths, as the engine last listed them
	// (listChangedPaths). A path is re-read at every snapshot once listed.
	for _, p := range a.ck.paths.get(sb.Handle().ID) {
		if !underAny(p, req.Roots) { // those under a root are walked anyway
			req.Paths = append(req.Paths, p)
		}
	}
	parent := a.ck.last
	if a.ck.sandboxID == sb.Handle().ID && a.m.hasCheckpoint(a.id, parent) {
		req.Since = a.ck.since
	}
	if req.Since == "" {
		parent = "" // a full snapshot: the state is its own
	}
	body, err := cl.Snapshot(ctx, req)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: snapshot: %w", err)
	}
	defer body.Close()
	ck, err = a.m.opts.Checkpoints.Record(a.id, seq, parent, body, req.MaxBytes)
	if err != nil {
		return Checkpoint{}, checkpointError("checkpoint: record", err)
	}
	a.ck.last, a.ck.since, a.ck.sandboxID = ck.ID, ck.Generation, sb.Handle().ID
	return ck, nil
}

func (m *ConversationManager) checkpointMaxBytes() int64 {
	if m.opts.CheckpointMaxBytes > 0 {
		return m.opts.CheckpointMaxBytes
	}
	return DefaultCheckpointMaxBytes
}

// restoreFiles brings the sandbox's files to the checkpoint to of this
// conversation from the state of its checkpoint from ("" for a fresh
// sandbox: nothing to delete). It returns how many entries it wrote. The
// caller holds a.ck.mu.
func (a *AgentSession) restoreFiles(ctx context.Context, from string, to Checkpoint) (int, error) {
	cks := a.m.opts.Checkpoints
	cl, sb, done, err := a.sb.use(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	var fromState checkpoint.Manifest
	if from != "" {
		if fromState, err = cks.State(a.id, from); err != nil {
			return 0, checkpointError("restore: read the current state", err)
		}
	}
	toState, err := cks.State(a.id, to.ID)
	if err != nil {
		return 0, checkpointError("restore: read the checkpoint", err)
	}
	hdr := restoreHeader{fm: folderMap{to: a.WorkingDir()}, root: a.WorkingDir()}
	if f := a.Settings().ForkedFrom; f != nil {
		// A fork's copied checkpoints hold its originals' host folders.
		hdr.fm.from = f.HostDirs
	}
	hdr.paths = hdr.outside(fromState, toState)
	files, res, err := a.sendRestore(ctx, cl, hdr, fromState, to.ID)
	if err != nil {
		return 0, err
	}
	a.ck.last, a.ck.since, a.ck.sandboxID = to.ID, res.Generation, sb.Handle().ID
	return files, nil
}

// sendRestore has the agent of cl bring its files from the state from to
// that of the conversation's checkpoint toID, the restore tar completed by
// hdr. It returns how many entries it wrote.
func (a *AgentSession) sendRestore(ctx context.Context, cl *agentapi.Client, hdr restoreHeader, from checkpoint.Manifest, toID string) (int, agentapi.RestoreResult, error) {
	pr, pw := io.Pipe()
	var files int
	written := make(chan error, 1)
	go func() {
		var err error
		files, _, err = a.m.opts.Checkpoints.WriteRestore(pw, from, a.id, toID, nil)
		pw.CloseWithError(err)
		written <- err
	}()
	mr, mw := io.Pipe()
	rewritten := make(chan error, 1)
	go func() {
		err := hdr.rewrite(mw, pr)
		pr.CloseWithError(errors.New("restore ended"))
		mw.CloseWithError(err)
		rewritten <- err
	}()
	res, err := cl.Restore(ctx, mr)
	mr.CloseWithError(errors.New("restore ended"))
	werr, rerr := <-written, <-rewritten
	if werr != nil {
		return 0, res, checkpointError("restore: read checkpoint", werr)
	}
	if err != nil {
		return 0, res, sandboxError(fmt.Errorf("restore files: %w", err))
	}
	if rerr != nil {
		return 0, res, rerr
	}
	return files, res, nil
}

// hasCheckpoint reports whether owner still has the checkpoint id (the
// bounds merge old ones away).
func (m *ConversationManager) hasCheckpoint(owner, id string) bool {
	if id == "" {
		return false
	}
	for _, c := range m.opts.Checkpoints.List(owner) {
		if c.ID == id {
			return true
		}
	}
	return false
}

// checkpointFor picks the checkpoint that holds the sandbox's files as
// they were at the event target of the log evs (whose tree is t): one
// taken while the head was on the branch through target, before or after
// it, with no observation of a tool that may change files between the two
// (else the files may have changed in between: the checkpoint that would
// say how was not taken, or was merged away). The nearest such one wins,
// the newest among equals.
func checkpointFor(t *event.Tree, evs []event.Event, target int64, cks []Checkpoint) (Checkpoint, bool) {
	changes := make(map[int64]bool)
	for _, e := range evs {
		if o, ok := e.(*event.Observation); ok && checkpointed(o.ToolName) {
			changes[o.Seq] = true
		}
	}
	toTarget := t.Path(target)
	// between returns the events from one node (exclusive) to another
	// (inclusive) along a branch, or false when neither is an ancestor
	// of the other (0 is the root of all).
	between := func(n int64) ([]int64, bool) {
		if n == 0 {
			return toTarget, true
		}
		if i := slices.Index(toTarget, n); i >= 0 {
			return toTarget[i+1:], true
		}
		toN := t.Path(n)
		if j := slices.Index(toN, target); j >= 0 {
			return toN[j+1:], true
		}
		return nil, false
	}
	best, found, bestGap := Checkpoint{}, false, 0
	for _, c := range cks {
		gap, ok := between(t.HeadAfter(c.Seq))
		if !ok || slices.ContainsFunc(gap, func(s int64) bool { return changes[s] }) {
			continue
		}
		if !found || len(gap) < bestGap || len(gap) == bestGap && c.Seq >= best.Seq {
			best, found, bestGap = c, true, len(gap)
		}
	}
	return best, found
}

// checkpointError gives a failure of the checkpoint store its kind: a
// full disk is KindUnavailable.
func checkpointError(what string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) {
		return &Error{Kind: KindUnavailable, Err: err,
			Detail: what + ": the checkpoint store's disk is full or read-only; nothing was changed"}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// baseCheckpoint takes the first checkpoint of a conversation whose new
// sandbox just started, when it has none: the files before any action,
// which a rewind to the start of the conversation restores.
func (a *AgentSession) baseCheckpoint(ctx context.Context) {
	if !a.CheckpointsOn() || len(a.m.opts.Checkpoints.List(a.id)) > 0 {
		return
	}
	// Not while another snapshot or restore runs (this may be called from
	// within one): that one settles the state anyway.
	if !a.ck.mu.TryLock() {
		return
	}
	defer a.ck.mu.Unlock()
	if _, err := a.checkpointLocked(ctx, a.LastSeq()); err != nil && a.m.ctx.Err() == nil {
		a.log.Warn("first checkpoint not taken", "err", err)
	}
}

// underAny reports whether p is one of roots or under one.
func underAny(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}
