package jsonscan

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Tags of the canonical encoding that AppendCanonical writes. Every value
// is a tag byte followed by its content; variable-length content is
// prefixed by its length, so no two different values encode the same. A
// caller that mixes canonical values with values of its own gives those
// other tag bytes.
const (
	TagObject = 'o' // uvarint count, then per member: key (length-prefixed), value
	TagArray  = 'a' // count (4 bytes, little-endian), then values
	TagString = 's' // the unescaped text, length-prefixed
	TagNumber = 'd' // the normalised number text, length-prefixed
	TagTrue   = 'T'
	TagFalse  = 'F'
	TagNull   = 'N'
	TagRaw    = 'r' // text that is not valid JSON, kept as is, length-prefixed
)

// maxCanonDepth bounds the nesting AppendCanonical encodes, so hostile
// input cannot exhaust the stack; deeper text is kept as TagRaw. It is part
// of the encoding: changing it changes the cache keys of such text.
const maxCanonDepth = 128

// AppendCanonical appends the canonical encoding of the JSON text v to dst:
// objects with members sorted by key, strings unescaped, numbers
// normalised (1, 1.0 and 1e0 are one number), whitespace gone. Two JSON
// texts that differ only in member order, whitespace or escapes encode the
// same; a repeated key keeps its last value. Text that is not valid JSON is
// appended as TagRaw, so it still only matches itself. A member of the
// top-level object named skip is left out.
func AppendCanonical(dst []byte, v []byte, skip string) []byte {
	c := canons.Get().(*canon)
	c.b, c.i, c.dst, c.skip = v, 0, dst, skip
	c.members, c.text = c.members[:0], c.text[:0]
	ok := c.value(0) && SkipSpace(c.b, c.i) == len(c.b)
	out := c.dst
	c.b, c.dst = nil, nil
	if cap(c.text) > 64<<10 {
		c.text = nil
	}
	canons.Put(c)
	if ok {
		return out
	}
	return appendBytes(append(dst, TagRaw), v)
}

// canons recycles encoders with their member stacks.
var canons = sync.Pool{New: func() any { return &canon{members: make([]member, 0, 32)} }}

type canon struct {
	b    []byte
	i    int
	dst  []byte
	skip string
	// members is a stack of the members of the objects being encoded, the
	// innermost on top, so objects need no slice of their own.
	members []member
	// text holds unescaped strings: keys that must live until their object
	// is sorted, and values until they are copied to dst. It is only ever
	// appended to while keys refer to it, so they stay valid if it grows.
	text []byte
}

// member is one member of an object being encoded: its key and where its
// encoded value sits in dst.
type member struct {
	key        []byte
	start, end int
}

func (c *canon) value(depth int) bool {
	c.i = SkipSpace(c.b, c.i)
	if c.i >= len(c.b) || depth > maxCanonDepth {
		return false
	}
	switch c.b[c.i] {
	case '{':
		return c.object(depth)
	case '[':
		return c.array(depth)
	case '"':
		mark := len(c.text)
		s, ok := c.str()
		if ok {
			c.dst = appendBytes(append(c.dst, TagString), s)
		}
		c.text = c.text[:mark]
		return ok
	case 't':
		return c.lit("true", TagTrue)
	case 'f':
		return c.lit("false", TagFalse)
	case 'n':
		return c.lit("null", TagNull)
	}
	return c.number()
}

func (c *canon) lit(word string, tag byte) bool {
	end, err := scanLiteral(c.b, c.i, word)
	if err != nil {
		return false
	}
	c.i = end
	c.dst = append(c.dst, tag)
	return true
}

func (c *canon) object(depth int) bool {
	c.i++ // {
	base := len(c.dst)
	bottom := len(c.members)
	defer func() { c.members = c.members[:bottom] }()
	c.i = SkipSpace(c.b, c.i)
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		c.dst = binary.AppendUvarint(append(c.dst, TagObject), 0)
		return true
	}
	for {
		c.i = SkipSpace(c.b, c.i)
		if c.i >= len(c.b) || c.b[c.i] != '"' {
			return false
		}
		k, ok := c.str()
		if !ok {
			return false
		}
		c.i = SkipSpace(c.b, c.i)
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
		c.i = SkipSpace(c.b, c.i)
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
	c.sortMembers(base, bottom)
	return true
}

// sortMembers rewrites the values of the object whose members start at
// c.members[bottom] and whose values were encoded in document order from
// c.dst[base:]: the object's tag, then its members in key order. A repeated
// key keeps its last value, as JSON parsers commonly do.
func (c *canon) sortMembers(base, bottom int) {
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
	out := binary.AppendUvarint(append(c.dst, TagObject), uint64(len(members)))
	for _, m := range members {
		out = appendBytes(out, m.key)
		out = append(out, values[m.start-base:m.end-base]...)
	}
	n = copy(out[base:], out[base+len(values):])
	c.dst = out[:base+n]
}

func (c *canon) array(depth int) bool {
	c.i++ // [
	c.dst = append(c.dst, TagArray)
	countAt := len(c.dst)
	c.dst = append(c.dst, 0, 0, 0, 0) // count, fixed width, filled in at the end
	n := uint32(0)
	c.i = SkipSpace(c.b, c.i)
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return true
	}
	for {
		if !c.value(depth + 1) {
			return false
		}
		n++
		c.i = SkipSpace(c.b, c.i)
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

// str reads a string at c.i and returns its text: the input itself unless
// it has escapes, else the string as encoding/json decodes it, appended to
// c.text.
func (c *canon) str() ([]byte, bool) {
	start := c.i
	end, escaped, err := scanString(c.b, start)
	if err != nil {
		return nil, false
	}
	c.i = end
	body := c.b[start+1 : end-1]
	if !escaped {
		return body, true
	}
	mark := len(c.text)
	c.text = appendUnescaped(c.text, body, true)
	return c.text[mark:len(c.text):len(c.text)], true
}

// number reads a number and appends it normalised: an integral value
// within float64's exact range as an integer, other values in Go's
// shortest 'g' form; an integer beyond that range, or a number beyond
// float64's range, as written.
func (c *canon) number() bool {
	start := c.i
	end, err := scanNumber(c.b, start)
	if err != nil {
		return false
	}
	c.i = end
	lit := string(c.b[start:end])
	c.dst = append(c.dst, TagNumber)
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

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}
