package security

import (
	"math"
	"slices"
)

// matcher finds, at every position of a text, the longest of a set of
// strings that starts there, in one pass over the text however many
// strings there are. It is an Aho-Corasick automaton of the reversed
// strings, run from the end of the text to its start: a reversed string
// that ends at position i of that walk is a string that starts at i.
//
// Building it takes time and memory linear in the total length of the
// strings: the trie is laid out level by level with a counting sort of
// each node's strings by their next byte (equal strings share a path, so
// there is no duplicate check), and the failure links are found in the
// same pass. A matcher is immutable once built.
type matcher struct {
	nodes []acNode
	// labels and targets are the edges of the nodes with few children,
	// a node's edges in a run sorted by label.
	labels  []byte
	targets []int32
	// rows are the transitions of the root (row 0) and of the nodes with
	// many children: the child for each byte, 0 for none; or, in a full
	// row, the next state for each byte, as a DFA has.
	rows [][256]int32
	// steps counts the work done building it, for tests: one a node and
	// one a failure link followed.
	steps int
}

// acNode is a state of the automaton: a node of the trie of the reversed
// strings, named by its index in matcher.nodes; 0 is the root.
type acNode struct {
	// fail is the node of the longest proper suffix of this node's path
	// that is also a path of the trie.
	fail int32
	// out is the length of the longest string that is a suffix of this
	// node's path (itself or through fail), 0 for none.
	out int32
	// edge is the index of its first edge, or, when n is rowN or
	// fullRowN, its row.
	edge int32
	n    int32 // its edges, or rowN or fullRowN
}

// The n of an acNode whose transitions are a row.
const (
	rowN     = -1 // a row of children
	fullRowN = -2 // a full row: the next state for every byte
)

// denseMin is the number of children from which a node gets a row of 256
// transitions rather than a run of edges to search. A node with that many
// children ends at least that many strings' shared paths, so rows cost at
// most 1 KiB for every denseMin strings.
const denseMin = 8

// maxMatcherBytes bounds the strings of a matcher, whose nodes are named
// by int32: about 50 GiB of memory, far past what the secrets settings
// allow a server.
const maxMatcherBytes = math.MaxInt32

