package anthropic

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// Error types of the Messages API.
const (
	ErrInvalidRequest  = "invalid_request_error" // 400
	ErrAuthentication  = "authentication_error"  // 401
	ErrBilling         = "billing_error"         // 402
	ErrPermission      = "permission_error"      // 403
	ErrNotFound        = "not_found_error"       // 404
	ErrRequestTooLarge = "request_too_large"     // 413
	ErrRateLimit       = "rate_limit_error"      // 429
	ErrAPI             = "api_error"             // 500
	ErrTimeout         = "timeout_error"         // 504
	ErrOverloaded      = "overloaded_error"      // 529
)

// StatusOverloaded is the HTTP status Anthropic answers with when it is
// overloaded.
const StatusOverloaded = 529

// ErrorType returns the Anthropic error type for an HTTP status, for writing
// errors to Anthropic clients. Statuses Anthropic does not use map to the
// type its SDKs treat the same way: 503 (and 529) to overloaded_error, which
// clients retry with back-off; 502 to api_error; 504 to timeout_error; any
// other 4xx to invalid_request_error and any other 5xx to api_error.
func ErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return ErrInvalidRequest
	case http.StatusUnauthorized:
		return ErrAuthentication
	case http.StatusPaymentRequired:
		return ErrBilling
	case http.StatusForbidden:
		return ErrPermission
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusRequestEntityTooLarge:
		return ErrRequestTooLarge
	case http.StatusTooManyRequests:
		return ErrRateLimit
	case http.StatusServiceUnavailable, StatusOverloaded:
		return ErrOverloaded
	case http.StatusGatewayTimeout:
		return ErrTimeout
	}
	if status >= 400 && status < 500 {
		return ErrInvalidRequest
	}
	return ErrAPI
}

// AppendError appends Anthropic's error body:
// {"type":"error","error":{"type":typ,"message":message}}.
func AppendError(dst []byte, typ, message string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = jsonscan.AppendString(dst, typ)
	dst = append(dst, `,"message":`...)
	dst = jsonscan.AppendString(dst, message)
	return append(dst, "}}"...)
}

// AppendErrorEvent appends an error event, as Anthropic sends one when a
// stream fails after it began.
func AppendErrorEvent(dst []byte, typ, message string) []byte {
	dst = append(dst, "event: error\ndata: "...)
	dst = AppendError(dst, typ, message)
	return append(dst, "\n\n"...)
}

// httpError reads an error answer into a *provider.Error. A body that is not
// Anthropic's error shape (a proxy's HTML page) becomes the message, cut
// short.
func httpError(resp *http.Response) *provider.Error {
	e := &provider.Error{
		Provider:   chorus.ProviderAnthropic,
		Status:     resp.StatusCode,
		RetryAfter: provider.ParseRetryAfter(resp.Header),
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var w wireErrorBody
	if json.Unmarshal(body, &w) == nil && (w.Error.Type != "" || w.Error.Message != "") {
		e.Type, e.Message = w.Error.Type, w.Error.Message
		return e
	}
	e.Message = snippet(body)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// snippet returns the start of a non-JSON body as a one-line message.
func snippet(b []byte) string {
	const max = 256
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}
