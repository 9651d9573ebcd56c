package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/storage"
)

// Profile is a named set of model settings a client may save and later
// make the server's default (activate). Its key, when saved with one, is
// kept with the secrets (sealed), never in the profile.
type Profile struct {
	Name   string
	LLM    LLM // APIKey Masked when set
	KeySet bool
}

// checkProfileName refuses what is not a profile name.
func checkProfileName(field, name string) error {
	if !profileName.MatchString(name) {
		return invalid("%s: %q is not a profile name (a letter or digit, then letters, digits, '.', '_', '-'; at most 64)", field, name)
	}
	return nil
}

// profile reads a profile and its key.
func (m *ConversationManager) profile(name string) (LLM, string, error) {
	var l LLM
	if err := checkProfileName("name", name); err != nil {
		return l, "", err
	}
	raw, err := m.store.ServerValue(profilePrefix + name)
	if err != nil {
		return l, "", storeError("read profile", err)
	}
	if raw == nil {
		return l, "", notFound("profile", name)
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return l, "", fmt.Errorf("stored profile %s: %w", name, err)
	}
	key, err := m.store.ServerSecret(profileKeyPrefix + name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return l, "", storeError("read profile key", err)
	}
	return l, key, nil
}

// Profiles lists the saved profiles by name, and the active one's name.
func (m *ConversationManager) Profiles() ([]Profile, string, error) {
	raws, err := m.store.ServerValues(profilePrefix)
	if err != nil {
		return nil, "", storeError("list profiles", err)
	}
	keys, err := m.store.ServerSecretNames()
	if err != nil {
		return nil, "", storeError("list profiles", err)
	}
	out := []Profile{}
	for k, raw := range raws {
		p := Profile{Name: strings.TrimPrefix(k, profilePrefix)}
		if err := json.Unmarshal(raw, &p.LLM); err != nil {
			return nil, "", fmt.Errorf("stored profile %s: %w", p.Name, err)
		}
		p.KeySet = slices.Contains(keys, profileKeyPrefix+p.Name)
		if p.KeySet {
			p.LLM.APIKey = Masked
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Profile) int { return strings.Compare(a.Name, b.Name) })
	st, _, err := m.storedSettings()
	if err != nil {
		return nil, "", err
	}
	return out, st.ActiveProfile, nil
}

// GetProfile returns one profile, its key masked.
func (m *ConversationManager) GetProfile(name string) (Profile, error) {
	l, key, err := m.profile(name)
	if err != nil {
		return Profile{}, err
	}
	p := Profile{Name: name, LLM: l, KeySet: key != ""}
	if p.KeySet {
		p.LLM.APIKey = Masked
	}
	return p, nil
}

// SaveProfile creates or replaces a profile. Its key is kept when
// withKey; otherwise it is saved without one. Saving a profile does not
// change the server's settings, even when it is the active one.
func (m *ConversationManager) SaveProfile(name string, l LLM, withKey bool) error {
	if err := checkProfileName("name", name); err != nil {
		return err
	}
	if strings.TrimSpace(l.Model) == "" {
		return invalid("llm.model: required")
	}
	if l.BaseURL != "" {
		if _, err := llm.NormalizeBaseURL(l.BaseURL); err != nil {
			return invalid("llm.base_url: %v", err)
		}
	}
	if err := validRetries(l); err != nil {
		return err
	}
	if len(l.APIKey) > m.opts.SecretLimits.ValueBytes {
		return invalid("llm.api_key: longer than %d bytes", m.opts.SecretLimits.ValueBytes)
	}
	m.settingsMu.Lock()
	defer m.settingsMu.Unlock()
	existing, err := m.store.ServerValue(profilePrefix + name)
	if err != nil {
		return storeError("read profile", err)
	}
	if existing == nil {
		all, err := m.store.ServerValues(profilePrefix)
		if err != nil {
			return storeError("list profiles", err)
		}
		if len(all) >= MaxProfiles {
			return conflict("profile limit reached (%d): delete a profile before saving a new one", MaxProfiles)
		}
	}
	key := l.APIKey
	switch {
	case !withKey:
		key = ""
	case key == Masked:
		// The masked key a client read back: keep the stored one.
		old, err := m.store.ServerSecret(profileKeyPrefix + name)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storeError("read profile key", err)
		}
		key = old
	}
	l.APIKey = ""
	raw, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	if err := m.store.PutServerSecret(profileKeyPrefix+name, key); err != nil {
		return storeError("store profile key", err)
	}
	if err := m.store.PutServerValues(map[string][]byte{profilePrefix + name: raw}); err != nil {
		return storeError("store profile", err)
	}
	return nil
}

// DeleteProfile removes a profile; when it was the active one, no profile
// is active after (the settings it gave stay).
func (m *ConversationManager) DeleteProfile(name string) error {
	if _, _, err := m.profile(name); err != nil {
		return err
	}
	m.settingsMu.Lock()
	defer m.settingsMu.Unlock()
	if err := m.store.PutServerSecret(profileKeyPrefix+name, ""); err != nil {
		return storeError("delete profile key", err)
	}
	if err := m.store.PutServerValues(map[string][]byte{profilePrefix + name: nil}); err != nil {
		return storeError("delete profile", err)
	}
	return m.renameActive(name, "")
}

// RenameProfile gives a profile a new name; the active profile stays
// active under its new name.
func (m *ConversationManager) RenameProfile(name, newName string) error {
	if err := checkProfileName("new_name", newName); err != nil {
		return err
	}
	l, key, err := m.profile(name)
	if err != nil {
		return err
	}
	if name == newName {
		return nil
	}
	m.settingsMu.Lock()
	defer m.settingsMu.Unlock()
	if raw, err := m.store.ServerValue(profilePrefix + newName); err != nil {
		return storeError("read profile", err)
	} else if raw != nil {
		return conflict("profile %q already exists", newName)
	}
	raw, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	if err := m.store.PutServerSecret(profileKeyPrefix+newName, key); err != nil {
		return storeError("store profile key", err)
	}
	if err := m.store.PutServerValues(map[string][]byte{profilePrefix + newName: raw, profilePrefix + name: nil}); err != nil {
		return storeError("store profile", err)
	}
	if err := m.store.PutServerSecret(profileKeyPrefix+name, ""); err != nil {
		return storeError("delete profile key", err)
	}
	return m.renameActive(name, newName)
}

// renameActive changes the settings' active profile from old to new ("":
// none), when old is the active one. The caller holds m.settingsMu.
func (m *ConversationManager) renameActive(old, new string) error {
	st, _, err := m.storedSettings()
	if err != nil || st.ActiveProfile != old {
		return err
	}
	st.ActiveProfile = new
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	if err := m.store.PutServerValues(map[string][]byte{settingsKey: raw}); err != nil {
		return storeError("store settings", err)
	}
	return nil
}

// ActivateProfile makes a profile's model settings (and its key) the
// server's defaults, for conversations created after.
func (m *ConversationManager) ActivateProfile(name string) (SettingsView, error) {
	return m.UpdateSettings(SettingsUpdate{ActiveProfile: &name})
}
