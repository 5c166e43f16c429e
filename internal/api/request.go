package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the request ID stored in ctx ("" outside a request).
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey).(*idCtx); ok {
		return c.id
	}
	return ""
}

// WithRequestID returns ctx carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return &idCtx{Context: ctx, id: id}
}

// idCtx carries the request ID: one allocation per request where
// context.WithValue would take two (the context and the boxed string).
// Value gives the *idCtx itself, so reading the ID allocates nothing.
type idCtx struct {
	context.Context
	id string
}

func (c *idCtx) Value(key any) any {
	if key == any(requestIDKey) {
		return c
	}
	return c.Context.Value(key)
}

// newRequestID returns "req_" and 12 random bytes in hex (one allocation).
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	var s [4 + 24]byte
	copy(s[:], "req_")
	hex.Encode(s[4:], b[:])
	return string(s[:])
}

// validRequestID accepts a caller's ID when it is short and printable, so a
// trace can cross the gateway; anything else is replaced.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// Middleware sets the request ID (the caller's X-Request-Id when it is
// acceptable) and the security headers every answer carries (handlers may
// replace them: the console does), refuses a request whose headers are
// over MaxHeaderBytes (431) or whose body framing is ambiguous (400, see
// conn.go) in the route's error shape, recovers panics into a 500 in that
// shape, and logs every request but probes and scrapes.
func Middleware(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if ids := r.Header["X-Request-Id"]; len(ids) > 0 && validRequestID(ids[0]) {
			h["X-Request-Id"] = ids[:1:1] // the caller's own value, never written to
		} else {
			h["X-Request-Id"] = []string{newRequestID()}
		}
		id := h["X-Request-Id"][0]
		setSecurityHeaders(h)
		ctx := WithRequestID(r.Context(), id)
		r = r.WithContext(ctx)
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(ctx, "panic serving request", "panic", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					WriteError(rec, r, log, FormatFor(r), chorus.Errorf(chorus.EINTERNAL, "internal error"))
				}
			}
			if log.Enabled(ctx, slog.LevelInfo) && !quietPath(r.URL.Path) {
				log.LogAttrs(ctx, slog.LevelInfo, "request",
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.Int("status", rec.status),
					slog.Duration("duration", time.Since(start)),
				)
			}
		}()
		if checkHeaderSize(rec, r) || checkFraming(rec, r) {
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// quietPath is true for probes and scrapes, which would drown the log.
func quietPath(p string) bool {
	return p == "/livez" || p == "/readyz" || p == "/metrics"
}

// statusRecorder remembers the status for the log line. It forwards
// Flush and Unwrap so streaming and http.ResponseController keep working.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	r.wrote = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Bearer returns the API key from Authorization: Bearer or x-api-key
// (Anthropic clients send the latter).
func Bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// Authenticate returns the API key the request presents (Bearer or
// x-api-key), looked up with lookup, or an EUNAUTHORIZED error that names
// only the key's redacted form.
func Authenticate(r *http.Request, lookup func(secret string) *chorus.APIKey) (*chorus.APIKey, error) {
	secret := Bearer(r)
	if secret == "" {
		return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY' (or 'x-api-key: YOUR_KEY')."}
	}
	k := lookup(secret)
	if k == nil {
		return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "Incorrect API key provided: " + RedactKey(secret) + ". The key is unknown, revoked or expired."}
	}
	return k, nil
}

// RedactKey shows only the start and end of a presented key, as OpenAI does.
func RedactKey(k string) string {
	if len(k) <= 12 {
		return "****"
	}
	return k[:8] + "****" + k[len(k)-4:]
}
