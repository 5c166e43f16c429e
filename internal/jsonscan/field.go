package jsonscan

import (
	"bytes"
	"slices"
)

// GetField returns the value of the top-level member key of the JSON object
// obj, and whether there is one. The first of repeated keys wins; a key
// written with escapes does not match. Values are not validated (see the
// package comment).
func GetField(obj []byte, key string) ([]byte, bool, error) {
	m, found, err := findField(obj, key)
	if err != nil || !found {
		return nil, false, err
	}
	return m.Value(), true, nil
}

// SetField returns a copy of the JSON object obj with the top-level member
// key set to the JSON value value; every other byte is kept as it was. A
// missing key is added as the last member. This is how passthrough rewrites
// the model of a body without re-encoding it.
func SetField(obj []byte, key string, value []byte) ([]byte, error) {
	m, found, err := findField(obj, key)
	if err != nil {
		return nil, err
	}
	if found {
		vs, ve := m.ValueStart, m.ValueEnd
		out := make([]byte, 0, len(obj)-(ve-vs)+len(value))
		out = append(out, obj[:vs]...)
		out = append(out, value...)
		return append(out, obj[ve:]...), nil
	}
	// Insert before the closing brace.
	end := len(obj) - 1
	for end >= 0 && IsSpace(obj[end]) {
		end--
	}
	if end < 0 || obj[end] != '}' {
		return nil, ErrSyntax
	}
	before := end - 1
	for before >= 0 && IsSpace(obj[before]) {
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

// DeleteField returns obj without its top-level member key (obj itself if
// there is none), taking one adjacent comma with it.
func DeleteField(obj []byte, key string) ([]byte, error) {
	m, found, err := findField(obj, key)
	if err != nil || !found {
		return obj, err
	}
	start, end := m.KeyStart, m.ValueEnd
	j := SkipSpace(obj, end)
	if j < len(obj) && obj[j] == ',' {
		end = j + 1
	} else {
		i := start - 1
		for i >= 0 && IsSpace(obj[i]) {
			i--
		}
		if i >= 0 && obj[i] == ',' {
			start = i
		}
	}
	return slices.Concat(obj[:start], obj[end:]), nil
}

// findField walks the top level of obj to the first member key.
func findField(obj []byte, key string) (m Members, found bool, err error) {
	m = ScanMembers(obj)
	for m.Next() {
		if m.KeyEnd-m.KeyStart-2 == len(key) && string(m.Key()) == key {
			return m, true, nil
		}
	}
	return m, false, m.Err()
}

// CaseVariant returns the name in names that key equals only when case is
// ignored ("Model", "streAm", "ſtream" for "model" and "stream"), if any.
// encoding/json matches member names that way and most other parsers do
// not, so a decoder refuses such a key rather than read it one way while an
// upstream reads it the other.
func CaseVariant(key []byte, names []string) (string, bool) {
	for _, n := range names {
		if string(key) != n && bytes.EqualFold(key, []byte(n)) {
			return n, true
		}
	}
	return "", false
}
