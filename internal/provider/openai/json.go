package openai

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/chorusgw/chorus/internal/provider"
)

// This file holds a small JSON scanner and appenders. The client-side
// decoder walks request bodies with them instead of encoding/json so that it
// can name the exact field at fault ("messages[2].content[0].type"), find
// unknown top-level members without building a map, and allocate little.

// errSyntax reports a body that is not valid JSON.
var errSyntax = errors.New("invalid JSON")

// maxDepth bounds nesting so hostile bodies cannot exhaust the stack.
const maxDepth = 512

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// validJSON reports whether b is exactly one valid JSON value (surrounded by
// optional whitespace).
func validJSON(b []byte) bool {
	i := skipWS(b, 0)
	end, err := scanValue(b, i, 0)
	return err == nil && skipWS(b, end) == len(b)
}

// scanValue validates the value starting at b[i] and returns the offset just
// past it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
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
	return 0, errSyntax
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errSyntax
	}
	return i + len(lit), nil
}

func scanObject(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errSyntax
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		end, _, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		if i, err = scanValue(b, skipWS(b, i+1), depth); err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, errSyntax
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errSyntax
		}
	}
}

func scanArray(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errSyntax
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = scanValue(b, i, depth); err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, errSyntax
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, errSyntax
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
				return 0, false, errSyntax
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-j < 5 || !isHex4(b[j+1:j+5]) {
					return 0, false, errSyntax
				}
				j += 4
			default:
				return 0, false, errSyntax
			}
		case c < 0x20:
			return 0, false, errSyntax
		}
	}
	return 0, false, errSyntax
}

// skipPlain returns the first offset at or after j that may hold a quote, a
// backslash or a control character, testing eight bytes at a time: long
// prompt text is most of a request body.
func skipPlain(b []byte, j int) int {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	for ; j+8 <= len(b); j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		ctl := (w - 0x20*lsb) &^ w & msb
		q := w ^ ('"' * lsb)
		bs := w ^ ('\\' * lsb)
		if ctl|(q-lsb)&^q&msb|(bs-lsb)&^bs&msb != 0 {
			return j
		}
	}
	return j
}

func isHex4(h []byte) bool {
	for _, c := range h[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, errSyntax
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
			return 0, errSyntax
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

// eachMember calls fn for each member of the valid JSON object obj, with the
// raw key (between its quotes) and the value's bytes. It stops at fn's first
// error.
func eachMember(obj []byte, fn func(key []byte, escaped bool, val []byte) error) error {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errSyntax
	}
	i = skipWS(obj, i+1)
	for i < len(obj) && obj[i] != '}' {
		if obj[i] != '"' {
			return errSyntax
		}
		ke, err := provider.SkipString(obj, i)
		if err != nil {
			return err
		}
		key := obj[i+1 : ke-1]
		esc := bytes.IndexByte(key, '\\') >= 0
		i = skipWS(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return errSyntax
		}
		vs := skipWS(obj, i+1)
		ve, err := provider.SkipValue(obj, vs)
		if err != nil {
			return err
		}
		if err := fn(key, esc, obj[vs:ve]); err != nil {
			return err
		}
		i = skipWS(obj, ve)
		if i < len(obj) && obj[i] == ',' {
			i = skipWS(obj, i+1)
		}
	}
	return nil
}

// eachElement calls fn for each element of the valid JSON array arr.
func eachElement(arr []byte, fn func(i int, val []byte) error) error {
	i := skipWS(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return errSyntax
	}
	i = skipWS(arr, i+1)
	for n := 0; i < len(arr) && arr[i] != ']'; n++ {
		ve, err := provider.SkipValue(arr, i)
		if err != nil {
			return err
		}
		if err := fn(n, arr[i:ve]); err != nil {
			return err
		}
		i = skipWS(arr, ve)
		if i < len(arr) && arr[i] == ',' {
			i = skipWS(arr, i+1)
		}
	}
	return nil
}

// countElements returns the number of elements of the valid JSON array arr.
func countElements(arr []byte) int {
	n := 0
	_ = eachElement(arr, func(int, []byte) error { n++; return nil })
	return n
}

// kind names the JSON type of a valid value the way OpenAI's errors do.
func kind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	for _, c := range v {
		if c == '.' || c == 'e' || c == 'E' {
			return "a decimal"
		}
	}
	return "an integer"
}

func isNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }

// unquote returns the text of the valid JSON string v.
func unquote(v []byte) string {
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c == '\\' {
			return string(unescape(make([]byte, 0, len(s)), s))
		}
	}
	return string(s)
}

// unescape appends the decoded form of the (valid) escaped string body s.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(s[i+1:]))
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2 = rune(hex4(s[i+3:]))
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hex4(h []byte) int {
	n := 0
	for _, c := range h[:4] {
		n <<= 4
		switch {
		case c >= '0' && c <= '9':
			n |= int(c - '0')
		case c >= 'a' && c <= 'f':
			n |= int(c - 'a' + 10)
		default:
			n |= int(c - 'A' + 10)
		}
	}
	return n
}

// appendFloat appends f the way encoding/json does; NaN and infinities,
// which JSON cannot carry, become 0.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// appendKey appends "key": (with a leading comma unless first).
func appendKey(dst []byte, key string, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}
