package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// checkoutReq returns a checkout of the user's cart with the manual provider.
func checkoutReq(u *chorus.User, key string) chorus.CheckoutRequest {
	return chorus.CheckoutRequest{UserID: u.ID, TeamID: u.TeamID, Provider: chorus.ProviderManual, Currency: "usd",
		IdempotencyKey: key, RequestHash: "h1"}
}

// mustOrder puts quantity × a product of credits (whole credits) in the
// user's cart and checks it out: a pending manual order.
func mustOrder(tb testing.TB, db *store.DB, u *chorus.User, credits int64) *chorus.Order {
	tb.Helper()
	ctx := context.Background()
	p := mustCreateProduct(tb, db, fmt.Sprint("Pack ", credits), 100*credits, credits)
	if _, err := db.AddToCart(ctx, u.ID, p.ID, 1); err != nil {
		tb.Fatal(err)
	}
	o, created, err := db.Checkout(ctx, checkoutReq(u, "k-"+randomHex(8)))
	if err != nil {
		tb.Fatal(err)
	}
	if !created {
		tb.Fatal("checkout created no order")
	}
	return o
}

// mustTransition moves an order along a path of states.
func mustTransition(tb testing.TB, db *store.DB, id int64, path ...string) *chorus.Order {
	tb.Helper()
	var o *chorus.Order
	for _, to := range path {
		var changed bool
		var err error
		o, changed, err = db.TransitionOrder(context.Background(), chorus.OrderTransition{OrderID: id, To: to, Reason: "test"})
		if err != nil {
			tb.Fatalf("to %s: %v", to, err)
		}
		if !changed {
			tb.Fatalf("to %s: not changed", to)
		}
	}
	return o
}

