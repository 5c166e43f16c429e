// Package jsonscan reads and edits JSON text in place, without building a
// tree: it validates text, walks the members of objects and the elements of
// arrays, gets, sets and deletes top-level members without re-encoding the
// rest, quotes and unquotes strings, and encodes values in a canonical form
// for comparing them. Every request body goes through it, so it allocates
// little and scans eight bytes at a time where text is long.
//
// Two kinds of walk are offered. Valid checks a whole text, bounding its
// depth. The walkers (Members, EachMember, EachElement, GetField, SkipValue)
// only find boundaries: they check the structure of the object or array
// they walk but skip values without validating them, so they are meant for
// text that was validated once already. On malformed text they return
// ErrSyntax or wrong offsets, never panic.
package jsonscan

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// ErrSyntax reports text that is not valid JSON, or not the JSON value (an
// object, an array) that was expected.
var ErrSyntax = errors.New("invalid JSON")

// maxDepth bounds the nesting Valid accepts, so hostile text cannot exhaust
// the stack.
const maxDepth = 512

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SkipSpace returns the first offset at or after i that does not hold JSON
// whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	return i
}

// Valid reports whether b is exactly one valid JSON value, surrounded by
// optional whitespace, as json.Valid does; nesting deeper than 512 arrays
// and objects is refused. Like json.Valid it does not check that strings
// are valid UTF-8.
func Valid(b []byte) bool {
	end, err := scanValue(b, SkipSpace(b, 0), 0)
	return err == nil && SkipSpace(b, end) == len(b)
}

// scanValue validates the value starting at b[i] and returns the offset just
// past it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, ErrSyntax
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		return scanObject(b, i, depth+1)
	case c == '[':
		return scanArray(b, i, depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return 0, ErrSyntax
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, ErrSyntax
	}
	return i + len(lit), nil
}

func scanObject(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, ErrSyntax
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, ErrSyntax
		}
		end, _, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		i = SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, ErrSyntax
		}
		if i, err = scanValue(b, SkipSpace(b, i+1), depth); err != nil {
			return 0, err
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return 0, ErrSyntax
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, ErrSyntax
		}
	}
}

func scanArray(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, ErrSyntax
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = scanValue(b, i, depth); err != nil {
			return 0, err
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return 0, ErrSyntax
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, ErrSyntax
		}
	}
}

// scanString validates the string starting at b[i] == '"' and reports
// whether it holds escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(b); j++ {
		j = skipPlain(b, j)
		if j >= len(b) {
			break
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			j++
			if j >= len(b) {
				return 0, false, ErrSyntax
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-j < 5 || !isHex4(b[j+1:j+5]) {
					return 0, false, ErrSyntax
				}
				j += 4
			default:
				return 0, false, ErrSyntax
			}
		case c < 0x20:
			return 0, false, ErrSyntax
		}
	}
	return 0, false, ErrSyntax
}

// skipPlain returns the offset of the first quote, backslash or control
// character at or after j, testing eight bytes at a time (long prompt text
// is most of a request body); or, if there is none, where fewer than eight
// bytes are left.
func skipPlain(b []byte, j int) int {
	for ; j+8 <= len(b); j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		if m := (w-0x20*lsb)&^w&msb | quoteOrBackslash(w); m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
	}
	return j
}

// Masks of the low and the high bit of each byte of a word.
const lsb, msb = 0x0101010101010101, 0x8080808080808080

// quoteOrBackslash returns a mask with the high bit set in the bytes of w
// (eight bytes of text, the first in the low byte) that are a quote or a
// backslash. Bytes above the first such byte may be set too, so only the
// lowest bit of the mask is exact.
func quoteOrBackslash(w uint64) uint64 {
	q := w ^ ('"' * lsb)
	bs := w ^ ('\\' * lsb)
	return ((q-lsb)&^q | (bs-lsb)&^bs) & msb
}

func isHex4(h []byte) bool {
	for _, c := range h[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// scanNumber validates the number starting at b[i] and returns the offset
// just past it.
func scanNumber(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, ErrSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, ErrSyntax
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, ErrSyntax
		}
		i = j
	}
	return i, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
