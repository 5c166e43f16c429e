package chorus

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ClientError is an error a console reported from the browser (an error
// boundary caught it), kept for admins. Reports are scrubbed of secrets
// before they are stored (Scrub).
type ClientError struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"user_id,omitempty"` // the signed-in reporter, 0 when anonymous
	TeamID    int64     `json:"team_id,omitempty"`
	Message   string    `json:"message"`
	Stack     string    `json:"stack,omitempty"`
	Route     string    `json:"route,omitempty"`      // the page, as the console's router names it
	Release   string    `json:"release,omitempty"`    // the console build
	RequestID string    `json:"request_id,omitempty"` // of the API call that failed, when one did
	UserAgent string    `json:"user_agent,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Bounds of a client error report's fields; longer values are cut.
const (
	MaxClientErrorMessage = 1000
	MaxClientErrorStack   = 8000
	maxClientErrorShort   = 200
)

// ClientErrorFilter narrows ListClientErrors. Zero fields do not filter.
type ClientErrorFilter struct {
	UserID *int64
	Route  string
	Since  time.Time // created_at >= Since
}

// Normalize cuts every field to its bound (on a UTF-8 boundary), removes
// control characters from the one-line fields and scrubs secrets from the
// free text. A report with no message gets one, so nothing is refused:
// the report of a failure must not fail.
func (e *ClientError) Normalize() {
	e.Message = clip(Scrub(oneLine(e.Message)), MaxClientErrorMessage)
	if e.Message == "" {
		e.Message = "(no message)"
	}
	e.Stack = clip(Scrub(e.Stack), MaxClientErrorStack)
	e.Route = clip(Scrub(oneLine(e.Route)), maxClientErrorShort)
	e.Release = clip(oneLine(e.Release), maxClientErrorShort)
	e.RequestID = clip(oneLine(e.RequestID), maxClientErrorShort)
	e.UserAgent = clip(oneLine(e.UserAgent), maxClientErrorShort)
}

// secretPatterns are what Scrub replaces: API keys of Chorus and the
// common providers, bearer tokens, JWTs, credentials in URLs, values of
// key=value or "key": "value" pairs whose name says secret, and long runs
// of hex or base64 (session and CSRF tokens). The replacement keeps what
// says where the secret was.
var secretPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?i)\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}`), "[redacted]"},
	{regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{20,}`), "[redacted]"},
	{regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]+`), "${1}[redacted]"},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*`), "[redacted]"},
	{regexp.MustCompile(`(://[^/\s:@]+:)[^@\s/]+@`), "${1}[redacted]@"},
	{regexp.MustCompile(`(?i)((?:password|passwd|secret|token|csrf|api[_-]?key|authorization|cookie|session)["']?\s*[:=]\s*["']?)[^"'\s,;&}]+`), "${1}[redacted]"},
	{regexp.MustCompile(`\b[A-Za-z0-9+/_\-]{32,}={0,2}`), "[redacted]"},
}

// Scrub replaces secrets in s with [redacted].
func Scrub(s string) string {
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return s
}

// oneLine turns control characters (line breaks included) into spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence, and
// drops invalid UTF-8.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
