package config

import (
	"net/url"
	"strings"
	"time"
)

// The project's own vulnerability reporting, for a gateway whose operator
// names no contact of their own.
const (
	ProjectSecurityContact = "https://github.com/chorusgw/chorus/security/advisories/new"
	ProjectSecurityPolicy  = "https://github.com/chorusgw/chorus/blob/main/SECURITY.md"
)

// Security is what /.well-known/security.txt (RFC 9116) says: whom to tell
// about a vulnerability in this gateway.
type Security struct {
	// Contact is where reports go: "mailto:security@example.com" or an
	// https:// form. Empty: the Chorus project's (ProjectSecurityContact),
	// which suits a flaw in Chorus itself; an operator should name their
	// own, as they alone can fix their deployment.
	Contact string `yaml:"contact"`
	// Policy is the URL of the disclosure policy (default: the project's
	// SECURITY.md).
	Policy string `yaml:"policy"`
	// PreferredLanguages lists the languages reports may be written in
	// (RFC 5646 tags, comma-separated).
	PreferredLanguages string `yaml:"preferred_languages"`
	// ExpiresAfter is how far ahead of each answer its Expires field lies
	// (at most a year, as RFC 9116 recommends); the file is served fresh,
	// so it never goes stale while the gateway runs.
	ExpiresAfter time.Duration `yaml:"expires_after"`
}

// DefaultSecurity is the default security.txt.
func DefaultSecurity() Security {
	return Security{Contact: ProjectSecurityContact, Policy: ProjectSecurityPolicy, PreferredLanguages: "en", ExpiresAfter: 180 * 24 * time.Hour}
}

func (s Security) errors() []error {
	var errs problems
	if !strings.HasPrefix(s.Contact, "mailto:") && !strings.HasPrefix(s.Contact, "tel:") && !httpsURL(s.Contact) {
		errs.add("security.contact", "must be a mailto:, tel: or https:// URI, got %q", s.Contact)
	}
	if !httpsURL(s.Policy) {
		errs.add("security.policy", "must be an https:// URL, got %q", s.Policy)
	}
	if s.PreferredLanguages == "" || strings.ContainsAny(s.PreferredLanguages, "\r\n") {
		errs.add("security.preferred_languages", "must be one line of language tags such as \"en, de\"")
	}
	if s.ExpiresAfter < 24*time.Hour || s.ExpiresAfter > 365*24*time.Hour {
		errs.add("security.expires_after", "must be between 24h and 8760h (a year), got %s", s.ExpiresAfter)
	}
	return errs
}

// httpsURL reports whether s is an absolute https URL with a host and no
// line breaks (it is written into a line-based file).
func httpsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && !strings.ContainsAny(s, "\r\n")
}
