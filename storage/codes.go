package storage

import (
	"bytes"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// Each index entry carries a one-byte code for the event's kind and one for
// its source, so that a search by kind or source reads the entries of the
// conversation (18 bytes each, 576 bytes per chunk of 32) and the records
// only of the events whose codes match: a kind that 1 event in 10,000 has
// costs a walk through the entries, where a walk through the records read
// every event's record. The codes live in the entries rather than in a
// B+tree keyed by kind and seq, which would write a leaf per conversation
// and per kind in every commit; an entry is written where it is anyway.
//
// The codes are numbered in event_codes as kinds and sources are first
// stored: 1 to 254. Past 254 kinds (or sources) the rest share
// codeOverflow, which a search takes as "read the record and see". The
// record is read for every event the codes let through, and the filters
// apply to it as before: the codes only spare reads.
const (
	codeKindTag   = 'k'
	codeSourceTag = 's'
	codeOverflow  = 255
)

// codeCache holds the codes one append has looked up.
type codeCache struct {
	kinds, sources map[string]byte
}

// of returns the codes of rec's kind and source, numbering the ones the
// file has not seen. Its errors are aborts.
func (cc *codeCache) of(ix index, rec []byte) (kind, source byte, err error) {
	r, err := decodeEventRecord(rec)
	if err != nil {
		return 0, 0, abort(err)
	}
	if cc.kinds == nil {
		cc.kinds, cc.sources = make(map[string]byte), make(map[string]byte)
	}
	if kind, err = cc.code(ix, cc.kinds, codeKindTag, r.kind); err != nil {
		return 0, 0, err
	}
	source, err = cc.code(ix, cc.sources, codeSourceTag, r.source)
	return kind, source, err
}

func (cc *codeCache) code(ix index, seen map[string]byte, tag byte, name []byte) (byte, error) {
	if c, ok := seen[string(name)]; ok {
		return c, nil
	}
	c, err := assignCode(ix.codes, tag, name)
	if err != nil {
		return 0, err
	}
	seen[string(name)] = c
	return c, nil
}

// assignCode returns the code of name under tag, numbering it if it has
// none. Its errors are aborts.
func assignCode(b *bbolt.Bucket, tag byte, name []byte) (byte, error) {
	key := append([]byte{tag}, name...)
	if v := b.Get(key); len(v) == 1 {
		return v[0], nil
	}
	n := 0
	cur := b.Cursor()
	for k, _ := cur.Seek([]byte{tag}); k != nil && k[0] == tag; k, _ = cur.Next() {
		n++
	}
	c := byte(codeOverflow)
	if n < codeOverflow-1 {
		c = byte(n + 1)
	}
	return c, abort(b.Put(key, []byte{c}))
}

// codeSet is the codes a filter lets through: nil lets all through.
type codeSet *[256]bool

// codesOf returns the codes of names under tag that b has, and
// codeOverflow; nil for no names.
func codesOf(b *bbolt.Bucket, tag byte, names []string) codeSet {
	if len(names) == 0 {
		return nil
	}
	var set [256]bool
	set[codeOverflow] = true
	for _, name := range names {
		if v := b.Get(append([]byte{tag}, name...)); len(v) == 1 {
			set[v[0]] = true
		}
	}
	return &set
}

// codeFilter is the part of a matcher the index entries can test.
type codeFilter struct {
	kinds, sources codeSet
}

// newCodeFilter returns the filter of m's kinds and source in the file of
// ix; ok is false when m has neither, and the entries rule nothing out.
func newCodeFilter(ix index, m *matcher) (f codeFilter, ok bool) {
	var kinds []string
	for k := range m.kinds {
		kinds = append(kinds, k)
	}
	var sources []string
	if m.source != "" {
		sources = []string{m.source}
	}
	f = codeFilter{kinds: codesOf(ix.codes, codeKindTag, kinds), sources: codesOf(ix.codes, codeSourceTag, sources)}
	return f, f.kinds != nil || f.sources != nil
}

// pass reports whether the event of e may match.
func (f codeFilter) pass(e entry) bool {
	return (f.kinds == nil || f.kinds[e.kind()]) && (f.sources == nil || f.sources[e.source()])
}

// bucketSeqsV2 held the chunks of schema 2, of 16-byte entries (position
// and id hash, no codes), under the keys of seqs.
var bucketSeqsV2 = []byte("seqs")

const entrySizeV2 = 16

// migrateEntryCodes takes a file from schema 2 to 3: it rewrites every
// chunk of schema 2 into chunks with the codes of each event's kind and
// source, read from its record, budget events' worth at most per
// transaction. The last chunks in tails go first, to chunks, so that tails
// starts empty in the new layout.
func migrateEntryCodes(tx *bbolt.Tx, budget int) (bool, error) {
	for _, name := range [][]byte{bucketLog, bucketSeqs, bucketTails, bucketIDGroups, bucketCodes} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return false, fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	ix := openIndex(tx)
	old := tx.Bucket(bucketSeqsV2)
	if old == nil {
		return false, nil
	}
	var codes codeCache
	// convert returns a chunk of schema 2 with the codes added.
	convert := func(ents []byte) ([]byte, error) {
		if len(ents) == 0 || len(ents)%entrySizeV2 != 0 || len(ents) > chunkLen*entrySizeV2 {
			return nil, errors.New("damaged event index chunk")
		}
		out := make([]byte, 0, len(ents)/entrySizeV2*entrySize)
		for i := 0; i < len(ents); i += entrySizeV2 {
			pos := readUint(ents[i : i+8])
			rec := ix.log.Get(posKey(pos))
			kc, sc, err := codes.of(ix, rec)
			if err != nil {
				return nil, fmt.Errorf("event at log position %d: %w", pos, err)
			}
			out = append(out, ents[i:i+entrySizeV2]...)
			out = append(out, kc, sc)
		}
		return out, nil
	}
	var tails [][]byte
	if err := ix.tails.ForEach(func(k, _ []byte) error {
		tails = append(tails, bytes.Clone(k))
		return nil
	}); err != nil {
		return false, err
	}
	for _, conv := range tails {
		v := ix.tails.Get(conv)
		if len(v) < 8 {
			return false, fmt.Errorf("conversation %s: damaged event index tail", conv)
		}
		ents, err := convert(v[8:])
		if err != nil {
			return false, fmt.Errorf("conversation %s: %w", conv, err)
		}
		if err := ix.seqs.Put(chunkKey(convKey(string(conv)), readUint(v[:8])), ents); err != nil {
			return false, err
		}
		if err := ix.tails.Delete(conv); err != nil {
			return false, err
		}
		budget -= len(ents) / entrySize
	}
	for budget > 0 {
		k, v := old.Cursor().First()
		if k == nil {
			return false, tx.DeleteBucket(bucketSeqsV2)
		}
		k = bytes.Clone(k)
		ents, err := convert(v)
		if err != nil {
			return false, fmt.Errorf("chunk %x: %w", k, err)
		}
		if err := ix.seqs.Put(k, ents); err != nil {
			return false, err
		}
		if err := old.Delete(k); err != nil {
			return false, err
		}
		budget -= len(ents) / entrySize
	}
	if k, _ := old.Cursor().First(); k != nil {
		return true, nil
	}
	return false, tx.DeleteBucket(bucketSeqsV2)
}
