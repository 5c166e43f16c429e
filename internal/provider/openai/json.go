package openai

import "strconv"

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
