package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"go.etcd.io/bbolt"
)

// The events of every conversation go into one log, in the order they are
// appended, so that the events of the appends that share a commit land
// together at the end of one B+tree: a few pages per commit, where a tree
// per conversation costs a leaf and its branch pages per conversation.
//
//	log          position (8 bytes, big endian) -> event record (see encodeEventRecord)
//	chunks       convKey + chunk number (8 bytes) -> chunk
//	tails        conversation id -> chunk number (8 bytes) + chunk
//	event_codes  'k' + kind, or 's' + source -> its code (1 byte)
//
// The chunks bucket is index.seqs, which the comments below call seqs:
// schema 2 had the bucket under that name, with 16-byte entries.
//
// A conversation finds its events through chunks of chunkLen entries: seq s
// is entry (s-1) % chunkLen of chunk (s-1) / chunkLen. An entry is 18 bytes:
// the event's log position; the FNV-1a hash of its id, which serves lookups
// and duplicate checks by id without a B+tree of ids (random keys: a leaf
// written per event); and the codes of the event's kind and source, which
// serve the searches by kind and source (see codes.go) without reading
// the records of the events they leave out.
//
// Each time 32 chunks (1,024 events) of a conversation are full, the sorted
// hashes of their ids are written once to id_groups, so that a lookup by id
// binary-searches each such group and scans only the events since the last
// (a conversation's appends of ids the caller gave look up every id).
//
//	id_groups  convKey + group number (8 bytes) -> sorted id hashes (8 bytes each)
//
// Every chunk of a conversation but the last is full and in seqs. The last
// lives in tails while the conversation appends, so that the appends of a
// commit, one per conversation, rewrite the one or two leaves of a small
// bucket instead of one leaf per conversation. A full chunk moves to seqs at
// once; the partial last chunk of a conversation that has not appended for
// a while moves there too (see Store.settleTails), and back when it appends
// again. A conversation's last chunk is therefore in tails, or it is its
// last key in seqs; never both.
const (
	chunkLen    = 32
	entrySize   = 18
	chunkBytes  = chunkLen * entrySize
	groupChunks = 32
	groupLen    = groupChunks * chunkLen
)

// maxTails is how many conversations may keep their last chunk in tails:
// enough for the conversations that append at once, few enough that tails
// stays a handful of pages.
const maxTails = 48

// index is the event log and its chunks, in one transaction.
type index struct {
	log, seqs, tails, groups, codes *bbolt.Bucket
}

func openIndex(tx *bbolt.Tx) index {
	ix := index{
		log:    tx.Bucket(bucketLog),
		seqs:   tx.Bucket(bucketSeqs),
		tails:  tx.Bucket(bucketTails),
		groups: tx.Bucket(bucketIDGroups),
		codes:  tx.Bucket(bucketCodes),
	}
	if tx.Writable() {
		// The log only grows at its end: full pages when they split.
		ix.log.FillPercent = 1
	}
	return ix
}

// convKey is the prefix of a conversation's keys in seqs: the id's length
// (2 bytes; ids are at most maxIDLen) and the id, so that no id's keys run
// into another's.
func convKey(conv string) []byte {
	k := make([]byte, 2, 2+len(conv)+8)
	binary.BigEndian.PutUint16(k, uint16(len(conv)))
	return append(k, conv...)
}

func chunkKey(prefix []byte, no uint64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(prefix), no)
}

// chunkNo returns the chunk number of a key of seqs with the prefix, and
// whether k is one.
func chunkNo(k, prefix []byte) (uint64, bool) {
	if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(prefix):]), true
}

func posKey(pos uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), pos) }

// idHash is the 64-bit FNV-1a hash of an event id.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// chunk is a conversation's chunk as read, to be added to and written back.
type chunk struct {
	no uint64
	// buf is the chunk as tails stores it, the chunk number (8 bytes) and
	// the entries, with room for chunkLen entries made at once.
	buf   []byte
	where []byte // bucketTails or bucketSeqs: where it is stored; nil: nowhere yet
}

