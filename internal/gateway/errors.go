package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/provider"
)

// writeError writes err in the shape f with its status (api.WriteError).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, f api.Format, err error) {
	api.WriteError(w, r, s.Logger, f, err)
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
