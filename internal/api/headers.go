package api

import (
	"net/http"
	"strconv"

	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// MaxHeaderBytes is the most a request's line and headers may hold. The
// server lets Go read up to ServerMaxHeaderBytes, so that a head between
// the two reaches Middleware, which answers 431 in the route's error shape;
// past ServerMaxHeaderBytes Go answers its own plain-text 431 before any
// handler runs (it has not parsed the path then, nor could it without
// reading the head we are refusing to read).
const (
	MaxHeaderBytes       = 64 << 10
	ServerMaxHeaderBytes = 4 * MaxHeaderBytes
)

// setSecurityHeaders sets the headers every answer carries unless its
// handler sets its own (the console, internal/web, sets a CSP with a nonce
// on its pages and caches its assets): no MIME sniffing, no referrer, no
// framing, nothing run from an API answer, and no caching of API answers,
// which carry keys, tokens and account data.
//
// The values are shared, never-modified slices assigned under canonical
// keys: Header.Set would allocate one slice per header per request.
// Replacing a value (Set) or adding one (Add: the slices are full) never
// writes into them.
func setSecurityHeaders(h http.Header) {
	h["X-Content-Type-Options"] = hdrNosniff
	h["Referrer-Policy"] = hdrNoReferrer
	h["X-Frame-Options"] = hdrDeny
	h["Content-Security-Policy"] = hdrCSP
	h["Cache-Control"] = hdrNoStore
}

var (
	hdrNosniff    = []string{"nosniff"}
	hdrNoReferrer = []string{"no-referrer"}
	hdrDeny       = []string{"DENY"}
	hdrCSP        = []string{"default-src 'none'; frame-ancestors 'none'"}
	hdrNoStore    = []string{"no-store"}
)

// headerBytes is the size of r's request line and header fields as they
// were sent, give or take white space.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// checkFraming answers a request whose framing is in doubt and reports
// whether it did (see conn.go): a chunked request on a connection that sent
// both Content-Length and Transfer-Encoding, or a folded Transfer-Encoding,
// gets 400 and the connection is closed; any other chunked request is
// served, and the connection closed after it.
func checkFraming(w http.ResponseWriter, r *http.Request) bool {
	if len(r.TransferEncoding) == 0 {
		return false
	}
	w.Header().Set("Connection", "close")
	if !ambiguousFraming(r.Context()) {
		return false
	}
	writeStatusError(w, r, http.StatusBadRequest, "invalid_request_error",
		"The request has both Content-Length and Transfer-Encoding, or a folded Transfer-Encoding: its length is ambiguous.")
	return true
}

// checkHeaderSize answers 431 in the route's error shape to a head over
// MaxHeaderBytes and reports whether it did.
func checkHeaderSize(w http.ResponseWriter, r *http.Request) bool {
	if headerBytes(r) <= MaxHeaderBytes {
		return false
	}
	w.Header().Set("Connection", "close")
	writeStatusError(w, r, http.StatusRequestHeaderFieldsTooLarge, "invalid_request_error",
		"Request headers too large: the limit is "+strconv.Itoa(MaxHeaderBytes)+" bytes for the request line and headers.")
	return true
}

// writeStatusError writes an error with a status that has no application
// error code (the codes are for handlers; these answers come before any).
func writeStatusError(w http.ResponseWriter, r *http.Request, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var body []byte
	if FormatFor(r) == FormatAnthropic {
		body = anthropic.AppendError(nil, anthropic.ErrorType(status), msg)
	} else {
		body = openai.AppendError(nil, msg, typ, "", "")
	}
	_, _ = w.Write(body)
}
