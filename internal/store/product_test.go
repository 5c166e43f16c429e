package store_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// mustCreateProduct creates an active product: price in cents, credits in
// whole credits.
func mustCreateProduct(tb testing.TB, db *store.DB, name string, price, credits int64) *chorus.Product {
	tb.Helper()
	p := &chorus.Product{Name: name, Description: "pack " + name, Price: price, Credits: credits * chorus.MicroPerCredit, Active: true}
	if err := db.CreateProduct(context.Background(), p); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestProducts(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			p := &chorus.Product{Name: "  Starter  ", Description: "10 credits\nfor trying", Price: 500, Credits: 10_000_000, Active: true}
			if err := db.CreateProduct(ctx, p); err != nil {
				t.Fatal(err)
			}
			if p.ID == 0 || p.CreatedAt.IsZero() || p.Name != "Starter" {
				t.Fatalf("not stored as expected: %+v", p)
			}
			got, err := db.ProductByID(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Errorf("ProductByID:\n got %+v\nwant %+v", got, p)
			}
		})

		t.Run("Validation", func(t *testing.T) {
			db := MustOpenDB(t, b)
			archived := time.Now()
			for _, tt := range []struct {
				name  string
				edit  func(p *chorus.Product)
				param string
			}{
				{"ErrNameRequired", func(p *chorus.Product) { p.Name = "  " }, "name"},
				{"ErrNameTooLong", func(p *chorus.Product) { p.Name = strings.Repeat("é", chorus.MaxProductName+1) }, "name"},
				{"ErrNameControl", func(p *chorus.Product) { p.Name = "a\nb" }, "name"},
				{"ErrNameUTF8", func(p *chorus.Product) { p.Name = "a\xffb" }, "name"},
				{"ErrDescriptionTooLong", func(p *chorus.Product) { p.Description = strings.Repeat("x", chorus.MaxProductDescription+1) }, "description"},
				{"ErrDescriptionControl", func(p *chorus.Product) { p.Description = "a\x00b" }, "description"},
				{"ErrPriceZero", func(p *chorus.Product) { p.Price = 0 }, "price"},
				{"ErrPriceNegative", func(p *chorus.Product) { p.Price = -5 }, "price"},
				{"ErrPriceTooHigh", func(p *chorus.Product) { p.Price = chorus.MaxProductPrice + 1 }, "price"},
				{"ErrCreditsZero", func(p *chorus.Product) { p.Credits = 0 }, "micro_credits"},
				{"ErrCreditsTooHigh", func(p *chorus.Product) { p.Credits = chorus.MaxProductCredits + 1 }, "micro_credits"},
				{"ErrArchivedActive", func(p *chorus.Product) { p.ArchivedAt = &archived }, "active"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					p := &chorus.Product{Name: "Pack", Price: 100, Credits: 1, Active: true}
					tt.edit(p)
					err := db.CreateProduct(ctx, p)
					assertCode(t, err, chorus.EINVALID)
					if e := err.(*chorus.Error); e.Param != tt.param {
						t.Errorf("param %q, want %q (%v)", e.Param, tt.param, err)
					}
				})
			}
			list, err := db.ListProducts(ctx, chorus.ProductFilter{}, chorus.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 0 {
				t.Errorf("invalid products were stored: %+v", list)
			}
		})

		t.Run("UpdateAndArchive", func(t *testing.T) {
			db := MustOpenDB(t, b)
			p := mustCreateProduct(t, db, "Pro", 2000, 50)
			created := p.CreatedAt
			now := time.Now().UTC().Truncate(time.Microsecond)
			p.Price, p.Active, p.ArchivedAt = 2500, false, &now
			if err := db.UpdateProduct(ctx, p); err != nil {
				t.Fatal(err)
			}
			got, err := db.ProductByID(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Price != 2500 || got.Active || got.ArchivedAt == nil || !got.CreatedAt.Equal(created) {
				t.Errorf("after update: %+v", got)
			}
			assertCode(t, db.UpdateProduct(ctx, &chorus.Product{ID: 999, Name: "x", Price: 1, Credits: 1}), chorus.ENOTFOUND)
			_, err = db.ProductByID(ctx, 999)
			assertCode(t, err, chorus.ENOTFOUND)
		})

		t.Run("ListOnSale", func(t *testing.T) {
			db := MustOpenDB(t, b)
			a := mustCreateProduct(t, db, "A", 100, 1)
			off := mustCreateProduct(t, db, "B", 100, 1)
			c := mustCreateProduct(t, db, "C", 100, 1)
			off.Active = false
			if err := db.UpdateProduct(ctx, off); err != nil {
				t.Fatal(err)
			}
			all := walk(t, 2, func(p *chorus.Product) int64 { return p.ID }, func(pg chorus.Page) ([]*chorus.Product, error) {
				return db.ListProducts(ctx, chorus.ProductFilter{}, pg)
			})
			if want := []int64{a.ID, off.ID, c.ID}; !equalIDs(all, want) {
				t.Errorf("all: got %v, want %v", all, want)
			}
			sale := walk(t, 1, func(p *chorus.Product) int64 { return p.ID }, func(pg chorus.Page) ([]*chorus.Product, error) {
				return db.ListProducts(ctx, chorus.ProductFilter{OnSale: true}, pg)
			})
			if want := []int64{a.ID, c.ID}; !equalIDs(sale, want) {
				t.Errorf("on sale: got %v, want %v", sale, want)
			}
		})
	})
}
