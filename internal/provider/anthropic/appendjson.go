package anthropic

import (
	"strconv"
	"unicode/utf8"
)

// The encoders of this package append JSON by hand: the bodies they write
// are on the hot path, and hand-appending lets raw JSON values (schemas,
// tool arguments, unknown fields) pass through without being re-validated
// and re-compacted by encoding/json.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD, so the output is always valid JSON; U+2028 and U+2029 are escaped
// so the output is also safe inside JavaScript.
func appendString(dst []byte, s string) []byte {
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
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
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
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendKey appends "key": preceded by a comma unless it opens an object.
func appendKey(dst []byte, key string) []byte {
	if n := len(dst); n > 0 && dst[n-1] != '{' && dst[n-1] != '[' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendStringField appends "key":"value".
func appendStringField(dst []byte, key, value string) []byte {
	return appendString(appendKey(dst, key), value)
}

// appendIntField appends "key":n.
func appendIntField(dst []byte, key string, n int) []byte {
	return strconv.AppendInt(appendKey(dst, key), int64(n), 10)
}

// appendFloatField appends "key":f in the shortest form that round-trips.
func appendFloatField(dst []byte, key string, f float64) []byte {
	return strconv.AppendFloat(appendKey(dst, key), f, 'g', -1, 64)
}

// appendRawField appends "key":raw, raw being a JSON value.
func appendRawField(dst []byte, key string, raw []byte) []byte {
	return append(appendKey(dst, key), raw...)
}

// appendComma appends a comma unless dst ends an opening bracket.
func appendComma(dst []byte) []byte {
	if n := len(dst); n > 0 && dst[n-1] != '{' && dst[n-1] != '[' {
		dst = append(dst, ',')
	}
	return dst
}
