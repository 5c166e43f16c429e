package auth_test

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/chorusgw/chorus/internal/auth"
)

func TestNewBackupCodes(t *testing.T) {
	codes, hashes := auth.NewBackupCodes()
	if len(codes) != auth.BackupCodeCount || len(hashes) != auth.BackupCodeCount {
		t.Fatalf("got %d codes and %d hashes, want %d", len(codes), len(hashes), auth.BackupCodeCount)
	}
	format := regexp.MustCompile(`^[A-Z2-7]{5}-[A-Z2-7]{5}$`)
	seen := map[string]bool{}
	for i, c := range codes {
		if !format.MatchString(c) {
			t.Errorf("code %q is not XXXXX-XXXXX base32", c)
		}
		if seen[c] {
			t.Errorf("code %q twice", c)
		}
		seen[c] = true
		if !bytes.Equal(hashes[i], auth.HashBackupCode(c)) {
			t.Errorf("hash %d is not HashBackupCode(%q)", i, c)
		}
		if bytes.Contains(hashes[i], []byte(c[:5])) {
			t.Errorf("hash %d contains the code", i)
		}
	}
}

func TestNormalizeBackupCode(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"AsShown", "ABCDE-FGHIJ", "ABCDEFGHIJ", true},
		{"LowerCaseNoHyphen", "abcdefghij", "ABCDEFGHIJ", true},
		{"Spaces", " abcde fghij ", "ABCDEFGHIJ", true},
		{"ElevenCharacters", "0B1D8-234567", "", false},
		{"MistakenDigits", "0B1D8-23456", "OBIDB23456", true},
		{"TooShort", "ABCDE-FGHI", "", false},
		{"TooLong", "ABCDE-FGHIJK", "", false},
		{"NotBase32", "ABCDE-FGH9J", "", false},
		{"Punctuation", "ABCDE.FGHIJ", "", false},
		{"Unicode", "ABCDE-FGHİJ", "", false},
		{"Empty", "", "", false},
		{"Huge", string(bytes.Repeat([]byte("A"), 1<<16)), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := auth.NormalizeBackupCode(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("NormalizeBackupCode(%.20q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
	t.Run("HashIgnoresFormatting", func(t *testing.T) {
		if !bytes.Equal(auth.HashBackupCode("abcde fghij"), auth.HashBackupCode("ABCDE-FGHIJ")) {
			t.Error("the same code typed differently hashes differently")
		}
		if bytes.Equal(auth.HashBackupCode("ABCDE-FGHIJ"), auth.HashBackupCode("ABCDE-FGHIK")) {
			t.Error("different codes hash the same")
		}
	})
}
