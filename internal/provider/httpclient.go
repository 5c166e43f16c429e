package provider

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/chorusgw/chorus/internal/netguard"
	"github.com/chorusgw/chorus/internal/provider/h1"
)

// DefaultConnectTimeout bounds a TCP and TLS connect when ClientOptions
// give none.
const DefaultConnectTimeout = 10 * time.Second

// ClientOptions choose the HTTP client upstream calls go through. Clients
// with equal options are interchangeable, so callers share one per value.
type ClientOptions struct {
	Connect time.Duration // TCP and TLS connect; 0 means DefaultConnectTimeout
	// AllowPrivateNetwork lets the client dial loopback and private
	// addresses (on-premises vLLM, Ollama); see netguard.
	AllowPrivateNetwork bool
}

// NewHTTPClient returns the one kind of client every adapter calls its
// upstream with. It never follows a redirect: the request carries the
// provider's key (Authorization, x-api-key, api-key, x-goog-api-key), and a
// redirect would send it wherever the upstream points; the adapter gets
// the 3xx and reports it (RedirectError). It dials only what netguard
// allows, checked on the address actually dialled, after DNS. It ignores
// HTTP(S)_PROXY: through a proxy, the guard would see the proxy and not the
// upstream. Its connections are pooled for a busy gateway, and it has no
// overall timeout: streams last as long as their request's deadline.
func NewHTTPClient(o ClientOptions) *http.Client {
	if o.Connect <= 0 {
		o.Connect = DefaultConnectTimeout
	}
	policy := netguard.Policy{AllowPrivate: o.AllowPrivateNetwork,
		Setting: "upstreams.allow_private_networks or the deployment's settings.allow_private_network"}
	dial := policy.Dialer(o.Connect).DialContext
	return &http.Client{
		Transport: &transport{
			Transport: &http.Transport{
				DialContext:            dial,
				ForceAttemptHTTP2:      true,
				MaxIdleConns:           4096,
				MaxIdleConnsPerHost:    1024,
				IdleConnTimeout:        90 * time.Second,
				TLSHandshakeTimeout:    o.Connect,
				ExpectContinueTimeout:  time.Second,
				MaxResponseHeaderBytes: 1 << 20,
			},
			h1: &h1.Transport{
				DialContext:            dial,
				MaxIdlePerHost:         1024,
				IdleTimeout:            90 * time.Second,
				MaxResponseHeaderBytes: 1 << 20,
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// transport marks the clients NewHTTPClient makes, which Do may send
// through their transport directly. Plain-HTTP upstreams (vLLM, Ollama, a
// mock) go through h1, which reads and writes on the caller's goroutine;
// TLS ones through net/http, which speaks HTTP/2 with real providers.
type transport struct {
	*http.Transport
	h1 *h1.Transport
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.h1 != nil && req.URL.Scheme == "http" {
		return t.h1.RoundTrip(req)
	}
	return t.Transport.RoundTrip(req)
}

// CloseIdleConnections closes both transports' idle connections.
func (t *transport) CloseIdleConnections() {
	t.Transport.CloseIdleConnections()
	if t.h1 != nil {
		t.h1.CloseIdleConnections()
	}
}

// Do sends req with c, as c.Do(req) does. For a client NewHTTPClient made
// (no redirect followed, no cookie jar, no overall timeout) it calls the
// transport itself: Client.Do would pay on every call for redirect
// bookkeeping these clients never use (a copy of the request's headers and
// a cancel hook, about ten allocations), with the same answer. Errors are
// wrapped in *url.Error as Client.Do wraps them.
func Do(c *http.Client, req *http.Request) (*http.Response, error) {
	t, ok := c.Transport.(*transport)
	if !ok || c.Jar != nil || c.Timeout != 0 {
		return c.Do(req) // #nosec G704 -- the adapter's own upstream URL, checked by netguard at save time and in the dialer
	}
	resp, err := t.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: req.Method[:1] + lower(req.Method[1:]), URL: req.URL.Redacted(), Err: err}
	}
	return resp, nil
}

// lower is strings.ToLower for the ASCII method names, as url.Error's Op
// spells them ("Post").
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Client returns cfg.HTTPClient or, when it is nil, a new client from
// NewHTTPClient (allowing private networks when cfg.AllowPrivateNetwork
// says so). Adapters call it once, in New.
func (cfg *Config) Client() *http.Client {
	if cfg.HTTPClient != nil {
		return cfg.HTTPClient
	}
	return NewHTTPClient(ClientOptions{AllowPrivateNetwork: cfg.AllowPrivateNetwork})
}

// RedirectError returns the error for a 3xx answer, nil for any other
// status. Upstream clients do not follow redirects (NewHTTPClient), so a
// redirect is a misconfigured base URL, or an upstream trying to send the
// provider's key elsewhere: either way the call fails, not retried here,
// and the log has the target.
func RedirectError(kind string, resp *http.Response) *Error {
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return nil
	}
	return &Error{Provider: kind, Status: resp.StatusCode, Type: "redirect",
		Message: fmt.Sprintf("the upstream answered with a redirect (HTTP %d), and Chorus does not follow upstream redirects; set the deployment's base_url to the final address", resp.StatusCode),
		Err:     fmt.Errorf("redirect to %q", resp.Header.Get("Location"))}
}
