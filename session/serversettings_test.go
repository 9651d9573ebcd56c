package session

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/storage"
)

const testServerKey = "sk-server-key-0123456789"

// settingsManager is a manager whose server has its own model settings
// and key, on a store at path.
func settingsManager(t *testing.T, path, secretKey string) (*ConversationManager, func()) {
	t.Helper()
	store, err := storage.Open(path, storage.Options{SecretKey: secretKey})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Store: store, Defaults: Defaults{
		LLM: LLM{Model: "openai/gpt-4o", APIKey: testServerKey, BaseURL: "http://models.internal:4000/v1"},
	}})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	return m, func() {
		m.Close(context.Background())
		store.Close()
	}
}

// createdLLM creates a conversation and returns its model settings, or
// the error.
func createdLLM(t *testing.T, m *ConversationManager, req CreateRequest) (LLM, error) {
	t.Helper()
	a, _, err := m.Create(context.Background(), req)
	if err != nil {
		return LLM{}, err
	}
	return a.Settings().Agent.LLM, nil
}

func wantKeyRefused(t *testing.T, err error) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || se.Kind != KindInvalid || !strings.Contains(se.Detail, "agent.llm.api_key") {
		t.Fatalf("Create = %v, want a 422 naming agent.llm.api_key", err)
	}
}

