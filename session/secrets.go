package session

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/storage"
)

// SecretLimits bound the secrets of one conversation. A create or an
// update past them is refused (KindInvalid) and stores nothing. They keep the
// conversation's Masker, whose memory grows with the bytes it looks for,
// and the server-wide one for log lines, small.
type SecretLimits struct {
	// Count is the most secrets a conversation may hold, its LLM key
	// aside. 0 means 1,000.
	Count int
	// ValueBytes is the longest value a secret, or the LLM key, may have.
	// 0 means 64 KiB.
	ValueBytes int
	// TotalBytes bounds what the conversation's Masker looks for: every
	// value, the LLM key's among them, and each distinct form it takes
	// escaped in a JSON string (security.MaskedBytes). 0 means 1 MiB.
	TotalBytes int
}

// The default SecretLimits.
const (
	DefaultMaxSecrets          = 1000
	DefaultMaxSecretValueBytes = 64 << 10
	DefaultMaxSecretsBytes     = 1 << 20
)

func (l SecretLimits) withDefaults() SecretLimits {
	if l.Count <= 0 {
		l.Count = DefaultMaxSecrets
	}
	if l.ValueBytes <= 0 {
		l.ValueBytes = DefaultMaxSecretValueBytes
	}
	if l.TotalBytes <= 0 {
		l.TotalBytes = DefaultMaxSecretsBytes
	}
	return l
}

// check returns a KindInvalid error when secrets, what a conversation would hold
// after a change from old, is past the limits: a value that changes is
// longer than ValueBytes, or there are more than Count or TotalBytes and
// more than there were. A conversation past them (stored before they were
// set) may so still lose secrets.
func (l SecretLimits) check(secrets, old map[string]string) error {
	count := func(m map[string]string) int {
		n := len(m)
		if _, ok := m[apiKeySecret]; ok {
			n--
		}
		return n
	}
	if n := count(secrets); n > l.Count && n > count(old) {
		return invalid("secrets: %d secrets, more than the %d a conversation may hold", n, l.Count)
	}
	var long []string
	total, oldTotal := 0, 0
	for name, v := range secrets {
		if len(v) > l.ValueBytes && v != old[name] {
			long = append(long, name)
		}
		total += security.MaskedBytes(v)
	}
	if len(long) > 0 {
		slices.Sort(long)
		if long[0] == apiKeySecret {
			return invalid("agent.llm.api_key: %d bytes long, more than the %d allowed", len(secrets[long[0]]), l.ValueBytes)
		}
		return invalid("secrets: the value of %s is %d bytes long, more than the %d allowed", long[0], len(secrets[long[0]]), l.ValueBytes)
	}
	for _, v := range old {
		oldTotal += security.MaskedBytes(v)
	}
	if total > l.TotalBytes && total > oldTotal {
		return invalid("secrets: %d bytes to hide in all (the values and the forms they take escaped in JSON), more than the %d a conversation may have", total, l.TotalBytes)
	}
	return nil
}

// SetSecrets adds or replaces secrets; an empty value removes one. They
// reach the sandbox as environment variables when it next starts. Past
// the manager's SecretLimits nothing changes and the error says why.
func (a *AgentSession) SetSecrets(secrets map[string]Secret) error {
	secrets, err := a.m.resolveSecrets(secrets)
	if err != nil {
		return err
	}
	put := make(map[string]string, len(secrets))
	for name, v := range secrets {
		if !secretName.MatchString(name) {
			return invalid("secrets: %q is not a valid name (an environment variable name)", name)
		}
		put[name] = v.Value
	}
	return a.storeSecrets(put)
}