func TestCheckout(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			small := mustCreateProduct(t, db, "Small", 500, 10)
			large := mustCreateProduct(t, db, "Large", 2000, 50)
			if _, err := db.AddToCart(ctx, u.ID, small.ID, 3); err != nil {
				t.Fatal(err)
			}
			cart, err := db.AddToCart(ctx, u.ID, large.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			o, created, err := db.Checkout(ctx, checkoutReq(u, "key-1"))
			if err != nil {
				t.Fatal(err)
			}
			if !created || o.ID == 0 || o.Status != chorus.OrderPending || o.TeamID != u.TeamID || o.Currency != "usd" {
				t.Fatalf("order %+v", o)
			}
			if o.Total != 3500 || o.Credits != 80*chorus.MicroPerCredit || len(o.Items) != 2 {
				t.Errorf("totals: %d, %d credits, %d items", o.Total, o.Credits, len(o.Items))
			}
			if it := o.Items[0]; it.Name != "Small" || it.UnitPrice != 500 || it.Quantity != 3 || it.Amount != 1500 {
				t.Errorf("item 0: %+v", it)
			}
			if p := o.Payment; p == nil || p.Status != chorus.PaymentPending || p.Amount != 3500 || p.Provider != chorus.ProviderManual {
				t.Errorf("payment %+v", o.Payment)
			}
			after := mustCart(t, db, u.ID)
			if len(after.Items) != 0 || after.Version != cart.Version+1 {
				t.Errorf("cart after checkout: %+v", after)
			}
			// Prices changed later do not change the order.
			small.Price = 9999
			if err := db.UpdateProduct(ctx, small); err != nil {
				t.Fatal(err)
			}
			got, err := db.OrderByID(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Items[0].UnitPrice != 500 || got.Total != 3500 || got.Payment == nil || got.Payment.ID != o.Payment.ID {
				t.Errorf("stored order %+v", got)
			}
		})

		t.Run("SameKey", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			o := mustOrder(t, db, u, 10)
			p := mustCreateProduct(t, db, "Other", 100, 1)
			if _, err := db.AddToCart(ctx, u.ID, p.ID, 1); err != nil {
				t.Fatal(err)
			}
			again, created, err := db.Checkout(ctx, checkoutReq(u, o.IdempotencyKey))
			if err != nil {
				t.Fatal(err)
			}
			if created || again.ID != o.ID || again.Total != o.Total {
				t.Errorf("replay: created %v, order %+v, want order %d", created, again, o.ID)
			}
			if c := mustCart(t, db, u.ID); len(c.Items) != 1 {
				t.Errorf("a replayed checkout touched the cart: %+v", c)
			}
			req := checkoutReq(u, o.IdempotencyKey)
			req.RequestHash = "another body"
			_, _, err = db.Checkout(ctx, req)
			assertCode(t, err, chorus.ECONFLICT)
			// Keys are per user.
			v := mustCreateUser(t, db, "bob@example.com")
			if _, err := db.AddToCart(ctx, v.ID, p.ID, 1); err != nil {
				t.Fatal(err)
			}
			if other, created, err := db.Checkout(ctx, checkoutReq(v, o.IdempotencyKey)); err != nil || !created || other.ID == o.ID {
				t.Errorf("another user's checkout with the same key: %v, created %v", err, created)
			}
		})

		t.Run("Refused", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			_, _, err := db.Checkout(ctx, checkoutReq(u, "k"))
			assertCode(t, err, chorus.EINVALID)
			for _, key := range []string{"", strings.Repeat("k", chorus.MaxIdempotencyKey+1), "bad\nkey", "ключ"} {
				_, _, err := db.Checkout(ctx, checkoutReq(u, key))
				assertCode(t, err, chorus.EINVALID)
			}
			p := mustCreateProduct(t, db, "Small", 500, 10)
			if _, err := db.AddToCart(ctx, u.ID, p.ID, 2); err != nil {
				t.Fatal(err)
			}
			p.Active = false
			if err := db.UpdateProduct(ctx, p); err != nil {
				t.Fatal(err)
			}
			_, _, err = db.Checkout(ctx, checkoutReq(u, "k2"))
			assertCode(t, err, chorus.EINVALID)
			if c := mustCart(t, db, u.ID); len(c.Items) != 1 {
				t.Errorf("a refused checkout emptied the cart: %+v", c)
			}
			orders, err := db.ListOrders(ctx, chorus.OrderFilter{}, chorus.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(orders) != 0 {
				t.Errorf("refused checkouts created orders: %+v", orders)
			}
		})

		t.Run("ConcurrentSameKey", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p := mustCreateProduct(t, db, "Small", 500, 10)
			if _, err := db.AddToCart(ctx, u.ID, p.ID, 2); err != nil {
				t.Fatal(err)
			}
			const n = 8
			ids := make(chan int64, n)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o, _, err := db.Checkout(ctx, checkoutReq(u, "same"))
					if err != nil {
						t.Error(err)
						return
					}
					ids <- o.ID
				}()
			}
			wg.Wait()
			close(ids)
			seen := map[int64]bool{}
			for id := range ids {
				seen[id] = true
			}
			if len(seen) != 1 {
				t.Errorf("%d orders for one key: %v", len(seen), seen)
			}
		})

		t.Run("ConcurrentKeysOneCart", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			p := mustCreateProduct(t, db, "Small", 500, 10)
			if _, err := db.AddToCart(ctx, u.ID, p.ID, 2); err != nil {
				t.Fatal(err)
			}
			const n = 6
			var wg sync.WaitGroup
			codes := make(chan string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, err := db.Checkout(ctx, checkoutReq(u, fmt.Sprint("key-", i)))
					codes <- chorus.ErrorCode(err)
				}()
			}
			wg.Wait()
			close(codes)
			ok := 0
			for c := range codes {
				switch c {
				case "":
					ok++
				case chorus.EINVALID: // the cart was empty by then
				default:
					t.Errorf("code %q", c)
				}
			}
			if ok != 1 {
				t.Errorf("one cart made %d orders, want 1", ok)
			}
		})
	})
}

