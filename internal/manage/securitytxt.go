package manage

import (
	"net/http"
	"strings"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

// securityTxt serves GET /.well-known/security.txt (RFC 9116): where to
// report a vulnerability (security.contact), in which languages, under
// which policy, and an Expires computed afresh on every answer (today,
// plus security.expires_after), so the file never goes stale while the
// gateway runs. It is registered on the mux with its own pattern, which
// wins over the console's catch-all "/" (the console would otherwise
// answer it with the app's page).
func (s *Server) securityTxt(w http.ResponseWriter, r *http.Request) {
	sec := s.Security
	def := config.DefaultSecurity()
	if sec.Contact == "" {
		sec.Contact = def.Contact
	}
	if sec.Policy == "" {
		sec.Policy = def.Policy
	}
	if sec.PreferredLanguages == "" {
		sec.PreferredLanguages = def.PreferredLanguages
	}
	if sec.ExpiresAfter <= 0 {
		sec.ExpiresAfter = def.ExpiresAfter
	}
	expires := s.Now().UTC().Truncate(24 * time.Hour).Add(sec.ExpiresAfter)
	var b strings.Builder
	b.WriteString("# How to report a vulnerability in this gateway (RFC 9116).\n")
	b.WriteString("Contact: " + sec.Contact + "\n")
	b.WriteString("Expires: " + expires.Format(time.RFC3339) + "\n")
	b.WriteString("Preferred-Languages: " + sec.PreferredLanguages + "\n")
	b.WriteString("Policy: " + sec.Policy + "\n")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// A day's cache is harmless (Expires is months ahead) and spares the
	// scanners that fetch it.
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte(b.String()))
}
