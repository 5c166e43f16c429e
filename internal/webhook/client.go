package webhook

import (
	"net/http"
	"time"

	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/netguard"
)

// newClient returns the client webhooks are sent with: no redirects (a
// redirect could lead anywhere), and no connections to the addresses
// netguard forbids — nor, unless allowed, to loopback and private ones —
// checked on the address actually dialled, after DNS, so a name cannot
// point the gateway into its own network.
func newClient(c config.Webhook) *http.Client {
	policy := netguard.Policy{AllowPrivate: c.AllowPrivate, Setting: "billing.webhook.allow_private"}
	tr := &http.Transport{DialContext: policy.Dialer(c.Timeout).DialContext, TLSHandshakeTimeout: c.Timeout,
		ResponseHeaderTimeout: c.Timeout, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &http.Client{Transport: tr, Timeout: c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
