package llm

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// anthropicBaseURL is where the Anthropic SDK sends requests by default.
const anthropicBaseURL = "https://api.anthropic.com"

// hostedDefaults are the default endpoints of the hosted providers a model
// prefix names. A server key given without a model or base URL may go to
// these, and to no default that a local process could answer (Ollama's).
var hostedDefaults = []string{openAIBaseURL, anthropicBaseURL, openRouterBaseURL}

// Endpoint returns where a client made for model and baseURL sends its
// requests: the base URL after routing, in a normal form (lower-case scheme
// and host, no default port, no trailing slash, and for Anthropic no
// "/v1", which its client adds itself). Two settings that reach the same
// server have the same Endpoint.
func Endpoint(model, baseURL string) (string, error) {
	r, err := route(model, strings.TrimSpace(baseURL))
	if err != nil {
		return "", err
	}
	base := r.baseURL
	if base == "" {
		base = openAIBaseURL
		if r.provider == providerAnthropic {
			base = anthropicBaseURL
		}
	}
	ep, err := NormalizeBaseURL(base)
	if err != nil {
		return "", err
	}
	if r.provider == providerAnthropic {
		ep = strings.TrimSuffix(ep, "/v1")
	}
	return ep, nil
}

// NormalizeBaseURL checks that raw is an http or https URL with a host, and
// returns it in the form Endpoint compares: the server and path only (a
// user, query or fragment does not change which server is reached).
func NormalizeBaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("llm: base URL %q: %w", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("llm: base URL %q: want an http:// or https:// URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// KeyScope says where the server's own API key may be sent: to the
// endpoint of the server's model settings, or, when those name neither a
// model nor a base URL, to a hosted provider's default endpoint; and to
// every endpoint in Allowed. A conversation that names any other endpoint
// must bring its own key, so that a client cannot have the server's key
// sent to a server of its choosing.
type KeyScope struct {
	// Model and BaseURL are the server's defaults (LLM_MODEL, LLM_BASE_URL).
	Model   string
	BaseURL string
	// Allowed are more base URLs the key may go to, each as
	// NormalizeBaseURL returns it.
	Allowed []string
}

// Allows reports whether the server's key may be sent to the endpoint of
// model and baseURL.
func (s KeyScope) Allows(model, baseURL string) bool {
	ep, err := Endpoint(model, baseURL)
	if err != nil {
		return false
	}
	same := func(a string) bool { return sameEndpoint(a, ep) }
	if slices.ContainsFunc(s.Allowed, same) {
		return true
	}
	if s.Model == "" && s.BaseURL == "" {
		return slices.ContainsFunc(hostedDefaults, same)
	}
	own, err := Endpoint(cmp.Or(s.Model, model), s.BaseURL)
	return err == nil && same(own)
}

// sameEndpoint compares two normal base URLs, with or without the "/v1"
// that OpenAI-style base URLs carry and Anthropic's client adds itself.
func sameEndpoint(a, b string) bool {
	return strings.TrimSuffix(a, "/v1") == strings.TrimSuffix(b, "/v1")
}
