package session

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/go-units"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/storage"
	"github.com/gohands/gohands/tools"
)

// AgentSession is one conversation while the server holds it: its stored
// record, its event stream, its sandbox and its run loop.
type AgentSession struct {
	m      *ConversationManager
	id     string
	log    *slog.Logger
	stream *stream
	bash   *bashHub

	sb   *runner    // the conversation's sandbox
	mcps mcpServers // its MCP servers
	ck   checkpointer
	// forking is held while the conversation is forked or rewound: one
	// at a time.
	forking   sync.Mutex
	secretsOp sync.Mutex // serialises changes of secrets
	// secretMasker hides secrets; built anew for each change of them.
	secretMasker atomic.Pointer[security.Masker]

	mu       sync.Mutex
	conv     storage.Conversation
	settings Settings
	secrets  map[string]string // replaced on change, never changed in place
	active   time.Time         // last activity
	run      *runState         // the loop, while it runs
	titling  bool              // autotitle has started
	skillMCP []SkillMCP        // the MCP servers of its skills
	held     heldText          // the end of a streamed answer not shown yet
	bgSeq    int
	// leaf is the head of the conversation (its id and seq): see
	// Info.LeafEventID.
	leaf    string
	leafSeq int64
	// metricsDirty says Settings.Metrics changed since metricsSaved.
	metricsDirty bool
	metricsSaved time.Time

	brw browserSlot // the conversation's browser, made on first use
}

type runState struct {
	cancel context.CancelFunc
	// interrupt cancels the actions in flight too (ActionContext).
	interrupt context.CancelFunc
	done      chan struct{}
	// ending is set, under the session's lock, when the loop has
	// returned and its outcome is being recorded; cleared is closed once
	// the run no longer counts as running. A start that finds a run
	// ending waits for cleared rather than refusing: the client saw the
	// run's final status and is right to start the next.
	ending  bool
	cleared chan struct{}
}

func newAgentSession(m *ConversationManager, conv storage.Conversation, s Settings, secrets map[string]string) *AgentSession {
	a := &AgentSession{
		m: m, id: conv.ID, log: m.log.With("conversation", conv.ID),
		conv: conv, settings: s, secrets: secrets, active: m.now(),
	}
	if a.secrets == nil {
		a.secrets = make(map[string]string)
	}
	a.sb = &runner{a: a, be: m.opts.Sandboxes}
	if id, seq, err := m.storedLeaf(conv.ID); err == nil {
		a.leaf, a.leafSeq = id, seq
	} else {
		a.log.Warn("head of the conversation not read", "err", err)
	}
	a.secretMasker.Store(security.NewMasker(a.secrets))
	a.stream = newStream(conv.ID, storeAdapter{m.store}, a.afterAppend)
	a.bash = newBashHub(bashHubBytesPerLimit * m.opts.BashOutputMaxBytes)
	return a
}

// storeAdapter gives the stream the storage calls it needs.
type storeAdapter struct{ s *storage.Store }

func (s storeAdapter) Append(conv string, evs ...event.Event) ([][]byte, error) {
	return s.s.AppendJSON(conv, evs...)
}
func (s storeAdapter) RawEvents(conv string, after int64, limit int) ([]json.RawMessage, error) {
	return s.s.RawEvents(conv, uint64(max(after, 0)), limit)
}

// ID returns the conversation's id.
func (a *AgentSession) ID() string { return a.id }

// Settings returns the conversation's settings, with the LLM API key.
func (a *AgentSession) Settings() Settings {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.settings
	s.Agent.Tools = slices.Clone(s.Agent.Tools)
	s.Agent.LLM.APIKey = a.secrets[apiKeySecret]
	return s
}

// Status returns the execution status.
func (a *AgentSession) Status() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conv.Status
}

// Info returns the conversation as clients see it, secrets masked. The
// sandbox is asked after the conversation's lock is let go: no lock is
// held across the two.
func (a *AgentSession) Info() Info {
	a.mu.Lock()
	info := a.m.info(a.conv, a.settings, a.secrets)
	a.mu.Unlock()
	a.sb.info(&info.Sandbox)
	for _, t := range mcpTools(a.connectedMCP()) {
		info.Tools = append(info.Tools, t.Name)
	}
	if id, _ := a.Leaf(); id != "" {
		info.LeafEventID = &id
	}
	return info
}

