package shop_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/shop"
	"github.com/chorusgw/chorus/internal/shop/stripetest"
)

// deliver signs payload as Stripe would (secret, at) and hands it to the
// shop's webhook handler.
func (e *env) deliver(payload []byte, secret string, at time.Time) error {
	h := http.Header{}
	h.Set("Stripe-Signature", stripetest.Sign(payload, secret, at))
	return e.shop.HandleWebhook(context.Background(), chorus.ProviderStripe, payload, h)
}

// completed returns a checkout.session.completed event for the order's
// session, after paying it at the fake.
func (e *env) completed(t *testing.T, o *chorus.Order) (string, []byte) {
	t.Helper()
	return e.stripe.Event("checkout.session.completed", e.stripe.Complete(o.Payment.ExternalID))
}

func TestStripeCheckoutSession(t *testing.T) {
	eachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		ctx := context.Background()

		t.Run("Created", func(t *testing.T) {
			e := newEnv(t, newDSN)
			if _, err := e.db.AddToCart(ctx, e.user.ID, e.small.ID, 3); err != nil {
				t.Fatal(err)
			}
			o := e.order(t, e.user, chorus.ProviderStripe, e.large, 1)
			cs, ok := e.stripe.Session(o.Payment.ExternalID)
			if !ok {
				t.Fatalf("no session %q at Stripe", o.Payment.ExternalID)
			}
			id := strconv.FormatInt(o.ID, 10)
			if o.Payment.RedirectURL != cs.URL || cs.ClientReferenceID != id || cs.Metadata["order_id"] != id ||
				cs.PaymentIntentMetadata["order_id"] != id || cs.Mode != "payment" {
				t.Errorf("session %+v for order %+v", cs, o.Payment)
			}
			if cs.AmountTotal != o.Total || cs.Currency != "usd" || len(cs.LineItems) != 2 {
				t.Errorf("session amount %d %s with %d lines, want %d usd with 2", cs.AmountTotal, cs.Currency, len(cs.LineItems), o.Total)
			}
			if li := cs.LineItems[0]; li.Name != "Small" || li.UnitAmount != 500 || li.Quantity != 3 {
				t.Errorf("line 0 %+v", li)
			}
			if want := "https://chorus.example/shop/done?order=" + id; cs.SuccessURL != want {
				t.Errorf("success_url %q, want %q", cs.SuccessURL, want)
			}
			calls := e.stripe.Calls()
			if k := calls[len(calls)-1].IdempotencyKey; !strings.HasPrefix(k, "chorus-order-"+id+"-") {
				t.Errorf("idempotency key %q", k)
			}
		})

		t.Run("RetryAfterStripeFailed", func(t *testing.T) {
			e := newEnv(t, newDSN)
			if _, err := e.db.AddToCart(ctx, e.user.ID, e.small.ID, 1); err != nil {
				t.Fatal(err)
			}
			in := shop.CheckoutInput{UserID: e.user.ID, TeamID: e.user.TeamID, Provider: chorus.ProviderStripe, IdempotencyKey: "try"}
			e.stripe.FailNext(http.StatusInternalServerError)
			_, _, err := e.shop.Checkout(ctx, in)
			assertCode(t, err, chorus.EUNAVAILABLE)
			if !strings.Contains(chorus.ErrorMessage(err), "same Idempotency-Key") {
				t.Errorf("message %q does not say how to finish", chorus.ErrorMessage(err))
			}
			o, created, err := e.shop.Checkout(ctx, in)
			if err != nil || created || o.Payment.RedirectURL == "" {
				t.Fatalf("retry: %v created=%v %+v", err, created, o)
			}
			if n := len(e.stripe.Sessions()); n != 1 {
				t.Errorf("%d sessions, want 1", n)
			}
		})
	})
}

