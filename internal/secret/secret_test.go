package secret_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/secret"
)

func mustSealer(tb testing.TB, key []byte) *secret.Sealer {
	tb.Helper()
	s, err := secret.NewSealer(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secret.KeySize) }

func TestSealer(t *testing.T) {
	s := mustSealer(t, key(1))
	plain := []byte("sk-live-abcdefghijklmnop")
	ad := []byte("credential/7")

	t.Run("RoundTrip", func(t *testing.T) {
		sealed, err := s.Seal(plain, ad)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, plain) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed, ad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("got %q, want %q", got, plain)
		}
	})
	t.Run("FreshNonce", func(t *testing.T) {
		a, _ := s.Seal(plain, ad)
		b, _ := s.Seal(plain, ad)
		if bytes.Equal(a, b) {
			t.Fatal("two seals of the same plaintext are equal")
		}
	})
	t.Run("Empty", func(t *testing.T) {
		sealed, err := s.Seal(nil, ad)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Open(sealed, ad)
		if err != nil || len(got) != 0 {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("ErrTampered", func(t *testing.T) {
		sealed, _ := s.Seal(plain, ad)
		for i := 1; i < len(sealed); i++ {
			c := bytes.Clone(sealed)
			c[i] ^= 0x01
			if _, err := s.Open(c, ad); !errors.Is(err, secret.ErrOpen) {
				t.Fatalf("flip byte %d: got %v, want ErrOpen", i, err)
			}
		}
		if _, err := s.Open(sealed[:len(sealed)-1], ad); err == nil {
			t.Fatal("truncated value opened")
		}
		if _, err := s.Open(sealed[:5], ad); err == nil {
			t.Fatal("short value opened")
		}
	})
	t.Run("ErrVersion", func(t *testing.T) {
		sealed, _ := s.Seal(plain, ad)
		sealed[0] = 9
		if _, err := s.Open(sealed, ad); err == nil || !strings.Contains(err.Error(), "version 9") {
			t.Fatalf("got %v, want unknown version", err)
		}
	})
	t.Run("ErrWrongAD", func(t *testing.T) {
		sealed, _ := s.Seal(plain, ad)
		if _, err := s.Open(sealed, []byte("credential/8")); !errors.Is(err, secret.ErrOpen) {
			t.Fatalf("got %v, want ErrOpen", err)
		}
	})
	t.Run("ErrWrongKey", func(t *testing.T) {
		sealed, _ := s.Seal(plain, ad)
		other := mustSealer(t, key(2))
		if _, err := other.Open(sealed, ad); !errors.Is(err, secret.ErrOpen) {
			t.Fatalf("got %v, want ErrOpen", err)
		}
	})
	t.Run("ErrKeySize", func(t *testing.T) {
		if _, err := secret.NewSealer(make([]byte, 16)); err == nil {
			t.Fatal("16-byte key accepted")
		}
	})
}

func TestLoadKey(t *testing.T) {
	raw := make([]byte, secret.KeySize)
	for i := range raw {
		raw[i] = byte(250 - i) // includes bytes that differ between the std and URL alphabets
	}
	tests := []struct {
		name    string
		env     string
		want    []byte
		wantErr string
	}{
		{"Hex", hex.EncodeToString(raw), raw, ""},
		{"HexUpper", strings.ToUpper(hex.EncodeToString(raw)), raw, ""},
		{"Base64Std", base64.StdEncoding.EncodeToString(raw), raw, ""},
		{"Base64RawStd", base64.RawStdEncoding.EncodeToString(raw), raw, ""},
		{"Base64URL", base64.URLEncoding.EncodeToString(raw), raw, ""},
		{"Base64RawURL", base64.RawURLEncoding.EncodeToString(raw), raw, ""},
		{"Whitespace", "  " + base64.StdEncoding.EncodeToString(raw) + "\n", raw, ""},
		{"ErrShort", base64.StdEncoding.EncodeToString(raw[:16]), nil,
			"CHORUS_SECRET_KEY must be 32 bytes, base64 or hex encoded; got 16 bytes"},
		{"ErrShortHex", hex.EncodeToString(raw[:31]), nil, "got 31 bytes"},
		{"ErrGarbage", "not a key!", nil, "neither valid base64 nor hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secret.LoadKey(tt.env, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %x, want %x", got, tt.want)
			}
		})
	}

	t.Run("Unset", func(t *testing.T) {
		got, err := secret.LoadKey("", "")
		if got != nil || err != nil {
			t.Fatalf("got %x, %v; want nil, nil", got, err)
		}
	})
	t.Run("File", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secret.key")
		if err := os.WriteFile(path, []byte(hex.EncodeToString(raw)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := secret.LoadKey("", path)
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("got %x, %v", got, err)
		}
	})
	t.Run("EnvWinsOverFile", func(t *testing.T) {
		got, err := secret.LoadKey(base64.StdEncoding.EncodeToString(raw), filepath.Join(t.TempDir(), "absent"))
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("got %x, %v", got, err)
		}
	})
	t.Run("ErrFileMissing", func(t *testing.T) {
		_, err := secret.LoadKey("", filepath.Join(t.TempDir(), "absent"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("ErrFileBad", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secret.key")
		os.WriteFile(path, []byte("c2hvcnQ="), 0o600)
		_, err := secret.LoadKey("", path)
		if err == nil || !strings.Contains(err.Error(), "secret key file "+path+" must be 32 bytes") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestGenerateKey(t *testing.T) {
	a, b := secret.GenerateKey(), secret.GenerateKey()
	if a == b {
		t.Fatal("two generated keys are equal")
	}
	k, err := secret.LoadKey(a, "")
	if err != nil {
		t.Fatal(err)
	}
	mustSealer(t, k)
}

func TestCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k, err := secret.CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), fs.FileMode(0o600); got != want {
		t.Errorf("mode: got %v, want %v", got, want)
	}
	loaded, err := secret.LoadKey("", path)
	if err != nil || !bytes.Equal(loaded, k) {
		t.Fatalf("loaded %x, %v; want %x", loaded, err, k)
	}
	if _, err := secret.CreateKeyFile(path); err == nil {
		t.Fatal("CreateKeyFile overwrote an existing key")
	}
}
