package auth

import (
	"net/mail"
	"strings"

	"github.com/chorusgw/chorus"
)

// Bounds of an email address (RFC 5321: a path is at most 256 octets with
// its angle brackets, so an address at most 254; a local part at most 64;
// a domain label at most 63).
const (
	MaxEmailLength = 254
	maxLocalPart   = 64
	maxLabel       = 63
)

// NormalizeEmail validates an email address and returns it in the one form
// it is stored and compared in: trimmed and lower-cased. It accepts exactly
// one plain address (name@example.com): no display name, no angle
// brackets, no comments, no quoted local part, no IP-literal domain, and a
// domain of at least two DNS labels.
//
// Addresses must be ASCII. An internationalised address would need IDNA
// (UTS #46) mapping and validation to compare reliably, and its look-alike
// domains are a phishing tool; the error says to use the domain's punycode
// (xn--) form instead, which is accepted. Errors are EINVALID about param.
func NormalizeEmail(param, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", chorus.Invalid(param, "%s is required", param)
	}
	if len(s) > MaxEmailLength {
		return "", chorus.Invalid(param, "%s must be at most %d characters", param, MaxEmailLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return "", chorus.Invalid(param, "%s must be plain ASCII: internationalised addresses are not supported (write the domain in its punycode xn-- form)", param)
		}
		if c < 0x21 || c == 0x7f {
			return "", chorus.Invalid(param, "%s must not contain spaces or control characters", param)
		}
	}
	bad := chorus.Invalid(param, "%s must be one plain email address such as name@example.com", param)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || len(local) > maxLocalPart || strings.ContainsRune(local, '"') {
		return "", bad
	}
	if !validDomain(domain) {
		return "", chorus.Invalid(param, "%s must have a domain name such as example.com", param)
	}
	return strings.ToLower(s), nil
}

// validDomain reports whether d is a DNS name of at least two labels of
// letters, digits and inner hyphens, whose last label is not all digits
// (so not an IP address).
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.Trim(tld, "0123456789") != ""
}
