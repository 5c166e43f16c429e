package provider

import (
	"errors"
	"slices"
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
	out = appendQuoted(out, key)
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
		ke, err := skipString(obj, i)
		if err != nil {
			return 0, 0, 0, false, err
		}
		match := ke-ks-2 == len(key) && string(obj[ks+1:ke-1]) == key
		i = skipSpace(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return 0, 0, 0, false, errNotObject
		}
		vs := skipSpace(obj, i+1)
		ve, err := skipValue(obj, vs)
		if err != nil {
			return 0, 0, 0, false, err
		}
		if match {
			return ks, vs, ve, true, nil
		}
		i = ve
	}
}

func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errNotObject
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				e, err := skipString(b, i)
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
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isSpace(b[i]) {
			i++
		}
		return i, nil
	}
}

// skipString returns the offset just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errNotObject
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendQuoted appends s as a JSON string. Keys here are ASCII identifiers.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// QuoteString returns s as a JSON string literal.
func QuoteString(s string) []byte {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			out = append(out, '\\', byte(r))
		case r < 0x20:
			const hex = "0123456789abcdef"
			out = append(out, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			out = append(out, string(r)...)
		}
	}
	return append(out, '"')
}
