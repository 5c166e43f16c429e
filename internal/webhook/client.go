package webhook

import (
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

// newClient returns the client webhooks are sent with: no redirects (a
// redirect could lead anywhere), and, unless allowed, no connections to
// loopback, private, link-local or unspecified addresses — checked on the
// address actually dialled, after DNS, so a name cannot point the gateway
// into its own network.
func newClient(c config.Webhook) *http.Client {
	dialer := &net.Dialer{Timeout: c.Timeout}
	if !c.AllowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || !publicIP(ip) {
				return fmt.Errorf("webhook address %s is not a public address (billing.webhook.allow_private)", host)
			}
			return nil
		}
	}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: c.Timeout,
		ResponseHeaderTimeout: c.Timeout, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &http.Client{Transport: tr, Timeout: c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// publicIP reports whether ip is a global unicast address outside the
// private ranges.
func publicIP(ip net.IP) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!(ip.To4() != nil && ip.To4()[0] == 100 && ip.To4()[1]&0xc0 == 64) // 100.64.0.0/10, carrier-grade NAT
}
