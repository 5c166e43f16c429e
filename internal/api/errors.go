package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
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

// wireFormat says which error shape a route speaks.
type wireFormat int

const (
	formatOpenAI wireFormat = iota
	formatAnthropic
)

func formatFor(r *http.Request) wireFormat {
	if r.URL.Path == "/v1/messages" {
		return formatAnthropic
	}
	return formatOpenAI
}

// writeError writes err in the route's error shape with its status. The
// message of an unexpected error is hidden from the client and logged.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, f wireFormat, err error) {
	var e *chorus.Error
	if !errors.As(err, &e) {
		e = &chorus.Error{Code: chorus.EINTERNAL, Message: "The server had an error while processing your request.", Err: err}
	}
	cs, ok := codeStatus[e.Code]
	if !ok {
		cs = codeStatus[chorus.EINTERNAL]
	}
	if e.Code == chorus.EINTERNAL || e.Err != nil {
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", RequestID(r.Context())), slog.String("code", e.Code), slog.Any("err", err))
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
	if f == formatAnthropic {
		body = anthropic.AppendError(nil, anthropic.ErrorType(cs.status), e.Message)
	} else {
		body = openai.AppendError(nil, e.Message, typ, e.Param, openAICode(e))
	}
	_, _ = w.Write(body)
}

// openAICode returns the "code" OpenAI puts on well-known errors.
func openAICode(e *chorus.Error) string {
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

// upstreamError turns an upstream failure into the error the client sees:
// the upstream's own message for what the client caused (a 400 says what was
// wrong with the request), a gateway status for everything else.
func upstreamError(err error) *chorus.Error {
	var ce *chorus.Error
	if errors.As(err, &ce) {
		return ce
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return &chorus.Error{Code: chorus.EUPSTREAM, Message: "The upstream provider failed.", Err: err}
	}
	msg := pe.Message
	if msg == "" {
		msg = http.StatusText(pe.Status)
	}
	switch {
	case pe.Timeout:
		return &chorus.Error{Code: chorus.ETIMEOUT, Message: "The upstream provider did not answer in time.", Err: err}
	case pe.Status == 0 && pe.Err == nil:
		// An error event in the middle of a stream: the upstream was
		// reached and said why it stopped, so say that, not "unreachable".
		return midStreamError(pe, msg, err)
	case pe.Status == 0:
		return &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "The upstream provider could not be reached.", Err: err}
	case pe.Status == http.StatusTooManyRequests:
		return &chorus.Error{Code: chorus.ERATELIMIT, Message: "The upstream provider is rate limiting requests: " + msg, RetryAfter: pe.RetryAfter}
	case pe.Status == http.StatusBadRequest || pe.Status == http.StatusUnprocessableEntity:
		return &chorus.Error{Code: chorus.EINVALID, Message: msg}
	case pe.Status == http.StatusRequestEntityTooLarge:
		return &chorus.Error{Code: chorus.ETOOLARGE, Message: msg}
	case pe.Status == http.StatusUnauthorized || pe.Status == http.StatusForbidden:
		// The client's key is fine; ours for the upstream is not.
		return &chorus.Error{Code: chorus.EUPSTREAM, Message: "The upstream provider rejected the gateway's credentials.", Err: err}
	case pe.Status == http.StatusNotFound:
		return &chorus.Error{Code: chorus.EUPSTREAM, Message: "The upstream provider does not know the configured model: " + msg, Err: err}
	case pe.Status == http.StatusServiceUnavailable || pe.Status == 529:
		return &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "The upstream provider is overloaded: " + msg, RetryAfter: pe.RetryAfter}
	case pe.Status == http.StatusGatewayTimeout || pe.Status == http.StatusRequestTimeout:
		return &chorus.Error{Code: chorus.ETIMEOUT, Message: "The upstream provider timed out: " + msg}
	default:
		return &chorus.Error{Code: chorus.EUPSTREAM, Message: "The upstream provider failed: " + strings.TrimSpace(msg), Err: err}
	}
}

// midStreamError maps an upstream's error event (which has no HTTP status)
// by the provider's error type.
func midStreamError(pe *provider.Error, msg string, err error) *chorus.Error {
	switch pe.Type {
	case "rate_limit_error", "rate_limit_exceeded", "RESOURCE_EXHAUSTED":
		return &chorus.Error{Code: chorus.ERATELIMIT, Message: "The upstream provider is rate limiting requests: " + msg, RetryAfter: pe.RetryAfter}
	case "overloaded_error", "UNAVAILABLE":
		return &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "The upstream provider is overloaded: " + msg, RetryAfter: pe.RetryAfter}
	}
	return &chorus.Error{Code: chorus.EUPSTREAM, Message: "The upstream provider failed: " + strings.TrimSpace(msg), Err: err}
}
