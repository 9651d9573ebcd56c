package session

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/mcpclient"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/storage"
	"github.com/gohands/gohands/tools"
)

// Loop is the agent of the server's conversations. Run runs one until it
// finishes, fails, waits for the user or ctx ends (a pause), appending
// events as it goes, and says how it ended; the session moves the
// conversation's status (see statusAfter). confirmed says the user
// accepted the actions that wait for confirmation. Reject records the
// user's refusal of those actions. Ask answers a question about the
// conversation without changing it, Title names it, and Condense
// condenses the history the model sees.
type Loop interface {
	Run(ctx context.Context, a *AgentSession, confirmed bool) (Outcome, error)
	Reject(ctx context.Context, a *AgentSession, reason string) error
	Ask(ctx context.Context, a *AgentSession, question string) (string, error)
	Title(ctx context.Context, a *AgentSession, maxLength int) (string, error)
	Condense(ctx context.Context, a *AgentSession) error
}

// Webhooks receives every stored event and every change of a
// conversation's info.
type Webhooks interface {
	Event(conversationID string, eventJSON []byte)
	Conversation(infoJSON []byte)
}

// Meter counts what the session package does.
type Meter interface {
	EventAppended(kind string)
	ConversationsLive(n int)
}

// Defaults fill what a create request leaves out.
type Defaults struct {
	// LLM is the server's model settings. Its key is given to a
	// conversation that brings none only when the conversation's endpoint
	// is the server's own or one of AllowedBaseURLs (llm.KeyScope).
	LLM LLM
	// AllowedBaseURLs are more endpoints the server's key may be sent to,
	// in llm.NormalizeBaseURL's form.
	AllowedBaseURLs []string
	WorkingDir      string // DefaultWorkingDir when empty
	MaxIterations   int    // 500 when 0
	Image           string // reported before a sandbox exists
}

// Options configure a ConversationManager.
type Options struct {
	Store *storage.Store
	// Sandboxes runs the conversations' sandboxes, a conversation's id
	// being its owner key. nil: conversations have no sandbox (tests of
	// the stream).
	Sandboxes sandbox.Backend
	Defaults  Defaults
	// MaxLive caps the sandboxes live at once: those of conversations
	// and of the shared workspaces that are running, paused or being
	// started (the warm pool's aside). A start reserves its slot first;
	// at the cap the least recently used idle sandbox is stopped to make
	// room, and the start waits its turn (see StartQueue, StartWait).
	// It also bounds the evicted conversations whose bash events are
	// kept. 0 means DefaultMaxLive.
	MaxLive int
	// StartQueue bounds the starts waiting for room under MaxLive; one
	// more is refused at once (KindTooMany). 0 means DefaultStartQueue.
	StartQueue int
	// StartWait bounds how long a start waits for room; it is then
	// refused (KindTooMany). 0 means DefaultStartWait.
	StartWait time.Duration
	// A conversation is idle while it has no run, no subscriber and no
	// sandbox call in progress. IdleTimeout removes the sandbox of one
	// idle that long, keeping its workspace (a volume or host folder; a
	// sandbox whose workspace is in its own filesystem is stopped
	// instead): the next use starts a new one on the same workspace, with
	// its changes outside the workspace brought back from the last
	// checkpoint when the conversation keeps checkpoints. 0 leaves it to
	// eviction.
	IdleTimeout time.Duration
	// EvictAfter drops from memory a conversation idle that long, its
	// sandbox stopped first (its state is all in the store: the next use
	// loads it again; its bash events, which are not stored, are kept for
	// it, those of the last MaxLive evicted). 0 keeps conversations loaded.
	EvictAfter time.Duration
	Loop       Loop
	// AllowHostCommands lets clients give a conversation action hooks
	// and hook analyzers that run commands, or a rules file to read: all
	// of them act on the server's host, not in the sandbox. Off, they are
	// refused (KindInvalid); the server's own hooks still run.
	AllowHostCommands bool
	// SecretLimits bound each conversation's secrets; zero fields take
	// their defaults.
	SecretLimits SecretLimits
	Webhooks     Webhooks
	Meter        Meter
	// HostRoots are where a workspace.working_dir (or the path a global
	// workspace route names) is a folder of the server's host, made if
	// missing and bind-mounted into the sandbox at the same path. Empty:
	// every working_dir is a path inside the sandbox.
	HostRoots []string
	// BashOutputMaxBytes bounds the output of one command of the bash
	// routes that the server holds in its bash events (the agent's
	// sandbox keeps the whole in a file the events name). 0 means
	// DefaultBashOutputMaxBytes; less than MinBashOutputMaxBytes is an
	// error.
	BashOutputMaxBytes int
	// Checkpoints keeps checkpoints of the sandboxes' files, for fork and
	// rewind; nil: none are taken.
	Checkpoints Checkpoints
	// CheckpointsDefault says conversations whose create request does not
	// say are checkpointed.
	CheckpointsDefault bool
	// CheckpointMaxBytes bounds the content of one snapshot; 0 means
	// DefaultCheckpointMaxBytes.
	CheckpointMaxBytes int64
	// MaxForks bounds the count of one fork request; 0 means
	// DefaultMaxForks.
	MaxForks int
	// ForkTreesDir is a folder of the server's own, out of every
	// sandbox's reach, where the workspaces of forks are made
	// copy-on-write views of their checkpoint's, when the backend can
	// (sandbox.OverlayVolumes). "": a fork's workspace is restored
	// whole by its sandbox's agent.
	ForkTreesDir string
	// MCPServers are the MCP servers every conversation has, before its
	// agent's mcp_config (whose servers replace those of the same name).
	MCPServers mcpclient.Config
	// MCPRemoteDirect has the server dial remote MCP servers itself
	// rather than from the conversation's sandbox.
	MCPRemoteDirect bool
	Logger          *slog.Logger
	Now             func() time.Time

	// logMaskerBuilt, if set, is called after each background build of
	// the Masker of log lines (for tests).
	logMaskerBuilt func()

	// Browser configures the conversations' browsers.
	Browser BrowserOptions
}

