package session

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/storage"
)

// ServerSettings are the server-wide defaults a client may change. They
// fill what a create request leaves out, for conversations created after
// the change; a conversation keeps the settings it was created with.
type ServerSettings struct {
	// LLM is the default model and endpoint; its APIKey is never stored
	// here (see settingsKeySecret) and is Masked in answers when set.
	LLM                LLM                        `json:"llm"`
	ConfirmationPolicy *ConfirmationPolicy        `json:"confirmation_policy,omitempty"`
	SecurityAnalyzer   *SecurityAnalyzer          `json:"security_analyzer,omitempty"`
	ActiveProfile      string                     `json:"active_profile,omitempty"`
	Misc               map[string]json.RawMessage `json:"misc_settings,omitempty"`
}

// SettingsView is the server settings as clients see them.
type SettingsView struct {
	ServerSettings
	// KeySet says whether conversations that bring no key of their own
	// get one: the key set with the settings, or the server's own when
	// it may be sent to the default endpoint.
	KeySet bool
}

// SettingsUpdate changes the server settings; nil fields stay as they are.
type SettingsUpdate struct {
	Model   *string
	BaseURL *string
	// APIKey sets the key sent with the default model ("" removes it).
	// A change of endpoint without a new key removes the old key: a key
	// is only ever sent to the endpoint it was given for.
	APIKey *string
	// ConfirmationPolicy and SecurityAnalyzer replace the defaults; the
	// Clear flags remove them.
	ConfirmationPolicy *ConfirmationPolicy
	ClearConfirmation  bool
	SecurityAnalyzer   *SecurityAnalyzer
	ClearAnalyzer      bool
	// ActiveProfile, when set, activates the named profile ("" forgets
	// which is active).
	ActiveProfile *string
	// Misc is merged into the settings' opaque client data; a null value
	// removes a key.
	Misc map[string]json.RawMessage
}

// Keys of the server-wide state in the store.
const (
	settingsKey       = "settings"
	profilePrefix     = "profile/"
	secretDescPrefix  = "secret_desc/"
	settingsKeySecret = "gohands.settings.llm.api_key"
	profileKeyPrefix  = "gohands.profile."
)

// MaxProfiles is the most named model settings a server keeps.
const MaxProfiles = 100

var (
	profileName      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	serverSecretName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
)

// storedSettings reads the settings and their key.
func (m *ConversationManager) storedSettings() (ServerSettings, string, error) {
	var st ServerSettings
	raw, err := m.store.ServerValue(settingsKey)
	if err != nil {
		return st, "", storeError("read settings", err)
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &st); err != nil {
			return st, "", fmt.Errorf("stored settings: %w", err)
		}
	}
	key, err := m.store.ServerSecret(settingsKeySecret)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return st, "", storeError("read settings key", err)
	}
	return st, key, nil
}

// Settings returns the server settings, the key masked.
func (m *ConversationManager) Settings() (SettingsView, error) {
	st, key, err := m.storedSettings()
	if err != nil {
		return SettingsView{}, err
	}
	return m.settingsView(st, key), nil
}

func (m *ConversationManager) settingsView(st ServerSettings, key string) SettingsView {
	v := SettingsView{ServerSettings: st}
	d := m.opts.Defaults
	model, base := cmp.Or(st.LLM.Model, d.LLM.Model), cmp.Or(st.LLM.BaseURL, d.LLM.BaseURL)
	v.KeySet = key != "" || (d.LLM.APIKey != "" && m.lendKey(LLM{Model: model, BaseURL: base}) == nil)
	v.LLM.Model, v.LLM.BaseURL = model, base
	if key != "" {
		v.LLM.APIKey = Masked
	}
	return v
}

