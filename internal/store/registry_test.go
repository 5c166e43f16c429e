package store_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

func TestRegistryVersion(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)

		version := func() int64 {
			t.Helper()
			v, err := db.RegistryVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		var (
			u *chorus.User
			k *chorus.APIKey
			m *chorus.Model
			c *chorus.Credential
			d *chorus.Deployment
		)
		writes := []struct {
			name string
			fn   func() error
		}{
			{"CreateUser", func() error {
				u = &chorus.User{Email: "a@example.com", Role: chorus.RoleCustomer}
				return db.CreateUser(ctx, u)
			}},
			{"UpdateUser", func() error { u.Name = "A"; return db.UpdateUser(ctx, u) }},
			{"CreateKey", func() error {
				k = &chorus.APIKey{Prefix: "sk-", Hash: keyHash("sk-1"), UserID: u.ID}
				return db.CreateKey(ctx, k)
			}},
			{"RevokeKey", func() error { return db.RevokeKey(ctx, k.ID, time.Now()) }},
			{"CreateModel", func() error { m = &chorus.Model{Name: "m", Kind: chorus.KindChat}; return db.CreateModel(ctx, m) }},
			{"UpdateModel", func() error { m.Enabled = true; return db.UpdateModel(ctx, m) }},
			{"CreateCredential", func() error {
				c = &chorus.Credential{Name: "c", Provider: chorus.ProviderOpenAI, Secret: "sk-0123456789"}
				return db.CreateCredential(ctx, c)
			}},
			{"UpdateCredential", func() error { c.Secret = "sk-other-secret"; return db.UpdateCredential(ctx, c) }},
			{"CreateDeployment", func() error {
				d = &chorus.Deployment{ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, UpstreamModel: "x", CredentialID: &c.ID}
				return db.CreateDeployment(ctx, d)
			}},
			{"UpdateDeployment", func() error { d.Weight = 5; return db.UpdateDeployment(ctx, d) }},
			{"DeleteDeployment", func() error { return db.DeleteDeployment(ctx, d.ID) }},
			{"DeleteCredential", func() error { return db.DeleteCredential(ctx, c.ID) }},
			{"DeleteModel", func() error { return db.DeleteModel(ctx, m.ID) }},
		}
		for _, w := range writes {
			before := version()
			if err := w.fn(); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			if got, want := version(), before+1; got != want {
				t.Errorf("%s: registry version %d → %d, want %d", w.name, before, got, want)
			}
		}

		// Reads, writes outside the registry, and failed writes leave it alone.
		m = mustCreateModel(t, db, "m2")
		before := version()
		others := map[string]func() error{
			"UserByID":        func() error { _, err := db.UserByID(ctx, u.ID); return err },
			"UserByEmail":     func() error { _, err := db.UserByEmail(ctx, u.Email); return err },
			"ListUsers":       func() error { _, err := db.ListUsers(ctx, chorus.Page{}); return err },
			"CountUsers":      func() error { _, err := db.CountUsers(ctx); return err },
			"KeyByHash":       func() error { _, err := db.KeyByHash(ctx, k.Hash); return err },
			"ListKeys":        func() error { _, err := db.ListKeys(ctx, chorus.KeyFilter{}, chorus.Page{}); return err },
			"ActiveKeys":      func() error { _, err := db.ActiveKeys(ctx); return err },
			"ModelByID":       func() error { _, err := db.ModelByID(ctx, m.ID); return err },
			"ModelByName":     func() error { _, err := db.ModelByName(ctx, m.Name); return err },
			"ListModels":      func() error { _, err := db.ListModels(ctx, chorus.Page{}); return err },
			"ListDeployments": func() error { _, err := db.ListDeployments(ctx, nil, chorus.Page{}); return err },
			"ListCredentials": func() error { _, err := db.ListCredentials(ctx, chorus.Page{}); return err },
			"CheckSecrets":    func() error { return db.CheckSecrets(ctx) },
			"LoadRegistry":    func() error { _, err := db.LoadRegistry(ctx); return err },
			"CheckSchema":     func() error { return db.CheckSchema(ctx) },
			"Migrate":         func() error { return db.Migrate(ctx) },
			"SetMeta":         func() error { return db.SetMeta(ctx, "k", "v") },
			"InsertUsage":     func() error { return db.InsertUsage(ctx, []chorus.Usage{usageRecord(1, k.ID, u.ID, usageEpoch)}) },
			"TouchKeys":       func() error { return db.TouchKeys(ctx, map[int64]time.Time{k.ID: time.Now()}) },
			"ListUsage":       func() error { _, err := db.ListUsage(ctx, chorus.UsageFilter{}, chorus.Page{}); return err },
			"FailedCreate": func() error {
				if err := db.CreateModel(ctx, &chorus.Model{Name: "m2", Kind: chorus.KindChat}); chorus.ErrorCode(err) != chorus.ECONFLICT {
					return fmt.Errorf("got %v, want a conflict", err)
				}
				return nil
			},
			"FailedDelete": func() error {
				if err := db.DeleteModel(ctx, 9999); chorus.ErrorCode(err) != chorus.ENOTFOUND {
					return fmt.Errorf("got %v, want not found", err)
				}
				return nil
			},
		}
		for name, fn := range others {
			if err := fn(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got := version(); got != before {
				t.Errorf("%s: registry version %d → %d, want unchanged", name, before, got)
			}
		}
	})
}

