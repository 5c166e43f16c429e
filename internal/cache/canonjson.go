package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Tags of the canonical encoding that keys are hashed over. Every value is
// a tag byte followed by its content; variable-length content is prefixed
// by its length, so no two different values encode the same.
const (
	tagObject = 'o' // count, then per member: key (length-prefixed), value
	tagArray  = 'a' // count, then values
	tagString = 's'
	tagNumber = 'd' // the normalised number text
	tagTrue   = 'T'
	tagFalse  = 'F'
	tagNull   = 'N'
	tagRaw    = 'r' // text that is not valid JSON, kept as is
	tagAbsent = '-'
	tagFloat  = 'f' // 8 bytes, IEEE 754 bits
	tagInt    = 'i' // varint
)

// appendCanonJSON appends the canonical encoding of the JSON text v to dst:
// objects with members sorted by key, strings unescaped, numbers
// normalised (1, 1.0 and 1e0 are one number), whitespace gone. Two JSON
// texts that differ only in member order, whitespace or escapes encode the
// same. Text that is not valid JSON is appended as tagRaw, so it still
// only matches itself. A member of the top-level object named skip is left
// out.
func appendCanonJSON(dst []byte, v []byte, skip string) []byte {
	c := canons.Get().(*canon)
	c.b, c.i, c.dst, c.skip, c.members = v, 0, dst, skip, c.members[:0]
	ok := c.value(0) && c.end()
	out := c.dst
	c.b, c.dst = nil, nil
	canons.Put(c)
	if ok {
		return out
	}
	return appendBytes(append(dst, tagRaw), v)
}

// canons recycles encoders with their member stacks.
var canons = sync.Pool{New: func() any { return &canon{members: make([]member, 0, 32)} }}

// maxCanonDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxCanonDepth = 128

type canon struct {
	b    []byte
	i    int
	dst  []byte
	skip string
	// members is a stack of the members of the objects being encoded, the
	// innermost on top, so objects need no slice of their own.
	members []member
}

func (c *canon) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (c *canon) end() bool {
	c.ws()
	return c.i == len(c.b)
}

func (c *canon) value(depth int) bool {
	c.ws()
	if c.i >= len(c.b) || depth > maxCanonDepth {
		return false
	}
	switch c.b[c.i] {
	case '{':
		return c.object(depth)
	case '[':
		return c.array(depth)
	case '"':
		s, ok := c.str()
		if ok {
			c.dst = appendBytes(append(c.dst, tagString), s)
		}
		return ok
	case 't':
		return c.lit("true", tagTrue)
	case 'f':
		return c.lit("false", tagFalse)
	case 'n':
		return c.lit("null", tagNull)
	}
	return c.number()
}

func (c *canon) lit(word string, tag byte) bool {
	if !strings.HasPrefix(string(c.b[c.i:]), word) {
		return false
	}
	c.i += len(word)
	c.dst = append(c.dst, tag)
	return true
}

// member is one member of an object being encoded: its key and where its
// encoded value sits in dst.
type member struct {
	key        []byte
	start, end int
}

func (c *canon) object(depth int) bool {
	c.i++ // {
	base := len(c.dst)
	bottom := len(c.members)
	defer func() { c.members = c.members[:bottom] }()
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		c.dst = appendUvarint(append(c.dst, tagObject), 0)
		return true
	}
	for {
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != '"' {
			return false
		}
		k, ok := c.str()
		if !ok {
			return false
		}
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			return false
		}
		c.i++
		start := len(c.dst)
		if !c.value(depth + 1) {
			return false
		}
		if depth == 0 && c.skip != "" && string(k) == c.skip {
			c.dst = c.dst[:start]
		} else {
			c.members = append(c.members, member{key: k, start: start, end: len(c.dst)})
		}
		c.ws()
		if c.i >= len(c.b) {
			return false
		}
		if c.b[c.i] == '}' {
			c.i++
			break
		}
		if c.b[c.i] != ',' {
			return false
		}
		c.i++
	}
	// Values were encoded in document order; write them again in key order
	// after the object's tag, then drop the document-order copy.
	// A repeated key keeps its last value, as JSON parsers commonly do.
	members := c.members[bottom:]
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	n := 0
	for i := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].key, members[i].key) {
			continue
		}
		members[n] = members[i]
		n++
	}
	members = members[:n]
	values := c.dst[base:]
	out := appendUvarint(append(c.dst, tagObject), uint64(len(members)))
	for _, m := range members {
		out = appendBytes(out, m.key)
		out = append(out, values[m.start-base:m.end-base]...)
	}
	n = copy(out[base:], out[base+len(values):])
	c.dst = out[:base+n]
	return true
}