func newChunk(no uint64, ents, where []byte) chunk {
	buf := binary.BigEndian.AppendUint64(make([]byte, 0, 8+chunkBytes), no)
	return chunk{no: no, buf: append(buf, ents...), where: where}
}

// ents returns the chunk's entries, as seqs stores them.
func (c *chunk) ents() []byte { return c.buf[8:] }

func (c *chunk) len() int { return len(c.buf[8:]) / entrySize }

// lastSeq is the seq of the chunk's last entry, or of the last entry of
// the chunk before it when it is empty.
func (c *chunk) lastSeq() uint64 { return c.no*chunkLen + uint64(c.len()) }

func checkChunk(v []byte) error {
	if len(v) == 0 || len(v)%entrySize != 0 || len(v) > chunkBytes {
		return errors.New("damaged event index chunk")
	}
	return nil
}

// lastChunk returns the conversation's last chunk, a copy that append may
// change, or the empty chunk that follows it if it is full.
func (ix index) lastChunk(conv string) (chunk, error) {
	if v := ix.tails.Get([]byte(conv)); v != nil {
		if len(v) < 8 || checkChunk(v[8:]) != nil {
			return chunk{}, errors.New("damaged event index tail")
		}
		return newChunk(readUint(v[:8]), v[8:], bucketTails), nil
	}
	prefix := convKey(conv)
	no, v, ok := lastSeqsChunk(ix.seqs.Cursor(), prefix)
	switch {
	case !ok:
		return newChunk(0, nil, nil), nil
	case checkChunk(v) != nil:
		return chunk{}, fmt.Errorf("event index chunk %d: %w", no, checkChunk(v))
	case len(v) == chunkBytes:
		return newChunk(no+1, nil, nil), nil
	}
	return newChunk(no, v, bucketSeqs), nil
}

