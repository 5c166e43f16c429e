package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// metadataNames are the host names of cloud metadata services (GCP's, and
// the names AWS and others resolve to theirs). They resolve to forbidden
// addresses, which Control refuses anyway; naming them here refuses them
// when the URL is saved, with a clear message.
var metadataNames = map[string]bool{
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"metadata":                   true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
}

// CheckURL checks, resolving nothing, a URL Chorus will send requests to:
// http or https, a host, no user information (user:password@, or
// host@otherhost, which reads as one host and dials the other), and a host
// that is neither a metadata service's name nor, in any spelling
// (ParseHost), an address p does not allow. "localhost" and names under
// .localhost count as loopback. Any other name is left to Control, which
// sees what it resolves to when it is dialled.
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an http:// or https:// URL, got scheme %q", u.Scheme)
	}
	if u.User != nil {
		return errors.New("must not contain user information (user:password@ or name@ before the host); put secrets in a credential")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("must name a host")
	}
	if ip, ok := ParseHost(host); ok {
		return p.Check(ip)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if metadataNames[name] {
		return fmt.Errorf("%w: %s is a cloud metadata service, which Chorus never connects to", ErrRefused, host)
	}
	if (name == "localhost" || strings.HasSuffix(name, ".localhost")) && !p.AllowPrivate {
		return fmt.Errorf("%w: %s is a loopback name; allow private networks with %s", ErrRefused, host, p.setting())
	}
	return nil
}

// ParseHost returns the address host stands for when it is an IP literal
// in any spelling a dialler may accept: IPv6 (a zone is kept), and IPv4 as
// the C library's inet_aton reads it — one to four parts, each decimal,
// octal (leading 0) or hexadecimal (0x), the last filling the bytes left:
// 2852039166, 0xa9fea9fe, 0251.0376.0251.0376 and 169.254.43518 are all
// 169.254.169.254. Go's own resolver dials only the dotted-decimal form, but
// a binary built with cgo resolves the others through the C library, so all
// are addresses here. A trailing dot is ignored.
func ParseHost(host string) (netip.Addr, bool) {
	host = strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true
	}
	return parseInetAton(host)
}

// parseInetAton reads an IPv4 address as inet_aton does.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var x uint64
	for i, part := range parts {
		v, ok := parseAtonPart(part)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if v > 0xff {
				return netip.Addr{}, false
			}
			x |= v << (8 * (3 - i))
			continue
		}
		if v >= 1<<(8*(4-i)) { // the last part fills the 4-i bytes left
			return netip.Addr{}, false
		}
		x |= v
	}
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), true
}

// parseAtonPart reads one part of an inet_aton address: decimal, octal
// with a leading 0, or hexadecimal with 0x.
func parseAtonPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(p) > 1 && (p[1] == 'x' || p[1] == 'X') && p[0] == '0':
		base, p = 16, p[2:]
		if p == "" {
			return 0, true // "0x" is 0 to inet_aton
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	v, err := strconv.ParseUint(p, base, 32)
	return v, err == nil
}