func TestStripeWebhooks(t *testing.T) {
	eachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		now := time.Now()

		t.Run("CompletedFulfilsOnce", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 2)
			_, payload := e.completed(t, o)
			for i := range 3 { // delivered, then redelivered twice (the same event: a duplicate or a replay)
				if err := e.deliver(payload, stripetest.WebhookSecret, now); err != nil {
					t.Fatalf("delivery %d: %v", i, err)
				}
			}
			got := e.get(t, o.ID)
			if got.Status != chorus.OrderFulfilled || !strings.HasPrefix(got.Payment.Reference, "pi_") {
				t.Errorf("order %s, payment %+v", got.Status, got.Payment)
			}
			if b := e.balance(t, e.user.TeamID); b != credits(20) {
				t.Errorf("balance %d, want 20 credits once", b)
			}
		})

		t.Run("ReplayedRequest", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			_, payload := e.completed(t, o)
			// An attacker (or a proxy) sends the very same signed request
			// again: it verifies, and changes nothing.
			h := http.Header{}
			h.Set("Stripe-Signature", stripetest.Sign(payload, stripetest.WebhookSecret, now.Add(-time.Minute)))
			for range 3 {
				if err := e.shop.HandleWebhook(context.Background(), chorus.ProviderStripe, payload, h); err != nil {
					t.Fatal(err)
				}
			}
			if b := e.balance(t, e.user.TeamID); b != credits(10) {
				t.Errorf("balance %d, want 10 credits once", b)
			}
			// Replayed after the tolerance: refused outright.
			h.Set("Stripe-Signature", stripetest.Sign(payload, stripetest.WebhookSecret, now.Add(-shop.WebhookTolerance-time.Second)))
			err := e.shop.HandleWebhook(context.Background(), chorus.ProviderStripe, payload, h)
			assertCode(t, err, chorus.EINVALID)
		})

		t.Run("ErrSignature", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			_, payload := e.completed(t, o)
			for _, tt := range []struct {
				name   string
				secret string
				at     time.Time
				edit   func([]byte) []byte
			}{
				{"WrongSecret", "whsec_someone_else", now, nil},
				{"Stale", stripetest.WebhookSecret, now.Add(-shop.WebhookTolerance - time.Minute), nil},
				{"Tampered", stripetest.WebhookSecret, now, func(b []byte) []byte {
					return []byte(strings.Replace(string(b), `"amount_total":500`, `"amount_total":5`, 1))
				}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					h := http.Header{}
					h.Set("Stripe-Signature", stripetest.Sign(payload, tt.secret, tt.at))
					body := payload
					if tt.edit != nil {
						body = tt.edit(payload)
					}
					err := e.shop.HandleWebhook(context.Background(), chorus.ProviderStripe, body, h)
					assertCode(t, err, chorus.EINVALID)
				})
			}
			err := e.shop.HandleWebhook(context.Background(), chorus.ProviderStripe, payload, http.Header{})
			assertCode(t, err, chorus.EINVALID)
			if got := e.get(t, o.ID); got.Status != chorus.OrderPending {
				t.Errorf("an unverified event changed the order to %s", got.Status)
			}
		})

		t.Run("OutOfOrder", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			_, paid := e.completed(t, o)
			cs, _ := e.stripe.Session(o.Payment.ExternalID)
			cs.Status = "expired"
			_, expired := e.stripe.Event("checkout.session.expired", cs)
			_, failed := e.stripe.Event("checkout.session.async_payment_failed", cs)
			for _, p := range [][]byte{paid, expired, failed} {
				if err := e.deliver(p, stripetest.WebhookSecret, now); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.get(t, o.ID); got.Status != chorus.OrderFulfilled || e.balance(t, e.user.TeamID) != credits(10) {
				t.Errorf("late events moved the order to %s (balance %d)", got.Status, e.balance(t, e.user.TeamID))
			}
		})

		t.Run("ExpiredCancels", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			cs, _ := e.stripe.Session(o.Payment.ExternalID)
			cs.Status = "expired"
			_, expired := e.stripe.Event("checkout.session.expired", cs)
			if err := e.deliver(expired, stripetest.WebhookSecret, now); err != nil {
				t.Fatal(err)
			}
			if got := e.get(t, o.ID); got.Status != chorus.OrderCancelled || got.Payment.Status != chorus.PaymentCancelled {
				t.Errorf("order %s payment %s", got.Status, got.Payment.Status)
			}
			// Paid after all (a payment racing the expiry): nothing granted.
			_, paid := e.completed(t, o)
			if err := e.deliver(paid, stripetest.WebhookSecret, now); err != nil {
				t.Fatal(err)
			}
			if got := e.get(t, o.ID); got.Status != chorus.OrderCancelled || e.balance(t, e.user.TeamID) != 0 {
				t.Errorf("order %s balance %d", got.Status, e.balance(t, e.user.TeamID))
			}
		})

		t.Run("AsyncPayment", func(t *testing.T) {
			e := newEnv(t, newDSN)
			ok := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			bad := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			for _, tt := range []struct {
				o    *chorus.Order
				typ  string
				want string
			}{
				{ok, "async_payment_succeeded", chorus.OrderFulfilled},
				{bad, "async_payment_failed", chorus.OrderFailed},
			} {
				cs, _ := e.stripe.Session(tt.o.Payment.ExternalID)
				cs.Status = "complete" // paid by bank debit: not yet
				_, pending := e.stripe.Event("checkout.session.completed", cs)
				if err := e.deliver(pending, stripetest.WebhookSecret, now); err != nil {
					t.Fatal(err)
				}
				if got := e.get(t, tt.o.ID); got.Status != chorus.OrderPending {
					t.Errorf("an unpaid completed session moved the order to %s", got.Status)
				}
				if tt.want == chorus.OrderFulfilled {
					cs = e.stripe.Complete(cs.ID)
				}
				_, outcome := e.stripe.Event("checkout.session."+tt.typ, cs)
				if err := e.deliver(outcome, stripetest.WebhookSecret, now); err != nil {
					t.Fatal(err)
				}
				if got := e.get(t, tt.o.ID); got.Status != tt.want {
					t.Errorf("%s: order %s, want %s", tt.typ, got.Status, tt.want)
				}
			}
			if b := e.balance(t, e.user.TeamID); b != credits(10) {
				t.Errorf("balance %d, want 10 credits", b)
			}
		})

		t.Run("NotOurs", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			m := e.order(t, e.user, chorus.ProviderManual, e.small, 1)
			cs := e.stripe.Complete(o.Payment.ExternalID)
			other := cs
			other.ClientReferenceID, other.Metadata = "999999", nil
			wrongSession := cs
			wrongSession.ID = "cs_test_elsewhere"
			manual := cs
			manual.ClientReferenceID = strconv.FormatInt(m.ID, 10)
			wrongAmount := cs
			wrongAmount.AmountTotal = 1
			noRef := cs
			noRef.ClientReferenceID, noRef.Metadata = "", nil
			for name, obj := range map[string]any{
				"UnknownOrder": other, "OtherSession": wrongSession, "ManualOrder": manual,
				"WrongAmount": wrongAmount, "NoReference": noRef,
			} {
				_, payload := e.stripe.Event("checkout.session.completed", obj)
				if err := e.deliver(payload, stripetest.WebhookSecret, now); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			_, unknownType := e.stripe.Event("invoice.paid", map[string]any{"id": "in_1", "object": "invoice"})
			if err := e.deliver(unknownType, stripetest.WebhookSecret, now); err != nil {
				t.Errorf("unknown type: %v", err)
			}
			if a, b := e.get(t, o.ID).Status, e.get(t, m.ID).Status; a != chorus.OrderPending || b != chorus.OrderPending {
				t.Errorf("orders %s and %s, want both pending", a, b)
			}
			if b := e.balance(t, e.user.TeamID); b != 0 {
				t.Errorf("balance %d", b)
			}
		})

		t.Run("ChargeRefunded", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			_, paid := e.completed(t, o)
			if err := e.deliver(paid, stripetest.WebhookSecret, now); err != nil {
				t.Fatal(err)
			}
			pi := e.get(t, o.ID).Payment.Reference
			_, partial := e.stripe.Event("charge.refunded", stripetest.Charge(pi, o.Total, 100, "usd"))
			if err := e.deliver(partial, stripetest.WebhookSecret, now); err != nil {
				t.Fatal(err)
			}
			if got := e.get(t, o.ID); got.Status != chorus.OrderFulfilled {
				t.Errorf("a partial refund moved the order to %s", got.Status)
			}
			// Refunded from Stripe's dashboard after the team spent some
			// credits: the money is back, so are the credits.
			p := &chorus.Posting{IdempotencyKey: "spend", Kind: chorus.PostingSpend, Entries: []chorus.LedgerEntry{
				{Account: chorus.WalletAccount(e.user.TeamID), Amount: -credits(4)}, {Account: chorus.AccountRevenue, Amount: credits(4)},
			}}
			if _, err := e.db.Post(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			_, full := e.stripe.Event("charge.refunded", stripetest.Charge(pi, o.Total, o.Total, "usd"))
			for range 2 {
				if err := e.deliver(full, stripetest.WebhookSecret, now); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.get(t, o.ID); got.Status != chorus.OrderRefunded || got.Payment.Status != chorus.PaymentRefunded {
				t.Errorf("order %s payment %s", got.Status, got.Payment.Status)
			}
			if b := e.balance(t, e.user.TeamID); b != -credits(4) {
				t.Errorf("balance %d, want -4 credits", b)
			}
		})
	})
}

