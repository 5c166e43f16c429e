package jsonscan

import (
	"errors"
	"strconv"
)

// Duplicate returns the path of the first member that appears twice in one
// object of the valid JSON text v — "name", "config.scorers[2].type" — or ""
// when every object's member names are distinct. Names are compared as
// decoded (so "a" and "\u0061" are the same member), exactly: encoding/json
// would keep the last of two equal names, and another parser the first, so
// a body with both means different things to different readers. Text that
// is not valid JSON gives ErrSyntax.
func Duplicate(v []byte) (string, error) {
	if !Valid(v) {
		return "", ErrSyntax
	}
	return duplicateIn(v[SkipSpace(v, 0):], "")
}

// duplicateIn looks for a duplicate in the value v, whose path is at.
func duplicateIn(v []byte, at string) (string, error) {
	if len(v) == 0 {
		return "", nil
	}
	switch v[0] {
	case '{':
		return duplicateInObject(v, at)
	case '[':
		found := ""
		err := EachElement(v, func(i int, elem []byte) error {
			p, err := duplicateIn(elem, at+"["+strconv.Itoa(i)+"]")
			if p != "" && found == "" {
				found = p
				return errStop
			}
			return err
		})
		if err == errStop {
			err = nil
		}
		return found, err
	}
	return "", nil
}

// duplicateInObject checks the members of the object v, then their values.
func duplicateInObject(v []byte, at string) (string, error) {
	seen := make(map[string]struct{})
	found := ""
	err := EachMember(v, func(key []byte, escaped bool, value []byte) error {
		name := string(key)
		if escaped {
			name = string(AppendUnescaped(nil, key))
		}
		path := name
		if at != "" {
			path = at + "." + name
		}
		if _, dup := seen[name]; dup {
			found = path
			return errStop
		}
		seen[name] = struct{}{}
		p, err := duplicateIn(value, path)
		if p != "" {
			found = p
			return errStop
		}
		return err
	})
	if err == errStop {
		err = nil
	}
	return found, err
}

// errStop ends a walk early once a duplicate is found.
var errStop = errors.New("jsonscan: stop")
