package terminal

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// MaxObservation is the number of characters of output a result carries at
// most; longer output is cut in the middle and kept whole in a file.
const MaxObservation = 30000

const (
	// memLimit is how much cleaned output a capture holds in memory before it
	// moves to a file; past it only the head and the tail stay in memory.
	memLimit = 1 << 20
	keepHead = 64 << 10
	keepTail = 64 << 10
)

// capture collects the cleaned output of one command (or of the part of it a
// caller has not seen yet). Small output stays in memory; large output is
// written to a file as it arrives so a command printing gigabytes costs a
// bounded amount of memory.
type capture struct {
	dir   string // where spill files go
	name  string // terminal name, for the file name
	clean cleaner

	mem   []byte // everything, until it passes memLimit; then the head
	tail  []byte // ring of the last keepTail bytes once spilled
	tpos  int
	tfull bool
	file  *os.File
	fbuf  *bufio.Writer // batches writes to file
	// scratch holds one read's cleaned output on its way to the file,
	// reused from read to read.
	scratch []byte
	total   int64
	err     error // a failed spill write; reported with the result
}

func newCapture(dir, name string) *capture {
	return &capture{dir: dir, name: name}
}

// write takes raw (uncleaned) output.
func (c *capture) write(raw []byte) {
	if c.file == nil {
		before := len(c.mem)
		c.mem = c.clean.clean(c.mem, raw)
		c.total += int64(len(c.mem) - before)
		if len(c.mem) > memLimit {
			c.spill()
		}
		return
	}
	c.scratch = c.clean.clean(c.scratch[:0], raw)
	c.appendSpilled(c.scratch)
}

func (c *capture) appendSpilled(out []byte) {
	c.total += int64(len(out))
	if c.err == nil {
		if _, err := c.fbuf.Write(out); err != nil {
			c.err = err
		}
	}
	c.addTail(out)
}

func (c *capture) addTail(out []byte) {
	if c.tail == nil {
		c.tail = make([]byte, keepTail)
	}
	if len(out) >= keepTail {
		copy(c.tail, out[len(out)-keepTail:])
		c.tpos, c.tfull = 0, true
		return
	}
	n := copy(c.tail[c.tpos:], out)
	if n < len(out) {
		copy(c.tail, out[n:])
		c.tfull = true
	}
	c.tpos = (c.tpos + len(out)) % keepTail
}

func (c *capture) tailBytes() []byte {
	if !c.tfull {
		return c.tail[:c.tpos]
	}
	out := make([]byte, 0, keepTail)
	out = append(out, c.tail[c.tpos:]...)
	return append(out, c.tail[:c.tpos]...)
}

func (c *capture) spill() {
	f, err := c.create()
	if err != nil {
		c.err = err
		// Without a file, keep head and tail in memory and drop the middle.
		c.addTail(c.mem[keepHead:])
		c.mem = c.mem[:keepHead:keepHead]
		return
	}
	c.file = f
	c.fbuf = bufio.NewWriterSize(f, 256<<10)
	if _, err := c.fbuf.Write(c.mem); err != nil {
		c.err = err
	}
	c.addTail(c.mem[keepHead:])
	c.mem = append([]byte(nil), c.mem[:keepHead]...)
}

func (c *capture) create() (*os.File, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	return os.CreateTemp(c.dir, c.name+"-*.log")
}

// Output is what a caller gets for one capture.
type Output struct {
	Text     string // cleaned, at most about MaxObservation characters
	FullPath string // set when Text was cut: the whole cleaned output
	Total    int64  // bytes of cleaned output
}

// finish closes the capture and returns the observation text.
func (c *capture) finish() (Output, error) {
	if c.file == nil {
		c.mem = c.clean.flush(c.mem)
		c.total = int64(len(c.mem))
		text := string(c.mem)
		if utf8.RuneCountInString(text) <= MaxObservation {
			return Output{Text: text, Total: c.total}, nil
		}
		f, err := c.create()
		if err != nil {
			return Output{Text: cut(text, text, c.total, ""), Total: c.total}, fmt.Errorf("save full output: %w", err)
		}
		_, err = f.Write(c.mem)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return Output{Text: cut(text, text, c.total, f.Name()), FullPath: f.Name(), Total: c.total}, err
	}
	c.appendSpilled(c.clean.flush(nil))
	if err := c.fbuf.Flush(); err != nil && c.err == nil {
		c.err = err
	}
	err := c.err
	path := c.file.Name()
	if cerr := c.file.Close(); err == nil {
		err = cerr
	}
	c.file = nil
	if err != nil {
		path = ""
		err = fmt.Errorf("save full output: %w", err)
	}
	return Output{Text: cut(string(c.mem), string(c.tailBytes()), c.total, path), FullPath: path, Total: c.total}, err
}

// discard drops the capture and any file it made.
func (c *capture) discard() {
	if c.file != nil {
		name := c.file.Name()
		c.file.Close()
		os.Remove(name)
		c.file = nil
	}
}

// cut keeps the first and last characters of the output around a note that
// says how much was left out and where the whole is.
func cut(head, tail string, total int64, path string) string {
	where := "the full output could not be saved"
	if path != "" {
		where = "full output saved to " + path
	}
	note := fmt.Sprintf("\n\n[... output cut: %d bytes in all; %s ...]\n\n", total, where)
	keep := (MaxObservation - utf8.RuneCountInString(note)) / 2
	return firstRunes(head, keep) + note + lastRunes(tail, keep)
}

func firstRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return strings.ToValidUTF8(s[:j], "\uFFFD")
		}
		i++
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func lastRunes(s string, n int) string {
	end := len(s)
	for n > 0 && end > 0 {
		_, size := utf8.DecodeLastRuneInString(s[:end])
		end -= size
		n--
	}
	return strings.ToValidUTF8(s[end:], "\uFFFD")
}

// outputDir is where a terminal keeps spill files and its rc file.
func outputDir(base string) string {
	if base == "" {
		base = filepath.Join(os.TempDir(), "gohands")
	}
	return base
}
