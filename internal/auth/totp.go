package auth

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238 with HMAC-SHA-1, 6 digits and 30-second steps,
// the only combination every authenticator app supports.
const (
	TOTPPeriod = 30 * time.Second
	TOTPDigits = 6
	// TOTPSkew is how many steps before and after the current one are
	// accepted, for clocks that drift and codes typed as they roll over.
	TOTPSkew = 1
	// totpSecretSize is the secret's length in bytes: 160 bits, the size of
	// a SHA-1 output, as RFC 4226 recommends.
	totpSecretSize = 20
	// qrSize is the QR code's width and height in pixels.
	qrSize = 256
)

// TOTPEnrolment is a freshly generated TOTP secret with the three ways of
// handing it to an authenticator app.
type TOTPEnrolment struct {
	// Secret is the base32 secret (no padding), what is stored sealed.
	Secret string
	// URL is the otpauth:// URL that the QR code encodes.
	URL string
	// ManualSecret is Secret in groups of four, for typing it in.
	ManualSecret string
	// QRCode is the URL as a QR code, a PNG data URL
	// ("data:image/png;base64,…") ready for an <img src>.
	QRCode string
}

// NewTOTP generates a random TOTP secret for account (the user's email)
// under issuer (the name the authenticator app shows).
func NewTOTP(issuer, account string) (*TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: uint(TOTPPeriod / time.Second),
		SecretSize: totpSecretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	return &TOTPEnrolment{
		Secret:       key.Secret(),
		URL:          key.URL(),
		ManualSecret: group(key.Secret(), 4, " "),
		QRCode:       "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// TOTPStep returns the RFC 6238 time step of t: the number of whole
// periods since the Unix epoch.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCode returns the 6-digit code of the base32 secret at step.
func TOTPCode(secret string, step int64) (string, error) {
	if step < 0 {
		return "", errors.New("totp: negative step")
	}
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// MatchTOTP checks code against the secret's codes for the step of now and
// the TOTPSkew steps on either side, and returns the step it matched. Every
// candidate is computed and compared in constant time, whatever matches,
// so the timing tells nothing about which step (or digit) was right.
// Spaces in code are ignored; anything but 6 digits never matches.
//
// The caller must still refuse a step it has accepted before (replay):
// see the store's conditional update of the user's last step.
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool, err error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	valid := len(code) == TOTPDigits && strings.Trim(code, "0123456789") == ""
	if !valid {
		code = strings.Repeat("x", TOTPDigits) // compare anyway: same work for every input
	}
	cur := TOTPStep(now)
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		want, err := TOTPCode(secret, s)
		if err != nil {
			return 0, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok && valid, nil
}

// group splits s into groups of n joined by sep ("ABCD EFGH …").
func group(s string, n int, sep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}
