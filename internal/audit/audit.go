// Package audit holds the pure functions of Chorus's tamper-evident audit
// log: the canonical encoding of an entry, its hash chain, the canonical
// form of its JSON details, the HMAC that stands in for secrets, and a
// streaming verifier of the chain. It does no I/O; the store (package
// store) persists entries and feeds them to a Verifier.
//
// # The chain
//
// Entries are numbered by Seq, 1, 2, 3… without gaps. Each entry carries
// PrevHash, the Hash of the entry before it (32 zero bytes for Seq 1), and
// its own Hash:
//
//	Hash = SHA-256(Encode(entry))
//
// where Encode covers every field of the entry except Hash itself, PrevHash
// included. Changing, deleting, inserting or reordering an entry therefore
// changes a hash that a later entry (or the stored head of the chain)
// commits to.
//
// # Canonical encoding (version 1)
//
// Encode is the concatenation of the following items, in this order. An
// integer is 8 bytes, big-endian two's complement (int64). A string or byte
// string is its length in bytes as a 4-byte big-endian unsigned integer,
// followed by its bytes (UTF-8 for text). Absent values are 0 and the empty
// string.
//
//  1. string  "chorus-audit-v1" (the format tag)
//  2. integer seq
//  3. integer at, in microseconds since 1970-01-01T00:00:00Z (UTC)
//  4. integer actor.user_id
//  5. integer actor.key_id
//  6. integer actor.session_id
//  7. string  actor.ip
//  8. string  actor.request_id
//  9. string  actor.system
//  10. string  action
//  11. string  target_type
//  12. string  target_id
//  13. integer team_id
//  14. string  details (canonical JSON text, or empty when there are none)
//  15. bytes   prev_hash (32 bytes)
//
// For example, a verifier in Python writes each integer with
// struct.pack(">q", n), each string as struct.pack(">I", len(b)) + b, and
// compares hashlib.sha256(…).digest() with the stored hash.
//
// Before an entry is hashed, Normalize puts it in the form in which it is
// stored, so that what is read back hashes to the same value on SQLite and
// PostgreSQL alike: the time is truncated to whole microseconds in UTC
// (PostgreSQL keeps microseconds), invalid UTF-8 and NUL bytes in strings
// become U+FFFD, and details become canonical JSON (see Canonical). The
// details are hashed as the stored text, so a verifier does not need to
// re-canonicalise them.
//
// # Canonical JSON
//
// Canonical details are compact (no whitespace outside strings); object
// keys are sorted by the byte order of their UTF-8 encoding (a duplicated
// key keeps its last value); numbers are kept exactly as written in the
// input (decoded with UseNumber, never through a float); strings escape only
// the quotation mark (\"), the reverse solidus (\\), and the control
// characters below U+0020 (as \b, \f, \n, \r, \t, or \u00XX with lower-case
// hex for the others); every other character, U+007F and non-ASCII
// included, is written as its UTF-8 bytes. The JSON value null, like empty
// input, means no details.
//
// # Secrets
//
// Secrets never enter the log. Where an entry needs to say which secret was
// involved (a credential was rotated to the same value as another one, say),
// it records HMAC(key, secret), a keyed hash that correlates equal values
// without revealing them.
package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
)

// FormatTag is the first item of the canonical encoding; a new encoding
// gets a new tag.
const FormatTag = "chorus-audit-v1"

// HashSize is the size of an entry hash in bytes (SHA-256).
const HashSize = sha256.Size

// HMACPrefix starts every value HMAC returns, naming the algorithm.
const HMACPrefix = "hmac-sha256:"

// ZeroHash returns the PrevHash of the first entry: 32 zero bytes.
func ZeroHash() []byte { return make([]byte, HashSize) }

// HMAC returns "hmac-sha256:" followed by the lower-case hex HMAC-SHA256 of
// value under key: a stand-in for a secret that lets entries about the same
// secret be correlated without revealing it.
func HMAC(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, value)
	return HMACPrefix + hex.EncodeToString(m.Sum(nil))
}

