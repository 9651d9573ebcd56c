package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestPageIDs(t *testing.T) {
	for _, seq := range []uint64{1, 2, 255, 1 << 40, 1<<64 - 1} {
		got, err := decodeEventPage(encodeEventPage(seq))
		if err != nil || got != seq {
			t.Errorf("event page %d decodes to %d, %v", seq, got, err)
		}
	}
	key := timeKey(-5, "conv")
	for sort := range sortCodes {
		id := encodeConversationPage(sort, key)
		got, err := decodeConversationPage(id, sort)
		if err != nil || string(got) != string(key) {
			t.Errorf("%s page decodes to %x, %v", sort, got, err)
		}
	}
	valid := encodeEventPage(1) // "AWUAAAAAAAAAAQ"
	bad := []struct{ name, id string }{
		{"empty", ""},
		{"padding only", "="},
		{"version only", "AQ"},
		{"padded", valid + "="},
		{"cut", valid[:5]},
		{"non-canonical last digit", valid[:len(valid)-1] + "R"},
		{"seq 0", encodeEventPage(0)},
		{"version 2", "AmUAAAAAAAAAAQ"},
		{"standard alphabet", "////"},
		{"line break", valid[:4] + "\n" + valid[4:]},
		{"too long", strings.Repeat("A", 4000)},
		{"conversations page", encodeConversationPage(ByCreated, key)},
	}
	for _, tt := range bad {
		if seq, err := decodeEventPage(tt.id); !errors.Is(err, ErrBadPage) {
			t.Errorf("%s: decodeEventPage(%q) = %d, %v; want ErrBadPage", tt.name, tt.id, seq, err)
		}
	}
	if _, err := decodeConversationPage(encodeConversationPage(ByCreated, []byte("short")), ByCreated); !errors.Is(err, ErrBadPage) {
		t.Errorf("conversation page with a short key: %v", err)
	}
}

// sorts lists the orders in a fixed order: ranging over the map would make
// the fuzz target's coverage vary from run to run.
var sorts = []ConversationSort{ByCreated, ByCreatedDesc, ByUpdated, ByUpdatedDesc}

// FuzzPageID feeds arbitrary page ids to the decoders: they must not
// panic, must fail only with ErrBadPage, and what decodes must encode back
// to the same id.
func FuzzPageID(f *testing.F) {
	f.Add(encodeEventPage(1))
	f.Add(encodeEventPage(1 << 50))
	f.Add(encodeConversationPage(ByCreatedDesc, timeKey(123, "abc")))
	f.Add(encodeConversationPage(ByUpdated, timeKey(-1, "x")))
	f.Add("")
	f.Add("AQ")
	f.Add("AWUAAAAAAAAAAQ=")
	f.Fuzz(func(t *testing.T, id string) {
		if seq, err := decodeEventPage(id); err != nil {
			if !errors.Is(err, ErrBadPage) {
				t.Fatalf("decodeEventPage(%q): %v, not ErrBadPage", id, err)
			}
		} else if again := encodeEventPage(seq); again != id {
			t.Fatalf("decodeEventPage(%q) = %d, encodes as %q", id, seq, again)
		}
		for _, sort := range sorts {
			key, err := decodeConversationPage(id, sort)
			if err != nil {
				if !errors.Is(err, ErrBadPage) {
					t.Fatalf("decodeConversationPage(%q, %s): %v, not ErrBadPage", id, sort, err)
				}
				continue
			}
			if again := encodeConversationPage(sort, key); again != id {
				t.Fatalf("decodeConversationPage(%q, %s) = %x, encodes as %q", id, sort, key, again)
			}
		}
	})
}

func TestMaxPageIDLen(t *testing.T) {
	longest := encodeConversationPage(ByCreated, timeKey(0, strings.Repeat("x", maxIDLen)))
	if len(longest) != maxPageIDLen {
		t.Errorf("longest page id has %d characters, maxPageIDLen is %d", len(longest), maxPageIDLen)
	}
	if _, err := decodeConversationPage(longest, ByCreated); err != nil {
		t.Errorf("longest page id: %v", err)
	}
}
