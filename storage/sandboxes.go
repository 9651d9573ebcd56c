package storage

import (
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"
)

// SandboxRecord is what a restarted server needs to take a running sandbox
// back: which container serves which conversation, and the token its
// runtime-agent wants.
//
// With a secret key the token is sealed like a secret. Without one it is
// written in the clear: a sandbox must survive a restart either way, the
// file is private to the server's user (0600), and the Docker engine shows
// the token to anyone who may inspect the container anyway.
type SandboxRecord struct {
	ConversationID string
	// ContainerID is empty once the container is removed (an idle
	// conversation's) while Volume keeps the workspace for the next one.
	ContainerID string
	Token       string
	Image       string
	// Volume names the volume holding the conversation's workspace
	// (sandbox.Handle.Volume), "" when there is none.
	Volume string
}

// sandboxRecord is a SandboxRecord as stored.
type sandboxRecord struct {
	ConversationID string `json:"conversation_id"`
	ContainerID    string `json:"container_id"`
	Image          string `json:"image,omitempty"`
	Volume         string `json:"volume,omitempty"`
	Token          string `json:"token,omitempty"`        // without a secret key
	SealedToken    []byte `json:"sealed_token,omitempty"` // with one
}

func sandboxAD(convID string) string { return "sandbox-token\x00" + convID }

// PutSandbox stores the record of the conversation's sandbox, replacing any
// earlier one. An unknown conversation fails with ErrNotFound.
func (s *Store) PutSandbox(r SandboxRecord) error {
	rec := sandboxRecord{ConversationID: r.ConversationID, ContainerID: r.ContainerID, Image: r.Image, Volume: r.Volume}
	if s.aead != nil {
		rec.SealedToken = s.seal([]byte(r.Token), sandboxAD(r.ConversationID))
	} else {
		rec.Token = r.Token
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("storage: put sandbox of conversation %s: %w", r.ConversationID, err)
	}
	err = s.update(func(tx *bbolt.Tx) error {
		if err := conversationExists(tx, r.ConversationID); err != nil {
			return err
		}
		return abort(tx.Bucket(bucketSandboxes).Put([]byte(r.ConversationID), v))
	})
	if err != nil {
		return fmt.Errorf("storage: put sandbox of conversation %s: %w", r.ConversationID, err)
	}
	return nil
}

// Sandboxes returns every sandbox record, in conversation id order. A token
// sealed by an earlier run with a secret key, read now without one, comes
// back empty (logged): such a sandbox cannot be reached and is best removed.
func (s *Store) Sandboxes() ([]SandboxRecord, error) {
	var out []SandboxRecord
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSandboxes).ForEach(func(k, v []byte) error {
			r, err := s.sandboxOf(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: sandboxes: %w", err)
	}
	return out, nil
}

// Sandbox returns the sandbox record of one conversation, as Sandboxes
// does; ErrNotFound when it has none.
func (s *Store) Sandbox(convID string) (SandboxRecord, error) {
	var r SandboxRecord
	err := s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketSandboxes).Get([]byte(convID))
		if v == nil {
			return ErrNotFound
		}
		var err error
		r, err = s.sandboxOf([]byte(convID), v)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("storage: sandbox of conversation %s: %w", convID, err)
	}
	return r, nil
}

// sandboxOf decodes the stored record v of key k.
func (s *Store) sandboxOf(k, v []byte) (SandboxRecord, error) {
	var rec sandboxRecord
	if err := decodeRecord(v, &rec); err != nil {
		return SandboxRecord{}, fmt.Errorf("sandbox of conversation %s: %w", k, err)
	}
	r := SandboxRecord{ConversationID: rec.ConversationID, ContainerID: rec.ContainerID, Image: rec.Image, Token: rec.Token, Volume: rec.Volume}
	switch {
	case rec.SealedToken == nil:
	case s.aead == nil:
		s.log.Warn("sandbox token is sealed and no secret key is set; the token is unknown",
			"conversation_id", rec.ConversationID, "container_id", rec.ContainerID)
	default:
		token, err := s.open(rec.SealedToken, sandboxAD(rec.ConversationID))
		if err != nil {
			return SandboxRecord{}, fmt.Errorf("sandbox token of conversation %s does not decrypt: %w", k, err)
		}
		r.Token = string(token)
	}
	return r, nil
}

// DeleteSandbox deletes the conversation's sandbox record; there being none
// is not an error.
func (s *Store) DeleteSandbox(convID string) error {
	err := s.update(func(tx *bbolt.Tx) error {
		return abort(tx.Bucket(bucketSandboxes).Delete([]byte(convID)))
	})
	if err != nil {
		return fmt.Errorf("storage: delete sandbox of conversation %s: %w", convID, err)
	}
	return nil
}
