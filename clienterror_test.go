package chorus_test

import (
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
)

func TestScrub(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"ChorusKey":     {"key sk-chorus-abcdefghijklmnop failed", "key [redacted] failed"},
		"Bearer":        {"Authorization: Bearer abc.def-123", "Authorization: [redacted] [redacted]"},
		"BearerAlone":   {"sent bearer abc.def-123 to it", "sent bearer [redacted] to it"},
		"JWT":           {"token eyJhbGciOi.eyJzdWIiOi.sig_nature", "token [redacted]"},
		"URLPassword":   {"GET https://user:hunter2@example.com/x", "GET https://user:[redacted]@example.com/x"},
		"JSONPassword":  {`{"password": "hunter22"}`, `{"password": "[redacted]"}`},
		"QueryToken":    {"/cb?token=abc123&x=1", "/cb?token=[redacted]&x=1"},
		"LongHex":       {"session 0123456789abcdef0123456789abcdef01 ended", "session [redacted] ended"},
		"GoogleKey":     {"AIzaSyA1234567890abcdefghijklmnop", "[redacted]"},
		"PlainMessage":  {"Cannot read properties of undefined (reading 'map')", "Cannot read properties of undefined (reading 'map')"},
		"StackLocation": {"at KeysPage (/assets/keys-3f2a1b.js:12:34)", "at KeysPage (/assets/keys-3f2a1b.js:12:34)"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := chorus.Scrub(tc.in); got != tc.want {
				t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestClientErrorNormalize(t *testing.T) {
	t.Run("Bounds", func(t *testing.T) {
		e := chorus.ClientError{Message: strings.Repeat("é", chorus.MaxClientErrorMessage), Stack: strings.Repeat("a ", chorus.MaxClientErrorStack),
			Route: "/keys\n/x", Release: "v1\x00"}
		e.Normalize()
		if len(e.Message) > chorus.MaxClientErrorMessage || !strings.HasSuffix(e.Message, "é") {
			t.Errorf("message cut to %d bytes, ending %q", len(e.Message), e.Message[len(e.Message)-4:])
		}
		if len(e.Stack) > chorus.MaxClientErrorStack {
			t.Errorf("stack %d bytes", len(e.Stack))
		}
		if e.Route != "/keys /x" || e.Release != "v1 " {
			t.Errorf("route %q release %q: control characters kept", e.Route, e.Release)
		}
	})
	t.Run("EmptyMessage", func(t *testing.T) {
		e := chorus.ClientError{}
		e.Normalize()
		if e.Message == "" {
			t.Error("an empty message stays empty")
		}
	})
	t.Run("InvalidUTF8", func(t *testing.T) {
		e := chorus.ClientError{Message: "bad \xff byte"}
		e.Normalize()
		if e.Message != "bad \uFFFD byte" {
			t.Errorf("message %q", e.Message)
		}
	})
}
