package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 1 << 20

// errorEnvelope is the body of every Gemini error answer:
// {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED","details":[...]}}.
type errorEnvelope struct {
	Error *errorStatus `json:"error"`
}

// responseError turns a non-2xx answer into a *provider.Error. The body is
// Google's error envelope; anything else (an HTML page from a proxy) still
// yields an error with the HTTP status and a short excerpt as its message.
func responseError(ctx context.Context, resp *http.Response) *provider.Error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil && len(body) == 0 {
		pe := provider.TransportError(kind, ctx, err)
		pe.Status = resp.StatusCode
		pe.RetryAfter = provider.ParseRetryAfter(resp.Header)
		return pe
	}
	var env errorEnvelope
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512]
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &provider.Error{
			Provider:   kind,
			Status:     resp.StatusCode,
			Message:    msg,
			RetryAfter: provider.ParseRetryAfter(resp.Header),
		}
	}
	pe := statusError(env.Error)
	pe.Status = resp.StatusCode
	if d := provider.ParseRetryAfter(resp.Header); d > 0 {
		pe.RetryAfter = d
	}
	return pe
}

// statusError converts a google.rpc.Status (an error body, or an error event
// mid-stream) to a *provider.Error. Status is the status's code, which is
// the HTTP status Google would have answered with. RetryAfter comes from a
// RetryInfo detail, Code from an ErrorInfo detail's reason.
func statusError(s *errorStatus) *provider.Error {
	pe := &provider.Error{Provider: kind, Status: s.Code, Type: s.Status, Message: s.Message}
	if pe.Status < 100 || pe.Status > 599 {
		pe.Status = 0
	}
	for _, d := range s.Details {
		switch {
		case strings.HasSuffix(d.Type, "google.rpc.RetryInfo"):
			pe.RetryAfter = parseDuration(d.RetryDelay)
		case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") && pe.Code == "":
			pe.Code = d.Reason
		}
	}
	return pe
}

// parseDuration reads a protobuf Duration in its JSON form ("2s", "1.5s",
// "0.250s"). It returns 0 for anything else.
func parseDuration(s string) time.Duration {
	if !strings.HasSuffix(s, "s") {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// invalidResponse reports a 2xx answer the adapter could not understand.
// Status stays 0: like a dropped connection, the next attempt may well work.
func invalidResponse(err error) *provider.Error {
	return &provider.Error{
		Provider: kind,
		Type:     "invalid_response",
		Message:  "malformed upstream response",
		Err:      fmt.Errorf("gemini: %w", err),
	}
}
