package jsonscan

import "bytes"

// Members walks the members of a JSON object, in order, without validating
// their values (see the package comment). Use it as
//
//	m := jsonscan.ScanMembers(obj)
//	for m.Next() {
//		use(m.Key(), m.Value())
//	}
//	if err := m.Err(); err != nil { … }
//
// The object must be all of obj, bar surrounding whitespace.
type Members struct {
	// KeyStart and KeyEnd bound the current member's key, quotes included;
	// ValueStart and ValueEnd its value. They are offsets into obj.
	KeyStart, KeyEnd, ValueStart, ValueEnd int

	obj   []byte
	i     int
	state uint8
	err   error
}

// States of a Members walk.
const (
	membersStart uint8 = iota // before the opening brace
	membersNext               // after a member's value
	membersDone               // past the closing brace, or failed
)

// ScanMembers returns a walk over the members of the JSON object obj.
func ScanMembers(obj []byte) Members { return Members{obj: obj} }

// Next moves to the next member and reports whether there is one. It
// returns false at the end of the object and on malformed text, which Err
// then reports.
func (m *Members) Next() bool {
	b, i := m.obj, SkipSpace(m.obj, m.i)
	switch m.state {
	case membersStart:
		if i >= len(b) || b[i] != '{' {
			return m.fail()
		}
		i = SkipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return m.finish(i + 1)
		}
	case membersNext:
		if i >= len(b) {
			return m.fail()
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return m.finish(i + 1)
		default:
			return m.fail()
		}
	default:
		return false
	}
	ke, vs, ve, err := readMember(b, i)
	if err != nil {
		return m.fail()
	}
	m.KeyStart, m.KeyEnd, m.ValueStart, m.ValueEnd = i, ke, vs, ve
	m.i, m.state = ve, membersNext
	return true
}

func (m *Members) fail() bool {
	m.state, m.err = membersDone, ErrSyntax
	return false
}

// finish ends the walk at the offset just past the closing brace: only
// whitespace may follow.
func (m *Members) finish(i int) bool {
	m.state = membersDone
	if SkipSpace(m.obj, i) != len(m.obj) {
		m.err = ErrSyntax
	}
	return false
}

// Key returns the current member's key as it is written, without its
// quotes and with any escapes left in.
func (m *Members) Key() []byte { return m.obj[m.KeyStart+1 : m.KeyEnd-1] }

// Value returns the current member's value.
func (m *Members) Value() []byte { return m.obj[m.ValueStart:m.ValueEnd] }

// Err returns ErrSyntax if the walk stopped on malformed text, else nil.
func (m *Members) Err() error { return m.err }

// EachMember calls fn for each member of the JSON object obj, with the key
// as it is written (without quotes; escaped reports whether it holds
// escapes) and the value. It stops at fn's first error and returns it.
// Values are not validated (see the package comment).
//
// It is the loop of Members written out, which keeps the per-member cost of
// decoding every request and stream event down.
func EachMember(obj []byte, fn func(key []byte, escaped bool, value []byte) error) error {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return ErrSyntax
	}
	i = SkipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return endOf(obj, i+1)
	}
	for {
		ke, vs, ve, err := readMember(obj, i)
		if err != nil {
			return err
		}
		key := obj[i+1 : ke-1]
		if err := fn(key, bytes.IndexByte(key, '\\') >= 0, obj[vs:ve]); err != nil {
			return err
		}
		i = SkipSpace(obj, ve)
		if i >= len(obj) {
			return ErrSyntax
		}
		switch obj[i] {
		case ',':
			i = SkipSpace(obj, i+1)
		case '}':
			return endOf(obj, i+1)
		default:
			return ErrSyntax
		}
	}
}

// readMember reads the member whose key starts at b[i] and returns the
// offsets just past the key, and of the start and end of the value.
func readMember(b []byte, i int) (keyEnd, valueStart, valueEnd int, err error) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, 0, ErrSyntax
	}
	if keyEnd, err = SkipString(b, i); err != nil {
		return 0, 0, 0, err
	}
	colon := SkipSpace(b, keyEnd)
	if colon >= len(b) || b[colon] != ':' {
		return 0, 0, 0, ErrSyntax
	}
	valueStart = SkipSpace(b, colon+1)
	valueEnd, err = SkipValue(b, valueStart)
	return keyEnd, valueStart, valueEnd, err
}

// EachElement calls fn for each element of the JSON array arr, with its
// index. It stops at fn's first error and returns it. Elements are not
// validated (see the package comment).
func EachElement(arr []byte, fn func(i int, value []byte) error) error {
	i := SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return ErrSyntax
	}
	i = SkipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return endOf(arr, i+1)
	}
	for n := 0; ; n++ {
		ve, err := SkipValue(arr, i)
		if err != nil {
			return err
		}
		if err := fn(n, arr[i:ve]); err != nil {
			return err
		}
		i = SkipSpace(arr, ve)
		if i >= len(arr) {
			return ErrSyntax
		}
		switch arr[i] {
		case ',':
			i = SkipSpace(arr, i+1)
		case ']':
			return endOf(arr, i+1)
		default:
			return ErrSyntax
		}
	}
}

// CountElements returns the number of elements of the JSON array arr, or
// of those before the point where it is malformed.
func CountElements(arr []byte) int {
	n := 0
	_ = EachElement(arr, func(int, []byte) error { n++; return nil })
	return n
}

// endOf checks that only whitespace follows offset i.
func endOf(b []byte, i int) error {
	if SkipSpace(b, i) != len(b) {
		return ErrSyntax
	}
	return nil
}
