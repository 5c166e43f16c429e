package gemini

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// Gemini function calls carry no ID (newer models sometimes do), but the
// canonical schema, like every client, matches tool results to calls by ID.
// The adapter therefore gives each call an ID, and sends it back as the
// optional functionCall.id / functionResponse.id.
//
// Thinking models also attach an opaque thoughtSignature to function call
// parts and reject the next turn if it is not echoed back. The canonical
// schema has nowhere to keep it except the one thing every client returns
// verbatim: the tool call ID. So the signature is folded into the ID as
// "<id>__sig_<base64url signature>" and split off again on the way out. The
// ID stays within [A-Za-z0-9_-], which every client format accepts.

// sigSep separates a call ID from the thought signature folded into it.
const sigSep = "__sig_"

// newCallID returns a fresh, unique tool call ID.
func newCallID() string { return "call_" + rand.Text() }

// callID returns the canonical ID of a Gemini function call.
func callID(fc *functionCall, signature string) string {
	id := fc.ID
	if id == "" {
		id = newCallID()
	}
	if signature == "" {
		return id
	}
	if b, err := base64.StdEncoding.DecodeString(signature); err == nil {
		signature = base64.RawURLEncoding.EncodeToString(b)
	}
	return id + sigSep + signature
}

// splitCallID undoes callID: it returns the ID to send as functionCall.id
// and the thought signature, if one was folded in.
func splitCallID(id string) (base, signature string) {
	base, enc, ok := strings.Cut(id, sigSep)
	if !ok || base == "" {
		return id, ""
	}
	if b, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
		return base, base64.StdEncoding.EncodeToString(b)
	}
	return base, enc
}
