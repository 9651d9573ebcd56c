package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"

	"go.etcd.io/bbolt"
)

// keyInfo labels the HKDF derivation, so the secret key yields a key used
// for this purpose only.
const keyInfo = "gohands storage: AES-256-GCM key for secrets and sandbox tokens, v1"

// keyCheckPlain is sealed with the key on first use and opened on every
// open, to tell a wrong key at once.
var keyCheckPlain = []byte("gohands key check v1")

// initKey derives the AEAD from secretKey and the file's salt and checks it
// against the sealed check value. Without a check value it seals one with
// writeCheck, when the store can write.
func (s *Store) initKey(secretKey string, salt, check []byte, writeCheck func([]byte) error) error {
	if secretKey == "" {
		return nil
	}
	key, err := hkdf.Key(sha256.New, []byte(secretKey), salt, keyInfo, 32)
	if err != nil {
		return fmt.Errorf("derive secret key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("secret key cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("secret key cipher: %w", err)
	}
	s.aead = aead
	if check != nil {
		if _, err := s.open(check, "key-check"); err != nil {
			s.aead = nil
			return ErrSecretKey
		}
		return nil
	}
	if writeCheck == nil {
		return nil
	}
	return writeCheck(s.seal(keyCheckPlain, "key-check"))
}

// seal encrypts plain with a fresh random nonce, bound to where it is
// stored by the additional data ad, and returns nonce || ciphertext.
func (s *Store) seal(plain []byte, ad string) []byte {
	nonce := randomBytes(s.aead.NonceSize())
	return s.aead.Seal(nonce, nonce, plain, []byte(ad))
}

// open reverses seal.
func (s *Store) open(sealed []byte, ad string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
}

// secretAD binds a sealed secret to its conversation and name, so that
// values moved around in the file do not decrypt.
func secretAD(convID, name string) string { return "secret\x00" + convID + "\x00" + name }

// PutSecrets merges secrets into the conversation's: a name with a value
// sets it, a name with "" deletes it. With a secret key the values are
// sealed and written; without one they are kept in memory only.
func (s *Store) PutSecrets(convID string, secrets map[string]string) error {
	for name := range secrets {
		if err := checkID("secret name", name); err != nil {
			return fmt.Errorf("storage: put secrets of conversation %s: %w", convID, err)
		}
	}
	if s.aead == nil {
		s.secMu.Lock()
		defer s.secMu.Unlock()
		if err := s.view(func(tx *bbolt.Tx) error { return conversationExists(tx, convID) }); err != nil {
			return fmt.Errorf("storage: put secrets of conversation %s: %w", convID, err)
		}
		mem := s.memSecrets[convID]
		if mem == nil {
			mem = make(map[string]string)
			s.memSecrets[convID] = mem
		}
		for name, v := range secrets {
			if v == "" {
				delete(mem, name)
			} else {
				mem[name] = v
			}
		}
		return nil
	}
	sealed := make(map[string][]byte, len(secrets))
	for name, v := range secrets {
		if v != "" {
			sealed[name] = s.seal([]byte(v), secretAD(convID, name))
		}
	}
	err := s.update(func(tx *bbolt.Tx) error {
		if err := conversationExists(tx, convID); err != nil {
			return err
		}
		b, err := tx.Bucket(bucketSecrets).CreateBucketIfNotExists([]byte(convID))
		if err != nil {
			return abort(err)
		}
		for name := range secrets {
			if v, ok := sealed[name]; ok {
				err = b.Put([]byte(name), v)
			} else {
				err = b.Delete([]byte(name))
			}
			if err != nil {
				return abort(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: put secrets of conversation %s: %w", convID, err)
	}
	return nil
}

// Secrets returns the conversation's secrets, in the clear; an empty map if
// it has none. Without a secret key these are the ones put since the store
// was opened; values sealed in the file by an earlier run with a key are
// left there untouched, unreadable until the key is given again.
func (s *Store) Secrets(convID string) (map[string]string, error) {
	out := make(map[string]string)
	if s.aead == nil {
		s.secMu.Lock()
		defer s.secMu.Unlock()
		if err := s.view(func(tx *bbolt.Tx) error { return conversationExists(tx, convID) }); err != nil {
			return nil, fmt.Errorf("storage: secrets of conversation %s: %w", convID, err)
		}
		maps.Copy(out, s.memSecrets[convID])
		return out, nil
	}
	err := s.view(func(tx *bbolt.Tx) error {
		if err := conversationExists(tx, convID); err != nil {
			return err
		}
		b := tx.Bucket(bucketSecrets).Bucket([]byte(convID))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			plain, err := s.open(v, secretAD(convID, string(k)))
			if err != nil {
				return fmt.Errorf("secret %s does not decrypt: %w", k, err)
			}
			out[string(k)] = string(plain)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: secrets of conversation %s: %w", convID, err)
	}
	return out, nil
}
