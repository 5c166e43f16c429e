package store_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/chorusgw/chorus"
)

func TestModels(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := &chorus.Model{Name: "gpt-4o", Kind: chorus.KindChat, Description: "Omni", ContextWindow: 128000,
				MaxOutput: 16384, OwnedBy: "openai", Enabled: true}
			if err := db.CreateModel(ctx, m); err != nil {
				t.Fatal(err)
			}
			if m.ID == 0 || m.CreatedAt.IsZero() || !m.UpdatedAt.Equal(m.CreatedAt) {
				t.Fatalf("ID or times not set: %+v", m)
			}
			got, err := db.ModelByID(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("ModelByID:\n got %+v\nwant %+v", got, m)
			}
			got, err = db.ModelByName(ctx, "gpt-4o")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("ModelByName:\n got %+v\nwant %+v", got, m)
			}
			if got.MaxTokensPolicy != chorus.MaxTokensRefuse {
				t.Errorf("MaxTokensPolicy = %q, want the default %q", got.MaxTokensPolicy, chorus.MaxTokensRefuse)
			}
			m.MaxTokensPolicy = chorus.MaxTokensClamp
			if err := db.UpdateModel(ctx, m); err != nil {
				t.Fatal(err)
			}
			if got, err = db.ModelByID(ctx, m.ID); err != nil || got.MaxTokensPolicy != chorus.MaxTokensClamp {
				t.Errorf("after update: %+v, %v; want max_tokens_policy clamp", got, err)
			}
		})

		t.Run("Disabled", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := &chorus.Model{Name: "e", Kind: chorus.KindEmbedding, Enabled: false}
			if err := db.CreateModel(ctx, m); err != nil {
				t.Fatal(err)
			}
			got, err := db.ModelByID(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Enabled || got.Kind != chorus.KindEmbedding {
				t.Errorf("got %+v", got)
			}
		})

		t.Run("Update", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "gpt-4o")
			created := m.CreatedAt
			upd := &chorus.Model{ID: m.ID, Name: "gpt-4o-2", Kind: chorus.KindEmbedding, Description: "d",
				ContextWindow: 8, MaxOutput: 4, OwnedBy: "me", Enabled: false}
			if err := db.UpdateModel(ctx, upd); err != nil {
				t.Fatal(err)
			}
			if !upd.CreatedAt.Equal(created) || upd.UpdatedAt.Before(created) {
				t.Errorf("times: created %v updated %v, want created %v", upd.CreatedAt, upd.UpdatedAt, created)
			}
			got, err := db.ModelByID(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, upd) {
				t.Errorf("got %+v\nwant %+v", got, upd)
			}
			_, err = db.ModelByName(ctx, "gpt-4o")
			assertCode(t, err, chorus.ENOTFOUND)
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			db := MustOpenDB(t, b)
			_, err := db.ModelByID(ctx, 1)
			assertCode(t, err, chorus.ENOTFOUND)
			_, err = db.ModelByName(ctx, "nope")
			assertCode(t, err, chorus.ENOTFOUND)
			assertCode(t, db.UpdateModel(ctx, &chorus.Model{ID: 1, Name: "x", Kind: chorus.KindChat}), chorus.ENOTFOUND)
			assertCode(t, db.DeleteModel(ctx, 1), chorus.ENOTFOUND)
		})

		t.Run("ErrConflict", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustCreateModel(t, db, "gpt-4o")
			assertCode(t, db.CreateModel(ctx, &chorus.Model{Name: "gpt-4o", Kind: chorus.KindChat}), chorus.ECONFLICT)
			other := mustCreateModel(t, db, "other")
			other.Name = "gpt-4o"
			assertCode(t, db.UpdateModel(ctx, other), chorus.ECONFLICT)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			db := MustOpenDB(t, b)
			for name, m := range map[string]*chorus.Model{
				"NoName":      {Kind: chorus.KindChat},
				"Spaces":      {Name: " x", Kind: chorus.KindChat},
				"Kind":        {Name: "x", Kind: "image"},
				"NegContext":  {Name: "x", Kind: chorus.KindChat, ContextWindow: -1},
				"NegMaxOuput": {Name: "x", Kind: chorus.KindChat, MaxOutput: -1},
				"Policy":      {Name: "x", Kind: chorus.KindChat, MaxTokensPolicy: "truncate"},
			} {
				t.Run(name, func(t *testing.T) { assertCode(t, db.CreateModel(ctx, m), chorus.EINVALID) })
			}
		})

		t.Run("DeleteCascades", func(t *testing.T) {
			db := MustOpenDB(t, b)
			m := mustCreateModel(t, db, "gpt-4o")
			keep := mustCreateModel(t, db, "keep")
			d := mustCreateDeployment(t, db, m.ID, "dep", nil)
			kept := mustCreateDeployment(t, db, keep.ID, "kept", nil)
			if err := db.DeleteModel(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			_, err := db.ModelByID(ctx, m.ID)
			assertCode(t, err, chorus.ENOTFOUND)
			_, err = db.DeploymentByID(ctx, d.ID)
			assertCode(t, err, chorus.ENOTFOUND)
			if _, err := db.DeploymentByID(ctx, kept.ID); err != nil {
				t.Errorf("another model's deployment was deleted: %v", err)
			}
		})

		t.Run("List", func(t *testing.T) {
			db := MustOpenDB(t, b)
			var want []int64
			for i := range 37 {
				want = append(want, mustCreateModel(t, db, fmt.Sprintf("m%02d", i)).ID)
			}
			// Deleting some leaves gaps in the IDs that paging must step over.
			for _, i := range []int{0, 9, 10, 36} {
				if err := db.DeleteModel(ctx, want[i]); err != nil {
					t.Fatal(err)
				}
			}
			want = slices.Concat(want[1:9], want[11:36])
			for _, limit := range []int{1, 5, 33, 50} {
				got := walk(t, limit, func(m *chorus.Model) int64 { return m.ID }, func(p chorus.Page) ([]*chorus.Model, error) {
					return db.ListModels(ctx, p)
				})
				if !equalIDs(got, want) {
					t.Errorf("limit %d: got %v, want %v", limit, got, want)
				}
			}
		})
	})
}