// info is a conversation as clients see it, secrets masked, from its
// record, settings and secrets; its sandbox is "none" until the caller
// adds what it knows of it.
func (m *ConversationManager) info(conv storage.Conversation, s Settings, secrets map[string]string) Info {
	info := Info{
		ID: conv.ID, Title: conv.Title, ExecutionStatus: conv.Status,
		Agent: s.Agent, Workspace: s.Workspace, MaxIterations: s.MaxIterations,
		StuckDetection: s.StuckDetection, ConfirmationPolicy: s.ConfirmationPolicy,
		SecurityAnalyzer: s.SecurityAnalyzer, Metrics: s.Metrics, Stats: s.Stats, Tags: s.Tags,
		CreatedAt: conv.CreatedAt, UpdatedAt: conv.UpdatedAt,
		Secrets: []string{},
		Sandbox: SandboxInfo{Status: "none", Image: cmp.Or(s.Sandbox.Image, m.opts.Defaults.Image)},
	}
	if info.Agent.Tools == nil {
		info.Agent.Tools = []Tool{}
	}
	info.Checkpoints = "off"
	if m.checkpointsOn(s.Checkpoints) {
		info.Checkpoints = "on"
	}
	if f := s.ForkedFrom; f != nil {
		info.ForkedFromConversationID = &f.ConversationID
		if f.EventID != "" {
			info.ForkedFromEventID = &f.EventID
		}
	}
	if info.Stats.UsageToMetrics == nil {
		info.Stats.UsageToMetrics = map[string]UsageMetrics{}
	}
	if info.Tags == nil {
		info.Tags = map[string]string{}
	}
	if secrets[apiKeySecret] != "" {
		info.Agent.LLM.APIKey = Masked
	}
	for name := range secrets {
		if name != apiKeySecret {
			info.Secrets = append(info.Secrets, name)
		}
	}
	sort.Strings(info.Secrets)
	var names []string
	for _, t := range s.Agent.Tools {
		names = append(names, t.Name)
	}
	info.Tools = tools.Names(names)
	return info
}

// addStoredSandbox sets info.Sandbox, for a conversation the server does
// not hold, from its saved sandbox handle, if any: such a sandbox was
// stopped when its conversation went idle, and starts again on next use.
func (m *ConversationManager) addStoredSandbox(info *Info) {
	if m.opts.Sandboxes == nil {
		return
	}
	r, err := m.store.Sandbox(info.ID)
	if err != nil {
		return
	}
	info.Sandbox.ID = r.ContainerID
	info.Sandbox.Image = cmp.Or(r.Image, info.Sandbox.Image)
	info.Sandbox.Status = string(event.SandboxStopped)
}

// sandboxState maps the sandbox package's states onto the event's.
func sandboxState(st sandbox.Status) event.SandboxState {
	switch st {
	case sandbox.StatusStarting:
		return event.SandboxStarting
	case sandbox.StatusRunning:
		return event.SandboxRunning
	case sandbox.StatusPaused:
		return event.SandboxPaused
	case sandbox.StatusStopped, sandbox.StatusStopping:
		return event.SandboxStopped
	case sandbox.StatusExited:
		return event.SandboxError
	case sandbox.StatusRemoved:
		return event.SandboxRemoved
	}
	return event.SandboxState(st)
}

// Append stores events and delivers them to subscribers. Events without a
// source are the environment's.
func (a *AgentSession) Append(evs ...event.Event) error {
	masking := !a.masker().Empty()
	stored := make([]event.Event, len(evs))
	for i, e := range evs {
		if e.Meta().Source == "" {
			e.Meta().Source = event.SourceEnvironment
		}
		if e.Meta().Source == event.SourceAgent {
			a.dropHeld() // the streamed answer, if any, is stored whole
		}
		stored[i] = e
		if masking {
			masked, err := a.mask(e)
			if err != nil {
				return err
			}
			stored[i] = masked
		}
	}
	if err := a.stream.append(stored...); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("conversation", a.id)
		}
		if errors.Is(err, ErrDeleted) || errors.Is(err, ErrClosed) {
			return err
		}
		return storeError("append event", err)
	}
	for i := range evs {
		if stored[i] != evs[i] {
			// The caller's event learns what storage gave the stored one.
			*evs[i].Meta() = *stored[i].Meta()
		}
	}
	a.moveLeaf(stored)
	a.touch()
	a.afterStored(stored)
	return nil
}