// UpdateSettings changes the server settings and returns them.
func (m *ConversationManager) UpdateSettings(u SettingsUpdate) (SettingsView, error) {
	m.settingsMu.Lock()
	defer m.settingsMu.Unlock()
	st, key, err := m.storedSettings()
	if err != nil {
		return SettingsView{}, err
	}
	if u.ActiveProfile != nil {
		if *u.ActiveProfile == "" {
			st.ActiveProfile = ""
		} else {
			p, pkey, err := m.profile(*u.ActiveProfile)
			if err != nil {
				return SettingsView{}, err
			}
			// The profile's model settings, unless the update gives its own.
			if u.Model == nil && u.BaseURL == nil && u.APIKey == nil {
				st.LLM.Model, st.LLM.BaseURL = p.Model, p.BaseURL
				u.APIKey = &pkey
			}
			st.ActiveProfile = *u.ActiveProfile
		}
	}
	oldEndpoint := m.endpointOf(st.LLM)
	if u.Model != nil {
		st.LLM.Model = strings.TrimSpace(*u.Model)
	}
	if u.BaseURL != nil {
		base := strings.TrimSpace(*u.BaseURL)
		if base != "" {
			if _, err := llm.NormalizeBaseURL(base); err != nil {
				return SettingsView{}, invalid("agent_settings.llm.base_url: %v", err)
			}
		}
		st.LLM.BaseURL = base
	}
	switch {
	case u.APIKey != nil && *u.APIKey != Masked:
		if len(*u.APIKey) > m.opts.SecretLimits.ValueBytes {
			return SettingsView{}, invalid("agent_settings.llm.api_key: longer than %d bytes", m.opts.SecretLimits.ValueBytes)
		}
		key = *u.APIKey
	case m.endpointOf(st.LLM) != oldEndpoint:
		key = "" // the old key stays with the endpoint it was given for
	}
	if u.ClearConfirmation {
		st.ConfirmationPolicy = nil
	}
	if u.ConfirmationPolicy != nil {
		if err := validPolicy(*u.ConfirmationPolicy); err != nil {
			return SettingsView{}, err
		}
		st.ConfirmationPolicy = u.ConfirmationPolicy
	}
	if u.ClearAnalyzer {
		st.SecurityAnalyzer = nil
	}
	if u.SecurityAnalyzer != nil {
		if err := m.checkAnalyzer(u.SecurityAnalyzer); err != nil {
			return SettingsView{}, err
		}
		st.SecurityAnalyzer = u.SecurityAnalyzer
	}
	for k, v := range u.Misc {
		if st.Misc == nil {
			st.Misc = make(map[string]json.RawMessage)
		}
		if string(v) == "null" {
			delete(st.Misc, k)
		} else {
			st.Misc[k] = v
		}
	}
	st.LLM.APIKey = ""
	raw, err := json.Marshal(st)
	if err != nil {
		return SettingsView{}, fmt.Errorf("encode settings: %w", err)
	}
	if err := m.store.PutServerSecret(settingsKeySecret, key); err != nil {
		return SettingsView{}, storeError("store settings key", err)
	}
	if err := m.store.PutServerValues(map[string][]byte{settingsKey: raw}); err != nil {
		return SettingsView{}, storeError("store settings", err)
	}
	return m.settingsView(st, key), nil
}

// endpointOf is where a model's requests go, with the server's defaults
// filling what l leaves out; "" when it cannot be told.
func (m *ConversationManager) endpointOf(l LLM) string {
	d := m.opts.Defaults.LLM
	ep, err := llm.Endpoint(cmp.Or(l.Model, d.Model), cmp.Or(l.BaseURL, d.BaseURL))
	if err != nil {
		return ""
	}
	return ep
}

// withServerSettings fills a create request from the server settings:
// the default model and endpoint, the key set with them (only when the
// conversation's model reaches that same endpoint), the confirmation
// policy and the analyzer; and resolves secrets that name a server-wide
// secret. The server's own key is left to settings, which lends it only
// to the endpoints it may go to.
func (m *ConversationManager) withServerSettings(req CreateRequest) (CreateRequest, error) {
	st, key, err := m.storedSettings()
	if err != nil {
		return req, err
	}
	if st.LLM.Model != "" || st.LLM.BaseURL != "" || key != "" {
		var ag Agent
		if req.Agent != nil {
			ag = *req.Agent
		} else {
			ag = Agent{LLM: m.opts.Defaults.LLM}
			ag.LLM.APIKey = ""
			ag.LLM.Model = cmp.Or(st.LLM.Model, ag.LLM.Model)
			ag.LLM.BaseURL = cmp.Or(st.LLM.BaseURL, ag.LLM.BaseURL)
		}
		ag.LLM.Model = cmp.Or(ag.LLM.Model, st.LLM.Model)
		ag.LLM.BaseURL = cmp.Or(ag.LLM.BaseURL, st.LLM.BaseURL)
		if ag.LLM.APIKey == "" && key != "" {
			d := m.opts.Defaults.LLM
			scope := llm.KeyScope{Model: cmp.Or(st.LLM.Model, d.Model), BaseURL: cmp.Or(st.LLM.BaseURL, d.BaseURL)}
			if scope.Allows(cmp.Or(ag.LLM.Model, d.Model), cmp.Or(ag.LLM.BaseURL, d.BaseURL)) {
				ag.LLM.APIKey = key
			}
		}
		req.Agent = &ag
	}
	if req.ConfirmationPolicy == nil {
		req.ConfirmationPolicy = st.ConfirmationPolicy
	}
	if req.SecurityAnalyzer == nil {
		req.SecurityAnalyzer = st.SecurityAnalyzer
	}
	secrets, err := m.resolveSecrets(req.Secrets)
	if err != nil {
		return req, err
	}
	req.Secrets = secrets
	return req, nil
}

