package storage

import (
	"fmt"
	"sort"
	"strings"

	"go.etcd.io/bbolt"
)

// The server-wide state a client may change (default settings, named
// model settings, secrets shared by conversations) lives in two buckets
// made on first write, so that files of the current layout take them
// without a migration:
var (
	bucketServer        = []byte("server")         // key -> JSON, in the clear
	bucketServerSecrets = []byte("server_secrets") // name -> sealed value
)

// memServer is the key of memSecrets under which the server-wide secrets
// are kept without a secret key; no conversation id starts with a NUL.
const memServer = "\x00server"

// ServerValue returns the server-wide value stored under key, or nil.
func (s *Store) ServerValue(key string) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketServer); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: server value %s: %w", key, err)
	}
	return out, nil
}

// ServerValues returns the server-wide values whose keys start with
// prefix, by key.
func (s *Store) ServerValues(prefix string) (map[string][]byte, error) {
	out := make(map[string][]byte)
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketServer)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			out[string(k)] = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: server values %s: %w", prefix, err)
	}
	return out, nil
}

// PutServerValues writes server-wide values in one transaction; a nil
// value deletes its key.
func (s *Store) PutServerValues(values map[string][]byte) error {
	for k := range values {
		if err := checkID("server key", k); err != nil {
			return fmt.Errorf("storage: put server values: %w", err)
		}
	}
	err := s.update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketServer)
		if err != nil {
			return abort(err)
		}
		for k, v := range values {
			if v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return abort(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: put server values: %w", err)
	}
	return nil
}

func serverSecretAD(name string) string { return "server secret\x00" + name }

// PutServerSecret sets a server-wide secret; "" deletes it. With a secret
// key the value is sealed and written; without one it is kept in memory
// only, as conversations' secrets are.
func (s *Store) PutServerSecret(name, value string) error {
	if err := checkID("secret name", name); err != nil {
		return fmt.Errorf("storage: put server secret: %w", err)
	}
	if s.aead == nil {
		s.secMu.Lock()
		defer s.secMu.Unlock()
		mem := s.memSecrets[memServer]
		if mem == nil {
			mem = make(map[string]string)
			s.memSecrets[memServer] = mem
		}
		if value == "" {
			delete(mem, name)
		} else {
			mem[name] = value
		}
		return nil
	}
	var sealed []byte
	if value != "" {
		sealed = s.seal([]byte(value), serverSecretAD(name))
	}
	err := s.update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketServerSecrets)
		if err != nil {
			return abort(err)
		}
		if sealed == nil {
			return abort(b.Delete([]byte(name)))
		}
		return abort(b.Put([]byte(name), sealed))
	})
	if err != nil {
		return fmt.Errorf("storage: put server secret %s: %w", name, err)
	}
	return nil
}

// ServerSecret returns a server-wide secret in the clear; ErrNotFound when
// there is none of that name.
func (s *Store) ServerSecret(name string) (string, error) {
	if s.aead == nil {
		s.secMu.Lock()
		defer s.secMu.Unlock()
		v, ok := s.memSecrets[memServer][name]
		if !ok {
			return "", fmt.Errorf("storage: server secret %s: %w", name, ErrNotFound)
		}
		return v, nil
	}
	var out string
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketServerSecrets)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		plain, err := s.open(v, serverSecretAD(name))
		if err != nil {
			return fmt.Errorf("does not decrypt: %w", err)
		}
		out = string(plain)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("storage: server secret %s: %w", name, err)
	}
	return out, nil
}

// ServerSecretNames lists the server-wide secrets' names, sorted.
func (s *Store) ServerSecretNames() ([]string, error) {
	var names []string
	if s.aead == nil {
		s.secMu.Lock()
		for k := range s.memSecrets[memServer] {
			names = append(names, k)
		}
		s.secMu.Unlock()
		sort.Strings(names)
		return names, nil
	}
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketServerSecrets)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: server secret names: %w", err)
	}
	return names, nil
}

// SealsSecrets reports whether the store has a secret key, so that
// secrets outlive the process.
func (s *Store) SealsSecrets() bool { return s.aead != nil }