// secretValues returns the values of the conversation's secrets, the LLM
// key among them.
func (a *AgentSession) secretValues() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Collect(maps.Values(a.secrets))
}

// mask returns e with every secret value replaced by <secret-hidden>: the
// event as it is stored and shown, while the caller keeps its own.
func (a *AgentSession) mask(e event.Event) (event.Event, error) {
	if e.Meta().ID == "" {
		e.Meta().ID = event.NewID()
	}
	if e.Meta().Timestamp.IsZero() {
		e.Meta().Timestamp = event.TimeOf(a.m.now())
	}
	raw, err := event.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	masked := a.masker().MaskJSON(raw)
	if len(masked) == len(raw) && string(masked) == string(raw) {
		return e, nil
	}
	return event.Unmarshal(masked)
}

// afterAppend runs for every stored event, in order.
func (a *AgentSession) afterAppend(d *Delivery) {
	if a.m.opts.Meter != nil {
		if e, err := d.Event(); err == nil {
			a.m.opts.Meter.EventAppended(eventKind(e))
		}
	}
	if a.m.opts.Webhooks != nil {
		a.m.opts.Webhooks.Event(a.id, d.Raw)
	}
}

// Subscribe replays the events after seq `after` to sub and then keeps it
// live until the returned detach is called or sub is dropped. The replay
// runs in the caller's goroutine.
func (a *AgentSession) Subscribe(ctx context.Context, sub Subscriber, after int64) (detach func(), err error) {
	a.touch()
	return a.stream.attach(ctx, sub, after)
}

// FullState returns the full_state snapshot sent first on every socket.
func (a *AgentSession) FullState() *event.StateUpdate {
	info := a.Info()
	value, _ := json.Marshal(info)
	e := &event.StateUpdate{Key: event.StateKeyFull, Value: value}
	b := e.Meta()
	b.ID = event.NewID()
	b.Source = event.SourceEnvironment
	b.Timestamp = event.TimeOf(a.m.now())
	return e
}

// setStatus changes the execution status, stores it and tells subscribers
// with a ConversationStateUpdateEvent. Only settle calls it.
func (a *AgentSession) setStatus(status string) error {
	if !slices.Contains(Statuses, status) {
		return fmt.Errorf("unknown status %q", status)
	}
	a.mu.Lock()
	old := a.conv.Status
	a.mu.Unlock()
	if old == status {
		return nil
	}
	a.mu.Lock()
	spec, err := json.Marshal(a.settings) // with the metrics kept in memory
	a.mu.Unlock()
	if err != nil {
		return err
	}
	conv, err := a.m.store.UpdateConversation(a.id, func(c *storage.Conversation) error {
		c.Status = status
		c.UpdatedAt = a.m.now().UTC()
		c.Spec = spec
		return nil
	})
	if err != nil {
		return storeError("set status", err)
	}
	a.mu.Lock()
	a.conv = conv
	a.metricsDirty, a.metricsSaved = false, a.m.now()
	a.mu.Unlock()
	value, _ := json.Marshal(status)
	if err := a.Append(&event.StateUpdate{Key: event.StateKeyExecutionStatus, Value: value}); err != nil {
		return err
	}
	a.publishInfo()
	return nil
}

// SetTitle renames the conversation.
func (a *AgentSession) SetTitle(title string) error {
	return a.update(func(c *storage.Conversation, _ *Settings) error {
		c.Title = title
		return nil
	})
}

// SetConfirmationPolicy changes the confirmation policy of a live
// conversation.
func (a *AgentSession) SetConfirmationPolicy(p ConfirmationPolicy) error {
	if err := validPolicy(p); err != nil {
		return err
	}
	return a.update(func(_ *storage.Conversation, s *Settings) error {
		s.ConfirmationPolicy = p
		return nil
	})
}

// SetSecurityAnalyzer changes the analyzer; nil turns it off.
func (a *AgentSession) SetSecurityAnalyzer(an *SecurityAnalyzer) error {
	if err := a.m.checkAnalyzer(an); err != nil {
		return err
	}
	return a.update(func(_ *storage.Conversation, s *Settings) error {
		s.SecurityAnalyzer = an
		return nil
	})
}