// ConversationManager owns the conversations of this server.
type ConversationManager struct {
	opts  Options
	roots HostRoots // Options.HostRoots, cleaned
	// trees are the copy-on-write workspaces of forks.
	trees *forkTrees
	// workspaces are the shared workspace sandboxes of the global routes.
	workspaces *workspaces
	// live is the cap on live sandboxes (Options.MaxLive).
	live  *liveCap
	store *storage.Store
	log   *slog.Logger
	now   func() time.Time

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// maskers holds the Masker of each conversation in convs, by id; it
	// changes under mu, and is read without a lock.
	maskers sync.Map
	// logMasker is the union of maskers, rebuilt when rebuildMasker
	// receives (logMaskerBuild serialises the builds).
	logMasker      atomic.Pointer[security.Masker]
	rebuildMasker  chan struct{}
	logMaskerBuild sync.Mutex

	mu     sync.Mutex
	convs  map[string]*AgentSession
	closed bool
	// evictedBash keeps the bash events of evicted conversations for
	// when they are loaded again, at most MaxLive of them, the oldest
	// evicted dropped first (in evictedOrder).
	evictedBash  map[string]*bashHub
	evictedOrder []string
	evictedBytes int // of the hubs in evictedBash
	// removalKick wakes keepRemoving when a delete leaves something to
	// remove.
	removalKick chan struct{}
	// recovering counts the saved sandboxes Restore has yet to take
	// over.
	recovering atomic.Int64
	// listing says the Restore pass StartRestore began is not done.
	listing atomic.Bool
	// forks are the ids of forks being made: Get, View and Search do not
	// show them until they are ready.
	forks map[string]bool

	// settingsMu orders the read-change-write of the server-wide
	// settings, profiles and secrets (serversettings.go).
	settingsMu sync.Mutex
}

