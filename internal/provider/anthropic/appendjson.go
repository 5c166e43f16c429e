package anthropic

import (
	"strconv"

	"github.com/chorusgw/chorus/internal/jsonscan"
)

// The encoders of this package append JSON by hand: the bodies they write
// are on the hot path, and hand-appending lets raw JSON values (schemas,
// tool arguments, unknown fields) pass through without being re-validated
// and re-compacted by encoding/json.

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
	return jsonscan.AppendString(appendKey(dst, key), value)
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