func TestLoadRegistry(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			db := MustOpenDB(t, b, withNow(func() time.Time { return now }))
			ada := mustCreateUser(t, db, "ada@example.com")
			active := mustCreateKey(t, db, ada.ID, "sk-active")
			mustCreateKey(t, db, ada.ID, "sk-expired", func(k *chorus.APIKey) { k.ExpiresAt = ptr(now.Add(-time.Hour)) })
			c1 := mustCreateCredential(t, db, "c1", "secret-one-1111")
			c2 := mustCreateCredential(t, db, "c2", "secret-two-2222")
			m1 := mustCreateModel(t, db, "m1")
			m2 := mustCreateModel(t, db, "m2")
			m2.Enabled = false
			if err := db.UpdateModel(ctx, m2); err != nil {
				t.Fatal(err)
			}
			m3 := mustCreateModel(t, db, "m3") // no deployments
			d1 := mustCreateDeployment(t, db, m1.ID, "d1", &c1.ID)
			d2 := mustCreateDeployment(t, db, m2.ID, "d2", &c2.ID)
			d3 := mustCreateDeployment(t, db, m1.ID, "d3", nil)

			r, err := db.LoadRegistry(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := db.RegistryVersion(ctx); r.Version != v {
				t.Errorf("Version: got %d, want %d", r.Version, v)
			}
			m1.Deployments = []*chorus.Deployment{d1, d3}
			m2.Deployments = []*chorus.Deployment{d2}
			if want := []*chorus.Model{m1, m2, m3}; !reflect.DeepEqual(r.Models, want) {
				t.Errorf("Models:\n got %s\nwant %s", describeModels(r.Models), describeModels(want))
			}
			if want := map[int64]string{c1.ID: "secret-one-1111", c2.ID: "secret-two-2222"}; !reflect.DeepEqual(r.Secrets, want) {
				t.Errorf("Secrets: got %v, want %v", r.Secrets, want)
			}
			if len(r.Keys) != 1 || !reflect.DeepEqual(r.Keys[0], active) {
				t.Errorf("Keys: got %+v, want only %+v", r.Keys, active)
			}
		})

		t.Run("Empty", func(t *testing.T) {
			db := MustOpenDB(t, b)
			r, err := db.LoadRegistry(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Version < 1 || len(r.Models) != 0 || len(r.Keys) != 0 || r.Secrets == nil || len(r.Secrets) != 0 {
				t.Errorf("got %+v", r)
			}
		})

		t.Run("Consistent", func(t *testing.T) {
			// A writer adds models and deployments, one registry write at
			// a time; every write bumps the version by one. A snapshot read
			// in one transaction therefore holds exactly as many models plus
			// deployments as its version has moved since the start. A
			// snapshot stitched from different moments would not.
			db := MustOpenDB(t, b)
			base, err := db.RegistryVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var done atomic.Bool
			var wg sync.WaitGroup
			wg.Go(func() {
				defer done.Store(true)
				for i := 0; i < 60; i++ {
					m := &chorus.Model{Name: fmt.Sprintf("m%03d", i), Kind: chorus.KindChat, Enabled: true}
					if err := db.CreateModel(ctx, m); err != nil {
						t.Error(err)
						return
					}
					d := &chorus.Deployment{ModelID: m.ID, Name: fmt.Sprintf("d%03d", i), Provider: chorus.ProviderSimulator}
					if err := db.CreateDeployment(ctx, d); err != nil {
						t.Error(err)
						return
					}
				}
			})
			loads := 0
			for !done.Load() || loads < 5 {
				r, err := db.LoadRegistry(ctx)
				if err != nil {
					t.Fatal(err)
				}
				loads++
				items := len(r.Models)
				for _, m := range r.Models {
					items += len(m.Deployments)
				}
				if got, want := int64(items), r.Version-base; got != want {
					t.Fatalf("snapshot at version %d holds %d models+deployments, want %d", r.Version, got, want)
				}
			}
			wg.Wait()
			t.Logf("%d consistent snapshots during 120 writes", loads)
		})
	})
}

func describeModels(ms []*chorus.Model) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf("\n  %+v", *m)
		for _, d := range m.Deployments {
			s += fmt.Sprintf("\n    %+v", *d)
		}
	}
	return s
}

// BenchmarkRegistryVersion measures the query every instance polls.
func BenchmarkRegistryVersion(b *testing.B) {
	eachDBBench(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		db := MustOpenDB(b, be)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.RegistryVersion(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoadRegistry measures a snapshot read of 50 models with 3
// deployments each, 10 credentials and 200 keys.
func BenchmarkLoadRegistry(b *testing.B) {
	eachDBBench(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		db := MustOpenDB(b, be)
		var creds []int64
		for i := range 10 {
			creds = append(creds, mustCreateCredential(b, db, fmt.Sprintf("c%d", i), "sk-secret-value-0123").ID)
		}
		for i := range 50 {
			m := mustCreateModel(b, db, fmt.Sprintf("m%02d", i))
			for j := range 3 {
				mustCreateDeployment(b, db, m.ID, fmt.Sprintf("m%02d-d%d", i, j), &creds[(i+j)%len(creds)])
			}
		}
		u := mustCreateUser(b, db, "bench@example.com")
		for i := range 200 {
			mustCreateKey(b, db, u.ID, fmt.Sprintf("sk-bench-%04d", i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			r, err := db.LoadRegistry(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(r.Models) != 50 || len(r.Keys) != 200 {
				b.Fatalf("got %d models, %d keys", len(r.Models), len(r.Keys))
			}
		}
	})
}