// New returns a ConversationManager and starts its background work (idle
// cleanup, sandbox status events). Close stops it.
func New(opts Options) (*ConversationManager, error) {
	if opts.Store == nil {
		return nil, errors.New("session: Options.Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxLive <= 0 {
		opts.MaxLive = DefaultMaxLive
	}
	if opts.StartQueue <= 0 {
		opts.StartQueue = DefaultStartQueue
	}
	if opts.StartWait <= 0 {
		opts.StartWait = DefaultStartWait
	}
	if opts.Defaults.WorkingDir == "" {
		opts.Defaults.WorkingDir = DefaultWorkingDir
	}
	if opts.Defaults.MaxIterations <= 0 {
		opts.Defaults.MaxIterations = 500
	}
	switch {
	case opts.BashOutputMaxBytes == 0:
		opts.BashOutputMaxBytes = DefaultBashOutputMaxBytes
	case opts.BashOutputMaxBytes < MinBashOutputMaxBytes:
		return nil, fmt.Errorf("session: Options.BashOutputMaxBytes %d is less than %d", opts.BashOutputMaxBytes, MinBashOutputMaxBytes)
	}
	opts.SecretLimits = opts.SecretLimits.withDefaults()
	roots, err := CleanHostRoots(opts.HostRoots)
	if err != nil {
		return nil, fmt.Errorf("session: Options.HostRoots: %w", err)
	}
	treesDir := opts.ForkTreesDir
	if treesDir != "" {
		if treesDir, err = filepath.Abs(treesDir); err != nil {
			return nil, fmt.Errorf("session: Options.ForkTreesDir: %w", err)
		}
	}
	if opts.Checkpoints == nil {
		treesDir = ""
	}
	trees, err := newForkTrees(treesDir, opts.Sandboxes, opts.Logger.With("component", "session"))
	if err != nil {
		return nil, fmt.Errorf("session: Options.ForkTreesDir: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &ConversationManager{
		opts: opts, store: opts.Store, log: opts.Logger.With("component", "session"), now: opts.Now,
		ctx: ctx, cancel: cancel, roots: roots, trees: trees,
		convs: make(map[string]*AgentSession), rebuildMasker: make(chan struct{}, 1),
		evictedBash: make(map[string]*bashHub), removalKick: make(chan struct{}, 1),
	}
	m.workspaces = newWorkspaces(m)
	m.live = newLiveCap(m)
	m.wg.Add(2)
	go m.keepLogMasker()
	go m.keepRemoving()
	if opts.Sandboxes != nil {
		m.wg.Add(2)
		go m.watchSandboxes(opts.Sandboxes.Changes())
		go m.workspaces.keepIdle()
	}
	if opts.IdleTimeout > 0 || opts.EvictAfter > 0 {
		m.wg.Add(1)
		go m.cleanIdle()
	}
	return m, nil
}

// Close stops every run loop and detaches every subscriber (with
// ErrClosed), and makes the removals deleted conversations left that ctx
// leaves time for (the next server makes the others). Sandboxes are left
// running, to be re-adopted by the next server on the same state.
func (m *ConversationManager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	convs := make([]*AgentSession, 0, len(m.convs))
	for _, a := range m.convs {
		convs = append(convs, a)
	}
	m.mu.Unlock()
	for _, a := range convs {
		a.stopLoop(ctx)
		a.closeMCP()
		a.closeBrowser()
		if err := a.saveMetrics(); err != nil {
			m.log.Warn("metrics not saved", "conversation", a.id, "err", err)
		}
		a.stream.close(ErrClosed)
	}
	// A workspace sandbox has no record to be re-adopted by: it goes.
	for _, s := range m.workspaces.all() {
		s.remove(ctx)
	}
	m.workspaces.hub.close()
	// What deletes left is removed now if it can be within ctx; the rest
	// at the next start.
	m.removePending(ctx)
	m.cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watchSandboxes turns the backend's status changes into events of the
// conversations they belong to.
func (m *ConversationManager) watchSandboxes(changes <-chan sandbox.StatusChange) {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case c := <-changes:
			if c.Owner == "" || strings.HasPrefix(c.Owner, WorkspaceOwnerPrefix) {
				continue
			}
			a, err := m.Get(c.Owner)
			if err != nil {
				continue
			}
			a.sb.note(c)
		}
	}
}

// cleanIdle applies the idle policy (Options.IdleTimeout, EvictAfter)
// until Close: the one timer of conversations and their sandboxes.
func (m *ConversationManager) cleanIdle() {
	defer m.wg.Done()
	first := m.opts.IdleTimeout
	if first <= 0 || m.opts.EvictAfter > 0 && m.opts.EvictAfter < first {
		first = m.opts.EvictAfter
	}
	lastRelease := m.now()
	m.everyQuarter(first, func() {
		// Removing a container takes the engine a while: a few at once.
		var wg sync.WaitGroup
		slots := make(chan struct{}, idleParallel)
		var evicted atomic.Int64
		for _, a := range m.loaded() {
			idle := a.idleFor()
			var end func()
			switch {
			case idle <= 0:
			case m.opts.EvictAfter > 0 && idle >= m.opts.EvictAfter:
				end = func() {
					if m.evict(a) {
						evicted.Add(1)
					}
				}
			case m.opts.IdleTimeout > 0 && idle >= m.opts.IdleTimeout && a.sb.current() != nil:
				end = func() { a.sb.stopIdle(m.ctx) }
			}
			if end == nil {
				continue
			}
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				end()
			})
		}
		wg.Wait()
		if evicted.Load() >= evictedToFree {
			// An idle server allocates little, so its next collection
			// could be minutes away: the memory of the conversations
			// just dropped goes back to the system now.
			debug.FreeOSMemory()
		}
		// The pages of the store file that reads mapped in (reads of
		// stored conversations too, which load nothing) leave the
		// process's memory once a window; they stay in the page cache.
		if evicted.Load() >= evictedToFree || m.now().Sub(lastRelease) >= first {
			lastRelease = m.now()
			if _, err := m.store.ReleaseMapped(); err != nil {
				m.log.Debug("store pages not released", "err", err)
			}
		}
	})
}

