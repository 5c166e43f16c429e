// Package chorus holds the domain vocabulary of the Chorus gateway: the types
// every other package talks in (models, deployments, keys, usage) and the one
// application error type. It imports only the standard library.
package chorus

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Exactly one table (in internal/api) maps them to HTTP statuses.
const (
	EINVALID      = "invalid"       // the request is malformed or a field is out of range
	EUNAUTHORIZED = "unauthorized"  // no credential, or one that is not valid
	EFORBIDDEN    = "forbidden"     // valid credential, not allowed to do this
	ENOTFOUND     = "not_found"     // the named thing does not exist
	ECONFLICT     = "conflict"      // the thing exists already, or changed under us
	ETOOLARGE     = "too_large"     // the body is larger than allowed
	ERATELIMIT    = "rate_limited"  // too many requests; RetryAfter may say when to come back
	EQUOTA        = "quota"         // not enough credit or budget
	EUPSTREAM     = "upstream"      // the upstream answered with an error (502)
	EUNAVAILABLE  = "unavailable"   // no upstream could be reached, or we are shutting down (503)
	ETIMEOUT      = "timeout"       // the upstream did not answer in time (504)
	EINTERNAL     = "internal"      // a bug or an unexpected failure on our side
	ENOTSUPPORTED = "not_supported" // the model or provider cannot do this
)

// Error is the application error. Its Message is safe to show to the client;
// internal detail goes to the log through Err.
type Error struct {
	Code       string
	Message    string
	Param      string        // the request field at fault, when there is one
	Type       string        // an OpenAI-style error type override (e.g. "insufficient_quota")
	RetryAfter time.Duration // for ERATELIMIT and upstream back-pressure
	Reason     string        // a machine-readable reason a client can act on ("mfa_required"), sent as the OpenAI error's "code"
	Err        error         // the underlying cause, never shown to clients
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("chorus error: code=%s message=%s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("chorus error: code=%s message=%s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error about the named request field.
func Invalid(param, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
