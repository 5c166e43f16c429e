package shop_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/shop"
	"github.com/chorusgw/chorus/internal/store"
)

// TestStateMachine walks every (from, to) pair of order states through the
// store's one transition function: the allowed ones move the order (with
// an audit entry naming from and to), the others are refused and change
// nothing.
func TestStateMachine(t *testing.T) {
	allowed := map[[2]string]bool{
		{chorus.OrderPending, chorus.OrderPaid}:       true,
		{chorus.OrderPending, chorus.OrderFailed}:     true,
		{chorus.OrderPending, chorus.OrderCancelled}:  true,
		{chorus.OrderPaid, chorus.OrderFulfilled}:     true,
		{chorus.OrderPaid, chorus.OrderRefunded}:      true,
		{chorus.OrderFulfilled, chorus.OrderRefunded}: true,
	}
	// How to reach each state from a new (pending) order.
	paths := map[string][]string{
		chorus.OrderPending:   nil,
		chorus.OrderPaid:      {chorus.OrderPaid},
		chorus.OrderFulfilled: {chorus.OrderPaid, chorus.OrderFulfilled},
		chorus.OrderFailed:    {chorus.OrderFailed},
		chorus.OrderCancelled: {chorus.OrderCancelled},
		chorus.OrderRefunded:  {chorus.OrderPaid, chorus.OrderFulfilled, chorus.OrderRefunded},
	}
	eachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		e := newEnv(t, newDSN)
		ctx := context.Background()
		for _, from := range chorus.OrderStatuses() {
			for _, to := range chorus.OrderStatuses() {
				t.Run(from+"→"+to, func(t *testing.T) {
					want := allowed[[2]string{from, to}]
					if got := chorus.OrderTransitionAllowed(from, to); got != want {
						t.Fatalf("OrderTransitionAllowed = %v, want %v", got, want)
					}
					o := e.order(t, e.user, chorus.ProviderManual, e.small, 1)
					for _, s := range paths[from] {
						if _, _, err := e.db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: s}); err != nil {
							t.Fatalf("reaching %s: %v", from, err)
						}
					}
					before := e.balance(t, e.user.TeamID)
					got, changed, err := e.db.TransitionOrder(ctx, chorus.OrderTransition{OrderID: o.ID, To: to, Reason: "table"})
					if changed != want {
						t.Fatalf("changed = %v (err %v), want %v", changed, err, want)
					}
					stored := e.get(t, o.ID)
					if !want {
						if to == chorus.OrderPending {
							assertCode(t, err, chorus.EINVALID)
						} else {
							assertCode(t, err, chorus.ECONFLICT)
						}
						if stored.Status != from || e.balance(t, e.user.TeamID) != before {
							t.Fatalf("a refused transition changed the order to %s or the balance", stored.Status)
						}
						return
					}
					if err != nil || got.Status != to || stored.Status != to {
						t.Fatalf("err %v, status %s (stored %s), want %s", err, got.Status, stored.Status, to)
					}
					if want := chorus.PaymentStatusFor(to); stored.Payment.Status != want {
						t.Errorf("payment %s, want %s", stored.Payment.Status, want)
					}
					wantDelta := map[string]int64{chorus.OrderFulfilled: o.Credits}[to]
					if to == chorus.OrderRefunded && from == chorus.OrderFulfilled {
						wantDelta = -o.Credits
					}
					if d := e.balance(t, e.user.TeamID) - before; d != wantDelta {
						t.Errorf("balance moved by %d, want %d", d, wantDelta)
					}
					assertAudited(t, e.db, o.ID, from, to)
				})
			}
		}
	})
}