// newMatcher returns a matcher of the strings; empty ones are ignored, and
// so are those past maxMatcherBytes in all.
func newMatcher(strs []string) *matcher {
	// Each node, while the level below it is being laid out, owns a range
	// of idx: the strings whose reversed path goes through it.
	idx := make([]int32, 0, len(strs))
	total := 0
	for i, s := range strs {
		if s != "" && total+len(s) < maxMatcherBytes {
			idx = append(idx, int32(i))
			total += len(s)
		}
	}
	// There are at most total+1 nodes, and fewer where strings share
	// their ends; the estimate saves growing the slices many times.
	m := &matcher{
		nodes:   make([]acNode, 1, total+1),
		labels:  make([]byte, 0, total),
		targets: make([]int32, 0, total),
		rows:    make([][256]int32, 1),
	}
	// key[j] is the next byte of string idx[j] below the node laid out,
	// or -1 when it ends there.
	key := make([]int16, len(idx))
	tmp, tmpKey := make([]int32, len(idx)), make([]int16, len(idx))
	// The nodes are laid out a level at a time, in the order they were
	// made: level holds the spans of this level's, next those of the
	// level below.
	type span struct{ lo, hi int32 }
	level, next, pos := []span{{0, int32(len(idx))}}, []span(nil), 0
	var count [257]int32
	var children []int32 // labels of a node's children, while it is laid out
	for v, depth := int32(0), 0; int(v) < len(m.nodes); v++ {
		m.steps++
		if pos == len(level) {
			level, next, pos = next, level[:0], 0
			depth++
		}
		sp := level[pos]
		pos++
		group, keys := idx[sp.lo:sp.hi], key[sp.lo:sp.hi]
		for j, i := range group {
			keys[j] = -1
			if s := strs[i]; depth < len(s) {
				keys[j] = int16(s[len(s)-1-depth])
			}
		}
		// Sort the node's strings by their next byte, the ones that end
		// here first: a counting sort for many, an insertion sort for few.
		if len(group) > 32 {
			clear(count[:])
			for _, c := range keys {
				count[c+1]++
			}
			for c, sum := 0, int32(0); c < len(count); c++ {
				count[c], sum = sum, sum+count[c]
			}
			for j, c := range keys {
				tmp[count[c+1]], tmpKey[count[c+1]] = group[j], c
				count[c+1]++
			}
			copy(group, tmp[:len(group)])
			copy(keys, tmpKey[:len(keys)])
		} else {
			for j := 1; j < len(group); j++ {
				for k := j; k > 0 && keys[k-1] > keys[k]; k-- {
					group[k-1], group[k] = group[k], group[k-1]
					keys[k-1], keys[k] = keys[k], keys[k-1]
				}
			}
		}
		j := 0
		for j < len(keys) && keys[j] < 0 {
			j++
		}
		node := &m.nodes[v]
		if j > 0 {
			node.out = int32(depth) // a string ends here
		} else if v != 0 {
			node.out = m.nodes[node.fail].out
		}
		// One child per distinct next byte.
		first := int32(len(m.nodes))
		children = children[:0]
		for j < len(keys) {
			c := keys[j]
			k := j + 1
			for k < len(keys) && keys[k] == c {
				k++
			}
			m.nodes = append(m.nodes, acNode{fail: m.failOf(v, byte(c))})
			next = append(next, span{sp.lo + int32(j), sp.lo + int32(k)})
			children = append(children, int32(c))
			j = k
		}
		node = &m.nodes[v] // append may have moved it
		switch {
		case v == 0:
			for k, c := range children {
				m.rows[0][c] = first + int32(k)
			}
			node.edge, node.n = 0, fullRowN
		case len(children) >= denseMin:
			// When the failure node has a full row, so does this one:
			// the failure node's, but for its own children.
			node.edge, node.n = int32(len(m.rows)), rowN
			m.rows = append(m.rows, [256]int32{})
			if f := m.nodes[node.fail]; f.n == fullRowN {
				m.rows[node.edge] = m.rows[f.edge]
				node.n = fullRowN
			}
			for k, c := range children {
				m.rows[node.edge][c] = first + int32(k)
			}
		case len(children) > 0:
			node.edge, node.n = int32(len(m.labels)), int32(len(children))
			for k, c := range children {
				m.labels = append(m.labels, byte(c))
				m.targets = append(m.targets, first+int32(k))
			}
		}
	}
	m.nodes = shrink(m.nodes)
	m.labels = shrink(m.labels)
	m.targets = shrink(m.targets)
	return m
}

// shrink returns s, copied to a smaller array when it fills less than
// half of its own.
func shrink[S ~[]E, E any](s S) S {
	if len(s) < cap(s)/2 {
		return slices.Clone(s)
	}
	return slices.Clip(s)
}

// failOf returns the failure link of the child of v by c: the child by c
// of the deepest node on v's failure chain that has one, or the root. v's
// chain is made of nodes shallower than v, whose transitions are all made.
func (m *matcher) failOf(v int32, c byte) int32 {
	if v == 0 {
		return 0
	}
	f := m.nodes[v].fail
	for {
		m.steps++
		if t, ok := m.step(f, c); ok {
			return t
		}
		f = m.nodes[f].fail
	}
}

// step returns the state that follows v on c and true, or false when
// the failure link of v is to be followed: v has no child by c and no
// full row. The root has a full row.
func (m *matcher) step(v int32, c byte) (int32, bool) {
	n := &m.nodes[v]
	switch n.n {
	case fullRowN:
		return m.rows[n.edge][c], true
	case rowN:
		t := m.rows[n.edge][c]
		return t, t != 0
	}
	labels := m.labels[n.edge : n.edge+n.n]
	for k, l := range labels {
		if l >= c {
			if l == c {
				return m.targets[int(n.edge)+k], true
			}
			break
		}
	}
	return 0, false
}

// match is a string found in a text: s[at:at+n].
type match struct{ at, n int }

// scan appends to found the longest string that starts at each position
// of s where one does, from the last position to the first.
func (m *matcher) scan(s string, found []match) []match {
	nodes, rows := m.nodes, m.rows
	v := int32(0)
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if n := &nodes[v]; n.n == fullRowN {
			v = rows[n.edge][c] // most steps, in the rows near the root
		} else {
			for {
				t, ok := m.step(v, c)
				if ok {
					v = t
					break
				}
				v = nodes[v].fail
			}
		}
		if n := nodes[v].out; n > 0 {
			found = append(found, match{i, int(n)})
		}
	}
	return found
}
