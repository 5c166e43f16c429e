package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// KeyPrefix starts every Chorus API key, so leaked keys are easy to find
// with secret scanners.
const KeyPrefix = "sk-chorus-"

// keyAlphabet is base62: safe in headers, URLs and shells.
const keyAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewAPIKey returns a new random key secret (190 bits of entropy), its
// visible prefix and the SHA-256 hash that is stored instead of it.
func NewAPIKey() (secret, prefix string, hash []byte) {
	var b strings.Builder
	b.WriteString(KeyPrefix)
	// 32 characters drawn without modulo bias: 62*4 = 248 < 256, reject the rest.
	buf := make([]byte, 64)
	for n := 0; n < 32; {
		if _, err := rand.Read(buf); err != nil {
			panic("crypto/rand failed: " + err.Error()) // the OS has no entropy; nothing is safe
		}
		for _, c := range buf {
			if c < 248 && n < 32 {
				b.WriteByte(keyAlphabet[c%62])
				n++
			}
		}
	}
	secret = b.String()
	h := sha256.Sum256([]byte(secret))
	return secret, secret[:len(KeyPrefix)+4], h[:]
}
