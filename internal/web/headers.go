package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
)

// newNonce returns 128 random bits, base64: a CSP nonce.
func newNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// contentSecurityPolicy is the policy of the app's page. Scripts run only
// with the response's nonce, and what they load ('strict-dynamic': the
// route chunks); styles are the built stylesheet and nonced <style>
// elements (Radix's scroll lock); nothing inline without the nonce,
// nothing eval'd, no plugins, no <base>, no framing. Trusted Types leave
// no string-to-script sink open: the app never needs one.
func contentSecurityPolicy(nonce string) string {
	n := "'nonce-" + nonce + "'"
	return strings.Join([]string{
		"default-src 'self'",
		"script-src " + n + " 'strict-dynamic'",
		"style-src 'self' " + n,
		"img-src 'self' data:", // the MFA QR code is a PNG data URL
		"font-src 'self'",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"frame-ancestors 'none'",
		"form-action 'self'",
		"require-trusted-types-for 'script'",
		"trusted-types 'none'",
	}, "; ")
}

// fallbackPolicy is the policy of every other answer (assets, errors):
// nothing in them may run or be framed.
const fallbackPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// permissionsPolicy turns off the powerful features the console never uses.
const permissionsPolicy = "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), " +
	"gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), payment=(), publickey-credentials-get=(), " +
	"serial=(), usb=(), xr-spatial-tracking=(), browsing-topics=()"

// setSecurityHeaders sets the headers every answer of the handler carries.
// HSTS only over TLS: sent over plain HTTP it would be ignored at best, and
// would lock out a deployment that has no certificate yet at worst.
func setSecurityHeaders(h http.Header, tls bool) {
	h.Set("Content-Security-Policy", fallbackPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // invitation links carry their token in the fragment; send no URL anywhere
	h.Set("Permissions-Policy", permissionsPolicy)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if tls {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}