// idleParallel bounds the idle sandboxes ended at once.
const idleParallel = 4

// evictedToFree is how many conversations one round of the idle policy
// evicts before it hands their memory back to the system at once.
const evictedToFree = 64

// everyQuarter calls check every quarter of limit (at most a minute, at
// least 10ms apart) until the manager closes, so that what has been idle
// for limit is seen soon after.
func (m *ConversationManager) everyQuarter(limit time.Duration, check func()) {
	t := time.NewTicker(max(min(limit/4, time.Minute), 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		check()
	}
}

// evict drops an idle conversation from memory once its sandbox is
// stopped, and reports whether it did; the next Get loads it again from
// the store, and its runner recovers the stopped sandbox by its saved
// handle.
func (m *ConversationManager) evict(a *AgentSession) bool {
	if !a.sb.stopIdle(m.ctx) || a.busy() {
		return false // in use again, or the engine did not stop it: next round
	}
	m.mu.Lock()
	if m.closed || m.convs[a.id] != a {
		m.mu.Unlock()
		return false
	}
	delete(m.convs, a.id)
	m.maskers.Delete(a.id)
	m.keepBash(a.id, a.bash)
	n := len(m.convs)
	m.mu.Unlock()
	a.sb.release()
	a.closeBrowser()
	m.maskersChanged()
	if m.opts.Meter != nil {
		m.opts.Meter.ConversationsLive(n)
	}
	a.log.Info("idle conversation evicted from memory")
	return true
}

// keepBash keeps the bash events of an evicted conversation, if it has
// any: those of the last MaxLive evicted at most, and at most what one
// conversation may hold (bashHubBytesPerLimit times the output bound) in
// all, the oldest evicted dropped first, so that evicted conversations
// do not keep their memory. The caller holds m.mu.
func (m *ConversationManager) keepBash(id string, h *bashHub) {
	n := h.size()
	if n == 0 {
		return
	}
	m.evictedBash[id] = h
	m.evictedOrder = append(m.evictedOrder, id)
	m.evictedBytes += n
	budget := bashHubBytesPerLimit * m.opts.BashOutputMaxBytes
	for len(m.evictedOrder) > m.opts.MaxLive || m.evictedBytes > budget && len(m.evictedOrder) > 0 {
		old := m.evictedOrder[0]
		m.evictedBytes -= m.evictedBash[old].size()
		delete(m.evictedBash, old)
		m.evictedOrder = m.evictedOrder[1:]
	}
	if len(m.evictedOrder) == 0 {
		m.evictedOrder = nil // lets go of the array
	}
}

// takeBash gives a conversation loaded again the bash events it had when
// it was evicted; the caller holds m.mu.
func (m *ConversationManager) takeBash(a *AgentSession) {
	h := m.evictedBash[a.id]
	if h == nil {
		return
	}
	delete(m.evictedBash, a.id)
	m.evictedOrder = slices.DeleteFunc(m.evictedOrder, func(id string) bool { return id == a.id })
	m.evictedBytes -= h.size()
	a.bash = h
}

func (m *ConversationManager) loaded() []*AgentSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*AgentSession, 0, len(m.convs))
	for _, a := range m.convs {
		out = append(out, a)
	}
	return out
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// NewID returns a new conversation id: a random UUID (version 4) in hex
// without dashes, as the SDK writes them.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// apiKeySecret is the secret name under which a conversation's LLM key is
// kept. It cannot clash with a secret of the user's: those are
// environment variable names, which have no dot.
const apiKeySecret = "gohands.llm.api_key"

