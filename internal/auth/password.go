// Package auth handles who a caller is: users, sessions, passwords, MFA, API
// keys and roles.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes: the first OWASP Password Storage Cheat
// Sheet recommendation (19 MiB of memory, 2 iterations, 1 lane). Hashes made
// with other parameters still verify; NeedsRehash tells when to upgrade one.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on parameters read back from a stored hash, so that a corrupted or
// planted hash cannot make one login attempt take gigabytes or minutes.
const (
	maxArgonMemory  = 1024 * 1024 // KiB (1 GiB)
	maxArgonTime    = 64
	maxArgonThreads = 64
)

// MaxPasswordLength caps passwords at a length no person types, so a
// megabyte-sized "password" is refused before it is hashed.
const MaxPasswordLength = 1024

// ErrMalformedHash is returned by VerifyPassword for a stored hash that is
// not an argon2id PHC string this package understands.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// HashPassword returns an argon2id hash of pw in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, salt and hash in unpadded
// standard base64.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("auth: password is empty")
	}
	if len(pw) > MaxPasswordLength {
		return "", fmt.Errorf("auth: password is longer than %d bytes", MaxPasswordLength)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	p := argonParams{memory: argonMemory, time: argonTime, threads: argonThreads}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, argonKeyLen)
	return p.encode(salt, key), nil
}

// VerifyPassword reports whether pw matches hash, comparing in constant time.
// A wrong password is (false, nil); an error means the stored hash itself is
// unusable.
func VerifyPassword(hash, pw string) (bool, error) {
	p, salt, want, err := decodeHash(hash)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLength {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(len(want))) // #nosec G115 -- decodeHash bounds len(want) to 16..128 bytes
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether hash was made with parameters other than the
// current ones, so that the caller may store a fresh hash after a successful
// login.
func NeedsRehash(hash string) bool {
	p, salt, key, err := decodeHash(hash)
	if err != nil {
		return true
	}
	return p != argonParams{memory: argonMemory, time: argonTime, threads: argonThreads} ||
		len(salt) != argonSaltLen || len(key) != argonKeyLen
}

type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
}

func (p argonParams) encode(salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodeHash parses a PHC argon2id string and checks its parameters.
func decodeHash(hash string) (p argonParams, salt, key []byte, err error) {
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		name, val, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(val, 10, 32)
		if !ok || perr != nil {
			return p, nil, nil, fmt.Errorf("%w: bad parameter %q", ErrMalformedHash, kv)
		}
		switch name {
		case "m":
			p.memory, seen[0] = uint32(n), true
		case "t":
			p.time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return p, nil, nil, fmt.Errorf("%w: bad parameter %q", ErrMalformedHash, kv)
			}
			p.threads, seen[2] = uint8(n), true
		default:
			return p, nil, nil, fmt.Errorf("%w: unknown parameter %q", ErrMalformedHash, kv)
		}
	}
	if seen != [3]bool{true, true, true} {
		return p, nil, nil, fmt.Errorf("%w: missing parameter in %q", ErrMalformedHash, parts[3])
	}
	if p.time < 1 || p.time > maxArgonTime || p.threads < 1 || p.threads > maxArgonThreads ||
		p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemory {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range (%s)", ErrMalformedHash, parts[3])
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, fmt.Errorf("%w: bad hash", ErrMalformedHash)
	}
	return p, salt, key, nil
}