// assertAudited fails unless the newest audit entry about the order
// records the transition from → to.
func assertAudited(t *testing.T, db *store.DB, orderID int64, from, to string) {
	t.Helper()
	es, err := db.ListAudit(context.Background(), chorus.AuditFilter{TargetType: "order", TargetID: strconv.FormatInt(orderID, 10)},
		chorus.AuditPage{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("no audit entry for order %d", orderID)
	}
	wantAction := chorus.AuditOrderTransition
	if to == chorus.OrderRefunded {
		wantAction = chorus.AuditRefund
	}
	var d struct{ From, To string }
	if err := json.Unmarshal(es[0].Details, &d); err != nil {
		t.Fatal(err)
	}
	if es[0].Action != wantAction || d.From != from || d.To != to {
		t.Errorf("audit entry %s %s→%s, want %s %s→%s", es[0].Action, d.From, d.To, wantAction, from, to)
	}
}

func TestCheckout(t *testing.T) {
	eachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		ctx := context.Background()

		t.Run("ManualInstructions", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, "", e.large, 2) // the default provider: manual here
			if o.Provider != chorus.ProviderManual || o.Payment == nil {
				t.Fatalf("order %+v", o)
			}
			if want := "Pay 40.00 USD by bank transfer quoting order " + strconv.FormatInt(o.ID, 10); !strings.HasPrefix(o.Payment.Instructions, want) {
				t.Errorf("instructions %q, want them to start %q", o.Payment.Instructions, want)
			}
		})

		t.Run("SameKey", func(t *testing.T) {
			e := newEnv(t, newDSN)
			if _, err := e.db.AddToCart(ctx, e.user.ID, e.small.ID, 1); err != nil {
				t.Fatal(err)
			}
			in := shop.CheckoutInput{UserID: e.user.ID, TeamID: e.user.TeamID, Provider: chorus.ProviderStripe, IdempotencyKey: "k1"}
			o, created, err := e.shop.Checkout(ctx, in)
			if err != nil || !created {
				t.Fatalf("%v created=%v", err, created)
			}
			again, created, err := e.shop.Checkout(ctx, in)
			if err != nil || created || again.ID != o.ID || again.Payment.RedirectURL != o.Payment.RedirectURL {
				t.Errorf("replay: %v created=%v %+v", err, created, again)
			}
			if n := len(e.stripe.Sessions()); n != 1 {
				t.Errorf("%d Checkout Sessions, want 1", n)
			}
			in.Provider = chorus.ProviderManual
			_, _, err = e.shop.Checkout(ctx, in)
			assertCode(t, err, chorus.ECONFLICT)
		})

		t.Run("Refused", func(t *testing.T) {
			e := newEnv(t, newDSN)
			in := shop.CheckoutInput{UserID: e.user.ID, TeamID: e.user.TeamID, IdempotencyKey: "k1"}
			_, _, err := e.shop.Checkout(ctx, in)
			assertCode(t, err, chorus.EINVALID) // empty cart
			in.Provider = "paypal"
			_, _, err = e.shop.Checkout(ctx, in)
			assertCode(t, err, chorus.EINVALID)
			e.shop.Providers = nil
			in.Provider = ""
			_, _, err = e.shop.Checkout(ctx, in)
			assertCode(t, err, chorus.ENOTSUPPORTED)
		})
	})
}

