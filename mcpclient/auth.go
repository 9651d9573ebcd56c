package mcpclient

import (
	"encoding/base64"
	"fmt"
	"maps"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Auth is upstream's "auth" of a remote server: credentials that become
// request headers. Strategies: "none"; "bearer" (Value); "api_key" (Value,
// sent as a bearer token or in HeaderName); "basic" (Username, Password);
// "header" (Headers). OAuth is not supported.
type Auth struct {
	Strategy   string            `json:"strategy"`
	Value      string            `json:"value,omitempty"`
	HeaderName string            `json:"header_name,omitempty"`
	Username   string            `json:"username,omitempty"`
	Password   string            `json:"password,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

func (a *Auth) validate() error {
	switch a.Strategy {
	case "none", "bearer", "basic":
	case "api_key":
		if a.HeaderName != "" && !httpguts.ValidHeaderFieldName(a.HeaderName) {
			return fmt.Errorf("auth header_name %q is not a valid header name", a.HeaderName)
		}
	case "header":
		for k := range a.Headers {
			if !httpguts.ValidHeaderFieldName(k) {
				return fmt.Errorf("auth header name %q is not valid", k)
			}
		}
	case "oauth2", "oauth":
		return fmt.Errorf("auth strategy %q is not supported; give the token as a bearer value or header", a.Strategy)
	default:
		return fmt.Errorf("unknown auth strategy %q (want none, bearer, api_key, basic or header)", a.Strategy)
	}
	return nil
}

// headers returns the request headers the credentials stand for.
func (a *Auth) headers() map[string]string {
	switch a.Strategy {
	case "bearer":
		if a.Value != "" {
			return map[string]string{"Authorization": "Bearer " + a.Value}
		}
	case "api_key":
		switch {
		case a.Value == "":
		case a.HeaderName != "":
			return map[string]string{a.HeaderName: a.Value}
		default:
			return map[string]string{"Authorization": "Bearer " + a.Value}
		}
	case "basic":
		if a.Password != "" {
			return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password))}
		}
	case "header":
		return maps.Clone(a.Headers)
	}
	return nil
}

func (a *Auth) expand(secret func(string) (string, bool)) (*Auth, error) {
	e := *a
	var err error
	if e.Value, err = expandString(a.Value, secret); err != nil {
		return nil, fmt.Errorf("auth value: %w", err)
	}
	if e.Password, err = expandString(a.Password, secret); err != nil {
		return nil, fmt.Errorf("auth password: %w", err)
	}
	if a.Headers != nil {
		e.Headers = maps.Clone(a.Headers)
		for k, v := range e.Headers {
			if e.Headers[k], err = expandString(v, secret); err != nil {
				return nil, fmt.Errorf("auth header %s: %w", k, err)
			}
		}
	}
	return &e, nil
}

// RequestHeaders returns the headers sent on every request to a remote
// server: Headers with those of Auth.
func (s ServerConfig) RequestHeaders() map[string]string {
	if s.Auth == nil {
		return s.Headers
	}
	h := maps.Clone(s.Headers)
	if h == nil {
		h = map[string]string{}
	}
	maps.Copy(h, s.Auth.headers())
	return h
}

func hasAuthorization(h map[string]string) bool {
	for k := range h {
		if strings.EqualFold(k, "Authorization") {
			return true
		}
	}
	return false
}