// lastSeqsChunk returns the conversation's last chunk in seqs.
func lastSeqsChunk(c *bbolt.Cursor, prefix []byte) (uint64, []byte, bool) {
	var k, v []byte
	if k, _ = c.Seek(chunkKey(prefix, math.MaxUint64)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	no, ok := chunkNo(k, prefix)
	return no, v, ok
}

// lastSeq returns the seq of the conversation's last event, 0 if none.
func (ix index) lastSeq(conv string) uint64 {
	if v := ix.tails.Get([]byte(conv)); len(v) >= 8 {
		return readUint(v[:8])*chunkLen + uint64(len(v)-8)/entrySize
	}
	no, v, ok := lastSeqsChunk(ix.seqs.Cursor(), convKey(conv))
	if !ok {
		return 0
	}
	return no*chunkLen + uint64(len(v))/entrySize
}

// nextPos returns the log position after the last.
func (ix index) nextPos() uint64 {
	k, _ := ix.log.Cursor().Last()
	return readUint(k) + 1
}

// append writes recs at the end of the log as the conversation's next
// events after c, its last chunk (from lastChunk), with hashes the hashes
// of their ids. With cold, c is left in seqs rather than tails. It reports
// whether the conversation's last chunk is in tails afterwards. Its errors
// are aborts.
func (ix index) append(conv string, c *chunk, recs [][]byte, hashes []uint64, cold bool) (bool, error) {
	prefix := convKey(conv)
	pos := ix.nextPos()
	changed := false
	var codes codeCache
	for i, rec := range recs {
		kc, sc, err := codes.of(ix, rec)
		if err != nil {
			return false, err
		}
		if err := ix.log.Put(posKey(pos), rec); err != nil {
			return false, abort(err)
		}
		c.buf = binary.BigEndian.AppendUint64(c.buf, pos)
		c.buf = binary.BigEndian.AppendUint64(c.buf, hashes[i])
		c.buf = append(c.buf, kc, sc)
		pos++
		changed = true
		if c.len() < chunkLen {
			continue
		}
		if err := ix.seqs.Put(chunkKey(prefix, c.no), c.ents()); err != nil {
			return false, abort(err)
		}
		if bytes.Equal(c.where, bucketTails) {
			if err := ix.tails.Delete([]byte(conv)); err != nil {
				return false, abort(err)
			}
		}
		if (c.no+1)%groupChunks == 0 {
			if err := ix.seal(prefix, c.no/groupChunks); err != nil {
				return false, err
			}
		}
		// The buffer now belongs to the transaction: a new one.
		*c = newChunk(c.no+1, nil, nil)
		changed = false
	}
	if !changed {
		return false, nil
	}
	if cold {
		if err := ix.seqs.Put(chunkKey(prefix, c.no), c.ents()); err != nil {
			return false, abort(err)
		}
		if bytes.Equal(c.where, bucketTails) {
			if err := ix.tails.Delete([]byte(conv)); err != nil {
				return false, abort(err)
			}
		}
		c.where = bucketSeqs
		return false, nil
	}
	if err := ix.tails.Put([]byte(conv), c.buf); err != nil {
		return false, abort(err)
	}
	if bytes.Equal(c.where, bucketSeqs) {
		if err := ix.seqs.Delete(chunkKey(prefix, c.no)); err != nil {
			return false, abort(err)
		}
	}
	c.where = bucketTails
	return true, nil
}

// seal writes the sorted id hashes of group g of the conversation with the
// prefix, whose chunks are all full and in seqs. Its errors are aborts.
func (ix index) seal(prefix []byte, g uint64) error {
	hashes := make([]uint64, 0, groupLen)
	c := ix.seqs.Cursor()
	k, v := c.Seek(chunkKey(prefix, g*groupChunks))
	for range groupChunks {
		if no, ok := chunkNo(k, prefix); !ok || no/groupChunks != g || len(v) != chunkBytes {
			return abort(fmt.Errorf("seal id group %d: chunk %x missing or partial", g, k))
		}
		for i := 0; i < len(v); i += entrySize {
			hashes = append(hashes, binary.BigEndian.Uint64(v[i+8:]))
		}
		k, v = c.Next()
	}
	slices.Sort(hashes)
	b := make([]byte, 0, 8*groupLen)
	for _, h := range hashes {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return abort(ix.groups.Put(chunkKey(prefix, g), b))
}

// hasHash reports whether group, sorted hashes, holds one of hashes.
func hasHash(group []byte, hashes []uint64) bool {
	n := len(group) / 8
	for _, h := range hashes {
		i := sort.Search(n, func(i int) bool { return binary.BigEndian.Uint64(group[i*8:]) >= h })
		if i < n && binary.BigEndian.Uint64(group[i*8:]) == h {
			return true
		}
	}
	return false
}

// settle moves the conversation's last chunk from tails to seqs, if it is
// in tails. Its errors are aborts.
func (ix index) settle(conv string) error {
	v := ix.tails.Get([]byte(conv))
	if v == nil {
		return nil
	}
	if len(v) < 8+entrySize {
		return abort(errors.New("damaged event index tail"))
	}
	if err := ix.seqs.Put(chunkKey(convKey(conv), readUint(v[:8])), bytes.Clone(v[8:])); err != nil {
		return abort(err)
	}
	return abort(ix.tails.Delete([]byte(conv)))
}

// chunks calls fn with the number and entries of the conversation's
// chunks that hold seqs from from on (from the last down to from's when
// desc; from 0 with desc means all), in order, until fn says stop or fails.
func (ix index) chunks(conv string, from uint64, desc bool, fn func(no uint64, ents []byte) (bool, error)) error {
	prefix := convKey(conv)
	visit := func(no uint64, ents []byte) (bool, error) {
		if err := checkChunk(ents); err != nil {
			return false, fmt.Errorf("event index chunk %d: %w", no, err)
		}
		return fn(no, ents)
	}
	tail := ix.tails.Get([]byte(conv))
	if len(tail) != 0 && len(tail) < 8 {
		return errors.New("damaged event index tail")
	}
	c := ix.seqs.Cursor()
	if !desc {
		first := max(from, 1)
		for k, v := c.Seek(chunkKey(prefix, (first-1)/chunkLen)); ; k, v = c.Next() {
			no, ok := chunkNo(k, prefix)
			if !ok {
				break
			}
			if stop, err := visit(no, v); err != nil || stop {
				return err
			}
		}
		if tail != nil {
			_, err := visit(readUint(tail[:8]), tail[8:])
			return err
		}
		return nil
	}
	if tail != nil {
		if stop, err := visit(readUint(tail[:8]), tail[8:]); err != nil || stop {
			return err
		}
	}
	// The last chunk at or before from's.
	last := uint64(math.MaxUint64)
	if from != 0 {
		last = (from-1)/chunkLen + 1
	}
	var k, v []byte
	if k, _ = c.Seek(chunkKey(prefix, last)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; ; k, v = c.Prev() {
		no, ok := chunkNo(k, prefix)
		if !ok {
			return nil
		}
		if stop, err := visit(no, v); err != nil || stop {
			return err
		}
	}
}

// walk calls fn with the seq and index entry of the conversation's events,
// from seq from on (from the last down when desc; from 0 with desc means
// from the last), until fn says stop or fails.
func (ix index) walk(conv string, from uint64, desc bool, fn func(seq uint64, e entry) (bool, error)) error {
	return ix.chunks(conv, from, desc, func(no uint64, ents []byte) (bool, error) {
		n := len(ents) / entrySize
		for j := range n {
			i := j
			if desc {
				i = n - 1 - j
			}
			seq := no*chunkLen + uint64(i) + 1
			if (!desc && seq < from) || (desc && from != 0 && seq > from) {
				continue
			}
			stop, err := fn(seq, entry(ents[i*entrySize:(i+1)*entrySize]))
			if err != nil || stop {
				return stop, err
			}
		}
		return false, nil
	})
}

// entry is a conversation's index entry for one event.
type entry []byte

func (e entry) pos() uint64  { return binary.BigEndian.Uint64(e) }
func (e entry) hash() uint64 { return binary.BigEndian.Uint64(e[8:]) }
func (e entry) kind() byte   { return e[16] }
func (e entry) source() byte { return e[17] }

// record returns the event record at a log position.
func (ix index) record(seq, pos uint64) (eventRecord, error) {
	rec, err := decodeEventRecord(ix.log.Get(posKey(pos)))
	if err != nil {
		return rec, fmt.Errorf("event %d (log position %d): %w", seq, pos, err)
	}
	return rec, nil
}

// find returns the seq and record of the conversation's event with the id
// among those from seq from on; ok is false if there is none.
func (ix index) find(conv, id string, from uint64) (seq uint64, rec eventRecord, ok bool, err error) {
	_, seq, rec, ok, err = ix.findAny(conv, []string{id}, from)
	return seq, rec, ok, err
}

// findAny is find for the first of the conversation's events that has one
// of ids, which it returns too.
func (ix index) findAny(conv string, ids []string, from uint64) (id string, seq uint64, rec eventRecord, ok bool, err error) {
	if len(ids) == 0 {
		return "", 0, rec, false, nil
	}
	from = max(from, 1)
	hashes := make([]uint64, len(ids))
	for i, id := range ids {
		hashes[i] = idHash(id)
	}
	// scan looks at the entries of seqs lo to hi (0: to the last).
	scan := func(lo, hi uint64) error {
		return ix.chunks(conv, lo, false, func(no uint64, ents []byte) (bool, error) {
			// A tight loop: many entries pass here.
			for i := 0; i < len(ents); i += entrySize {
				h := binary.BigEndian.Uint64(ents[i+8:])
				for j, want := range hashes {
					if h != want {
						continue
					}
					s := no*chunkLen + uint64(i/entrySize) + 1
					if s < lo || (hi != 0 && s > hi) {
						continue
					}
					r, err := ix.record(s, binary.BigEndian.Uint64(ents[i:]))
					if err != nil {
						return false, err
					}
					var probe struct {
						ID string `json:"id"`
					}
					if err := json.Unmarshal(r.json, &probe); err != nil {
						return false, fmt.Errorf("event %d: %w", s, err)
					}
					if probe.ID == ids[j] {
						id, seq, rec, ok = ids[j], s, r, true
						return true, nil
					}
					// Another id with the same hash.
				}
			}
			return hi != 0 && (no+1)*chunkLen >= hi, nil
		})
	}
	// The sealed groups first: a binary search each, and a scan of the
	// group only when it may hold one of the ids.
	prefix := convKey(conv)
	sealed := uint64(0) // the last seq in a sealed group
	c := ix.groups.Cursor()
	for k, v := c.Seek(prefix); ; k, v = c.Next() {
		g, isGroup := chunkNo(k, prefix)
		if !isGroup {
			break
		}
		if len(v) != 8*groupLen {
			return "", 0, rec, false, fmt.Errorf("id group %d: damaged", g)
		}
		lo, hi := g*groupLen+1, (g+1)*groupLen
		sealed = hi
		if hi < from || !hasHash(v, hashes) {
			continue
		}
		if err := scan(max(lo, from), hi); err != nil || ok {
			return id, seq, rec, ok, err
		}
	}
	err = scan(max(from, sealed+1), 0)
	return id, seq, rec, ok, err
}

// checkIDs fails with ErrExists if the conversation has one of ids among its
// events from seq from on.
func (ix index) checkIDs(conv string, ids []string, from uint64) error {
	id, _, _, found, err := ix.findAny(conv, ids, from)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("event id %s: %w", id, ErrExists)
	}
	return nil
}

// deleteConversation deletes the conversation's events and chunks. Its
// errors are aborts, but for a damaged index.
func (ix index) deleteConversation(conv string) error {
	prefix := convKey(conv)
	var positions []uint64
	err := ix.walk(conv, 1, false, func(_ uint64, e entry) (bool, error) {
		positions = append(positions, e.pos())
		return false, nil
	})
	if err != nil {
		return err
	}
	keysOf := func(b *bbolt.Bucket) [][]byte {
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); ; k, _ = c.Next() {
			if _, ok := chunkNo(k, prefix); !ok {
				return keys
			}
			keys = append(keys, bytes.Clone(k))
		}
	}
	chunks, groups := keysOf(ix.seqs), keysOf(ix.groups)
	for _, pos := range positions {
		if err := ix.log.Delete(posKey(pos)); err != nil {
			return abort(err)
		}
	}
	for _, k := range chunks {
		if err := ix.seqs.Delete(k); err != nil {
			return abort(err)
		}
	}
	for _, k := range groups {
		if err := ix.groups.Delete(k); err != nil {
			return abort(err)
		}
	}
	return abort(ix.tails.Delete([]byte(conv)))
}

// tailClock orders the conversations whose last chunk is in tails by their
// last append, to settle the oldest when there are over maxTails. Only the
// writer goroutine uses it (in write functions, and in Open before the
// writer starts). It is a hint: a write function that is rolled back may
// leave it out of step with the file, and settleTails checks the file.
type tailClock struct {
	now  uint64
	last map[string]uint64 // conversation -> now at its last append
}

// touch records an append to conv; inTails says whether its last chunk is
// in tails afterwards.
func (t *tailClock) touch(conv string, inTails bool) {
	if !inTails {
		delete(t.last, conv)
		return
	}
	t.now++
	t.last[conv] = t.now
}

// settleTails moves the last chunks of the conversations that appended
// least recently from tails to seqs while there are over maxTails, at most
// a few per call so that no append pays for many.
func (s *Store) settleTails(ix index) error {
	for range 4 {
		if len(s.tails.last) <= maxTails {
			return nil
		}
		var oldest string
		oldestAt := uint64(math.MaxUint64)
		for conv, at := range s.tails.last {
			if at < oldestAt {
				oldest, oldestAt = conv, at
			}
		}
		if err := ix.settle(oldest); err != nil {
			return err
		}
		delete(s.tails.last, oldest)
	}
	return nil
}
