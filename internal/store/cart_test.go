package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// cartLines returns "product×quantity" for each line, in order.
func cartLines(c *chorus.Cart) string {
	s := ""
	for _, it := range c.Items {
		s += fmt.Sprintf("%d×%d ", it.ProductID, it.Quantity)
	}
	return s
}

func mustCart(tb testing.TB, db *store.DB, userID int64) *chorus.Cart {
	tb.Helper()
	c, err := db.Cart(context.Background(), userID)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestCart(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("Empty", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			c := mustCart(t, db, u.ID)
			if c.Version != 0 || len(c.Items) != 0 || c.Total != 0 {
				t.Errorf("got %+v, want an empty cart at version 0", c)
			}
		})

		t.Run("AddAndTotals", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p1 := mustCreateProduct(t, db, "Small", 500, 10)
			p2 := mustCreateProduct(t, db, "Large", 2000, 50)
			if _, err := db.AddToCart(ctx, u.ID, p2.ID, 1); err != nil {
				t.Fatal(err)
			}
			if _, err := db.AddToCart(ctx, u.ID, p1.ID, 2); err != nil {
				t.Fatal(err)
			}
			c, err := db.AddToCart(ctx, u.ID, p2.ID, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cartLines(c), fmt.Sprintf("%d×3 %d×2 ", p2.ID, p1.ID); got != want {
				t.Errorf("lines %q, want %q (order added)", got, want)
			}
			if c.Version != 3 {
				t.Errorf("version %d, want 3", c.Version)
			}
			if got, want := c.Total, int64(3*2000+2*500); got != want {
				t.Errorf("total %d, want %d", got, want)
			}
			if got, want := c.Credits, int64(3*50+2*10)*chorus.MicroPerCredit; got != want {
				t.Errorf("credits %d, want %d", got, want)
			}
			if it := c.Items[0]; it.Amount != 6000 || it.UnitPrice != 2000 || it.Name != "Large" || !it.Available {
				t.Errorf("line 0: %+v", it)
			}
			if got := mustCart(t, db, u.ID); cartLines(got) != cartLines(c) || got.Version != c.Version {
				t.Errorf("Cart: got %+v, want %+v", got, c)
			}
		})

		t.Run("AddRefused", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p := mustCreateProduct(t, db, "Small", 500, 10)
			off := mustCreateProduct(t, db, "Old", 500, 10)
			off.Active = false
			if err := db.UpdateProduct(ctx, off); err != nil {
				t.Fatal(err)
			}
			if _, err := db.AddToCart(ctx, u.ID, p.ID, 999); err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				name         string
				product, qty int64
				code, param  string
			}{
				{"ErrQuantityZero", p.ID, 0, chorus.EINVALID, "quantity"},
				{"ErrQuantityNegative", p.ID, -1, chorus.EINVALID, "quantity"},
				{"ErrQuantityTooMany", p.ID, chorus.MaxCartQuantity + 1, chorus.EINVALID, "quantity"},
				{"ErrLineOverMax", p.ID, 2, chorus.EINVALID, "quantity"},
				{"ErrNotOnSale", off.ID, 1, chorus.EINVALID, "product_id"},
				{"ErrNoProduct", 12345, 1, chorus.EINVALID, "product_id"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					_, err := db.AddToCart(ctx, u.ID, tt.product, tt.qty)
					assertCode(t, err, tt.code)
					if e := err.(*chorus.Error); e.Param != tt.param {
						t.Errorf("param %q, want %q", e.Param, tt.param)
					}
				})
			}
			c := mustCart(t, db, u.ID)
			if got, want := cartLines(c), fmt.Sprintf("%d×999 ", p.ID); got != want || c.Version != 1 {
				t.Errorf("a refused add changed the cart: %q version %d", got, c.Version)
			}
			_, err := db.AddToCart(ctx, 4242, p.ID, 1)
			assertCode(t, err, chorus.ENOTFOUND)
		})

		t.Run("MaxLines", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			var last *chorus.Product
			for i := range chorus.MaxCartLines + 1 {
				last = mustCreateProduct(t, db, fmt.Sprint("P", i), 100, 1)
				if i < chorus.MaxCartLines {
					if _, err := db.AddToCart(ctx, u.ID, last.ID, 1); err != nil {
						t.Fatal(err)
					}
				}
			}
			_, err := db.AddToCart(ctx, u.ID, last.ID, 1)
			assertCode(t, err, chorus.EINVALID)
			_, err = db.SetCartItem(ctx, u.ID, last.ID, 1, chorus.MaxCartLines)
			assertCode(t, err, chorus.EINVALID)
			if c := mustCart(t, db, u.ID); len(c.Items) != chorus.MaxCartLines {
				t.Errorf("%d lines, want %d", len(c.Items), chorus.MaxCartLines)
			}
		})

		t.Run("SetRemoveReplace", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p1 := mustCreateProduct(t, db, "Small", 500, 10)
			p2 := mustCreateProduct(t, db, "Large", 2000, 50)
			c, err := db.SetCartItem(ctx, u.ID, p1.ID, 4, 0) // a new line, from the never-changed cart
			if err != nil {
				t.Fatal(err)
			}
			c, err = db.SetCartItem(ctx, u.ID, p1.ID, 7, c.Version)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cartLines(c), fmt.Sprintf("%d×7 ", p1.ID); got != want || c.Version != 2 {
				t.Errorf("after set: %q version %d", got, c.Version)
			}
			c, err = db.ReplaceCart(ctx, u.ID, []chorus.CartLine{{ProductID: p2.ID, Quantity: 1}, {ProductID: p1.ID, Quantity: 2}}, c.Version)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cartLines(c), fmt.Sprintf("%d×1 %d×2 ", p2.ID, p1.ID); got != want {
				t.Errorf("after replace: %q, want %q (client order)", got, want)
			}
			c, err = db.RemoveCartItem(ctx, u.ID, p2.ID, c.Version)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cartLines(c), fmt.Sprintf("%d×2 ", p1.ID); got != want {
				t.Errorf("after remove: %q, want %q", got, want)
			}
			_, err = db.RemoveCartItem(ctx, u.ID, p2.ID, c.Version)
			assertCode(t, err, chorus.ENOTFOUND)
			c, err = db.ReplaceCart(ctx, u.ID, nil, c.Version)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Items) != 0 || c.Version != 5 {
				t.Errorf("after clear: %+v", c)
			}
		})

		t.Run("ErrStale", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p := mustCreateProduct(t, db, "Small", 500, 10)
			seen, err := db.AddToCart(ctx, u.ID, p.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.AddToCart(ctx, u.ID, p.ID, 1); err != nil { // another tab
				t.Fatal(err)
			}
			for _, tt := range []struct {
				name string
				call func() (*chorus.Cart, error)
			}{
				{"Set", func() (*chorus.Cart, error) { return db.SetCartItem(ctx, u.ID, p.ID, 5, seen.Version) }},
				{"Remove", func() (*chorus.Cart, error) { return db.RemoveCartItem(ctx, u.ID, p.ID, seen.Version) }},
				{"Replace", func() (*chorus.Cart, error) { return db.ReplaceCart(ctx, u.ID, nil, seen.Version) }},
				{"Future", func() (*chorus.Cart, error) { return db.SetCartItem(ctx, u.ID, p.ID, 5, 99) }},
			} {
				t.Run(tt.name, func(t *testing.T) {
					cur, err := tt.call()
					assertCode(t, err, chorus.ECONFLICT)
					if cur == nil || cur.Version != 2 || cur.Items[0].Quantity != 2 {
						t.Errorf("the conflict did not come with the current cart: %+v", cur)
					}
				})
			}
			if c := mustCart(t, db, u.ID); c.Version != 2 || c.Items[0].Quantity != 2 {
				t.Errorf("stale changes were applied: %+v", c)
			}
		})

		t.Run("ReplaceRefused", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p := mustCreateProduct(t, db, "Small", 500, 10)
			if _, err := db.AddToCart(ctx, u.ID, p.ID, 3); err != nil {
				t.Fatal(err)
			}
			too := make([]chorus.CartLine, chorus.MaxCartLines+1)
			for i := range too {
				too[i] = chorus.CartLine{ProductID: int64(i + 1), Quantity: 1}
			}
			for _, tt := range []struct {
				name  string
				lines []chorus.CartLine
				param string
			}{
				{"ErrDuplicate", []chorus.CartLine{{ProductID: p.ID, Quantity: 1}, {ProductID: p.ID, Quantity: 2}}, "items[1].product_id"},
				{"ErrQuantity", []chorus.CartLine{{ProductID: p.ID, Quantity: 1001}}, "items[0].quantity"},
				{"ErrNoProduct", []chorus.CartLine{{ProductID: p.ID, Quantity: 1}, {ProductID: 999, Quantity: 1}}, "items[1].product_id"},
				{"ErrTooManyLines", too, "items"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					_, err := db.ReplaceCart(ctx, u.ID, tt.lines, 1)
					assertCode(t, err, chorus.EINVALID)
					if e := err.(*chorus.Error); e.Param != tt.param {
						t.Errorf("param %q, want %q", e.Param, tt.param)
					}
				})
			}
			if c := mustCart(t, db, u.ID); c.Version != 1 || cartLines(c) != fmt.Sprintf("%d×3 ", p.ID) {
				t.Errorf("a refused replace changed the cart: %+v", c)
			}
		})

		t.Run("ProductTakenOffSale", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p := mustCreateProduct(t, db, "Small", 500, 10)
			if _, err := db.AddToCart(ctx, u.ID, p.ID, 3); err != nil {
				t.Fatal(err)
			}
			p.Active, p.Price = false, 700
			if err := db.UpdateProduct(ctx, p); err != nil {
				t.Fatal(err)
			}
			c := mustCart(t, db, u.ID)
			if it := c.Items[0]; it.Available || it.UnitPrice != 700 || c.Total != 2100 {
				t.Errorf("got %+v, want the line unavailable at the current price", c)
			}
			if _, err := db.RemoveCartItem(ctx, u.ID, p.ID, c.Version); err != nil {
				t.Errorf("removing a line taken off sale: %v", err)
			}
		})
	})
}