// metricsSaveEvery is how often accumulated metrics are written while a
// conversation runs; a status change and Close write them too.
const metricsSaveEvery = 2 * time.Second

// AddMetrics adds to the conversation's cost and token counts. They are
// kept in memory and written at most every metricsSaveEvery, at a status
// change and at Close, so that a step costs no extra write.
func (a *AgentSession) AddMetrics(cost float64, usage TokenUsage) error {
	a.mu.Lock()
	m := &a.settings.Metrics
	m.AccumulatedCost += cost
	m.AccumulatedTokenUsage.add(usage)
	a.settings.Stats = a.settings.Stats.add(cost, usage)
	a.metricsDirty = true
	due := a.m.now().Sub(a.metricsSaved) >= metricsSaveEvery
	a.mu.Unlock()
	if !due {
		return nil
	}
	return a.saveMetrics()
}

// saveMetrics writes the in-memory metrics if they changed.
func (a *AgentSession) saveMetrics() error {
	a.mu.Lock()
	dirty := a.metricsDirty
	a.mu.Unlock()
	if !dirty {
		return nil
	}
	return a.update(func(*storage.Conversation, *Settings) error { return nil })
}

// update changes the stored conversation and settings atomically.
func (a *AgentSession) update(fn func(*storage.Conversation, *Settings) error) error {
	a.mu.Lock()
	s := a.settings
	a.mu.Unlock()
	conv, err := a.m.store.UpdateConversation(a.id, func(c *storage.Conversation) error {
		if err := fn(c, &s); err != nil {
			return err
		}
		spec, err := json.Marshal(s)
		if err != nil {
			return err
		}
		c.Spec = spec
		c.UpdatedAt = a.m.now().UTC()
		return nil
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return err
		}
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("conversation", a.id)
		}
		return storeError("update conversation", err)
	}
	a.mu.Lock()
	a.conv, a.settings = conv, s
	a.metricsDirty, a.metricsSaved = false, a.m.now()
	a.mu.Unlock()
	a.publishInfo()
	return nil
}

// publishInfo sends the conversation's info to the webhooks.
func (a *AgentSession) publishInfo() {
	if a.m.opts.Webhooks == nil {
		return
	}
	if b, err := json.Marshal(a.Info()); err == nil {
		a.m.opts.Webhooks.Conversation(b)
	}
}

// SendMessage stores a user message and, when it asks, runs the agent. It
// returns the stored event. Without an agent loop the message is stored
// and ErrNoAgent is returned only if a run was asked for explicitly.
func (a *AgentSession) SendMessage(ctx context.Context, req MessageRequest) (*event.Message, error) {
	if req.Role == "" {
		req.Role = "user"
	}
	if req.Role != "user" {
		return nil, invalid("role: %q: only user messages can be sent", req.Role)
	}
	if len(req.Content) == 0 {
		return nil, invalid("content: a message needs at least one part")
	}
	e := &event.Message{LLMMessage: event.LLMMessage{Role: "user", Content: req.Content}}
	e.Source = event.SourceUser
	if err := a.Append(e); err != nil {
		return nil, err
	}
	a.autoTitle(req.Content.Text())
	if req.Run != nil && *req.Run {
		if err := a.Run(ctx); err != nil && !errors.Is(err, ErrConflict) {
			return e, err
		}
	}
	return e, nil
}

// Run starts the agent loop. Running it while it runs is a conflict.
func (a *AgentSession) Run(ctx context.Context) error {
	return a.start(false)
}

