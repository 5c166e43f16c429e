package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/chorusgw/chorus"
)

func TestDeployments(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "gpt-4o")
			c := mustCreateCredential(t, db, "openai", "sk-proj-0123456789")
			d := &chorus.Deployment{
				ModelID: m.ID, Name: "openai-gpt-4o", Provider: chorus.ProviderAzure, UpstreamModel: "gpt-4o-2024-08-06",
				BaseURL: "https://x.openai.azure.com", CredentialID: &c.ID,
				Headers:    map[string]string{"X-Team": "ml", "OpenAI-Organization": "org-1"},
				Settings:   map[string]any{"api_version": "2024-10-21", "nested": map[string]any{"n": 1.5, "ok": true}},
				InputPrice: 2_500_000, OutputPrice: 10_000_000, Weight: 3, Enabled: true,
				CachedInputPrice: ptr(int64(1_250_000)), ReasoningPrice: ptr(int64(0)), // CacheWritePrice stays NULL
			}
			if err := db.CreateDeployment(ctx, d); err != nil {
				t.Fatal(err)
			}
			if d.ID == 0 || d.CreatedAt.IsZero() || !d.UpdatedAt.Equal(d.CreatedAt) {
				t.Fatalf("ID or times not set: %+v", d)
			}
			got, err := db.DeploymentByID(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Errorf("DeploymentByID:\n got %+v\nwant %+v", got, d)
			}
		})

		t.Run("NoCredential", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "sim")
			d := &chorus.Deployment{ModelID: m.ID, Name: "sim", Provider: chorus.ProviderSimulator}
			if err := db.CreateDeployment(ctx, d); err != nil {
				t.Fatal(err)
			}
			got, err := db.DeploymentByID(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CredentialID != nil || got.Headers != nil || got.Settings != nil || got.Enabled {
				t.Errorf("got %+v", got)
			}
		})

		t.Run("Update", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m1 := mustCreateModel(t, db, "m1")
			m2 := mustCreateModel(t, db, "m2")
			c := mustCreateCredential(t, db, "c", "sk-0123456789")
			d := mustCreateDeployment(t, db, m1.ID, "dep", &c.ID)
			created := d.CreatedAt
			upd := &chorus.Deployment{ID: d.ID, ModelID: m2.ID, Name: "dep2", Provider: chorus.ProviderAnthropic,
				UpstreamModel: "claude", Headers: map[string]string{"a": "b"}, Weight: 0}
			if err := db.UpdateDeployment(ctx, upd); err != nil {
				t.Fatal(err)
			}
			if !upd.CreatedAt.Equal(created) {
				t.Errorf("CreatedAt: got %v, want %v", upd.CreatedAt, created)
			}
			got, err := db.DeploymentByID(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, upd) {
				t.Errorf("got %+v\nwant %+v", got, upd)
			}
			// The credential is no longer used, so it can go.
			if err := db.DeleteCredential(ctx, c.ID); err != nil {
				t.Errorf("DeleteCredential after the deployment dropped it: %v", err)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "m")
			_, err := db.DeploymentByID(ctx, 5)
			assertCode(t, err, chorus.ENOTFOUND)
			err = db.UpdateDeployment(ctx, &chorus.Deployment{ID: 5, ModelID: m.ID, Name: "x", Provider: chorus.ProviderOpenAI, UpstreamModel: "x"})
			assertCode(t, err, chorus.ENOTFOUND)
			assertCode(t, db.DeleteDeployment(ctx, 5), chorus.ENOTFOUND)
		})

		t.Run("ErrConflict", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "m")
			mustCreateDeployment(t, db, m.ID, "dep", nil)
			err := db.CreateDeployment(ctx, &chorus.Deployment{ModelID: m.ID, Name: "dep", Provider: chorus.ProviderOpenAI, UpstreamModel: "x"})
			assertCode(t, err, chorus.ECONFLICT)
			other := mustCreateDeployment(t, db, m.ID, "other", nil)
			other.Name = "dep"
			assertCode(t, db.UpdateDeployment(ctx, other), chorus.ECONFLICT)
		})

		t.Run("ErrModelMissing", func(t *testing.T) {
			db := MustOpenDB(t, b)
			err := db.CreateDeployment(ctx, &chorus.Deployment{ModelID: 9, Name: "d", Provider: chorus.ProviderOpenAI, UpstreamModel: "x"})
			assertCode(t, err, chorus.EINVALID)
			m := mustCreateModel(t, db, "m")
			d := mustCreateDeployment(t, db, m.ID, "d", nil)
			d.ModelID = 9
			assertCode(t, db.UpdateDeployment(ctx, d), chorus.EINVALID)
		})

		t.Run("ErrCredentialMissing", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "m")
			err := db.CreateDeployment(ctx, &chorus.Deployment{ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, UpstreamModel: "x", CredentialID: ptr[int64](4)})
			assertCode(t, err, chorus.EINVALID)
			if ds, _ := db.ListDeployments(ctx, nil, chorus.Page{}); len(ds) != 0 {
				t.Errorf("%d deployments stored after a failed create", len(ds))
			}
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "m")
			for name, d := range map[string]*chorus.Deployment{
				"NoModel":    {Name: "d", Provider: chorus.ProviderOpenAI, UpstreamModel: "x"},
				"NoName":     {ModelID: m.ID, Provider: chorus.ProviderOpenAI},
				"Provider":   {ModelID: m.ID, Name: "d", Provider: "bedrock"},
				"NegPrice":   {ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, InputPrice: -1},
				"NegOutput":  {ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, OutputPrice: -1},
				"NegWeight":  {ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, Weight: -1},
				"NegCached":  {ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, CachedInputPrice: ptr(int64(-1))},
				"NegWrite":   {ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, CacheWritePrice: ptr(int64(-1))},
				"NegReason":  {ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, ReasoningPrice: ptr(int64(-1))},
				"BadSetting": {ModelID: m.ID, Name: "d", Provider: chorus.ProviderOpenAI, Settings: map[string]any{"f": func() {}}},
			} {
				t.Run(name, func(t *testing.T) {
					err := db.CreateDeployment(ctx, d)
					if err == nil {
						t.Fatal("accepted")
					}
					if name != "BadSetting" {
						assertCode(t, err, chorus.EINVALID)
					}
				})
			}
		})

		t.Run("List", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m1 := mustCreateModel(t, db, "m1")
			m2 := mustCreateModel(t, db, "m2")
			var all, ofM2 []int64
			for i := range 26 {
				m := m1
				if i%4 == 1 {
					m = m2
				}
				d := mustCreateDeployment(t, db, m.ID, fmt.Sprintf("d%02d", i), nil)
				all = append(all, d.ID)
				if m == m2 {
					ofM2 = append(ofM2, d.ID)
				}
			}
			id := func(d *chorus.Deployment) int64 { return d.ID }
			got := walk(t, 6, id, func(p chorus.Page) ([]*chorus.Deployment, error) { return db.ListDeployments(ctx, nil, p) })
			if !equalIDs(got, all) {
				t.Errorf("all: got %v, want %v", got, all)
			}
			got = walk(t, 2, id, func(p chorus.Page) ([]*chorus.Deployment, error) { return db.ListDeployments(ctx, &m2.ID, p) })
			if !equalIDs(got, ofM2) {
				t.Errorf("of m2: got %v, want %v", got, ofM2)
			}
		})
	})
}
