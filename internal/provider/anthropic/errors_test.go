package anthropic_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/chorusgw/chorus/internal/provider/anthropic"
)

func TestErrorType(t *testing.T) {
	tests := map[int]string{
		400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
		403: "permission_error", 404: "not_found_error", 413: "request_too_large",
		429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "overloaded_error",
		504: "timeout_error", 529: "overloaded_error", 409: "invalid_request_error", 422: "invalid_request_error",
		501: "api_error",
	}
	for status, want := range tests {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			if got := anthropic.ErrorType(status); got != want {
				t.Errorf("ErrorType(%d) = %q, want %q", status, got, want)
			}
		})
	}
}

func TestAppendError(t *testing.T) {
	got := anthropic.AppendError([]byte("prefix:"), "invalid_request_error", "bad \"field\"\n<x>")
	want := `prefix:{"type":"error","error":{"type":"invalid_request_error","message":"bad \"field\"\n<x>"}}`
	if string(got) != want {
		t.Errorf("AppendError = %s\nwant %s", got, want)
	}
	ev := string(anthropic.AppendErrorEvent(nil, "overloaded_error", "Overloaded"))
	wantEv := "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
	if ev != wantEv {
		t.Errorf("AppendErrorEvent = %q\nwant %q", ev, wantEv)
	}
}

func TestAppendErrorEscaping(t *testing.T) {
	msgs := []string{"\x00\x1f", "bad utf8 \xff\xfe", "line\u2028sep", `back\slash`, "emoji 🎵"}
	for _, m := range msgs {
		b := anthropic.AppendError(nil, "api_error", m)
		var v struct {
			Error struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("AppendError(%q) = %s is not valid JSON: %v", m, b, err)
			continue
		}
		if m != "bad utf8 \xff\xfe" && v.Error.Message != m {
			t.Errorf("message %q came back as %q", m, v.Error.Message)
		}
	}
}