func TestManualPayments(t *testing.T) {
	eachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		ctx := context.Background()
		e := newEnv(t, newDSN)

		t.Run("MarkPaidFulfils", func(t *testing.T) {
			o := e.order(t, e.user, chorus.ProviderManual, e.small, 3)
			before := e.balance(t, e.user.TeamID)
			got, err := e.shop.MarkPaid(ctx, o.ID, "  SEPA-2024-001 ")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != chorus.OrderFulfilled || got.Payment.Reference != "SEPA-2024-001" || got.Payment.Status != chorus.PaymentSucceeded {
				t.Errorf("order %+v payment %+v", got, got.Payment)
			}
			if d := e.balance(t, e.user.TeamID) - before; d != credits(30) {
				t.Errorf("balance moved by %d, want 30 credits", d)
			}
			_, err = e.shop.MarkPaid(ctx, o.ID, "again")
			assertCode(t, err, chorus.ECONFLICT)
			if d := e.balance(t, e.user.TeamID) - before; d != credits(30) {
				t.Errorf("marking paid twice granted twice: %d", d)
			}
		})

		t.Run("Refused", func(t *testing.T) {
			o := e.order(t, e.user, chorus.ProviderManual, e.small, 1)
			for _, ref := range []string{"", "   ", strings.Repeat("r", shop.MaxReference+1), "a\x00b"} {
				_, err := e.shop.MarkPaid(ctx, o.ID, ref)
				assertCode(t, err, chorus.EINVALID)
			}
			s := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			_, err := e.shop.MarkPaid(ctx, s.ID, "ref")
			assertCode(t, err, chorus.ECONFLICT)
			_, err = e.shop.MarkPaid(ctx, 99999, "ref")
			assertCode(t, err, chorus.ENOTFOUND)
			if got := e.get(t, o.ID); got.Status != chorus.OrderPending {
				t.Errorf("order %s", got.Status)
			}
		})

		t.Run("Cancel", func(t *testing.T) {
			o := e.order(t, e.user, chorus.ProviderManual, e.small, 1)
			other := e.newUser(t, "eve@example.com")
			_, err := e.shop.Cancel(ctx, other.TeamID, o.ID)
			assertCode(t, err, chorus.ENOTFOUND)
			got, err := e.shop.Cancel(ctx, e.user.TeamID, o.ID)
			if err != nil || got.Status != chorus.OrderCancelled || got.Payment.Status != chorus.PaymentCancelled {
				t.Fatalf("%v %+v", err, got)
			}
			_, err = e.shop.Cancel(ctx, e.user.TeamID, o.ID)
			assertCode(t, err, chorus.ECONFLICT)
			_, err = e.shop.MarkPaid(ctx, o.ID, "late")
			assertCode(t, err, chorus.ECONFLICT)
		})
	})
}

func TestRefundPolicy(t *testing.T) {
	eachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		ctx := context.Background()
		for _, tt := range []struct {
			name          string
			policy        string
			spend         int64 // credits spent before the refund
			allowNegative bool
			wantCode      string
			wantBalance   int64 // credits after
		}{
			{"UnspentRefunded", config.RefundReject, 0, false, "", 0},
			{"SpentRejected", config.RefundReject, 3, false, chorus.ECONFLICT, 7},
			{"SpentAllowedByRequest", config.RefundReject, 3, true, "", -3},
			{"SpentAllowedByPolicy", config.RefundAllowNegative, 3, false, "", -3},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e := newEnv(t, newDSN, func(c *config.Shop) { c.RefundPolicy = tt.policy })
				o := e.order(t, e.user, chorus.ProviderManual, e.small, 1)
				if _, err := e.shop.MarkPaid(ctx, o.ID, "ref"); err != nil {
					t.Fatal(err)
				}
				if tt.spend > 0 {
					p := &chorus.Posting{IdempotencyKey: "spend", Kind: chorus.PostingSpend, Entries: []chorus.LedgerEntry{
						{Account: chorus.WalletAccount(e.user.TeamID), Amount: -credits(tt.spend)},
						{Account: chorus.AccountRevenue, Amount: credits(tt.spend)},
					}}
					if _, err := e.db.Post(ctx, p); err != nil {
						t.Fatal(err)
					}
				}
				got, err := e.shop.Refund(ctx, o.ID, shop.RefundInput{AllowNegative: tt.allowNegative, Reason: "customer asked"})
				assertCode(t, err, tt.wantCode)
				if err != nil {
					if msg := chorus.ErrorMessage(err); !strings.Contains(msg, "allow_negative") || !strings.Contains(msg, "7.000000") {
						t.Errorf("message %q should give the balance and the way out", msg)
					}
					if s := e.get(t, o.ID).Status; s != chorus.OrderFulfilled {
						t.Errorf("a refused refund left the order %s", s)
					}
				} else if got.Status != chorus.OrderRefunded {
					t.Errorf("order %s", got.Status)
				}
				if b := e.balance(t, e.user.TeamID); b != credits(tt.wantBalance) {
					t.Errorf("balance %d, want %d credits", b, tt.wantBalance)
				}
			})
		}

		t.Run("NotRefundable", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderManual, e.small, 1)
			_, err := e.shop.Refund(ctx, o.ID, shop.RefundInput{})
			assertCode(t, err, chorus.ECONFLICT)
			_, err = e.shop.Refund(ctx, 12345, shop.RefundInput{})
			assertCode(t, err, chorus.ENOTFOUND)
		})
	})
}