var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Create makes a conversation, or returns the existing one when
// req.ConversationID names one (created is then false). It starts no
// sandbox: the first thing that needs one (a run, a command, a file or git
// route, a terminal) does. An initial message is stored and, unless it
// says run: false, starts the agent, its sandbox starting in the
// background meanwhile.
func (m *ConversationManager) Create(ctx context.Context, req CreateRequest) (a *AgentSession, created bool, err error) {
	if m.isClosed() {
		return nil, false, ErrClosed
	}
	id := req.ConversationID
	if id != "" {
		if !idPattern.MatchString(id) {
			return nil, false, invalid("conversation_id: %q is not a valid id (letters, digits, '_', '.', '-'; at most 128)", id)
		}
		if a, err := m.Get(id); err == nil {
			return a, false, nil
		} else if !errors.Is(err, ErrNotFound) {
			return nil, false, err
		}
	} else {
		id = NewID()
	}
	if req, err = m.withServerSettings(req); err != nil {
		return nil, false, err
	}
	s, err := m.settings(req)
	if err != nil {
		return nil, false, err
	}
	if n := len(req.Secrets); n > m.opts.SecretLimits.Count {
		return nil, false, invalid("secrets: %d secrets, more than the %d a conversation may hold", n, m.opts.SecretLimits.Count)
	}
	secrets := make(map[string]string)
	for name, v := range req.Secrets {
		if !secretName.MatchString(name) {
			return nil, false, invalid("secrets: %q is not a valid name (an environment variable name)", name)
		}
		secrets[name] = v.Value
	}
	if key := s.Agent.LLM.APIKey; key != "" && key != Masked {
		secrets[apiKeySecret] = key
	}
	if s.Agent.MCPConfig, err = checkMCPConfig(s.Agent.MCPConfig, secrets); err != nil {
		return nil, false, err
	}
	if err := m.opts.SecretLimits.check(secrets, nil); err != nil {
		return nil, false, err
	}
	s.Agent.LLM.APIKey = ""
	spec, err := json.Marshal(s)
	if err != nil {
		return nil, false, fmt.Errorf("encode settings: %w", err)
	}
	now := m.now().UTC()
	conv := storage.Conversation{ID: id, Title: req.Title, Status: StatusIdle, CreatedAt: now, UpdatedAt: now, Spec: spec}
	if err := m.store.CreateConversation(conv); err != nil {
		if errors.Is(err, storage.ErrExists) {
			a, err := m.Get(id)
			return a, false, err
		}
		return nil, false, storeError("create conversation", err)
	}
	if len(secrets) > 0 {
		if err := m.store.PutSecrets(id, secrets); err != nil {
			m.store.DeleteConversation(id)
			return nil, false, storeError("store secrets", err)
		}
	}
	a, err = m.Get(id)
	if err != nil {
		return nil, false, err
	}
	m.log.InfoContext(ctx, "conversation created", "conversation", id)
	a.publishInfo()
	if req.InitialMessage != nil {
		msg := *req.InitialMessage
		if msg.Run == nil {
			// Run by default, when there is a model to run with.
			run := s.Agent.LLM.Model != ""
			msg.Run = &run
		}
		if *msg.Run && m.opts.Sandboxes != nil && m.opts.Loop != nil {
			// The run needs it: it starts beside the first model call.
			a.sb.startInBackground()
		}
		if _, err := a.SendMessage(ctx, msg); err != nil && !errors.Is(err, ErrNoAgent) {
			return a, true, err
		}
	}
	return a, true, nil
}

// lendKey says whether the server's LLM key may be used by a conversation
// with the model settings l, which bring no key of their own: only when l
// reaches the server's own endpoint or an allowed one, so that a client
// cannot have the key sent to a server of its choosing.
func (m *ConversationManager) lendKey(l LLM) error {
	d := m.opts.Defaults
	scope := llm.KeyScope{Model: d.LLM.Model, BaseURL: d.LLM.BaseURL, Allowed: d.AllowedBaseURLs}
	if scope.Allows(l.Model, l.BaseURL) {
		return nil
	}
	where := "the endpoint of model " + strconv.Quote(l.Model)
	if ep, err := llm.Endpoint(l.Model, l.BaseURL); err == nil {
		where = ep
	}
	return invalid("agent.llm.api_key: required: the server's key is sent only to its own model endpoint "+
		"(or those in GOHANDS_LLM_BASE_URLS), not to %s; give the conversation's own api_key", where)
}

