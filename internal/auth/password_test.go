package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/auth"
	"golang.org/x/crypto/argon2"
)

func TestHashPassword(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(h) {
		t.Fatalf("hash %q is not the expected PHC string", h)
	}
	h2, _ := auth.HashPassword("correct horse battery staple")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	if auth.NeedsRehash(h) {
		t.Error("NeedsRehash is true for a fresh hash")
	}

	t.Run("ErrEmpty", func(t *testing.T) {
		if _, err := auth.HashPassword(""); err == nil {
			t.Fatal("empty password hashed")
		}
	})
	t.Run("ErrTooLong", func(t *testing.T) {
		if _, err := auth.HashPassword(strings.Repeat("a", auth.MaxPasswordLength+1)); err == nil {
			t.Fatal("over-long password hashed")
		}
	})
}

func TestVerifyPassword(t *testing.T) {
	h, err := auth.HashPassword("hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"OK", "hunter2hunter2", true},
		{"Wrong", "hunter2hunter3", false},
		{"Prefix", "hunter2hunter", false},
		{"Empty", "", false},
		{"Case", "HUNTER2HUNTER2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.VerifyPassword(h, tt.pw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestVerifyPasswordOtherParams checks that parameters are read from the
// stored hash, not assumed, and that such a hash wants rehashing.
func TestVerifyPasswordOtherParams(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("pw"), salt, 1, 8192, 2, 32)
	b64 := base64.RawStdEncoding
	h := fmt.Sprintf("$argon2id$v=19$m=8192,t=1,p=2$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	ok, err := auth.VerifyPassword(h, "pw")
	if err != nil || !ok {
		t.Fatalf("got %v, %v; want true, nil", ok, err)
	}
	if !auth.NeedsRehash(h) {
		t.Error("NeedsRehash is false for old parameters")
	}
}

// TestVerifyPasswordVector pins the format: a hash computed once and stored
// must keep verifying.
func TestVerifyPasswordVector(t *testing.T) {
	const h = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$T95q7S205tf9WI4HhYOZDIQmMMAbntacGXTIku0gXT8"
	ok, err := auth.VerifyPassword(h, "password")
	if err != nil || !ok {
		t.Fatalf("got %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good, _ := auth.HashPassword("pw-pw-pw")
	parts := strings.Split(good, "$")
	tests := []struct{ name, hash string }{
		{"Empty", ""},
		{"Bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"Argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"Version", strings.Replace(good, "v=19", "v=16", 1)},
		{"MissingParam", strings.Join([]string{"", parts[1], parts[2], "m=19456,t=2", parts[4], parts[5]}, "$")},
		{"UnknownParam", strings.Join([]string{"", parts[1], parts[2], "m=19456,t=2,p=1,x=1", parts[4], parts[5]}, "$")},
		{"HugeMemory", strings.Join([]string{"", parts[1], parts[2], "m=4194304,t=2,p=1", parts[4], parts[5]}, "$")},
		{"ZeroTime", strings.Join([]string{"", parts[1], parts[2], "m=19456,t=0,p=1", parts[4], parts[5]}, "$")},
		{"BadSalt", strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$")},
		{"ShortHash", strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$")},
		{"ExtraField", good + "$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := auth.VerifyPassword(tt.hash, "pw-pw-pw")
			if ok || !errors.Is(err, auth.ErrMalformedHash) {
				t.Fatalf("got %v, %v; want false, ErrMalformedHash", ok, err)
			}
			if !auth.NeedsRehash(tt.hash) {
				t.Error("NeedsRehash is false for a malformed hash")
			}
		})
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := auth.HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
