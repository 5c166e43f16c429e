package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
)

// Prefixes of the bearer secrets other than API keys, so that a leaked one
// says what it is.
const (
	InvitePrefix = "inv_"
)

// NewToken returns a random secret of 256 bits, base64url without padding
// after prefix, and the SHA-256 that is stored instead of it (session
// cookies, CSRF tokens, invitations).
func NewToken(prefix string) (token string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the OS has no entropy; nothing is safe
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken returns the SHA-256 of a token, as stored. The tokens carry
// 256 random bits, so a fast hash suffices: there is nothing to guess.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// dummyHash is an argon2id hash of a random password, made once.
var dummyHash = sync.OnceValue(func() string {
	pw, _ := NewToken("")
	h, err := HashPassword(pw)
	if err != nil {
		panic("auth: dummy hash: " + err.Error())
	}
	return h
})

// VerifyNoUser spends the time of a VerifyPassword against a hash with the
// current parameters and returns false. A login for an unknown email calls
// it so that it takes as long as a wrong password for a real account, and
// response times do not tell which emails have accounts.
func VerifyNoUser(pw string) bool {
	_, _ = VerifyPassword(dummyHash(), pw)
	return false
}
