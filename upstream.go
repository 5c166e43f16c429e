package chorus

import (
	"strings"

	"github.com/chorusgw/chorus/internal/netguard"
)

// SettingAllowPrivateNetwork is the deployment setting (a boolean) that
// lets Chorus connect to its base URL on a loopback or private address: an
// on-premises vLLM or Ollama. The operator's upstreams.allow_private_networks
// allows it for every deployment.
const SettingAllowPrivateNetwork = "allow_private_network"

// AllowsPrivateNetwork reports whether the deployment's settings let it
// reach loopback and private addresses.
func (d *Deployment) AllowsPrivateNetwork() bool {
	v, _ := d.Settings[SettingAllowPrivateNetwork].(bool)
	return v
}

// CheckNetwork checks the deployment's base URL against the private-network
// opt-in, resolving nothing: a literal loopback or private address (or
// localhost) needs settings.allow_private_network, unless allowAll (the
// operator's upstreams.allow_private_networks) is set. Validate has
// already refused what no setting allows. A name that resolves to such an
// address is refused when it is dialled.
func (d *Deployment) CheckNetwork(allowAll bool) error {
	return validBaseURL(d.BaseURL, netguard.Policy{AllowPrivate: allowAll || d.AllowsPrivateNetwork(),
		Setting: "settings." + SettingAllowPrivateNetwork + ": true (or the operator's upstreams.allow_private_networks)"})
}

// validBaseURL checks a base URL under p (see netguard.Policy.CheckURL):
// an http(s) URL with a host and no user information, not a link-local or
// cloud metadata address in any spelling, nor unspecified, multicast or
// broadcast. An empty URL is the adapter's default, which passes.
func validBaseURL(raw string, p netguard.Policy) error {
	if raw == "" {
		return nil
	}
	if err := p.CheckURL(raw); err != nil {
		return Invalid("base_url", "base_url %v", err)
	}
	return nil
}

// reservedHeaders are the header names a deployment may not set, with why:
// the HTTP client sets them (framing, connection, compression: a wrong one
// breaks or smuggles requests), or they carry the provider key, which
// belongs in a credential — sealed at rest, never shown again, and sent
// only as the adapter sends it.
var reservedHeaders = map[string]string{
	"host":                "is set from base_url",
	"content-length":      "is set by the HTTP client",
	"transfer-encoding":   "is set by the HTTP client",
	"connection":          "is a hop-by-hop header set by the HTTP client",
	"keep-alive":          "is a hop-by-hop header set by the HTTP client",
	"proxy-connection":    "is a hop-by-hop header set by the HTTP client",
	"te":                  "is a hop-by-hop header set by the HTTP client",
	"trailer":             "is a hop-by-hop header set by the HTTP client",
	"upgrade":             "is a hop-by-hop header set by the HTTP client",
	"expect":              "is set by the HTTP client",
	"content-type":        "is set by the adapter",
	"accept-encoding":     "is set by the HTTP client, which decompresses the answer",
	"authorization":       "carries a secret: store it as a credential and set credential_id",
	"proxy-authorization": "carries a secret: store it as a credential and set credential_id",
	"x-api-key":           "carries a secret: store it as a credential and set credential_id",
	"api-key":             "carries a secret: store it as a credential and set credential_id",
	"x-goog-api-key":      "carries a secret: store it as a credential and set credential_id",
}

// validHeaders checks a deployment's extra upstream headers: at most
// maxHeaders, names of letters, digits, - and _ that are not reserved, and
// values without control characters (a CR or LF would start another
// header).
func validHeaders(h map[string]string) error {
	if len(h) > maxHeaders {
		return Invalid("headers", "headers may hold at most %d headers", maxHeaders)
	}
	for k, v := range h {
		if k == "" || len(k) > maxHeaderName || !validHeaderName(k) {
			return Invalid("headers", "header name %q is not a valid HTTP header name (letters, digits, - and _)", k)
		}
		if why, ok := reservedHeaders[strings.ToLower(k)]; ok {
			return Invalid("headers", "header %s may not be set on a deployment: it %s", k, why)
		}
		if len(v) > maxHeaderValue || !validHeaderValue(v) {
			return Invalid("headers", "header %s: the value must be at most %d characters with no control characters (CR, LF, NUL, …)", k, maxHeaderValue)
		}
	}
	return nil
}

// validHeaderName reports whether k is made of letters, digits, - and _.
func validHeaderName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v has no control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