func (c *canon) array(depth int) bool {
	c.i++ // [
	c.dst = append(c.dst, tagArray)
	countAt := len(c.dst)
	c.dst = append(c.dst, 0, 0, 0, 0) // count, fixed width, filled in at the end
	n := uint32(0)
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return true
	}
	for {
		if !c.value(depth + 1) {
			return false
		}
		n++
		c.ws()
		if c.i >= len(c.b) {
			return false
		}
		if c.b[c.i] == ']' {
			c.i++
			binary.LittleEndian.PutUint32(c.dst[countAt:], n)
			return true
		}
		if c.b[c.i] != ',' {
			return false
		}
		c.i++
	}
}

// str reads a string at c.i and returns its unescaped value, which aliases
// the input unless it had escapes.
func (c *canon) str() ([]byte, bool) {
	start := c.i
	c.i++ // "
	escaped := false
	for c.i < len(c.b) {
		switch ch := c.b[c.i]; {
		case ch == '\\':
			escaped = true
			c.i += 2
			continue
		case ch == '"':
			c.i++
			raw := c.b[start:c.i]
			if !escaped {
				return raw[1 : len(raw)-1], true
			}
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil, false
			}
			return []byte(s), true
		case ch < 0x20:
			return nil, false
		}
		c.i++
	}
	return nil, false
}

// number reads a number and appends it normalised: an integral value
// within float64's exact range as an integer, other values in Go's
// shortest 'g' form; an integer beyond that range, or a number beyond
// float64's range, as written.
func (c *canon) number() bool {
	start := c.i
	for c.i < len(c.b) && strings.IndexByte("0123456789+-.eE", c.b[c.i]) >= 0 {
		c.i++
	}
	lit := string(c.b[start:c.i])
	if !validNumber(lit) {
		return false
	}
	c.dst = append(c.dst, tagNumber)
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		c.dst = appendString(c.dst, lit)
		return true
	}
	c.dst = appendNumber(c.dst, f, lit, strings.ContainsAny(lit, ".eE"))
	return true
}

// maxExactInt is the largest integer float64 holds exactly.
const maxExactInt = 1 << 53

func appendNumber(dst []byte, f float64, lit string, isFloat bool) []byte {
	if f == 0 {
		f = 0 // -0
	}
	if !isFloat && (f > maxExactInt || f < -maxExactInt) {
		return appendString(dst, lit) // keep every digit
	}
	var tmp [32]byte
	var s []byte
	if f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
		s = strconv.AppendInt(tmp[:0], int64(f), 10)
	} else {
		s = strconv.AppendFloat(tmp[:0], f, 'g', -1, 64)
	}
	return appendBytes(dst, s)
}

// validNumber reports whether lit is a JSON number (ParseFloat accepts
// more: "+1", "0x10", "inf", "1_000").
func validNumber(lit string) bool {
	i := 0
	if i < len(lit) && lit[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(lit) && lit[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(lit) && lit[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(lit)
}

func appendUvarint(dst []byte, u uint64) []byte { return binary.AppendUvarint(dst, u) }

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}