// settings merges a create request with the defaults and checks it.
func (m *ConversationManager) settings(req CreateRequest) (Settings, error) {
	d := m.opts.Defaults
	s := Settings{
		Agent:              Agent{LLM: d.LLM},
		Workspace:          Workspace{WorkingDir: d.WorkingDir},
		MaxIterations:      d.MaxIterations,
		StuckDetection:     true,
		ConfirmationPolicy: ConfirmationPolicy{Kind: NeverConfirm},
	}
	if req.Agent != nil {
		ag := *req.Agent
		if ag.LLM.Model == "" {
			ag.LLM.Model = d.LLM.Model
		}
		if ag.LLM.BaseURL == "" {
			ag.LLM.BaseURL = d.LLM.BaseURL
		}
		if ag.LLM.APIKey == "" && d.LLM.APIKey != "" && ag.LLM.Model != "" {
			if err := m.lendKey(ag.LLM); err != nil {
				return s, err
			}
			ag.LLM.APIKey = d.LLM.APIKey
		}
		s.Agent = ag
	}
	if err := validRetries(s.Agent.LLM); err != nil {
		return s, err
	}
	for i, t := range s.Agent.Tools {
		name, ok := event.ToolName(t.Name) // TerminalTool -> terminal
		if !ok {
			return s, invalid("agent.tools[%d].name: unknown tool %q", i, t.Name)
		}
		s.Agent.Tools[i].Name = name
	}
	if req.Workspace != nil && req.Workspace.WorkingDir != "" {
		if !strings.HasPrefix(req.Workspace.WorkingDir, "/") {
			return s, invalid("workspace.working_dir: %q is not an absolute path", req.Workspace.WorkingDir)
		}
		s.Workspace = *req.Workspace
		if m.roots.Has(s.Workspace.WorkingDir) {
			dir, err := m.roots.Resolve(s.Workspace.WorkingDir, true)
			if err != nil {
				return s, err
			}
			s.Workspace.WorkingDir = dir
		}
	}
	if req.MaxIterations != nil {
		if *req.MaxIterations < 1 {
			return s, invalid("max_iterations: %d is less than 1", *req.MaxIterations)
		}
		s.MaxIterations = *req.MaxIterations
	}
	if req.StuckDetection != nil {
		s.StuckDetection = *req.StuckDetection
	}
	if req.ConfirmationPolicy != nil {
		if err := validPolicy(*req.ConfirmationPolicy); err != nil {
			return s, err
		}
		s.ConfirmationPolicy = *req.ConfirmationPolicy
	}
	if err := m.checkAnalyzer(req.SecurityAnalyzer); err != nil {
		return s, err
	}
	s.SecurityAnalyzer = req.SecurityAnalyzer
	if len(req.Hooks) > 0 && string(req.Hooks) != "null" {
		if !m.opts.AllowHostCommands {
			return s, invalid("hooks: a conversation's hooks run commands on the server's host, which this server does not allow (GOHANDS_ALLOW_HOST_COMMANDS)")
		}
		hooks, err := security.ParseHooks(req.Hooks)
		if err != nil {
			return s, invalid("hooks: %v", err)
		}
		s.Hooks = hooks
	}
	if err := validTags(req.Tags); err != nil {
		return s, err
	}
	if len(req.Tags) > 0 {
		s.Tags = req.Tags
	}
	s.AutoTitle = req.AutoTitle != nil && *req.AutoTitle
	switch req.Checkpoints {
	case "", "on", "off":
		s.Checkpoints = req.Checkpoints
	default:
		return s, invalid("checkpoints: %q is not on or off", req.Checkpoints)
	}
	if req.Sandbox != nil {
		if _, err := limitsOf(*req.Sandbox); err != nil {
			return s, err
		}
		s.Sandbox = *req.Sandbox
	}
	return s, nil
}

// validRetries refuses negative timeouts, retry counts and waits.
func validRetries(l LLM) error {
	for _, f := range []struct {
		name string
		v    *float64
	}{{"timeout", l.Timeout}, {"retry_min_wait", l.RetryMinWait}, {"retry_max_wait", l.RetryMaxWait}} {
		if f.v != nil && !(*f.v >= 0) {
			return invalid("agent.llm.%s: %v is not a number of seconds", f.name, *f.v)
		}
	}
	if l.NumRetries != nil && *l.NumRetries < 0 {
		return invalid("agent.llm.num_retries: %d is negative", *l.NumRetries)
	}
	return nil
}

// Get returns a conversation, loading it from storage if need be.
func (m *ConversationManager) Get(id string) (*AgentSession, error) {
	if m.pendingFork(id) {
		return nil, notFound("conversation", id)
	}
	return m.get(id)
}

// get is Get, forks being made included.
func (m *ConversationManager) get(id string) (*AgentSession, error) {
	m.mu.Lock()
	if a := m.convs[id]; a != nil {
		m.mu.Unlock()
		return a, nil
	}
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	conv, s, secrets, err := m.load(id)
	if err != nil {
		return nil, err
	}
	// Made outside m.mu: it builds the conversation's Masker.
	a := newAgentSession(m, conv, s, secrets)
	m.mu.Lock()
	if old := m.convs[id]; old != nil {
		m.mu.Unlock()
		return old, nil
	}
	m.takeBash(a)
	m.convs[id] = a
	m.maskers.Store(id, a.masker())
	n := len(m.convs)
	m.mu.Unlock()
	m.maskersChanged()
	if m.opts.Meter != nil {
		m.opts.Meter.ConversationsLive(n)
	}
	return a, nil
}

