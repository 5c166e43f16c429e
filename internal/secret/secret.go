// Package secret seals small secrets (provider credentials, TOTP seeds) at
// rest with AES-256-GCM under one key that the operator supplies through the
// environment or a key file.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a sealing key in bytes (AES-256).
const KeySize = 32

// version1 prefixes every sealed value: version1 || nonce || ciphertext+tag.
// A new format (another cipher, a key ID for rotation) takes a new byte.
const version1 byte = 1

// ErrOpen is returned by Open when a sealed value cannot be decrypted: the
// key is wrong, the associated data differs, or the bytes were altered.
var ErrOpen = errors.New("secret: message authentication failed (wrong key, wrong associated data, or tampered value)")

// Sealer encrypts and authenticates values with one AES-256-GCM key. It is
// safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext under a fresh random nonce and binds it to
// associatedData, which must be given again to Open. Binding a value to where
// it is stored (for example a row ID) stops a sealed value from being copied
// to another row and opened there.
func (s *Sealer) Seal(plaintext, associatedData []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = version1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("secret: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:1+ns], plaintext, associatedData), nil // #nosec G407 -- the nonce is read from crypto/rand into out[1:] just above; gosec mistakes the slice for a constant
}

// Open decrypts a value produced by Seal with the same associatedData. Any
// failure to authenticate is reported as ErrOpen.
func (s *Sealer) Open(ciphertext, associatedData []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(ciphertext) < 1+ns+s.aead.Overhead() {
		return nil, fmt.Errorf("secret: sealed value is too short (%d bytes)", len(ciphertext))
	}
	if ciphertext[0] != version1 {
		return nil, fmt.Errorf("secret: unknown sealed value version %d", ciphertext[0])
	}
	pt, err := s.aead.Open(nil, ciphertext[1:1+ns], ciphertext[1+ns:], associatedData)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// GenerateKey returns a new random key, base64 (standard) encoded.
func GenerateKey() string {
	key := make([]byte, KeySize)
	rand.Read(key) // never returns an error; crashes the program if the system has no randomness
	return base64.StdEncoding.EncodeToString(key)
}

// LoadKey returns the sealing key from envValue (the CHORUS_SECRET_KEY value)
// or, when that is empty, from the file at filePath. The key is 32 bytes,
// base64 (standard or URL alphabet, padded or not) or hex encoded;
// surrounding whitespace is ignored. With neither set it returns nil and no
// error. A missing file is an error that wraps fs.ErrNotExist, so a caller
// may create one with CreateKeyFile.
func LoadKey(envValue, filePath string) ([]byte, error) {
	if v := strings.TrimSpace(envValue); v != "" {
		return decodeKey("CHORUS_SECRET_KEY", v)
	}
	if filePath == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filePath) // #nosec G304 -- the key file the operator configured (secret_key_file / data_dir)
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return nil, fmt.Errorf("secret key file %s is empty", filePath)
	}
	return decodeKey("secret key file "+filePath, v)
}

// CreateKeyFile writes a new key to path, readable by the owner only, and
// returns it. It fails if the file exists, so a key that sealed data is never
// overwritten.
func CreateKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the key file the operator configured (secret_key_file / data_dir)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create secret key file: %s already exists", path)
		}
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	enc := GenerateKey()
	if _, err := f.WriteString(enc + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	return base64.StdEncoding.DecodeString(enc)
}

// decodeKey decodes hex or base64 and checks the length. source names where
// the value came from, for the error message.
func decodeKey(source, v string) ([]byte, error) {
	// An even-length string of hex digits is hex: a base64 encoding of 32
	// bytes is 43 or 44 characters, odd or padded, so the two cannot clash.
	var key []byte
	if b, err := hex.DecodeString(v); err == nil {
		key = b
	} else {
		for _, enc := range []*base64.Encoding{
			base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
		} {
			if b, err := enc.DecodeString(v); err == nil {
				key = b
				break
			}
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%s must be %d bytes, base64 or hex encoded; it is neither valid base64 nor hex", source, KeySize)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%s must be %d bytes, base64 or hex encoded; got %d bytes", source, KeySize, len(key))
	}
	return key, nil
}
