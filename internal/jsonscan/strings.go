package jsonscan

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

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

// Unquote returns the text of the valid JSON string v (quotes included in
// v). Escapes are decoded as encoding/json decodes them; other bytes are
// kept as they are, invalid UTF-8 included (encoding/json would replace
// it), so callers that need valid text check it once for a whole body.
func Unquote(v []byte) string {
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s)
	}
	out := appendUnescaped(make([]byte, 0, len(s)), s, false)
	// out is never empty (s holds an escape) and nothing else refers to it.
	return unsafe.String(&out[0], len(out)) // #nosec G103 -- out is a fresh, non-empty buffer nothing else refers to, so the string stays immutable
}

// AppendUnescaped appends the text of a valid JSON string written as s
// (without its quotes) exactly as encoding/json decodes it: escapes decoded,
// a lone surrogate and each byte of invalid UTF-8 replaced by U+FFFD.
func AppendUnescaped(dst, s []byte) []byte { return appendUnescaped(dst, s, true) }

// appendUnescaped decodes the escapes of the valid string body s onto dst,
// copying the text between them in runs; fixUTF8 replaces invalid UTF-8 in
// those runs, as encoding/json does.
func appendUnescaped(dst, s []byte, fixUTF8 bool) []byte {
	for {
		k := bytes.IndexByte(s, '\\')
		if k < 0 {
			return appendText(dst, s, fixUTF8)
		}
		dst = appendText(dst, s[:k], fixUTF8)
		c := s[k+1]
		s = s[k+2:]
		switch c {
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
			var r rune
			r, s = unescapeRune(s)
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
}

// unescapeRune decodes the four hex digits of a \u escape at the start of
// s, and the low half that follows a high surrogate, and returns the rest
// of s. A surrogate that is not half of a pair is U+FFFD.
func unescapeRune(s []byte) (rune, []byte) {
	r := rune(hex4(s)) // #nosec G115 -- hex4 returns at most 0xFFFF
	s = s[4:]
	if !utf16.IsSurrogate(r) {
		return r, s
	}
	r2 := utf8.RuneError
	if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
		r2 = rune(hex4(s[2:])) // #nosec G115 -- hex4 returns at most 0xFFFF
	}
	if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
		return dec, s[6:]
	}
	return utf8.RuneError, s
}

// appendText appends s, replacing each byte of invalid UTF-8 with U+FFFD
// if fixUTF8 is set.
func appendText(dst, s []byte, fixUTF8 bool) []byte {
	if !fixUTF8 || utf8.Valid(s) {
		return append(dst, s...)
	}
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, r)
		} else {
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
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