func TestOrderTransitions(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("FulfilPostsCreditsOnce", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			o := mustOrder(t, db, u, 10)
			o = mustTransition(t, db, o.ID, chorus.OrderPaid)
			if o.PaidAt == nil || o.Payment.Status != chorus.PaymentSucceeded {
				t.Errorf("paid: %+v, payment %+v", o, o.Payment)
			}
			if got := mustBalance(t, db, u.TeamID).Balance; got != 0 {
				t.Errorf("balance %d before fulfilment", got)
			}
			o = mustTransition(t, db, o.ID, chorus.OrderFulfilled)
			if o.FulfilledAt == nil {
				t.Errorf("fulfilled_at not set")
			}
			_, changed, err := db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderFulfilled})
			assertCode(t, err, chorus.ECONFLICT)
			if changed {
				t.Error("fulfilled twice")
			}
			if got, want := mustBalance(t, db, u.TeamID).Balance, 10*chorus.MicroPerCredit; got != int64(want) {
				t.Errorf("balance %d, want %d", got, want)
			}
			mustCheckLedger(t, db)
		})

		t.Run("ConcurrentFulfil", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			o := mustOrder(t, db, u, 7)
			mustTransition(t, db, o.ID, chorus.OrderPaid)
			const n = 8
			var wg sync.WaitGroup
			changes := make(chan bool, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, changed, err := db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderFulfilled})
					if err != nil && chorus.ErrorCode(err) != chorus.ECONFLICT {
						t.Error(err)
					}
					changes <- changed
				}()
			}
			wg.Wait()
			close(changes)
			won := 0
			for c := range changes {
				if c {
					won++
				}
			}
			if won != 1 {
				t.Errorf("%d fulfilments, want 1", won)
			}
			if got := mustBalance(t, db, u.TeamID).Balance; got != 7*chorus.MicroPerCredit {
				t.Errorf("balance %d, want 7 credits", got)
			}
		})

		t.Run("FailureBeforeCommitRollsBack", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			o := mustOrder(t, db, u, 5)
			mustTransition(t, db, o.ID, chorus.OrderPaid)
			boom := errors.New("injected")
			_, _, err := db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderFulfilled,
				BeforeCommit: func(*chorus.Order) error { return boom }})
			if !errors.Is(err, boom) {
				t.Fatalf("got %v, want the injected failure", err)
			}
			got, err := db.OrderByID(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != chorus.OrderPaid || mustBalance(t, db, u.TeamID).Balance != 0 {
				t.Errorf("a failed fulfilment left the order %s and balance %d", got.Status, mustBalance(t, db, u.TeamID).Balance)
			}
			mustTransition(t, db, o.ID, chorus.OrderFulfilled)
			if got := mustBalance(t, db, u.TeamID).Balance; got != 5*chorus.MicroPerCredit {
				t.Errorf("balance %d after the retry, want 5 credits", got)
			}
		})

		t.Run("Refund", func(t *testing.T) {
			for _, tt := range []struct {
				name          string
				spent         int64 // whole credits spent before the refund
				allowNegative bool
				wantCode      string
				wantBalance   int64 // whole credits
			}{
				{"Unspent", 0, false, "", 0},
				{"PartlySpentRejected", 4, false, chorus.ECONFLICT, 6},
				{"PartlySpentAllowNegative", 4, true, "", -4},
			} {
				t.Run(tt.name, func(t *testing.T) {
					db := MustOpenDB(t, b)
					u := mustCreateUser(t, db, "ada@example.com")
					o := mustOrder(t, db, u, 10)
					mustTransition(t, db, o.ID, chorus.OrderPaid, chorus.OrderFulfilled)
					if tt.spent > 0 {
						mustPost(t, db, spend("spend-1", u.TeamID, tt.spent*chorus.MicroPerCredit))
					}
					got, changed, err := db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderRefunded,
						AllowNegative: tt.allowNegative, Reference: "re_1"})
					assertCode(t, err, tt.wantCode)
					if changed != (tt.wantCode == "") {
						t.Errorf("changed %v", changed)
					}
					if tt.wantCode == "" && (got.Status != chorus.OrderRefunded || got.Payment.Status != chorus.PaymentRefunded ||
						got.Payment.RefundReference != "re_1" || got.RefundedAt == nil) {
						t.Errorf("refunded order %+v payment %+v", got, got.Payment)
					}
					if tt.wantCode != "" && !strings.Contains(chorus.ErrorMessage(err), "allow_negative") {
						t.Errorf("message %q does not say how to proceed", chorus.ErrorMessage(err))
					}
					if bal := mustBalance(t, db, u.TeamID).Balance; bal != tt.wantBalance*chorus.MicroPerCredit {
						t.Errorf("balance %d, want %d credits", bal, tt.wantBalance)
					}
					mustCheckLedger(t, db)
				})
			}
		})

		t.Run("RefundPaidNotFulfilled", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			o := mustOrder(t, db, u, 10)
			o = mustTransition(t, db, o.ID, chorus.OrderPaid, chorus.OrderRefunded)
			if o.Status != chorus.OrderRefunded || mustBalance(t, db, u.TeamID).Balance != 0 {
				t.Errorf("order %s, balance %d", o.Status, mustBalance(t, db, u.TeamID).Balance)
			}
			_, _, err := db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderFulfilled})
			assertCode(t, err, chorus.ECONFLICT)
		})

		t.Run("Events", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			o := mustOrder(t, db, u, 10)
			paid := chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderPaid, Provider: chorus.ProviderManual,
				EventID: "evt_1", EventType: "paid", Reference: "pi_1"}
			got, changed, err := db.TransitionOrder(ctx, paid)
			if err != nil || !changed || got.Payment.Reference != "pi_1" {
				t.Fatalf("first delivery: %v changed=%v %+v", err, changed, got)
			}
			// The same event again changes nothing, even after the order moved.
			mustTransition(t, db, o.ID, chorus.OrderFulfilled)
			for range 2 {
				if _, changed, err := db.TransitionOrder(ctx, paid); err != nil || changed {
					t.Errorf("redelivery: %v changed=%v", err, changed)
				}
			}
			// A late event the state machine refuses is recorded, no error.
			late := chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderCancelled, Provider: chorus.ProviderManual, EventID: "evt_2"}
			if got, changed, err := db.TransitionOrder(ctx, late); err != nil || changed || got.Status != chorus.OrderFulfilled {
				t.Errorf("late event: %v changed=%v", err, changed)
			}
			if seen, err := db.PaymentEventSeen(ctx, chorus.ProviderManual, "evt_2"); err != nil || !seen {
				t.Errorf("late event not recorded: %v %v", seen, err)
			}
			// An event for another provider's order, or none, is not found.
			_, _, err = db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderRefunded,
				Provider: chorus.ProviderStripe, EventID: "evt_3"})
			assertCode(t, err, chorus.ENOTFOUND)
			_, _, err = db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: 999, To: chorus.OrderPaid,
				Provider: chorus.ProviderManual, EventID: "evt_4"})
			assertCode(t, err, chorus.ENOTFOUND)
			if seen, _ := db.PaymentEventSeen(ctx, chorus.ProviderManual, "evt_4"); seen {
				t.Error("an event with no order was recorded")
			}
			// By payment reference.
			got, changed, err = db.TransitionOrder(ctx, chorus.OrderTransition{PaymentReference: "pi_1", To: chorus.OrderRefunded,
				Provider: chorus.ProviderManual, EventID: "evt_5", AllowNegative: true})
			if err != nil || !changed || got.ID != o.ID {
				t.Errorf("by reference: %v changed=%v", err, changed)
			}
			if bal := mustBalance(t, db, u.TeamID).Balance; bal != 0 {
				t.Errorf("balance %d after refund", bal)
			}
		})

		t.Run("Ownership", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			v := mustCreateUser(t, db, "bob@example.com")
			o := mustOrder(t, db, u, 10)
			_, _, err := db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, TeamID: v.TeamID, To: chorus.OrderCancelled})
			assertCode(t, err, chorus.ENOTFOUND)
			got, changed, err := db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, TeamID: u.TeamID, To: chorus.OrderCancelled})
			if err != nil || !changed || got.Payment.Status != chorus.PaymentCancelled {
				t.Errorf("own cancel: %v changed=%v %+v", err, changed, got)
			}
			_, _, err = db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: chorus.OrderPending})
			assertCode(t, err, chorus.EINVALID)
		})
	})
}

