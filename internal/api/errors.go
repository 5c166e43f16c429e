package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// codeStatus is the one table mapping application error codes to HTTP
// statuses and to OpenAI's error "type".
var codeStatus = map[string]struct {
	status int
	typ    string
}{
	chorus.EINVALID:      {http.StatusBadRequest, "invalid_request_error"},
	chorus.ENOTSUPPORTED: {http.StatusBadRequest, "invalid_request_error"},
	chorus.EUNAUTHORIZED: {http.StatusUnauthorized, "authentication_error"},
	chorus.EFORBIDDEN:    {http.StatusForbidden, "permission_error"},
	chorus.ENOTFOUND:     {http.StatusNotFound, "invalid_request_error"},
	chorus.ECONFLICT:     {http.StatusConflict, "conflict_error"},
	chorus.ETOOLARGE:     {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	chorus.ERATELIMIT:    {http.StatusTooManyRequests, "rate_limit_error"},
	chorus.EQUOTA:        {http.StatusPaymentRequired, "insufficient_quota"},
	chorus.EUPSTREAM:     {http.StatusBadGateway, "upstream_error"},
	chorus.EUNAVAILABLE:  {http.StatusServiceUnavailable, "service_unavailable"},
	chorus.ETIMEOUT:      {http.StatusGatewayTimeout, "timeout_error"},
	chorus.EINTERNAL:     {http.StatusInternalServerError, "server_error"},
}

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	if e, ok := codeStatus[chorus.ErrorCode(err)]; ok {
		return e.status
	}
	return http.StatusInternalServerError
}

// ErrorType returns OpenAI's error "type" for an application error code.
func ErrorType(code string) string {
	if e, ok := codeStatus[code]; ok {
		return e.typ
	}
	return codeStatus[chorus.EINTERNAL].typ
}

// Format says which error shape a route speaks.
type Format int

// The error shapes: OpenAI's {"error":{…}} (also the management API's) and
// Anthropic's {"type":"error",…}.
const (
	FormatOpenAI Format = iota
	FormatAnthropic
)

// FormatFor returns the error shape of the route r was sent to.
func FormatFor(r *http.Request) Format {
	if r.URL.Path == "/v1/messages" {
		return FormatAnthropic
	}
	return FormatOpenAI
}

// WriteError writes err in the shape f with its status. The message of an
// unexpected error is hidden from the client and logged on log.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, f Format, err error) {
	var e *chorus.Error
	if !errors.As(err, &e) {
		e = &chorus.Error{Code: chorus.EINTERNAL, Message: "The server had an error while processing your request.", Err: err}
	}
	cs, ok := codeStatus[e.Code]
	if !ok {
		cs = codeStatus[chorus.EINTERNAL]
	}
	if e.Code == chorus.EINTERNAL || e.Err != nil {
		log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("code", e.Code), slog.Any("err", err))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(cs.status)
	typ := cs.typ
	if e.Type != "" {
		typ = e.Type
	}
	var body []byte
	if f == FormatAnthropic {
		body = anthropic.AppendError(nil, anthropic.ErrorType(cs.status), e.Message)
	} else {
		body = openai.AppendError(nil, e.Message, typ, e.Param, OpenAICode(e))
	}
	_, _ = w.Write(body)
}

// OpenAICode returns the "code" OpenAI puts on well-known errors.
func OpenAICode(e *chorus.Error) string {
	if e.Reason != "" {
		return e.Reason
	}
	switch e.Code {
	case chorus.EUNAUTHORIZED:
		return "invalid_api_key"
	case chorus.ENOTFOUND:
		if e.Param == "model" {
			return "model_not_found"
		}
	case chorus.EQUOTA:
		return "insufficient_quota"
	case chorus.ERATELIMIT:
		return "rate_limit_exceeded"
	case chorus.ETOOLARGE:
		return "request_too_large"
	}
	return ""
}

// TooLarge is the error for a request body over max bytes.
func TooLarge(max int64) error {
	return &chorus.Error{Code: chorus.ETOOLARGE, Message: "Request body too large: the limit is " + strconv.FormatInt(max, 10) + " bytes."}
}
