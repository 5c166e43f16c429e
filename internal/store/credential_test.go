package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/chorusgw/chorus/internal/store"
)

func TestCredentials(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		const plain = "sk-proj-THIS-IS-THE-SECRET-1234"

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			c := &chorus.Credential{Name: "openai-prod", Provider: chorus.ProviderOpenAI, Secret: plain}
			if err := db.CreateCredential(ctx, c); err != nil {
				t.Fatal(err)
			}
			if c.ID == 0 || c.CreatedAt.IsZero() || c.Hint != "1234" {
				t.Fatalf("ID, CreatedAt or Hint not set: %+v", c)
			}
			got, err := db.CredentialByID(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if *got != *c {
				t.Errorf("CredentialByID:\n got %+v\nwant %+v", got, c)
			}
			list, err := db.ListCredentials(ctx, chorus.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].Secret != "" || list[0].Hint != "1234" || list[0].Name != c.Name {
				t.Errorf("ListCredentials: got %+v, want one without its secret", list)
			}
		})

		t.Run("EncryptedAtRest", func(t *testing.T) {
			dsn := b.newDSN(t)
			db := mustOpen(t, dsn)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			c := mustCreateCredential(t, db, "openai", plain)
			raw := rawDB(t, b, dsn)
			var sealed []byte
			if err := raw.QueryRow(`SELECT secret_enc FROM credentials WHERE name = 'openai'`).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if len(sealed) < len(plain)+16 {
				t.Fatalf("stored value is %d bytes: too short to be sealed", len(sealed))
			}
			if bytes.Contains(sealed, []byte(plain)) || bytes.Contains(sealed, []byte("THIS-IS-THE-SECRET")) {
				t.Fatal("the plaintext secret is in the database")
			}
			// And it is what the test key opens, bound to the row's ID.
			s := testSealer(t, testKey)
			pt, err := s.Open(sealed, []byte(fmt.Sprintf("chorus/credential/%d", c.ID)))
			if err != nil || string(pt) != plain {
				t.Fatalf("open stored value: got %q, %v", pt, err)
			}
		})

		t.Run("BoundToRow", func(t *testing.T) {
			// A sealed secret copied onto another credential's row does
			// not open there.
			dsn := b.newDSN(t)
			db := mustOpen(t, dsn)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			mustCreateCredential(t, db, "a", "secret-of-a-0000")
			victim := mustCreateCredential(t, db, "b", "secret-of-b-1111")
			raw := rawDB(t, b, dsn)
			if _, err := raw.Exec(`UPDATE credentials SET secret_enc = (SELECT secret_enc FROM credentials WHERE name = 'a') WHERE name = 'b'`); err != nil {
				t.Fatal(err)
			}
			_, err := db.CredentialByID(ctx, victim.ID)
			if err == nil || !errors.Is(err, secret.ErrOpen) {
				t.Fatalf("got %v, want a decryption failure", err)
			}
		})

		t.Run("Update", func(t *testing.T) {
			db := MustOpenDB(t, b)
			c := mustCreateCredential(t, db, "openai", plain)
			created := c.CreatedAt
			// Rename only: the secret and hint stay.
			upd := &chorus.Credential{ID: c.ID, Name: "openai-2", Provider: chorus.ProviderAzure}
			if err := db.UpdateCredential(ctx, upd); err != nil {
				t.Fatal(err)
			}
			if upd.Hint != "1234" || !upd.CreatedAt.Equal(created) {
				t.Errorf("after rename: %+v", upd)
			}
			got, err := db.CredentialByID(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Secret != plain || got.Name != "openai-2" || got.Provider != chorus.ProviderAzure {
				t.Errorf("after rename: got %+v", got)
			}
			// New secret: re-sealed, new hint.
			upd.Secret = "sk-new-secret-9876"
			if err := db.UpdateCredential(ctx, upd); err != nil {
				t.Fatal(err)
			}
			got, err = db.CredentialByID(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Secret != "sk-new-secret-9876" || got.Hint != "9876" {
				t.Errorf("after new secret: got %+v", got)
			}
		})

		t.Run("ShortSecretNoHint", func(t *testing.T) {
			db := MustOpenDB(t, b)
			c := mustCreateCredential(t, db, "short", "abc12")
			if c.Hint != "" {
				t.Errorf("hint %q reveals most of a 5-character secret", c.Hint)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			db := MustOpenDB(t, b)
			_, err := db.CredentialByID(ctx, 3)
			assertCode(t, err, chorus.ENOTFOUND)
			assertCode(t, db.UpdateCredential(ctx, &chorus.Credential{ID: 3, Name: "x", Provider: chorus.ProviderOpenAI}), chorus.ENOTFOUND)
			assertCode(t, db.DeleteCredential(ctx, 3), chorus.ENOTFOUND)
		})

		t.Run("ErrConflict", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustCreateCredential(t, db, "openai", plain)
			err := db.CreateCredential(ctx, &chorus.Credential{Name: "openai", Provider: chorus.ProviderOpenAI, Secret: "x"})
			assertCode(t, err, chorus.ECONFLICT)
			other := mustCreateCredential(t, db, "other", plain)
			other.Name, other.Secret = "openai", ""
			assertCode(t, db.UpdateCredential(ctx, other), chorus.ECONFLICT)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			db := MustOpenDB(t, b)
			for name, c := range map[string]*chorus.Credential{
				"NoName":   {Provider: chorus.ProviderOpenAI, Secret: "x"},
				"Provider": {Name: "c", Provider: "nope", Secret: "x"},
				"NoSecret": {Name: "c", Provider: chorus.ProviderOpenAI},
			} {
				t.Run(name, func(t *testing.T) { assertCode(t, db.CreateCredential(ctx, c), chorus.EINVALID) })
			}
		})

		t.Run("DeleteInUse", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "m")
			c := mustCreateCredential(t, db, "openai", plain)
			d := mustCreateDeployment(t, db, m.ID, "dep", &c.ID)
			err := db.DeleteCredential(ctx, c.ID)
			assertCode(t, err, chorus.ECONFLICT)
			if !strings.Contains(chorus.ErrorMessage(err), `"openai" is used by 1 deployment`) {
				t.Errorf("message: %q", chorus.ErrorMessage(err))
			}
			if _, err := db.CredentialByID(ctx, c.ID); err != nil {
				t.Fatalf("credential gone after a refused delete: %v", err)
			}
			if err := db.DeleteDeployment(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteCredential(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			_, err = db.CredentialByID(ctx, c.ID)
			assertCode(t, err, chorus.ENOTFOUND)
		})

		t.Run("CheckSecretsNoKey", func(t *testing.T) {
			dsn := b.newDSN(t)
			db := mustOpen(t, dsn)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			noKey := mustOpen(t, dsn, withSealer(nil))
			if err := noKey.CheckSecrets(ctx); err != nil {
				t.Fatalf("no credentials, no key: %v", err)
			}
			mustCreateCredential(t, db, "a", plain)
			mustCreateCredential(t, db, "b", plain)
			err := noKey.CheckSecrets(ctx)
			want := "2 provider credentials are stored encrypted; set CHORUS_SECRET_KEY (or secret_key_file) to the key they were sealed with"
			if err == nil || err.Error() != want {
				t.Fatalf("got %v, want %q", err, want)
			}
			if _, err := noKey.CredentialByID(ctx, 1); !errors.Is(err, store.ErrNoSecretKey) {
				t.Errorf("CredentialByID: got %v, want ErrNoSecretKey", err)
			}
			err = noKey.CreateCredential(ctx, &chorus.Credential{Name: "c", Provider: chorus.ProviderOpenAI, Secret: "x"})
			if !errors.Is(err, store.ErrNoSecretKey) {
				t.Errorf("CreateCredential: got %v, want ErrNoSecretKey", err)
			}
			if _, err := noKey.LoadRegistry(ctx); err == nil || !strings.Contains(err.Error(), "set CHORUS_SECRET_KEY") {
				t.Errorf("LoadRegistry: got %v", err)
			}
			if err := db.CheckSecrets(ctx); err != nil {
				t.Errorf("with the key: %v", err)
			}
		})

		t.Run("CheckSecretsWrongKey", func(t *testing.T) {
			dsn := b.newDSN(t)
			db := mustOpen(t, dsn)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			c := mustCreateCredential(t, db, "anthropic-prod", plain)
			wrong := mustOpen(t, dsn, withSealer(testSealer(t, bytes.Repeat([]byte{8}, secret.KeySize))))
			for name, err := range map[string]error{
				"CheckSecrets":   wrong.CheckSecrets(ctx),
				"CredentialByID": func() error { _, err := wrong.CredentialByID(ctx, c.ID); return err }(),
				"LoadRegistry":   func() error { _, err := wrong.LoadRegistry(ctx); return err }(),
			} {
				if err == nil || !strings.Contains(err.Error(), `credential "anthropic-prod"`) || !errors.Is(err, secret.ErrOpen) {
					t.Errorf("%s: got %v, want a decryption error naming the credential", name, err)
				}
			}
		})

		t.Run("List", func(t *testing.T) {
			db := MustOpenDB(t, b)
			var want []int64
			for i := range 12 {
				want = append(want, mustCreateCredential(t, db, fmt.Sprintf("c%02d", i), plain).ID)
			}
			got := walk(t, 5, func(c *chorus.Credential) int64 { return c.ID }, func(p chorus.Page) ([]*chorus.Credential, error) {
				return db.ListCredentials(ctx, p)
			})
			if !equalIDs(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	})
}
