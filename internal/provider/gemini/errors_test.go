package gemini

import (
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

func TestStatusError(t *testing.T) {
	tests := []struct {
		name string
		in   errorStatus
		want provider.Error
	}{
		{
			name: "RetryInfoAndErrorInfo",
			in: errorStatus{Code: 429, Message: "Quota", Status: "RESOURCE_EXHAUSTED", Details: []errorDetail{
				{Type: "type.googleapis.com/google.rpc.QuotaFailure"},
				{Type: "type.googleapis.com/google.rpc.ErrorInfo", Reason: "RATE_LIMIT_EXCEEDED"},
				{Type: "type.googleapis.com/google.rpc.RetryInfo", RetryDelay: "41s"},
			}},
			want: provider.Error{Provider: "gemini", Status: 429, Type: "RESOURCE_EXHAUSTED", Code: "RATE_LIMIT_EXCEEDED",
				Message: "Quota", RetryAfter: 41 * time.Second},
		},
		{
			name: "APIKeyInvalid",
			in: errorStatus{Code: 400, Message: "API key not valid.", Status: "INVALID_ARGUMENT", Details: []errorDetail{
				{Type: "type.googleapis.com/google.rpc.ErrorInfo", Reason: "API_KEY_INVALID"},
			}},
			want: provider.Error{Provider: "gemini", Status: 400, Type: "INVALID_ARGUMENT", Code: "API_KEY_INVALID", Message: "API key not valid."},
		},
		{
			name: "BadDurations",
			in: errorStatus{Code: 503, Status: "UNAVAILABLE", Details: []errorDetail{
				{Type: "type.googleapis.com/google.rpc.RetryInfo", RetryDelay: "-2s"},
			}},
			want: provider.Error{Provider: "gemini", Status: 503, Type: "UNAVAILABLE"},
		},
		{
			name: "CodeNotHTTP",
			in:   errorStatus{Code: 8, Status: "RESOURCE_EXHAUSTED"},
			want: provider.Error{Provider: "gemini", Type: "RESOURCE_EXHAUSTED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusError(&tt.in); *got != tt.want {
				t.Errorf("statusError = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2s": 2 * time.Second, "1.5s": 1500 * time.Millisecond, "0.250s": 250 * time.Millisecond,
		"": 0, "2": 0, "2m": 0, "-1s": 0, "abc s": 0,
	} {
		if got := parseDuration(in); got != want {
			t.Errorf("parseDuration(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestEndpoint(t *testing.T) {
	c, err := New(provider.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]string{
		"gemini-2.5-flash":        DefaultBaseURL + "/models/gemini-2.5-flash:generateContent",
		"models/gemini-2.5-flash": DefaultBaseURL + "/models/gemini-2.5-flash:generateContent",
		"tunedModels/my-tune":     DefaultBaseURL + "/tunedModels/my-tune:generateContent",
		"odd name?":               DefaultBaseURL + "/models/odd%20name%3F:generateContent",
	} {
		if got := c.endpoint(model, "generateContent"); got != want {
			t.Errorf("endpoint(%q) = %q, want %q", model, got, want)
		}
	}
}
