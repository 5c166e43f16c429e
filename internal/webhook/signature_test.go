package webhook_test

import (
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/webhook"
)

func TestVerify(t *testing.T) {
	const secret = "whsec_test"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"evt_1"}`)
	good := webhook.Sign(secret, at, body)
	for _, tt := range []struct {
		name    string
		secret  string
		header  string
		body    []byte
		now     time.Time
		wantErr string
	}{
		{"OK", secret, good, body, at, ""},
		{"OKWithinTolerance", secret, good, body, at.Add(59 * time.Second), ""},
		{"OKOneOfSeveral", secret, good[:len("t=1767225600")] + ",v1=00ff," + good[len("t=1767225600,"):], body, at, ""},
		{"ErrWrongSecret", "whsec_wrong", good, body, at, "signature mismatch"},
		{"ErrTamperedBody", secret, good, []byte(`{"id":"evt_2"}`), at, "signature mismatch"},
		{"ErrTooOld", secret, good, body, at.Add(61 * time.Second), "signature timestamp outside the tolerance"},
		{"ErrFromTheFuture", secret, good, body, at.Add(-61 * time.Second), "signature timestamp outside the tolerance"},
		{"ErrNoTimestamp", secret, good[len("t=1767225600,"):], body, at, "malformed signature header"},
		{"ErrNoSignature", secret, "t=1767225600", body, at, "malformed signature header"},
		{"ErrEmpty", secret, "", body, at, "malformed signature header"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secret, tt.header, tt.body, tt.now, time.Minute)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Verify(%q) = %v, want nil", tt.header, err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("Verify(%q) = %v, want %q", tt.header, err, tt.wantErr)
			}
		})
	}
}

func TestSign(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// HMAC-SHA256("s", "1767225600.{}"), computed independently.
	got, want := webhook.Sign("s", at, []byte("{}")), "t=1767225600,v1="+hmacHex("s", "1767225600.{}")
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}