// load reads a conversation's record, settings and secrets from storage.
func (m *ConversationManager) load(id string) (storage.Conversation, Settings, map[string]string, error) {
	var s Settings
	conv, err := m.store.Conversation(id)
	if errors.Is(err, storage.ErrNotFound) {
		return conv, s, nil, notFound("conversation", id)
	}
	if err != nil {
		return conv, s, nil, storeError("load conversation", err)
	}
	if err := json.Unmarshal(conv.Spec, &s); err != nil {
		return conv, s, nil, fmt.Errorf("conversation %s: stored settings: %w", id, err)
	}
	secrets, err := m.store.Secrets(id)
	if err != nil {
		return conv, s, nil, storeError("load secrets", err)
	}
	return conv, s, secrets, nil
}

// Search lists conversations, a page at a time.
func (m *ConversationManager) Search(q ConversationQuery) ([]Info, string, error) {
	if q.Status != "" && !slices.Contains(Statuses, q.Status) {
		return nil, "", invalid("status: %q is not one of %s", q.Status, strings.Join(Statuses, ", "))
	}
	convs, next, err := m.store.Conversations(q)
	if err != nil {
		return nil, "", storeError("list conversations", err)
	}
	out := make([]Info, 0, len(convs))
	for _, c := range convs {
		if m.pendingFork(c.ID) {
			continue
		}
		v, err := m.View(c.ID)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // deleted meanwhile
			}
			return nil, "", err
		}
		out = append(out, v.Info())
	}
	return out, next, nil
}

// Resume restarts the loops of the conversations that were running when
// the server stopped (the loop picks up from the stored events; an action
// that was cut short waits for the user's confirmation rather than being
// run twice). Without a loop, such conversations end in error with an
// event saying why. It returns how many it resumed.
func (m *ConversationManager) Resume(ctx context.Context) (int, error) {
	var ids []string
	page := ""
	for {
		convs, next, err := m.store.Conversations(storage.ConversationQuery{Status: StatusRunning, PageID: page})
		if err != nil {
			return 0, storeError("list running conversations", err)
		}
		for _, c := range convs {
			ids = append(ids, c.ID)
		}
		if next == "" {
			break
		}
		page = next
	}
	n := 0
	for _, id := range ids {
		a, err := m.Get(id)
		if err != nil {
			continue
		}
		// Run refuses a conversation whose stored status says running.
		a.mu.Lock()
		a.conv.Status = StatusIdle
		a.mu.Unlock()
		if m.opts.Loop == nil {
			a.settle(Outcome{Kind: Failed, Code: "ServerRestarted", Detail: "the server stopped while the agent was running, and this server has no agent loop to resume it"})
			continue
		}
		if err := a.Run(ctx); err != nil {
			m.log.Warn("resume conversation", "conversation", id, "err", err)
			a.settle(Outcome{Kind: Failed, Code: "ServerRestarted", Detail: "the server stopped while the agent was running and could not resume it: " + err.Error()})
			continue
		}
		m.log.Info("conversation resumed after a restart", "conversation", id)
		n++
	}
	return n, nil
}

// Count counts conversations, of one status or all.
func (m *ConversationManager) Count(status string) (int, error) {
	if status != "" && !slices.Contains(Statuses, status) {
		return 0, invalid("status: %q is not one of %s", status, strings.Join(Statuses, ", "))
	}
	n, err := m.store.CountConversations(status)
	if err != nil {
		return 0, storeError("count conversations", err)
	}
	return n, nil
}