func TestListOrdersAndPayments(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		u := mustCreateUser(t, db, "ada@example.com")
		v := mustCreateUser(t, db, "bob@example.com")
		var uIDs, paidIDs []int64
		for i := range 5 {
			o := mustOrder(t, db, u, int64(i+1))
			uIDs = append(uIDs, o.ID)
			if i%2 == 0 {
				mustTransition(t, db, o.ID, chorus.OrderPaid)
				paidIDs = append(paidIDs, o.ID)
			}
			mustOrder(t, db, v, 1)
		}
		orderID := func(o *chorus.Order) int64 { return o.ID }
		got := walk(t, 2, orderID, func(p chorus.Page) ([]*chorus.Order, error) {
			return db.ListOrders(ctx, chorus.OrderFilter{TeamID: u.TeamID}, p)
		})
		if !equalIDs(got, uIDs) {
			t.Errorf("team orders %v, want %v", got, uIDs)
		}
		got = walk(t, 10, orderID, func(p chorus.Page) ([]*chorus.Order, error) {
			return db.ListOrders(ctx, chorus.OrderFilter{Status: chorus.OrderPaid}, p)
		})
		if !equalIDs(got, paidIDs) {
			t.Errorf("paid orders %v, want %v", got, paidIDs)
		}
		list, err := db.ListOrders(ctx, chorus.OrderFilter{TeamID: u.TeamID}, chorus.Page{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || len(list[0].Items) != 1 || list[0].Payment == nil {
			t.Errorf("list entries come with items and payment: %+v", list)
		}
		pays := walk(t, 3, func(p *chorus.Payment) int64 { return p.ID }, func(p chorus.Page) ([]*chorus.Payment, error) {
			return db.ListPayments(ctx, chorus.PaymentFilter{Status: chorus.PaymentSucceeded, Provider: chorus.ProviderManual}, p)
		})
		if len(pays) != len(paidIDs) {
			t.Errorf("%d succeeded payments, want %d", len(pays), len(paidIDs))
		}
		all, err := db.ListPayments(ctx, chorus.PaymentFilter{TeamID: v.TeamID}, chorus.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 5 {
			t.Errorf("%d payments of team v, want 5", len(all))
		}
		_, err = db.OrderByID(ctx, 12345)
		assertCode(t, err, chorus.ENOTFOUND)
	})
}
