package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// BackupCodeCount is how many backup codes a user gets at a time.
const BackupCodeCount = 10

// backupCodeLen is a backup code's length in base32 characters: 50 bits,
// plenty for a single-use code whose guesses are throttled.
const backupCodeLen = 10

// NewBackupCodes returns BackupCodeCount random backup codes, formatted for
// display ("ABCDE-FGHIJ"), and the hashes to store (HashBackupCode of each).
func NewBackupCodes() (codes []string, hashes [][]byte) {
	for range BackupCodeCount {
		var b [(backupCodeLen*5 + 7) / 8]byte // 7 bytes: 56 bits, of which the first 50 are used
		rand.Read(b[:])
		raw := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:backupCodeLen]
		codes = append(codes, raw[:5]+"-"+raw[5:])
		hashes = append(hashes, HashBackupCode(raw))
	}
	return codes, hashes
}

// NormalizeBackupCode returns the code as generated, without the hyphen,
// upper case, with spaces and hyphens dropped and the digits people mistake
// for letters of the base32 alphabet read as those letters (0 → O, 1 → I,
// 8 → B). ok is false when what remains cannot be a backup code.
func NormalizeBackupCode(s string) (code string, ok bool) {
	if len(s) > 4*backupCodeLen { // bound the work on hostile input
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
		case r == '0':
			b.WriteByte('O')
		case r == '1':
			b.WriteByte('I')
		case r == '8':
			b.WriteByte('B')
		case r >= 'A' && r <= 'Z', r >= '2' && r <= '7':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != backupCodeLen {
		return "", false
	}
	return b.String(), true
}

// HashBackupCode returns the SHA-256 of the normalised code, what the
// database keeps. The codes are random, so a plain hash is enough: there
// is no dictionary to try against it.
func HashBackupCode(code string) []byte {
	if n, ok := NormalizeBackupCode(code); ok {
		code = n
	}
	h := sha256.Sum256([]byte(code))
	return h[:]
}