func TestStripeRefundAndCancel(t *testing.T) {
	eachDB(t, func(t *testing.T, newDSN func(testing.TB) string) {
		ctx := context.Background()
		now := time.Now()

		t.Run("Refund", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			_, paid := e.completed(t, o)
			if err := e.deliver(paid, stripetest.WebhookSecret, now); err != nil {
				t.Fatal(err)
			}
			pi := e.get(t, o.ID).Payment.Reference
			e.stripe.FailNext(http.StatusInternalServerError)
			_, err := e.shop.Refund(ctx, o.ID, shop.RefundInput{})
			assertCode(t, err, chorus.EUNAVAILABLE)
			if got := e.get(t, o.ID); got.Status != chorus.OrderFulfilled || e.balance(t, e.user.TeamID) != credits(10) {
				t.Fatalf("a failed Stripe refund changed the order to %s", got.Status)
			}
			got, err := e.shop.Refund(ctx, o.ID, shop.RefundInput{Reason: "duplicate purchase"})
			if err != nil {
				t.Fatal(err)
			}
			re, ok := e.stripe.Refunded(pi)
			if !ok || got.Status != chorus.OrderRefunded || got.Payment.RefundReference != re {
				t.Errorf("refund %q (%v), order %s payment %+v", re, ok, got.Status, got.Payment)
			}
			if b := e.balance(t, e.user.TeamID); b != 0 {
				t.Errorf("balance %d", b)
			}
			// Stripe then reports the refund: nothing more happens.
			_, full := e.stripe.Event("charge.refunded", stripetest.Charge(pi, o.Total, o.Total, "usd"))
			if err := e.deliver(full, stripetest.WebhookSecret, now); err != nil {
				t.Fatal(err)
			}
			if b := e.balance(t, e.user.TeamID); b != 0 {
				t.Errorf("balance %d after the refund event", b)
			}
			calls := e.stripe.Calls()
			if c := calls[len(calls)-1]; c.Path != "/v1/refunds" || c.Form.Get("payment_intent") != pi || c.IdempotencyKey == "" {
				t.Errorf("refund call %+v", c)
			}
		})

		t.Run("RefundRejectedBeforeStripe", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			_, paid := e.completed(t, o)
			if err := e.deliver(paid, stripetest.WebhookSecret, now); err != nil {
				t.Fatal(err)
			}
			p := &chorus.Posting{IdempotencyKey: "spend", Kind: chorus.PostingSpend, Entries: []chorus.LedgerEntry{
				{Account: chorus.WalletAccount(e.user.TeamID), Amount: -credits(1)}, {Account: chorus.AccountRevenue, Amount: credits(1)},
			}}
			if _, err := e.db.Post(ctx, p); err != nil {
				t.Fatal(err)
			}
			_, err := e.shop.Refund(ctx, o.ID, shop.RefundInput{})
			assertCode(t, err, chorus.ECONFLICT)
			if _, ok := e.stripe.Refunded(e.get(t, o.ID).Payment.Reference); ok {
				t.Error("Stripe refunded a refund the policy refused")
			}
		})

		t.Run("CancelExpiresSession", func(t *testing.T) {
			e := newEnv(t, newDSN)
			o := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			got, err := e.shop.Cancel(ctx, e.user.TeamID, o.ID)
			if err != nil || got.Status != chorus.OrderCancelled {
				t.Fatalf("%v %+v", err, got)
			}
			if cs, _ := e.stripe.Session(o.Payment.ExternalID); cs.Status != "expired" {
				t.Errorf("session %s, want expired", cs.Status)
			}
			// Paid before the webhook arrived: too late to cancel.
			p := e.order(t, e.user, chorus.ProviderStripe, e.small, 1)
			e.stripe.Complete(p.Payment.ExternalID)
			_, err = e.shop.Cancel(ctx, e.user.TeamID, p.ID)
			assertCode(t, err, chorus.ECONFLICT)
			if got := e.get(t, p.ID); got.Status != chorus.OrderPending {
				t.Errorf("order %s", got.Status)
			}
		})
	})
}

