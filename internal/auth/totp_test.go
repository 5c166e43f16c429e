package auth_test

import (
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/auth"
)

// rfcSecret is the SHA-1 seed of RFC 6238 appendix B, "12345678901234567890".
var rfcSecret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

// TestTOTPCodeRFC6238 checks the step computation and the codes against
// the RFC's test vectors. The RFC gives 8 digits; a 6-digit code is the
// same value modulo 10^6, so its last 6 digits.
func TestTOTPCodeRFC6238(t *testing.T) {
	for _, tc := range []struct {
		unix     int64
		step     int64
		rfcCode8 string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	} {
		t.Run(time.Unix(tc.unix, 0).UTC().Format(time.RFC3339), func(t *testing.T) {
			if got := auth.TOTPStep(time.Unix(tc.unix, 0)); got != tc.step {
				t.Fatalf("step = %#x, want %#x", got, tc.step)
			}
			got, err := auth.TOTPCode(rfcSecret, tc.step)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.rfcCode8[2:]; got != want {
				t.Errorf("code = %s, want %s", got, want)
			}
		})
	}
}

func TestMatchTOTP(t *testing.T) {
	now := time.Unix(1234567890, 0) // step 0x273EF07, code 005924
	cur := auth.TOTPStep(now)
	code := func(step int64) string {
		c, err := auth.TOTPCode(rfcSecret, step)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		code     string
		wantOK   bool
		wantStep int64
	}{
		{"Current", code(cur), true, cur},
		{"CurrentWithSpaces", " 005 924 ", true, cur},
		{"PreviousStep", code(cur - 1), true, cur - 1},
		{"NextStep", code(cur + 1), true, cur + 1},
		{"TwoStepsBack", code(cur - 2), false, 0},
		{"TwoStepsAhead", code(cur + 2), false, 0},
		{"Wrong", "123456", false, 0},
		{"Empty", "", false, 0},
		{"FiveDigits", "05924", false, 0},
		{"SevenDigits", "0005924", false, 0},
		{"Letters", "00592a", false, 0},
		{"EightDigits", "89005924", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ok, err := auth.MatchTOTP(rfcSecret, tc.code, now)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || (ok && step != tc.wantStep) {
				t.Errorf("MatchTOTP(%q) = step %d, %v; want step %d, %v", tc.code, step, ok, tc.wantStep, tc.wantOK)
			}
		})
	}
	t.Run("ErrBadSecret", func(t *testing.T) {
		if _, _, err := auth.MatchTOTP("not base32!", "123456", now); err == nil {
			t.Fatal("want an error for a secret that is not base32")
		}
	})
}

func TestNewTOTP(t *testing.T) {
	e, err := auth.NewTOTP("Chorus", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil {
		t.Fatalf("secret %q is not base32: %v", e.Secret, err)
	}
	if len(raw) != 20 {
		t.Errorf("secret is %d bytes, want 20", len(raw))
	}
	if got := strings.ReplaceAll(e.ManualSecret, " ", ""); got != e.Secret {
		t.Errorf("manual secret %q does not spell the secret %q", e.ManualSecret, e.Secret)
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("secret") != e.Secret || q.Get("issuer") != "Chorus" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("url = %s", e.URL)
	}
	if !strings.Contains(u.Path, "ada@example.com") {
		t.Errorf("url path %q does not name the account", u.Path)
	}
	b64, ok := strings.CutPrefix(e.QRCode, "data:image/png;base64,")
	if !ok {
		t.Fatalf("qr code is not a PNG data URL: %.40s…", e.QRCode)
	}
	pngBytes, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(strings.NewReader(string(pngBytes)))
	if err != nil {
		t.Fatalf("qr code: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Errorf("qr code is %v, want 256x256", b)
	}
	again, err := auth.NewTOTP("Chorus", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if again.Secret == e.Secret {
		t.Error("two enrolments got the same secret")
	}
}
