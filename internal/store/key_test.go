package store_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

func TestKeys(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
			k := mustCreateKey(t, db, u.ID, "sk-chorus-aaaa", func(k *chorus.APIKey) {
				k.AllowedModels = []string{"gpt-4o", "claude"}
				k.ExpiresAt = &exp
			})
			if k.ID == 0 || k.CreatedAt.IsZero() {
				t.Fatalf("ID or CreatedAt not set: %+v", k)
			}
			if k.Role != chorus.RoleCustomer {
				t.Errorf("Role: got %q, want the owner's %q", k.Role, chorus.RoleCustomer)
			}
			got, err := db.KeyByHash(ctx, keyHash("sk-chorus-aaaa"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, k) {
				t.Errorf("KeyByHash:\n got %+v\nwant %+v", got, k)
			}
			got, err = db.KeyByID(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, k) {
				t.Errorf("KeyByID:\n got %+v\nwant %+v", got, k)
			}
		})

		t.Run("NoAllowedModels", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			mustCreateKey(t, db, u.ID, "sk-chorus-aaaa")
			got, err := db.KeyByHash(ctx, keyHash("sk-chorus-aaaa"))
			if err != nil {
				t.Fatal(err)
			}
			if got.AllowedModels != nil || got.ExpiresAt != nil || got.RevokedAt != nil || !got.Allows("anything") {
				t.Errorf("got %+v, want no restrictions", got)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			db := MustOpenDB(t, b)
			_, err := db.KeyByHash(ctx, keyHash("nope"))
			assertCode(t, err, chorus.ENOTFOUND)
			_, err = db.KeyByID(ctx, 99)
			assertCode(t, err, chorus.ENOTFOUND)
			assertCode(t, db.RevokeKey(ctx, 99, time.Now()), chorus.ENOTFOUND)
		})

		t.Run("ErrConflict", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			mustCreateKey(t, db, u.ID, "sk-chorus-aaaa")
			err := db.CreateKey(ctx, &chorus.APIKey{Prefix: "sk-", Hash: keyHash("sk-chorus-aaaa"), UserID: u.ID})
			assertCode(t, err, chorus.ECONFLICT)
		})

		t.Run("ErrUserMissing", func(t *testing.T) {
			db := MustOpenDB(t, b)
			err := db.CreateKey(ctx, &chorus.APIKey{Prefix: "sk-", Hash: keyHash("x"), UserID: 77})
			assertCode(t, err, chorus.EINVALID)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			assertCode(t, db.CreateKey(ctx, &chorus.APIKey{Prefix: "sk-", UserID: u.ID}), chorus.EINVALID)
			assertCode(t, db.CreateKey(ctx, &chorus.APIKey{Hash: keyHash("x"), UserID: u.ID}), chorus.EINVALID)
		})

		t.Run("Revoke", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			k := mustCreateKey(t, db, u.ID, "sk-chorus-aaaa")
			at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			if err := db.RevokeKey(ctx, k.ID, at); err != nil {
				t.Fatal(err)
			}
			v1, _ := db.RegistryVersion(ctx)
			// Revoking again is not an error and keeps the first time.
			if err := db.RevokeKey(ctx, k.ID, at.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			got, err := db.KeyByHash(ctx, keyHash("sk-chorus-aaaa"))
			if err != nil {
				t.Fatal(err)
			}
			if got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
				t.Errorf("RevokedAt: got %v, want %v", got.RevokedAt, at)
			}
			if got.Active(at.Add(-time.Hour)) {
				t.Error("revoked key is active")
			}
			if v2, _ := db.RegistryVersion(ctx); v2 != v1 {
				t.Errorf("revoking a revoked key bumped the registry version %d → %d", v1, v2)
			}
		})

		t.Run("ActiveKeys", func(t *testing.T) {
			now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			db := MustOpenDB(t, b, withNow(func() time.Time { return now }))
			ada := mustCreateUser(t, db, "ada@example.com")
			bob := mustCreateUser(t, db, "bob@example.com")
			active := mustCreateKey(t, db, ada.ID, "sk-active")
			future := mustCreateKey(t, db, ada.ID, "sk-future", func(k *chorus.APIKey) { k.ExpiresAt = ptr(now.Add(time.Second)) })
			mustCreateKey(t, db, ada.ID, "sk-expired", func(k *chorus.APIKey) { k.ExpiresAt = ptr(now.Add(-time.Second)) })
			mustCreateKey(t, db, ada.ID, "sk-expires-now", func(k *chorus.APIKey) { k.ExpiresAt = ptr(now) })
			revoked := mustCreateKey(t, db, ada.ID, "sk-revoked")
			if err := db.RevokeKey(ctx, revoked.ID, now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			mustCreateKey(t, db, bob.ID, "sk-bob")
			bob.DisabledAt = ptr(now)
			if err := db.UpdateUser(ctx, bob); err != nil {
				t.Fatal(err)
			}

			keys, err := db.ActiveKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, k.Name)
				if !k.Active(now) {
					t.Errorf("ActiveKeys returned %q, which is not active at %v", k.Name, now)
				}
			}
			if want := []string{active.Name, future.Name}; !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}

			// A disabled user's keys are not found at all.
			_, err = db.KeyByHash(ctx, keyHash("sk-bob"))
			assertCode(t, err, chorus.ENOTFOUND)
			// Re-enabled, they are back.
			bob.DisabledAt = nil
			if err := db.UpdateUser(ctx, bob); err != nil {
				t.Fatal(err)
			}
			if _, err := db.KeyByHash(ctx, keyHash("sk-bob")); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("List", func(t *testing.T) {
			db := MustOpenDB(t, b)
			ada := mustCreateUser(t, db, "ada@example.com")
			bob := mustCreateUser(t, db, "bob@example.com")
			var all, adas []int64
			for i := range 17 {
				owner := ada
				if i%3 == 0 {
					owner = bob
				}
				k := mustCreateKey(t, db, owner.ID, fmt.Sprintf("sk-%02d-xxxx", i))
				all = append(all, k.ID)
				if owner == ada {
					adas = append(adas, k.ID)
				}
			}
			id := func(k *chorus.APIKey) int64 { return k.ID }
			got := walk(t, 4, id, func(p chorus.Page) ([]*chorus.APIKey, error) {
				return db.ListKeys(ctx, chorus.KeyFilter{}, p)
			})
			if !equalIDs(got, all) {
				t.Errorf("all: got %v, want %v", got, all)
			}
			got = walk(t, 4, id, func(p chorus.Page) ([]*chorus.APIKey, error) {
				return db.ListKeys(ctx, chorus.KeyFilter{UserID: &ada.ID}, p)
			})
			if !equalIDs(got, adas) {
				t.Errorf("ada's: got %v, want %v", got, adas)
			}
		})

		t.Run("ConcurrentWriters", func(t *testing.T) {
			// CreateKey and RevokeKey read before they write. In SQLite two
			// such transactions upgrading their locks at once fail with
			// SQLITE_BUSY without waiting; the store's single write
			// connection and BEGIN IMMEDIATE keep that from happening.
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			var wg sync.WaitGroup
			errs := make(chan error, 8*20)
			for w := range 8 {
				wg.Go(func() {
					for i := range 20 {
						k := &chorus.APIKey{Prefix: "sk-", Hash: keyHash(fmt.Sprintf("sk-%d-%d", w, i)), UserID: u.ID}
						if err := db.CreateKey(ctx, k); err != nil {
							errs <- err
							return
						}
						if i%2 == 0 {
							if err := db.RevokeKey(ctx, k.ID, time.Now()); err != nil {
								errs <- err
								return
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			keys, err := db.ActiveKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(keys), 8*10; got != want {
				t.Errorf("%d active keys, want %d", got, want)
			}
		})

		t.Run("Touch", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			k := mustCreateKey(t, db, u.ID, "sk-chorus-aaaa")
			v1, _ := db.RegistryVersion(ctx)
			t1 := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
			if err := db.TouchKeys(ctx, map[int64]time.Time{k.ID: t1}); err != nil {
				t.Fatal(err)
			}
			// An older time does not move it back.
			if err := db.TouchKeys(ctx, map[int64]time.Time{k.ID: t1.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			got, _ := db.KeyByHash(ctx, keyHash("sk-chorus-aaaa"))
			if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t1) {
				t.Errorf("LastUsedAt: got %v, want %v", got.LastUsedAt, t1)
			}
			if v2, _ := db.RegistryVersion(ctx); v2 != v1 {
				t.Errorf("TouchKeys bumped the registry version %d → %d", v1, v2)
			}
		})
	})
}

func TestKeyCacheTTL(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			k := mustCreateKey(t, db, u.ID, "sk-chorus-aaaa", func(k *chorus.APIKey) { k.CacheTTLSeconds = 600 })
			got, err := db.KeyByID(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CacheTTLSeconds != 600 {
				t.Fatalf("created with 600, read %d", got.CacheTTLSeconds)
			}
			v1, err := db.RegistryVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.SetKeyCacheTTL(ctx, k.ID, -1); err != nil {
				t.Fatal(err)
			}
			if v2, err := db.RegistryVersion(ctx); err != nil || v2 <= v1 {
				t.Fatalf("registry version %d → %d (%v): instances would not see the change", v1, v2, err)
			}
			active, err := db.ActiveKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(active) != 1 || active[0].CacheTTLSeconds != -1 {
				t.Fatalf("ActiveKeys = %+v, want the key with -1", active)
			}
		})

		t.Run("DefaultZero", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			mustCreateKey(t, db, u.ID, "sk-chorus-aaaa")
			got, err := db.KeyByHash(ctx, keyHash("sk-chorus-aaaa"))
			if err != nil {
				t.Fatal(err)
			}
			if got.CacheTTLSeconds != 0 {
				t.Fatalf("CacheTTLSeconds = %d, want 0 (not opted in)", got.CacheTTLSeconds)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			db := MustOpenDB(t, b)
			assertCode(t, db.SetKeyCacheTTL(ctx, 99, 60), chorus.ENOTFOUND)
		})
	})
}