// start starts the agent loop; confirmed says the user accepted the
// actions that wait for confirmation.
func (a *AgentSession) start(confirmed bool) error {
	loop := a.m.opts.Loop
	if loop == nil {
		return &Error{Kind: KindConflict, Err: ErrNoAgent,
			Detail: "this server has no agent loop configured; the conversation stores messages and runs commands only"}
	}
	a.mu.Lock()
	for a.run != nil {
		r, ending := a.run, a.run.ending
		a.mu.Unlock()
		if !ending {
			return conflict("conversation %s is already running", a.id)
		}
		<-r.cleared
		a.mu.Lock()
	}
	actx, interrupt := context.WithCancel(a.m.ctx)
	ctx, cancel := context.WithCancel(context.WithValue(actx, actionContextKey{}, actx))
	r := &runState{cancel: cancel, interrupt: interrupt, done: make(chan struct{}), cleared: make(chan struct{})}
	a.run = r
	a.mu.Unlock()
	if err := a.settle(Outcome{Kind: startedRun}); err != nil {
		cancel()
		interrupt()
		a.mu.Lock()
		a.run = nil
		a.mu.Unlock()
		return err
	}
	a.m.wg.Add(1)
	go func() {
		defer a.m.wg.Done()
		defer close(r.done)
		defer interrupt()
		out, err := loop.Run(ctx, a, confirmed)
		if err == nil {
			// Settled while the run still counts as running, so that a
			// run started by a client who saw the new status is not
			// overtaken by this one's end; such a start waits for
			// cleared.
			a.mu.Lock()
			r.ending = true
			a.mu.Unlock()
			if err := a.settle(out); err != nil {
				a.log.Warn("record the end of a run", "err", err)
			}
		}
		a.mu.Lock()
		a.run = nil
		a.mu.Unlock()
		close(r.cleared)
		a.touch()
		a.listChangedPaths()
		if err != nil && ctx.Err() == nil { // after a pause or at shutdown, the pauser sets the status
			a.log.Warn("agent loop failed", "err", err)
			a.settle(Outcome{Kind: Failed, Code: "AgentLoopError", Detail: err.Error()})
		}
	}()
	return nil
}

// Pause stops the loop between steps; Run resumes it where it stopped.
func (a *AgentSession) Pause(ctx context.Context) error {
	a.stopLoop(ctx)
	p := &event.Pause{}
	p.Source = event.SourceUser
	if err := a.Append(p); err != nil {
		return err
	}
	return a.settle(Outcome{Kind: pausedByUser})
}

// stopLoop cancels the loop and waits for it to end.
func (a *AgentSession) stopLoop(ctx context.Context) {
	a.mu.Lock()
	r := a.run
	a.mu.Unlock()
	if r == nil {
		return
	}
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}

// Running reports whether the loop runs.
func (a *AgentSession) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.run != nil
}

func (a *AgentSession) touch() {
	a.mu.Lock()
	a.active = a.m.now()
	a.mu.Unlock()
}

func (a *AgentSession) lastActive() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active
}

// busy reports whether the conversation is in use: running, attached to
// a client, or inside a sandbox call.
func (a *AgentSession) busy() bool {
	a.mu.Lock()
	busy := a.run != nil
	a.mu.Unlock()
	return busy || a.sb.inUse() || a.stream.subscribers() > 0 || a.bash.subscribers() > 0
}

func (a *AgentSession) idleFor() time.Duration {
	if a.busy() {
		return 0
	}
	return a.m.now().Sub(a.lastActive())
}

// limitsOf turns a conversation's sandbox settings into limits.
func limitsOf(s SandboxSettings) (sandbox.Limits, error) {
	var l sandbox.Limits
	if s.Memory != "" {
		n, err := units.RAMInBytes(s.Memory)
		if err != nil || n < 0 {
			return l, invalid("sandbox.memory: %q is not a size such as 512m or 2g", s.Memory)
		}
		l.Memory = n
	}
	if s.CPUs < 0 {
		return l, invalid("sandbox.cpus: %v is negative", s.CPUs)
	}
	l.NanoCPUs = int64(s.CPUs * 1e9)
	if s.PidsLimit < 0 {
		return l, invalid("sandbox.pids_limit: %d is negative", s.PidsLimit)
	}
	l.PidsLimit = s.PidsLimit
	switch s.Network {
	case "", sandbox.NetworkBridge, sandbox.NetworkNone:
		l.Network = s.Network
	default:
		return l, invalid("sandbox.network: %q is not bridge or none", s.Network)
	}
	return l, nil
}

// nextBackgroundID numbers background commands of the V0 protocol.
func (a *AgentSession) nextBackgroundID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bgSeq++
	return a.bgSeq
}

// LastSeq returns the seq of the newest stored event.
func (a *AgentSession) LastSeq() int64 {
	c, err := a.m.store.Conversation(a.id)
	if err != nil {
		return 0
	}
	return int64(c.LastSeq)
}
