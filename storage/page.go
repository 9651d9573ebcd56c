package storage

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// Page ids are opaque to callers: base64url (no padding) of a version byte,
// a byte naming the listing, and the key at which the next page starts.
//
//	events:        1 'e' seq (8 bytes, big endian, > 0)
//	conversations: 1 'c' sort (1 byte) index key (8-byte time + id)
//
// The decoding is strict (canonical base64, exact lengths), so that a page
// id decodes to one key only and re-encodes to itself.

const pageVersion = 1

var pageEncoding = base64.RawURLEncoding.Strict()

// maxPageIDLen bounds the page ids decoded: the length of the longest valid
// one, a conversation page with an id of maxIDLen bytes, in unpadded base64.
const maxPageIDLen = ((3+8+maxIDLen)*8 + 5) / 6

// sortCodes are the bytes naming a conversation sort order in a page id.
var sortCodes = map[ConversationSort]byte{
	ByCreated:     'c',
	ByCreatedDesc: 'C',
	ByUpdated:     'u',
	ByUpdatedDesc: 'U',
}

func encodeEventPage(seq uint64) string {
	b := []byte{pageVersion, 'e'}
	return pageEncoding.EncodeToString(binary.BigEndian.AppendUint64(b, seq))
}

// decodeEventPage returns the seq an events page id starts at.
func decodeEventPage(id string) (uint64, error) {
	b, err := decodePage(id)
	if err != nil {
		return 0, err
	}
	if len(b) != 2+8 || b[1] != 'e' {
		return 0, fmt.Errorf("not an events page id: %w", ErrBadPage)
	}
	seq := binary.BigEndian.Uint64(b[2:])
	if seq == 0 {
		return 0, fmt.Errorf("page starts at seq 0: %w", ErrBadPage)
	}
	return seq, nil
}

// encodeConversationPage encodes the index key a page of conversations in
// order sort starts at.
func encodeConversationPage(sort ConversationSort, key []byte) string {
	b := make([]byte, 0, 3+len(key))
	b = append(b, pageVersion, 'c', sortCodes[sort])
	return pageEncoding.EncodeToString(append(b, key...))
}

// decodeConversationPage returns the index key a conversations page id
// starts at. The id must have been made for the same sort order.
func decodeConversationPage(id string, sort ConversationSort) ([]byte, error) {
	b, err := decodePage(id)
	if err != nil {
		return nil, err
	}
	if len(b) < 3 || b[1] != 'c' {
		return nil, fmt.Errorf("not a conversations page id: %w", ErrBadPage)
	}
	code, ok := sortCodes[sort]
	if !ok {
		return nil, fmt.Errorf("sort order %q: %w", sort, ErrInvalid)
	}
	if b[2] != code {
		return nil, fmt.Errorf("page id of another sort order than %s: %w", sort, ErrBadPage)
	}
	key := b[3:]
	if len(key) < 8+1 || len(key) > 8+maxIDLen {
		return nil, fmt.Errorf("page key of %d bytes: %w", len(key), ErrBadPage)
	}
	return key, nil
}

func decodePage(id string) ([]byte, error) {
	if len(id) > maxPageIDLen {
		return nil, fmt.Errorf("page id of %d bytes: %w", len(id), ErrBadPage)
	}
	b, err := pageEncoding.DecodeString(id)
	// The decoder skips line breaks; a page id has none.
	if err != nil || len(b) < 2 || strings.ContainsAny(id, "\r\n") {
		return nil, fmt.Errorf("page id does not decode: %w", ErrBadPage)
	}
	if b[0] != pageVersion {
		return nil, fmt.Errorf("page id version %d: %w", b[0], ErrBadPage)
	}
	return b, nil
}