func TestCartConcurrent(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("AddsAllLand", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			products := []*chorus.Product{
				mustCreateProduct(t, db, "A", 100, 1), mustCreateProduct(t, db, "B", 200, 2), mustCreateProduct(t, db, "C", 300, 3),
			}
			const n = 24
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := db.AddToCart(ctx, u.ID, products[i%len(products)].ID, int64(1+i%2))
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			c := mustCart(t, db, u.ID)
			want := map[int64]int64{}
			for i := range n {
				want[products[i%len(products)].ID] += int64(1 + i%2)
			}
			if c.Version != n || len(c.Items) != len(products) {
				t.Fatalf("version %d with %d lines, want %d with %d", c.Version, len(c.Items), n, len(products))
			}
			for _, it := range c.Items {
				if it.Quantity != want[it.ProductID] {
					t.Errorf("product %d: quantity %d, want %d", it.ProductID, it.Quantity, want[it.ProductID])
				}
			}
		})

		t.Run("StaleSetsOneWins", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p := mustCreateProduct(t, db, "A", 100, 1)
			c, err := db.AddToCart(ctx, u.ID, p.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			const n = 8
			var wg sync.WaitGroup
			codes := make(chan string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := db.SetCartItem(ctx, u.ID, p.ID, int64(10+i), c.Version)
					codes <- chorus.ErrorCode(err)
				}()
			}
			wg.Wait()
			close(codes)
			ok, conflicts := 0, 0
			for code := range codes {
				switch code {
				case "":
					ok++
				case chorus.ECONFLICT:
					conflicts++
				default:
					t.Errorf("unexpected error code %q", code)
				}
			}
			if ok != 1 || conflicts != n-1 {
				t.Errorf("%d succeeded and %d conflicted, want 1 and %d", ok, conflicts, n-1)
			}
			if got := mustCart(t, db, u.ID); got.Version != c.Version+1 {
				t.Errorf("version %d, want %d", got.Version, c.Version+1)
			}
		})
	})
}