// resolveSecrets replaces the secrets that name a server-wide secret (the
// SDK's LookupSecret with the path of GET /api/settings/secrets/{name})
// by its value. Any other URL is refused: the server fetches nothing.
func (m *ConversationManager) resolveSecrets(secrets map[string]Secret) (map[string]Secret, error) {
	var resolved map[string]Secret
	for name, s := range secrets {
		if s.Kind == "" || s.Kind == "StaticSecret" {
			continue
		}
		if s.Kind != "LookupSecret" {
			return nil, invalid("secrets.%s.kind: %q is not StaticSecret or LookupSecret", name, s.Kind)
		}
		ref, ok := strings.CutPrefix(s.URL, ServerSecretsPath)
		if !ok || !serverSecretName.MatchString(ref) {
			return nil, invalid("secrets.%s.url: %q is not %s{name}: a conversation's secret may name a server secret, never another URL", name, s.URL, ServerSecretsPath)
		}
		v, err := m.store.ServerSecret(ref)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, invalid("secrets.%s.url: there is no server secret %q", name, ref)
		} else if err != nil {
			return nil, storeError("read server secret", err)
		}
		if resolved == nil {
			resolved = make(map[string]Secret, len(secrets))
			for k, v := range secrets {
				resolved[k] = v
			}
		}
		resolved[name] = Secret{Value: v, Description: s.Description}
	}
	if resolved != nil {
		return resolved, nil
	}
	return secrets, nil
}

// ServerSecretsPath is the path, followed by a name, under which a
// conversation's LookupSecret names a server-wide secret, as the
// reference server's clients write it.
const ServerSecretsPath = "/api/settings/secrets/"

// ServerSecret is a server-wide secret's name and description.
type ServerSecret struct {
	Name        string  `json:"name"`
	Description *string `json:"description"`
}

// ServerSecrets lists the server-wide secrets, without their values.
func (m *ConversationManager) ServerSecrets() ([]ServerSecret, error) {
	names, err := m.store.ServerSecretNames()
	if err != nil {
		return nil, storeError("list server secrets", err)
	}
	descs, err := m.store.ServerValues(secretDescPrefix)
	if err != nil {
		return nil, storeError("list server secrets", err)
	}
	out := []ServerSecret{}
	for _, n := range names {
		if !serverSecretName.MatchString(n) {
			continue // the settings' and profiles' keys
		}
		s := ServerSecret{Name: n}
		if d, ok := descs[secretDescPrefix+n]; ok {
			desc := string(d)
			s.Description = &desc
		}
		out = append(out, s)
	}
	return out, nil
}

// ServerSecretValue returns a server-wide secret's value.
func (m *ConversationManager) ServerSecretValue(name string) (string, error) {
	if !serverSecretName.MatchString(name) {
		return "", invalid("name: %q is not a secret name (a letter, then letters, digits and '_'; at most 64)", name)
	}
	v, err := m.store.ServerSecret(name)
	if errors.Is(err, storage.ErrNotFound) {
		return "", notFound("secret", name)
	} else if err != nil {
		return "", storeError("read server secret", err)
	}
	return v, nil
}

// PutServerSecret creates or replaces a server-wide secret.
func (m *ConversationManager) PutServerSecret(name, value string, description *string) error {
	if !serverSecretName.MatchString(name) {
		return invalid("name: %q is not a secret name (a letter, then letters, digits and '_'; at most 64)", name)
	}
	if value == "" {
		return invalid("value: required")
	}
	if len(value) > m.opts.SecretLimits.ValueBytes {
		return invalid("value: longer than %d bytes", m.opts.SecretLimits.ValueBytes)
	}
	m.settingsMu.Lock()
	defer m.settingsMu.Unlock()
	names, err := m.store.ServerSecretNames()
	if err != nil {
		return storeError("list server secrets", err)
	}
	if !slices.Contains(names, name) && len(names) >= m.opts.SecretLimits.Count {
		return invalid("secrets: the server holds %d secrets already, the most it may", len(names))
	}
	if err := m.store.PutServerSecret(name, value); err != nil {
		return storeError("store server secret", err)
	}
	var desc []byte
	if description != nil {
		desc = []byte(*description)
	}
	if err := m.store.PutServerValues(map[string][]byte{secretDescPrefix + name: desc}); err != nil {
		return storeError("store server secret", err)
	}
	return nil
}

// DeleteServerSecret removes a server-wide secret.
func (m *ConversationManager) DeleteServerSecret(name string) error {
	if _, err := m.ServerSecretValue(name); err != nil {
		return err
	}
	m.settingsMu.Lock()
	defer m.settingsMu.Unlock()
	if err := m.store.PutServerSecret(name, ""); err != nil {
		return storeError("delete server secret", err)
	}
	if err := m.store.PutServerValues(map[string][]byte{secretDescPrefix + name: nil}); err != nil {
		return storeError("delete server secret", err)
	}
	return nil
}