func TestReconciler(t *testing.T) {
	eachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		ctx := context.Background()

		t.Run("RetriesFailedFulfilment", func(t *testing.T) {
			e := newEnv(t, newDSN)
			boom := errors.New("injected fulfilment failure")
			e.shop.SetFulfilHook(func(*chorus.Order) error { return boom })
			o := e.order(t, e.user, chorus.ProviderManual, e.small, 2)
			got, err := e.shop.MarkPaid(ctx, o.ID, "ref")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != chorus.OrderPaid || e.balance(t, e.user.TeamID) != 0 {
				t.Fatalf("after a failed fulfilment: %s, balance %d; want paid, 0", got.Status, e.balance(t, e.user.TeamID))
			}
			r := &shop.Reconciler{Shop: e.shop}
			n, err := r.ReconcileOnce(ctx)
			if !errors.Is(err, boom) || n != 0 {
				t.Errorf("while still failing: %d, %v", n, err)
			}
			e.shop.SetFulfilHook(nil)
			if n, err := r.ReconcileOnce(ctx); err != nil || n != 1 {
				t.Errorf("first run: %d, %v; want 1", n, err)
			}
			if n, err := r.ReconcileOnce(ctx); err != nil || n != 0 {
				t.Errorf("second run: %d, %v; want 0", n, err)
			}
			if got := e.get(t, o.ID); got.Status != chorus.OrderFulfilled || e.balance(t, e.user.TeamID) != credits(20) {
				t.Errorf("order %s, balance %d; want fulfilled with 20 credits", got.Status, e.balance(t, e.user.TeamID))
			}
		})

		t.Run("TwoInstances", func(t *testing.T) {
			e := newEnv(t, newDSN)
			e.shop.SetFulfilHook(func(*chorus.Order) error { return errors.New("down") })
			const n = 12
			var want int64
			for i := range n {
				o := e.order(t, e.user, chorus.ProviderManual, e.small, int64(1+i%3))
				if _, err := e.shop.MarkPaid(ctx, o.ID, "ref"); err != nil {
					t.Fatal(err)
				}
				want += o.Credits
			}
			e.shop.SetFulfilHook(nil)
			// A second instance: its own connections to the same database.
			other := newShop(openDB(t, e.dsn), config.DefaultShop())
			rs := []*shop.Reconciler{{Shop: e.shop}, {Shop: other}, {Shop: e.shop}, {Shop: other}}
			var wg sync.WaitGroup
			counts := make(chan int, len(rs))
			for _, r := range rs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := r.ReconcileOnce(ctx)
					if err != nil {
						t.Error(err)
					}
					counts <- c
				}()
			}
			wg.Wait()
			close(counts)
			total := 0
			for c := range counts {
				total += c
			}
			if total != n {
				t.Errorf("%d fulfilments for %d orders", total, n)
			}
			if b := e.balance(t, e.user.TeamID); b != want {
				t.Errorf("balance %d, want %d", b, want)
			}
		})

		t.Run("RunStopsWithContext", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderManual, e.small, 1)
			e.shop.SetFulfilHook(func(*chorus.Order) error { return errors.New("down") })
			if _, err := e.shop.MarkPaid(ctx, o.ID, "ref"); err != nil {
				t.Fatal(err)
			}
			e.shop.SetFulfilHook(nil)
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { (&shop.Reconciler{Shop: e.shop, Interval: 10 * time.Millisecond}).Run(rctx); close(done) }()
			waitFor(t, func() bool { return e.get(t, o.ID).Status == chorus.OrderFulfilled })
			cancel()
			<-done
		})
	})
}
