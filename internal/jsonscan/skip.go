package jsonscan

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// SkipValue returns the offset just past the JSON value starting at b[i],
// which must have been validated already: it only matches quotes and
// brackets, so walking nested values costs little. It needs no depth bound,
// as it keeps a count rather than recursing.
func SkipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, ErrSyntax
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				e, err := SkipString(b, i)
				if err != nil {
					return 0, err
				}
				i = e
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, ErrSyntax
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !IsSpace(b[j]) {
		j++
	}
	if j == i {
		return 0, ErrSyntax
	}
	return j, nil
}

// SkipString returns the offset just past the JSON string starting at
// b[i] == '"', without validating it.
func SkipString(b []byte, i int) (int, error) {
	// Most strings are short keys and values: look for their end eight
	// bytes at a time, and leave long text and escapes to IndexByte.
	j := i + 1
	for n := 0; n < 4 && j+8 <= len(b); n++ {
		if m := quoteOrBackslash(binary.LittleEndian.Uint64(b[j:])); m != 0 {
			k := j + bits.TrailingZeros64(m)>>3
			if b[k] == '"' {
				return k + 1, nil
			}
			break
		}
		j += 8
	}
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, ErrSyntax
		}
		q := j + k
		n := 0 // backslashes right before the quote
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
}