// storeSecrets adds, replaces or (for an empty value) removes secrets,
// within the manager's SecretLimits, and stores them sealed.
func (a *AgentSession) storeSecrets(put map[string]string) error {
	// One change at a time, so that each is checked against the secrets
	// the one before left. Masking never waits for this lock.
	a.secretsOp.Lock()
	defer a.secretsOp.Unlock()
	a.mu.Lock()
	old := a.secrets
	a.mu.Unlock()
	next := maps.Clone(old)
	for name, v := range put {
		if v == "" {
			delete(next, name)
		} else {
			next[name] = v
		}
	}
	if err := a.m.opts.SecretLimits.check(next, old); err != nil {
		return err
	}
	mk := security.NewMasker(next)
	if err := a.m.store.PutSecrets(a.id, put); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("conversation", a.id)
		}
		return storeError("store secrets", err)
	}
	a.mu.Lock()
	a.secrets = next
	a.mu.Unlock()
	a.secretMasker.Store(mk)
	a.m.noteMasker(a)
	a.publishInfo()
	return nil
}

// Secrets returns the user's secrets (not the LLM key).
func (a *AgentSession) Secrets() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := maps.Clone(a.secrets)
	delete(out, apiKeySecret)
	return out
}

// masker hides the conversation's secrets, the LLM key among them. It is
// built once for each change of them, and taken without a lock.
func (a *AgentSession) masker() *security.Masker { return a.secretMasker.Load() }

// ConversationMasker returns the Masker of a conversation this server
// holds, nil for another: for log lines of that conversation. It takes no
// lock, so that logging never waits on the server's work.
func (m *ConversationManager) ConversationMasker(id string) *security.Masker {
	if mk, ok := m.maskers.Load(id); ok {
		return mk.(*security.Masker)
	}
	return nil
}

// Masker hides the secrets of every conversation this server holds: for
// log lines that name none. It is rebuilt in the background, a while
// after secrets change (logMaskerDelay), and returned without a lock or a
// wait; until the rebuild is done, it is the one from before the change,
// and hides the new secrets only in the lines of their own conversation
// (ConversationMasker).
func (m *ConversationManager) Masker() *security.Masker { return m.logMasker.Load() }

// noteMasker records a's Masker, for ConversationMasker and Masker,
// unless a was deleted meanwhile.
func (m *ConversationManager) noteMasker(a *AgentSession) {
	m.mu.Lock()
	held := m.convs[a.id] == a
	if held {
		m.maskers.Store(a.id, a.masker())
	}
	m.mu.Unlock()
	if held {
		m.maskersChanged()
	}
}

// maskersChanged has the Masker of log lines rebuilt.
func (m *ConversationManager) maskersChanged() {
	select {
	case m.rebuildMasker <- struct{}{}:
	default: // a rebuild is due already
	}
}

// logMaskerDelay is how long the Masker of log lines waits after a change
// of secrets before it is rebuilt, so that a burst of changes costs one
// build. After a build it waits at least logMaskerRest times as long as
// the build took, so that a stream of changes keeps the builds to a share
// of one core.
const (
	logMaskerDelay = 100 * time.Millisecond
	logMaskerRest  = 3
)

// keepLogMasker rebuilds the Masker of log lines after changes, until
// the manager closes.
func (m *ConversationManager) keepLogMasker() {
	defer m.wg.Done()
	wait := logMaskerDelay
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.rebuildMasker:
		}
		t := time.NewTimer(wait)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		start := time.Now()
		m.rebuildLogMasker()
		wait = max(logMaskerDelay, logMaskerRest*time.Since(start))
		if m.opts.logMaskerBuilt != nil {
			m.opts.logMaskerBuilt()
		}
	}
}

// rebuildLogMasker builds the Masker of log lines from the conversations'
// Maskers.
func (m *ConversationManager) rebuildLogMasker() {
	m.logMaskerBuild.Lock() // a later build sees later Maskers, and is stored later
	defer m.logMaskerBuild.Unlock()
	var ms []*security.Masker
	m.maskers.Range(func(_, mk any) bool {
		ms = append(ms, mk.(*security.Masker))
		return true
	})
	m.logMasker.Store(security.Union(ms...))
}