// Delete stops a conversation's loop and deletes its stored state; what
// it leaves outside the store (its sandbox's container, a fork's host
// folder) is removed in the background. The store is the point of no
// return: when it refuses the delete, the conversation stays as it was
// (but for its stopped run) and the error says so, to be tried again. The
// same transaction records what is left to remove (storage.Removal), so
// that a server stopped before the removal makes it at its next start.
// Once deleted, subscribers are detached with ErrDeleted; the answer does
// not wait for the engine.
func (m *ConversationManager) Delete(ctx context.Context, id string) error {
	a, err := m.get(id)
	if err != nil {
		return err
	}
	a.stopLoop(ctx)
	left := storage.Removal{HostDir: m.forkFolder(a)}
	if h, ok := a.sb.handle(); ok {
		left.ContainerID, left.Image, left.Volume = h.ID, h.Image, h.Volume
	}
	removal, err := m.store.DeleteConversationLeaving(id, left)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storeError("delete conversation", err)
	}
	a.stream.close(ErrDeleted)
	a.bash.close()
	m.mu.Lock()
	delete(m.convs, id)
	m.maskers.Delete(id)
	n := len(m.convs)
	m.mu.Unlock()
	m.maskersChanged()
	if m.opts.Meter != nil {
		m.opts.Meter.ConversationsLive(n)
	}
	// The backend lets go of the sandbox now, so that a conversation
	// made again under the same id gets its own; the container goes with
	// the removal.
	a.sb.forget(cmp.Or(removal.ContainerID, left.ContainerID))
	if removal.ContainerID == "" && removal.Volume == "" && removal.HostDir == "" {
		// A fork with no sandbox left: its copy-on-write workspace goes
		// now (one a stopped server leaves is found at the next start).
		if err := m.trees.drop(ctx, id); err != nil {
			a.log.Warn("workspace volume of a deleted fork not removed", "err", err)
		}
	}
	m.live.release(a.sb)
	m.kickRemovals()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		a.closeBrowser()
	}()
	m.deleteCheckpoints(a)
	if m.opts.Webhooks != nil {
		info := a.Info()
		info.ExecutionStatus = "deleted"
		if b, err := json.Marshal(info); err == nil {
			m.opts.Webhooks.Conversation(b)
		}
	}
	m.log.InfoContext(ctx, "conversation deleted", "conversation", id)
	return nil
}

// deleteCheckpoints deletes the checkpoints of a deleted conversation.
func (m *ConversationManager) deleteCheckpoints(a *AgentSession) {
	if m.opts.Checkpoints != nil {
		if err := m.opts.Checkpoints.DeleteOwner(a.id); err != nil {
			a.log.Warn("checkpoints of a deleted conversation not deleted", "err", err)
		}
	}
}

// forkFolder is the host folder made for a fork, which goes with it, or
// "".
func (m *ConversationManager) forkFolder(a *AgentSession) string {
	f := a.Settings().ForkedFrom
	if f == nil || f.HostCopy == "" || !m.roots.Has(f.HostCopy) {
		return ""
	}
	return f.HostCopy
}

// retryLater calls try in the background, first after a second and then
// after twice the wait each time up to most, until try reports done or the
// manager closes.
func (m *ConversationManager) retryLater(most time.Duration, try func() (done bool)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		wait := time.Second
		for {
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(wait):
			}
			if try() {
				return
			}
			wait = min(2*wait, most)
		}
	}()
}

// Restart stops a conversation's loop and restarts its sandbox (same
// container, same workspace).
func (m *ConversationManager) Restart(ctx context.Context, id string) error {
	a, err := m.Get(id)
	if err != nil {
		return err
	}
	a.stopLoop(ctx)
	return a.sb.restart(ctx)
}

func (m *ConversationManager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// storeError marks a storage failure: a write that failed is
// KindUnavailable; a bad page id or a missing record get their kinds as
// readError gives them.
func storeError(what string, err error) error {
	if errors.Is(err, storage.ErrUnavailable) {
		// The cause names files on the server: it goes to the log (Err),
		// not to the client.
		return &Error{Kind: KindUnavailable, Err: err,
			Detail: what + ": state store unavailable (its disk is full or read-only; the server log says more); nothing was changed"}
	}
	return readError(fmt.Errorf("%s: %w", what, err))
}

// sandboxError marks a sandbox failure: the engine is down, the image is
// missing, the container died: KindUnavailable, saying why (KindConflict
// for a paused sandbox).
func sandboxError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	kind := KindUnavailable
	if errors.Is(err, sandbox.ErrPaused) {
		kind = KindConflict
	}
	return &Error{Kind: kind, Detail: "sandbox: " + err.Error(), Err: err}
}

// checkAnalyzer checks a client's security_analyzer setting; analyzers
// that act on the server's host need AllowHostCommands.
func (m *ConversationManager) checkAnalyzer(an *SecurityAnalyzer) error {
	if an == nil {
		return nil
	}
	opts := security.Options{Restrict: !m.opts.AllowHostCommands, Tools: tools.SecurityFields()}
	if _, err := opts.NewAnalyzer(an.Kind, mustJSON(an)); err != nil {
		if errors.Is(err, security.ErrRestricted) {
			return invalid("security_analyzer: %v (GOHANDS_ALLOW_HOST_COMMANDS)", err)
		}
		return invalid("security_analyzer: %v", err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// eventKind names an event for metrics.
func eventKind(e event.Event) string { return string(e.Kind()) }
