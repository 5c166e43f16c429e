package auth

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"golang.org/x/text/unicode/norm"
)

// Password length bounds, in characters. The maximum keeps argon2id's
// input (and the bytes a login request makes us hash) bounded: 256
// characters are at most 1024 bytes, MaxPasswordLength.
const (
	DefaultMinPasswordLength = 12
	MinPasswordLengthFloor   = 8 // NIST SP 800-63B: never fewer
	MaxPasswordChars         = 256
)

// commonPasswordsGz is the 30,000 most common passwords (zxcvbn's list;
// see common-passwords.NOTICE for its source and licence).
//
//go:embed common-passwords.txt.gz
var commonPasswordsGz []byte

// commonPasswords is the decompressed list as a set, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		panic("auth: embedded common password list: " + err.Error())
	}
	set := make(map[string]struct{}, 30000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			set[strings.ToLower(w)] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		panic("auth: embedded common password list: " + err.Error())
	}
	return set
})

// CommonPasswordCount returns how many passwords the common list holds.
func CommonPasswordCount() int { return len(commonPasswords()) }

// NormalizePassword returns the form of a password that is checked, hashed
// and verified: its NFKC normalisation (NIST SP 800-63B §5.1.1.2), so that
// the same password typed on keyboards or systems that compose characters
// differently still matches. ASCII passwords are unchanged.
func NormalizePassword(pw string) string {
	for i := 0; i < len(pw); i++ {
		if pw[i] >= utf8.RuneSelf {
			return norm.NFKC.String(pw)
		}
	}
	return pw
}

// PasswordPolicy is what a new password must satisfy.
type PasswordPolicy struct {
	MinLength int // characters; DefaultMinPasswordLength when 0
}

// Check validates a new (normalised) password: MinLength to
// MaxPasswordChars characters, valid UTF-8 without control characters,
// not one character repeated, not one of the most common passwords and
// not the user's own email, its local part or their name (all compared
// case-insensitively). personal lists those. Errors are EINVALID about
// param and say what to change, never echo the password.
func (p PasswordPolicy) Check(param, pw string, personal ...string) error {
	min := p.MinLength
	if min <= 0 {
		min = DefaultMinPasswordLength
	}
	if !utf8.ValidString(pw) {
		return chorus.Invalid(param, "%s must be valid UTF-8", param)
	}
	n := utf8.RuneCountInString(pw)
	switch {
	case n == 0:
		return chorus.Invalid(param, "%s is required", param)
	case n < min:
		return chorus.Invalid(param, "%s must be at least %d characters long", param, min)
	case n > MaxPasswordChars || len(pw) > MaxPasswordLength:
		return chorus.Invalid(param, "%s must be at most %d characters long", param, MaxPasswordChars)
	}
	for _, r := range pw {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return chorus.Invalid(param, "%s must not contain control characters", param)
		}
	}
	lower := strings.ToLower(pw)
	if first, _ := utf8.DecodeRuneInString(lower); strings.Trim(lower, string(first)) == "" {
		return chorus.Invalid(param, "%s must not be one character repeated", param)
	}
	if _, ok := commonPasswords()[lower]; ok {
		return chorus.Invalid(param, "%s is one of the most commonly used passwords; choose another", param)
	}
	for _, s := range personal {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		local, _, isEmail := strings.Cut(s, "@")
		if lower == s || (isEmail && lower == local) {
			return chorus.Invalid(param, "%s must not be your email address or your name", param)
		}
	}
	return nil
}
