package provider

import (
	"bytes"
	"errors"
	"slices"
	"unicode/utf8"
)

// errNotObject is returned when a body is not a JSON object.
var errNotObject = errors.New("body is not a JSON object")

// GetField returns the raw value of the top-level key of a JSON object, and
// whether it was present. It does not validate values it skips; the body is
// expected to have been validated by a full parse already.
func GetField(obj []byte, key string) ([]byte, bool, error) {
	_, vs, ve, found, err := findField(obj, key)
	if err != nil || !found {
		return nil, false, err
	}
	return obj[vs:ve], true, nil
}

// SetField returns a copy of the JSON object obj with the top-level key set to
// the raw JSON value; other bytes are kept exactly as they were. A missing key
// is appended as the last member. This is how passthrough rewrites the model
// without re-encoding a body.
func SetField(obj []byte, key string, value []byte) ([]byte, error) {
	_, vs, ve, found, err := findField(obj, key)
	if err != nil {
		return nil, err
	}
	if found {
		out := make([]byte, 0, len(obj)-(ve-vs)+len(value))
		out = append(out, obj[:vs]...)
		out = append(out, value...)
		return append(out, obj[ve:]...), nil
	}
	// Insert before the closing brace.
	end := len(obj) - 1
	for end >= 0 && isSpace(obj[end]) {
		end--
	}
	if end < 0 || obj[end] != '}' {
		return nil, errNotObject
	}
	before := end - 1
	for before >= 0 && isSpace(obj[before]) {
		before--
	}
	empty := before >= 0 && obj[before] == '{'
	out := make([]byte, 0, len(obj)+len(key)+len(value)+4)
	out = append(out, obj[:end]...)
	if !empty {
		out = append(out, ',')
	}
	out = AppendString(out, key)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, obj[end:]...), nil
}

// DeleteField returns a copy of obj without the top-level key.
func DeleteField(obj []byte, key string) ([]byte, error) {
	ks, _, ve, found, err := findField(obj, key)
	if err != nil || !found {
		return obj, err
	}
	// Remove the member and one adjacent comma.
	start, end := ks, ve
	j := end
	for j < len(obj) && isSpace(obj[j]) {
		j++
	}
	if j < len(obj) && obj[j] == ',' {
		end = j + 1
	} else {
		i := start - 1
		for i >= 0 && isSpace(obj[i]) {
			i--
		}
		if i >= 0 && obj[i] == ',' {
			start = i
		}
	}
	return slices.Concat(obj[:start], obj[end:]), nil
}

// findField scans the top level of a JSON object for key. It returns the
// offset where the member's key starts and the value's bounds.
func findField(obj []byte, key string) (keyStart, valStart, valEnd int, found bool, err error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return 0, 0, 0, false, errNotObject
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) {
			return 0, 0, 0, false, errNotObject
		}
		switch obj[i] {
		case '}':
			return 0, 0, 0, false, nil
		case ',':
			i++
			continue
		case '"':
		default:
			return 0, 0, 0, false, errNotObject
		}
		ks := i
		ke, err := SkipString(obj, i)
		if err != nil {
			return 0, 0, 0, false, err
		}
		match := ke-ks-2 == len(key) && string(obj[ks+1:ke-1]) == key
		i = skipSpace(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return 0, 0, 0, false, errNotObject
		}
		vs := skipSpace(obj, i+1)
		ve, err := SkipValue(obj, vs)
		if err != nil {
			return 0, 0, 0, false, err
		}
		if match {
			return ks, vs, ve, true, nil
		}
		i = ve
	}
}

// SkipValue returns the offset just past the JSON value starting at b[i],
// which must already have been validated (by a full parse): it only matches
// quotes and brackets, so walking nested values costs little. On malformed
// input it returns an error or a wrong offset, never panics.
func SkipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errNotObject
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
		return 0, errNotObject
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
		j++
	}
	if j == i {
		return 0, errNotObject
	}
	return j, nil
}

// SkipString returns the offset just past the JSON string starting at
// b[i] == '"'.
func SkipString(b []byte, i int) (int, error) {
	// Most strings are short keys and enum values, for which a plain loop
	// beats the call into IndexByte.
	j := i + 1
	for end := min(j+16, len(b)); j < end; j++ {
		switch b[j] {
		case '"':
			return j + 1, nil
		case '\\':
			goto long
		}
	}
long:
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, errNotObject
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

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// AppendString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does, so the output is always valid JSON; U+2028
// and U+2029 are escaped so it is also safe inside JavaScript. Every
// hand-written encoder of Chorus uses it.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
