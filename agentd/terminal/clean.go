package terminal

// cleaner removes terminal control sequences from a byte stream so that the
// text a model or a person reads is plain. It is a small state machine so that
// a sequence split across two reads is still removed whole.
//
// What it does:
//   - CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/SOS/PM/APC
//     strings and two-byte escapes are dropped;
//   - "\r\n" becomes "\n" and a lone "\r" (a progress bar redrawing its line)
//     becomes "\n";
//   - other C0 control bytes except tab and newline are dropped.
type cleaner struct {
	state   cleanState
	pending bool // a '\r' was seen and not yet written
}

type cleanState uint8

const (
	stText    cleanState = iota
	stEsc                // after ESC
	stCSI                // inside ESC [ ...
	stString             // inside OSC/DCS/SOS/PM/APC, ends at BEL or ESC \
	stStrEsc             // ESC seen inside a string
	stCharset            // ESC ( or similar: one more byte follows
)

// clean appends the cleaned form of p to dst and returns it.
func (c *cleaner) clean(dst, p []byte) []byte {
	for len(p) > 0 {
		if c.state == stText && !c.pending {
			// Fast path: copy the run of plain bytes up to the next control byte.
			i := 0
			for i < len(p) && (p[i] >= 0x20 && p[i] != 0x7f || p[i] == '\n' || p[i] == '\t') {
				i++
			}
			dst = append(dst, p[:i]...)
			p = p[i:]
			if len(p) == 0 {
				break
			}
		}
		b := p[0]
		p = p[1:]
		switch c.state {
		case stText:
			if c.pending {
				c.pending = false
				dst = append(dst, '\n')
				if b == '\n' {
					continue
				}
			}
			switch {
			case b == '\r':
				c.pending = true
			case b == 0x1b:
				c.state = stEsc
			case b == '\n' || b == '\t' || (b >= 0x20 && b != 0x7f):
				dst = append(dst, b)
			}
		case stEsc:
			switch b {
			case '[':
				c.state = stCSI
			case ']', 'P', 'X', '^', '_':
				c.state = stString
			case '(', ')', '*', '+', '-', '.', '/', '#', '%', ' ':
				c.state = stCharset
			default:
				c.state = stText
			}
		case stCSI:
			if b >= 0x40 && b <= 0x7e {
				c.state = stText
			}
		case stString:
			switch b {
			case 0x07:
				c.state = stText
			case 0x1b:
				c.state = stStrEsc
			}
		case stStrEsc:
			if b == '\\' {
				c.state = stText
			} else {
				c.state = stString
			}
		case stCharset:
			c.state = stText
		}
	}
	return dst
}

// flush writes out a held '\r' at the end of a command's output.
func (c *cleaner) flush(dst []byte) []byte {
	if c.pending {
		c.pending = false
		dst = append(dst, '\n')
	}
	c.state = stText
	return dst
}

// Clean returns s with terminal control sequences removed, as Exec does for
// observation text.
func Clean(s string) string {
	var c cleaner
	out := c.clean(nil, []byte(s))
	return string(c.flush(out))
}
