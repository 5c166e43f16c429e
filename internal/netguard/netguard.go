// Package netguard decides which network addresses Chorus may connect to
// when someone else chose the address: deployments' base URLs (upstreams)
// and budget-alert webhooks. It has one rule, applied twice: when a URL is
// saved (CheckURL: the literal address in any spelling, and the well-known
// metadata names; nothing is resolved), and when a connection is made
// (Control, a net.Dialer hook that sees the address actually dialled, after
// DNS — so a name that resolves to a forbidden address, or is made to later,
// is refused too).
//
// Addresses fall in three classes: public ones are always allowed; private
// ones (loopback, RFC 1918, unique local, carrier-grade NAT) only with an
// opt-in, because on-premises model servers live there; and forbidden ones
// (link-local — where the cloud metadata services answer — unspecified,
// multicast, broadcast and reserved) never. The package imports only the
// standard library.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Class is what the rule says about an address.
type Class int

// The classes of Classify.
const (
	Public    Class = iota // reachable on the internet: allowed
	Private                // loopback, private, unique local, carrier-grade NAT: only with an opt-in
	Forbidden              // link-local and cloud metadata, unspecified, multicast, broadcast, reserved: never
)

// String returns the class's name as error messages use it.
func (c Class) String() string {
	switch c {
	case Public:
		return "public"
	case Private:
		return "private"
	}
	return "forbidden"
}

var (
	// metadataAddrs are cloud metadata services outside the link-local
	// ranges: AWS's IPv6 endpoint and Alibaba Cloud's (in the CGNAT range).
	metadataAddrs = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}
	// privatePrefixes need an opt-in.
	privatePrefixes = []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fec0::/10"),
	}
	// forbiddenPrefixes are never dialled ("this network", link-local,
	// multicast, reserved and broadcast, IPv4-compatible IPv6).
	forbiddenPrefixes = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("::/96"), netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("ff00::/8"),
	}
	// nat64 is the well-known NAT64 prefix: its last 32 bits are an IPv4
	// address a NAT64 gateway connects to.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// Classify returns the class of ip. IPv4-mapped and NAT64 IPv6 addresses
// are classified as the IPv4 address they carry; a zone is ignored.
func Classify(ip netip.Addr) Class {
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return Forbidden
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return Forbidden
		}
	}
	if ip == netip.IPv6Loopback() {
		return Private // inside ::/96, checked first
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return Forbidden
		}
	}
	for _, p := range privatePrefixes {
		if p.Contains(ip) {
			return Private
		}
	}
	return Public
}

// Policy is the rule for one kind of connection: whether private addresses
// are allowed, and the setting that allows them, named in errors.
type Policy struct {
	AllowPrivate bool
	// Setting is what an operator sets to allow private addresses, e.g.
	// "upstreams.allow_private_networks"; it ends the refusal's message.
	Setting string
}

// ErrRefused is what every refusal wraps (errors.Is).
var ErrRefused = errors.New("address refused")

// Check returns an error wrapping ErrRefused when p does not allow ip.
func (p Policy) Check(ip netip.Addr) error {
	switch Classify(ip) {
	case Public:
		return nil
	case Private:
		if p.AllowPrivate {
			return nil
		}
		return fmt.Errorf("%w: %s is a private or loopback address; allow private networks with %s", ErrRefused, ip.WithZone(""), p.setting())
	}
	return fmt.Errorf("%w: %s is a link-local, metadata, unspecified, multicast or reserved address, which Chorus never connects to", ErrRefused, ip.WithZone(""))
}

// setting names the opt-in in a message.
func (p Policy) setting() string {
	if p.Setting == "" {
		return "the private-network setting"
	}
	return p.Setting
}

// Control is a net.Dialer Control function: it refuses, before the
// connection is made, an address p does not allow. address is what the
// dialler is about to connect to, an IP literal and a port.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read dialled address %q: %v", ErrRefused, address, err)
	}
	return p.Check(ap.Addr())
}

// Dialer returns a dialer that connects within timeout, keeps connections
// alive, and refuses what p does not allow.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
}