// TestSettingsKeepTheKeyRule checks that changed defaults apply to the
// conversations created after, and that no change of the settings sends
// a key to an endpoint it was not given for: the server's own key goes
// only to its endpoint, a key set with the settings only to theirs.
func TestSettingsKeepTheKeyRule(t *testing.T) {
	m, done := settingsManager(t, filepath.Join(t.TempDir(), "state.db"), "test-key")
	defer done()

	// A client moves the default to its own endpoint without a key: the
	// server's key does not follow.
	v, err := m.UpdateSettings(SettingsUpdate{BaseURL: ptr("https://evil.example/v1")})
	if err != nil {
		t.Fatal(err)
	}
	if v.KeySet || v.LLM.BaseURL != "https://evil.example/v1" || v.LLM.Model != "openai/gpt-4o" {
		t.Errorf("settings = %+v, want the new endpoint, the old model, and no key", v)
	}
	_, err = createdLLM(t, m, CreateRequest{})
	wantKeyRefused(t, err)

	// With a key of its own, the client's endpoint gets that key.
	if v, err = m.UpdateSettings(SettingsUpdate{APIKey: ptr("client-key-abcdef")}); err != nil {
		t.Fatal(err)
	}
	if !v.KeySet || v.LLM.APIKey != Masked {
		t.Errorf("settings = %+v, want the key set and masked", v)
	}
	got, err := createdLLM(t, m, CreateRequest{})
	if err != nil || got.APIKey != "client-key-abcdef" || got.BaseURL != "https://evil.example/v1" {
		t.Fatalf("created with %+v, %v; want the settings' key and endpoint", got, err)
	}
	// A conversation naming yet another endpoint gets neither key.
	_, err = createdLLM(t, m, CreateRequest{Agent: &Agent{LLM: LLM{Model: "openai/gpt-4o", BaseURL: "https://other.example/v1"}}})
	wantKeyRefused(t, err)

	// Moving the endpoint again without a key drops the key set with the
	// old one.
	if v, err = m.UpdateSettings(SettingsUpdate{BaseURL: ptr("https://third.example/v1")}); err != nil {
		t.Fatal(err)
	}
	if v.KeySet {
		t.Errorf("settings = %+v: the key followed the endpoint", v)
	}
	_, err = createdLLM(t, m, CreateRequest{})
	wantKeyRefused(t, err)

	// Back to the server's endpoint: its own key applies again.
	if v, err = m.UpdateSettings(SettingsUpdate{BaseURL: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if !v.KeySet {
		t.Errorf("settings = %+v: the server's key no longer applies at its own endpoint", v)
	}
	got, err = createdLLM(t, m, CreateRequest{})
	if err != nil || got.APIKey != testServerKey {
		t.Fatalf("created with %+v, %v; want the server's key", got, err)
	}
	// A bad base URL is refused.
	if _, err := m.UpdateSettings(SettingsUpdate{BaseURL: ptr("not a url")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("base_url %q: %v, want ErrInvalid", "not a url", err)
	}
}

// TestSettingsDefaultsAndRestart checks that the confirmation policy and
// model defaults reach new conversations only, and that the settings and
// their key outlive a restart (the key sealed in the file).
func TestSettingsDefaultsAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	m, done := settingsManager(t, path, "test-key")
	before, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	policy := ConfirmationPolicy{Kind: ConfirmRisky, Threshold: "HIGH"}
	want, err := m.UpdateSettings(SettingsUpdate{Model: ptr("openai/gpt-5"), ConfirmationPolicy: &policy,
		APIKey: ptr("client-key-abcdef"), Misc: map[string]json.RawMessage{"theme": json.RawMessage(`"dark"`)}})
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if s := after.Settings(); s.ConfirmationPolicy != policy || s.Agent.LLM.Model != "openai/gpt-5" || s.Agent.LLM.APIKey != "client-key-abcdef" {
		t.Errorf("created after the change with %+v", s)
	}
	if s := before.Settings(); s.ConfirmationPolicy.Kind != NeverConfirm || s.Agent.LLM.Model != "openai/gpt-4o" {
		t.Errorf("created before the change, now %+v", s)
	}
	// A request's own policy wins over the default.
	own, _, err := m.Create(context.Background(), CreateRequest{ConfirmationPolicy: &ConfirmationPolicy{Kind: AlwaysConfirm}})
	if err != nil || own.Settings().ConfirmationPolicy.Kind != AlwaysConfirm {
		t.Fatalf("a request's own policy: %v", err)
	}
	done()

	m, done = settingsManager(t, path, "test-key")
	defer done()
	got, err := m.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("settings after a restart (-got +want):\n%s", diff)
	}
	llm, err := createdLLM(t, m, CreateRequest{})
	if err != nil || llm.APIKey != "client-key-abcdef" {
		t.Errorf("after a restart created with %+v, %v; want the settings' key", llm, err)
	}
}

// TestServerSecrets checks the server-wide secrets and a conversation's
// reference to one (the SDK's LookupSecret), which never names a URL of
// another server.
func TestServerSecrets(t *testing.T) {
	m, done := settingsManager(t, filepath.Join(t.TempDir(), "state.db"), "test-key")
	defer done()
	if err := m.PutServerSecret("GITHUB_TOKEN", "ghp-secret-value", ptr("for git")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "1ABC", "has-dash", strings.Repeat("A", 65)} {
		if err := m.PutServerSecret(bad, "v", nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutServerSecret(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	list, err := m.ServerSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(list, []ServerSecret{{Name: "GITHUB_TOKEN", Description: ptr("for git")}}); diff != "" {
		t.Errorf("ServerSecrets (-got +want):\n%s", diff)
	}
	// The settings' key is not listed as a secret.
	if _, err := m.UpdateSettings(SettingsUpdate{APIKey: ptr("client-key-abcdef")}); err != nil {
		t.Fatal(err)
	}
	if list, _ := m.ServerSecrets(); len(list) != 1 {
		t.Errorf("ServerSecrets = %+v, want GITHUB_TOKEN only", list)
	}

	a, _, err := m.Create(context.Background(), CreateRequest{Secrets: map[string]Secret{
		"GH": {Kind: "LookupSecret", URL: "/api/settings/secrets/GITHUB_TOKEN"},
		"X":  {Value: "plain"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Secrets(); got["GH"] != "ghp-secret-value" || got["X"] != "plain" {
		t.Errorf("conversation secrets = %v", got)
	}
	for _, s := range []Secret{
		{Kind: "LookupSecret", URL: "https://evil.example/api/settings/secrets/GITHUB_TOKEN"},
		{Kind: "LookupSecret", URL: "/api/settings/secrets/NOPE"},
		{Kind: "Other"},
	} {
		if _, _, err := m.Create(context.Background(), CreateRequest{Secrets: map[string]Secret{"GH": s}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("secret %+v: %v, want ErrInvalid", s, err)
		}
		if err := a.SetSecrets(map[string]Secret{"GH": s}); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetSecrets %+v: %v, want ErrInvalid", s, err)
		}
	}
	if err := m.DeleteServerSecret("GITHUB_TOKEN"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ServerSecretValue("GITHUB_TOKEN"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	if err := m.DeleteServerSecret("GITHUB_TOKEN"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

// TestProfiles checks saving, listing, renaming, activating and deleting
// named model settings, with their keys kept apart and masked.
func TestProfiles(t *testing.T) {
	m, done := settingsManager(t, filepath.Join(t.TempDir(), "state.db"), "test-key")
	defer done()
	if err := m.SaveProfile("fast", LLM{Model: "openai/gpt-5-mini", BaseURL: "https://proxy.example/v1", APIKey: "proxy-key-123"}, true); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveProfile("nokey", LLM{Model: "openai/gpt-4o", APIKey: "dropped"}, false); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		l    LLM
	}{{"", LLM{Model: "m"}}, {"-x", LLM{Model: "m"}}, {"ok", LLM{}}, {"ok", LLM{Model: "m", BaseURL: "::"}}} {
		if err := m.SaveProfile(bad.name, bad.l, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("SaveProfile(%q, %+v) = %v, want ErrInvalid", bad.name, bad.l, err)
		}
	}
	list, active, err := m.Profiles()
	if err != nil {
		t.Fatal(err)
	}
	want := []Profile{
		{Name: "fast", LLM: LLM{Model: "openai/gpt-5-mini", BaseURL: "https://proxy.example/v1", APIKey: Masked}, KeySet: true},
		{Name: "nokey", LLM: LLM{Model: "openai/gpt-4o"}},
	}
	if diff := cmp.Diff(list, want); diff != "" || active != "" {
		t.Errorf("Profiles (-got +want):\n%s\nactive %q", diff, active)
	}
	if err := m.RenameProfile("fast", "nokey"); !errors.Is(err, ErrConflict) {
		t.Errorf("rename onto another: %v, want ErrConflict", err)
	}
	if err := m.RenameProfile("nosuch", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rename of none: %v, want ErrNotFound", err)
	}
	if _, err := m.ActivateProfile("fast"); err != nil {
		t.Fatal(err)
	}
	if err := m.RenameProfile("fast", "quick"); err != nil {
		t.Fatal(err)
	}
	got, err := createdLLM(t, m, CreateRequest{})
	if err != nil || got.Model != "openai/gpt-5-mini" || got.APIKey != "proxy-key-123" || got.BaseURL != "https://proxy.example/v1" {
		t.Fatalf("created with %+v, %v; want the active profile's settings", got, err)
	}
	if _, active, _ := m.Profiles(); active != "quick" {
		t.Errorf("active after rename = %q, want quick", active)
	}
	p, err := m.GetProfile("quick")
	if err != nil || p.LLM.APIKey != Masked || !p.KeySet {
		t.Errorf("GetProfile(quick) = %+v, %v", p, err)
	}
	if err := m.DeleteProfile("quick"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetProfile("quick"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	if v, _ := m.Settings(); v.ActiveProfile != "" {
		t.Errorf("active after delete = %q", v.ActiveProfile)
	}
	if _, err := m.ActivateProfile("quick"); !errors.Is(err, ErrNotFound) {
		t.Errorf("activate a deleted one: %v, want ErrNotFound", err)
	}
}