// DeriveKey derives the HMAC key of the audit log from a master secret
// (the credential-sealing key): HMAC-SHA256(master, "chorus/audit-hmac/v1").
// A separate key means an HMAC in the log reveals nothing about the master.
func DeriveKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	io.WriteString(m, "chorus/audit-hmac/v1")
	return m.Sum(nil)
}

// Encode returns the canonical encoding of e (see the package doc). e should
// be normalised first (Normalize); Encode uses its fields as they are.
func Encode(e *chorus.AuditEntry) []byte {
	return AppendEncoding(make([]byte, 0, 160+len(e.Details)), e)
}

// AppendEncoding appends the canonical encoding of e to dst.
func AppendEncoding(dst []byte, e *chorus.AuditEntry) []byte {
	dst = appendString(dst, FormatTag)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Seq)) // #nosec G115 -- bit-for-bit reinterpretation of the signed field in the canonical encoding
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.At.UnixMicro()))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Actor.UserID))    // #nosec G115 -- bit-for-bit reinterpretation of the signed field in the canonical encoding
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Actor.KeyID))     // #nosec G115 -- bit-for-bit reinterpretation of the signed field in the canonical encoding
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Actor.SessionID)) // #nosec G115 -- bit-for-bit reinterpretation of the signed field in the canonical encoding
	dst = appendString(dst, e.Actor.IP)
	dst = appendString(dst, e.Actor.RequestID)
	dst = appendString(dst, e.Actor.System)
	dst = appendString(dst, e.Action)
	dst = appendString(dst, e.TargetType)
	dst = appendString(dst, e.TargetID)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.TeamID)) // #nosec G115 -- bit-for-bit reinterpretation of the signed field in the canonical encoding
	dst = appendBytes(dst, e.Details)
	dst = appendBytes(dst, e.PrevHash)
	return dst
}

// seqOffset is where Seq starts in the encoding: after the format tag.
const seqOffset = 4 + len(FormatTag)

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s))) // #nosec G115 -- audit fields are request-sized (bounded by limits.max_body_bytes), far below 4 GiB
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b))) // #nosec G115 -- audit fields are request-sized (bounded by limits.max_body_bytes), far below 4 GiB
	return append(dst, b...)
}

// Hash returns SHA-256 of the canonical encoding of e.
func Hash(e *chorus.AuditEntry) []byte {
	h := sha256.Sum256(Encode(e))
	return h[:]
}

// Seal sets e.PrevHash to prev and e.Hash to the hash of e. e must be
// normalised (Normalize) and have its Seq set.
func Seal(e *chorus.AuditEntry, prev []byte) {
	e.PrevHash = slices.Clone(prev)
	e.Hash = Hash(e)
}

// Normalize puts e in its stored form, the form that is hashed: At in UTC
// truncated to microseconds, strings valid UTF-8 without NUL bytes, Details
// canonical JSON (nil when there are none). It fails only on details that
// are not valid JSON.
func Normalize(e *chorus.AuditEntry) error {
	e.At = e.At.UTC().Truncate(time.Microsecond)
	for _, s := range []*string{&e.Actor.IP, &e.Actor.RequestID, &e.Actor.System, &e.Action, &e.TargetType, &e.TargetID} {
		*s = CleanString(*s)
	}
	d, err := Canonical(e.Details)
	if err != nil {
		return err
	}
	e.Details = d
	return nil
}

// CleanString replaces invalid UTF-8 and NUL bytes (which PostgreSQL text
// cannot hold) with U+FFFD.
func CleanString(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// ErrDetails is wrapped by Canonical's errors.
var ErrDetails = errors.New("audit details are not valid JSON")

// Canonical returns the canonical form of the JSON document raw (see the
// package doc), or nil when raw is empty, only whitespace, or null.
func Canonical(raw []byte) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDetails, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrDetails)
	}
	return appendCanonical(make([]byte, 0, len(trimmed)), v), nil
}

func appendCanonical(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		if v {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case json.Number:
		return append(dst, v...)
	case string:
		return appendJSONString(dst, v)
	case []any:
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCanonical(dst, x)
		}
		return append(dst, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendCanonical(dst, v[k])
		}
		return append(dst, '}')
	}
	// The decoder produces only the types above.
	panic(fmt.Sprintf("audit: unexpected JSON value of type %T", v))
}

func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