// TestStripeEventShape pins the decoding of a real-looking event with an
// expanded payment_intent and another API version.
func TestStripeEventShape(t *testing.T) {
	s := shop.NewStripe(stripeConfig(stripetest.New(t)), shop.StripeOptions{})
	obj := json.RawMessage(`{"id":"cs_1","object":"checkout.session","client_reference_id":null,
		"metadata":{"order_id":"42"},"payment_status":"paid","payment_intent":{"id":"pi_9","object":"payment_intent"},
		"amount_total":1500,"currency":"eur"}`)
	payload := stripetest.EventWithID("evt_1", "checkout.session.completed", obj)
	payload = []byte(strings.Replace(string(payload), `"api_version":"`, `"api_version":"2019-01-01.x`, 1))
	h := http.Header{}
	h.Set("Stripe-Signature", stripetest.Sign(payload, stripetest.WebhookSecret, time.Now()))
	ev, err := s.ParseWebhook(payload, h)
	if err != nil {
		t.Fatal(err)
	}
	want := shop.Event{ID: "evt_1", Type: "checkout.session.completed", Kind: shop.EventPaid, OrderID: 42,
		ExternalID: "cs_1", Reference: "pi_9", Amount: 1500, Currency: "eur"}
	if *ev != want {
		t.Errorf("got %+v\nwant %+v", *ev, want)
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tt := range []struct {
		minor int64
		cur   string
		want  string
	}{
		{1999, "usd", "19.99"}, {5, "eur", "0.05"}, {0, "usd", "0.00"}, {1999, "jpy", "1999"},
		{-250, "usd", "-2.50"}, {1234, "kwd", "1.234"}, {100, "zzz", "1.00"},
	} {
		if got := shop.FormatAmount(tt.minor, tt.cur); got != tt.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tt.minor, tt.cur, got, tt.want)
		}
	}
}
