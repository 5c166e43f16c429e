package auth_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/auth"
)

func TestNewAPIKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		secret, prefix, hash := auth.NewAPIKey()
		if len(secret) != len(auth.KeyPrefix)+32 || !strings.HasPrefix(secret, auth.KeyPrefix) || !strings.HasPrefix(secret, prefix) {
			t.Fatalf("key %q (prefix %q): want %q and 32 characters", secret, prefix, auth.KeyPrefix)
		}
		if h := sha256.Sum256([]byte(secret)); string(h[:]) != string(hash) {
			t.Fatal("hash is not the secret's SHA-256")
		}
		if seen[secret] {
			t.Fatal("the same key twice")
		}
		seen[secret] = true
	}
}

// TestRandomString: every character comes from the alphabet, and each
// appears about equally often (no modulo bias: with 62 letters a biased
// draw gives the first 8 letters 5/4 of the others' share).
func TestRandomString(t *testing.T) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const n = 620_000
	counts := map[byte]int{}
	s := auth.RandomString(alphabet, n)
	if len(s) != n {
		t.Fatalf("length %d, want %d", len(s), n)
	}
	for i := range len(s) {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			t.Fatalf("character %q is not in the alphabet", s[i])
		}
		counts[s[i]]++
	}
	for c, k := range counts { // expected 10,000 each; sd ≈ 100
		if k < 9_400 || k > 10_600 {
			t.Errorf("%q drawn %d times, want about 10,000", c, k)
		}
	}
	if p := auth.NewPassword(); len(p) != 20 || strings.ContainsAny(p, "0O1lI") {
		t.Errorf("password %q: want 20 unambiguous characters", p)
	}
}
