package auth

import (
	"crypto/rand"
	"crypto/sha256"
)

// KeyPrefix starts every Chorus API key, so leaked keys are easy to find
// with secret scanners.
const KeyPrefix = "sk-chorus-"

// keyAlphabet is base62: safe in headers, URLs and shells.
const keyAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewAPIKey returns a new random key secret (190 bits of entropy), its
// visible prefix and the SHA-256 hash that is stored instead of it.
func NewAPIKey() (secret, prefix string, hash []byte) {
	secret = KeyPrefix + RandomString(keyAlphabet, 32)
	h := sha256.Sum256([]byte(secret))
	return secret, secret[:len(KeyPrefix)+4], h[:]
}

// passwordAlphabet leaves out the characters people confuse (0/O, 1/l/I).
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// NewPassword returns a random password of 20 characters from an
// unambiguous alphabet (about 116 bits): the bootstrap admin's and the
// command line's new passwords.
func NewPassword() string { return RandomString(passwordAlphabet, 20) }

// RandomString returns n characters drawn uniformly from alphabet (at most
// 256 characters) with crypto/rand: bytes at or above the largest multiple
// of len(alphabet) are rejected, so there is no modulo bias.
func RandomString(alphabet string, n int) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic("crypto/rand failed: " + err.Error()) // the OS has no entropy; nothing is safe
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}
