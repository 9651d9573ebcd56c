package mcpclient

import (
	"fmt"
	"maps"
	"strings"
)

// Expand returns c with ${NAME} and $NAME in env values, header values,
// urls and auth credentials replaced by the secret of that name. ${NAME:-default} takes default
// when there is no such secret, as upstream's expansion does, and $$ is a
// literal $. A name with no secret and no default is an error naming the
// server, the field and the name, never a value left unexpanded: a server
// given "$TOKEN" as its token fails in a way nobody sees.
func (c Config) Expand(secret func(name string) (string, bool)) (Config, error) {
	out := Config{Servers: make(map[string]ServerConfig, len(c.Servers))}
	for name, s := range c.Servers {
		e, err := s.expand(secret)
		if err != nil {
			return Config{}, fmt.Errorf("MCP server %q: %w", name, err)
		}
		out.Servers[name] = e
	}
	return out, nil
}

func (s ServerConfig) expand(secret func(string) (string, bool)) (ServerConfig, error) {
	var err error
	if s.Env != nil {
		env := maps.Clone(s.Env)
		for k, v := range env {
			if env[k], err = expandString(v, secret); err != nil {
				return s, fmt.Errorf("env %s: %w", k, err)
			}
		}
		s.Env = env
	}
	if s.Headers != nil {
		h := maps.Clone(s.Headers)
		for k, v := range h {
			if h[k], err = expandString(v, secret); err != nil {
				return s, fmt.Errorf("header %s: %w", k, err)
			}
		}
		s.Headers = h
	}
	if s.Auth != nil {
		if s.Auth, err = s.Auth.expand(secret); err != nil {
			return s, err
		}
	}
	if s.URL != "" {
		if s.URL, err = expandString(s.URL, secret); err != nil {
			return s, fmt.Errorf("url: %w", err)
		}
		if err := checkURL(s.URL); err != nil {
			return s, err
		}
	}
	return s, nil
}

func isNameByte(b byte, first bool) bool {
	return b == '_' || 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || !first && '0' <= b && b <= '9'
}

// expandString replaces $NAME, ${NAME} and ${NAME:-default} in v. A $ that
// starts no name is kept as it is.
func expandString(v string, secret func(string) (string, bool)) (string, error) {
	if !strings.Contains(v, "$") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		if v[i] != '$' || i+1 == len(v) {
			b.WriteByte(v[i])
			i++
			continue
		}
		switch next := v[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			end := strings.IndexByte(v[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed ${ in %q", v)
			}
			body := v[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(body, ":-")
			if !validName(name) {
				return "", fmt.Errorf("${%s} is not a variable name", body)
			}
			val, ok := lookup(secret, name)
			switch {
			case ok:
				b.WriteString(val)
			case hasDef:
				b.WriteString(def)
			default:
				return "", fmt.Errorf("no secret named %s", name)
			}
			i += 2 + end + 1
		case isNameByte(next, true):
			j := i + 1
			for j < len(v) && isNameByte(v[j], j == i+1) {
				j++
			}
			name := v[i+1 : j]
			val, ok := lookup(secret, name)
			if !ok {
				return "", fmt.Errorf("no secret named %s", name)
			}
			b.WriteString(val)
			i = j
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), nil
}

func lookup(secret func(string) (string, bool), name string) (string, bool) {
	if secret == nil {
		return "", false
	}
	return secret(name)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i], i == 0) {
			return false
		}
	}
	return true
}
