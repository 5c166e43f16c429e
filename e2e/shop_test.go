package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/shop"
	"github.com/chorusgw/chorus/internal/shop/stripetest"
)

// The shop end to end: products, carts, checkout, orders, manual and Stripe
// payments (Stripe is a local fake speaking its wire format), refunds, and
// the reconciler, through HTTP.

type shopProduct struct {
	ID           int64      `json:"id"`
	Object       string     `json:"object"`
	Name         string     `json:"name"`
	Price        int64      `json:"price"`
	MicroCredits int64      `json:"micro_credits"`
	Active       bool       `json:"active"`
	ArchivedAt   *time.Time `json:"archived_at"`
	Currency     string     `json:"currency"`
	PriceDisplay string     `json:"price_display"`
	Credits      string     `json:"credits"`
}

type shopCart struct {
	Object  string `json:"object"`
	Version int64  `json:"version"`
	Items   []struct {
		ProductID int64 `json:"product_id"`
		Quantity  int64 `json:"quantity"`
		Amount    int64 `json:"amount"`
		Available bool  `json:"available"`
	} `json:"items"`
	Total        int64  `json:"total"`
	MicroCredits int64  `json:"micro_credits"`
	TotalDisplay string `json:"total_display"`
	Currency     string `json:"currency"`
}

type shopOrder struct {
	ID           int64  `json:"id"`
	Object       string `json:"object"`
	TeamID       int64  `json:"team_id"`
	Status       string `json:"status"`
	Provider     string `json:"provider"`
	Total        int64  `json:"total"`
	MicroCredits int64  `json:"micro_credits"`
	Items        []struct {
		Name      string `json:"name"`
		UnitPrice int64  `json:"unit_price"`
		Quantity  int64  `json:"quantity"`
	} `json:"items"`
	Payment struct {
		Status          string `json:"status"`
		ExternalID      string `json:"external_id"`
		Reference       string `json:"reference"`
		RefundReference string `json:"refund_reference"`
		RedirectURL     string `json:"redirect_url"`
		Instructions    string `json:"instructions"`
	} `json:"payment"`
}

type shopList[T any] struct {
	Object  string `json:"object"`
	Data    []T    `json:"data"`
	HasMore bool   `json:"has_more"`
}

// createProduct creates a product through the admin API.
func (g *gateway) createProduct(name string, price, credits int64) shopProduct {
	g.t.Helper()
	var p shopProduct
	g.mustAdmin("POST", "/api/admin/products", map[string]any{"name": name, "price": price,
		"micro_credits": credits * chorus.MicroPerCredit}, http.StatusCreated, &p)
	return p
}

// pendingOrder places a manual order for user (straight through the
// shop) and returns its ID: a fixture for the authorization table.
func (g *gateway) pendingOrder(u *chorus.User) int64 {
	g.t.Helper()
	ctx := context.Background()
	p := &chorus.Product{Name: g.unique("pack"), Price: 100, Credits: chorus.MicroPerCredit, Active: true}
	if err := g.App.DB.CreateProduct(ctx, p); err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.App.DB.AddToCart(ctx, u.ID, p.ID, 1); err != nil {
		g.t.Fatal(err)
	}
	o, _, err := g.App.Manage.Shop.Checkout(ctx, shop.CheckoutInput{UserID: u.ID, TeamID: u.TeamID,
		Provider: chorus.ProviderManual, IdempotencyKey: g.unique("fixture")})
	if err != nil {
		g.t.Fatal(err)
	}
	return o.ID
}

// productFixture creates a product and returns its ID.
func (g *gateway) productFixture() int64 {
	g.t.Helper()
	p := &chorus.Product{Name: g.unique("pack"), Price: 100, Credits: chorus.MicroPerCredit, Active: true}
	if err := g.App.DB.CreateProduct(context.Background(), p); err != nil {
		g.t.Fatal(err)
	}
	return p.ID
}

func TestShopManual(t *testing.T) {
	g := startGateway(t, nil)
	userA := g.createUser(chorus.RoleCustomer)
	keyA := g.createKey(keySpec{Name: "a", UserID: userA.ID}).Key
	keyB := g.customer().Key

	// Products: admin-managed, validated, customers see those on sale.
	small := g.createProduct("Small pack", 500, 10)
	large := g.createProduct("Large pack", 2000, 50)
	old := g.createProduct("Old pack", 100, 1)
	if small.PriceDisplay != "5.00" || small.Credits != "10.000000" || small.Currency != "usd" {
		t.Errorf("product view %+v", small)
	}
	for _, tt := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{"price": 100, "micro_credits": 1}, "name"},
		{map[string]any{"name": "x", "micro_credits": 1}, "price"},
		{map[string]any{"name": "x", "price": 0, "micro_credits": 1}, "price"},
		{map[string]any{"name": "x", "price": 100, "micro_credits": -1}, "micro_credits"},
		{map[string]any{"name": "x", "price": 100}, "micro_credits"},
		{map[string]any{"name": "x", "price": "1", "micro_credits": 1}, "price"},
	} {
		wantAPIError(t, g.admin("POST", "/api/admin/products", tt.body), http.StatusBadRequest, "invalid_request_error", tt.param)
	}
	wantAPIError(t, g.admin("POST", "/api/admin/products", map[string]any{"name": "x", "price": 1, "micro_credits": 1, "colour": "red"}),
		http.StatusBadRequest, "invalid_request_error", "")
	var archived shopProduct
	g.mustAdmin("PUT", fmt.Sprintf("/api/admin/products/%d", old.ID), map[string]any{"archived": true}, http.StatusOK, &archived)
	if archived.Active || archived.ArchivedAt == nil {
		t.Errorf("archived product %+v", archived)
	}
	var onSale shopList[shopProduct]
	decodeInto(t, g.do("GET", "/api/shop/products", keyA, nil), http.StatusOK, &onSale)
	if len(onSale.Data) != 2 || onSale.Data[0].ID != small.ID || onSale.Data[1].ID != large.ID {
		t.Errorf("products on sale: %+v", onSale.Data)
	}

	// The cart: adds land, stale writes conflict with the current cart.
	var cart shopCart
	decodeInto(t, g.do("POST", "/api/cart", keyA, map[string]any{"product_id": small.ID, "quantity": 2}), http.StatusOK, &cart)
	decodeInto(t, g.do("POST", fmt.Sprintf("/api/cart/items/%d", large.ID), keyA, nil), http.StatusOK, &cart)
	if cart.Version != 2 || len(cart.Items) != 2 || cart.Total != 3000 || cart.TotalDisplay != "30.00" {
		t.Fatalf("cart %+v", cart)
	}
	wantAPIError(t, g.do("POST", "/api/cart", keyA, map[string]any{"product_id": old.ID}), http.StatusBadRequest, "invalid_request_error", "product_id")
	wantAPIError(t, g.do("POST", "/api/cart", keyA, map[string]any{"product_id": small.ID, "quantity": 1001}), http.StatusBadRequest, "invalid_request_error", "quantity")
	wantAPIError(t, g.do("PUT", fmt.Sprintf("/api/cart/items/%d", small.ID), keyA, map[string]any{"quantity": 3}),
		http.StatusBadRequest, "invalid_request_error", "version")
	r := g.do("PUT", fmt.Sprintf("/api/cart/items/%d", small.ID), keyA, map[string]any{"quantity": 3, "version": 1})
	e := wantAPIError(t, r, http.StatusConflict, "conflict_error", "version")
	var conflict struct{ Cart shopCart }
	if err := json.Unmarshal(r.Body, &conflict); err != nil || conflict.Cart.Version != 2 || len(conflict.Cart.Items) != 2 {
		t.Errorf("409 without the current cart: %s (%v)", r.Body, err)
	}
	if !strings.Contains(e.Error.Message, "version") {
		t.Errorf("conflict message %q", e.Error.Message)
	}
	r = g.do("PUT", fmt.Sprintf("/api/cart/items/%d", small.ID), keyA, map[string]any{"quantity": 3}, "If-Match", `"2"`)
	decodeInto(t, r, http.StatusOK, &cart)
	if cart.Version != 3 || cart.Items[0].Quantity != 3 || r.Header.Get("ETag") != `"3"` {
		t.Errorf("set with If-Match: %+v ETag %q", cart, r.Header.Get("ETag"))
	}
	decodeInto(t, g.do("DELETE", fmt.Sprintf("/api/cart/items/%d", large.ID), keyA, nil, "If-Match", `"3"`), http.StatusOK, &cart)
	if len(cart.Items) != 1 {
		t.Errorf("after remove: %+v", cart)
	}
	var empty shopCart
	decodeInto(t, g.do("GET", "/api/cart", keyB, nil), http.StatusOK, &empty)
	if len(empty.Items) != 0 || empty.Version != 0 {
		t.Errorf("another user's cart: %+v", empty)
	}

	// Checkout: idempotent, the key required, the cart emptied.
	wantAPIError(t, g.do("POST", "/api/checkout", keyA, map[string]any{}), http.StatusBadRequest, "invalid_request_error", "Idempotency-Key")
	wantAPIError(t, g.do("POST", "/api/checkout", keyA, map[string]any{"provider": "stripe"}, "Idempotency-Key", "k-1"),
		http.StatusBadRequest, "invalid_request_error", "provider")
	var order shopOrder
	r = g.do("POST", "/api/checkout", keyA, nil, "Idempotency-Key", "k-1")
	decodeInto(t, r, http.StatusCreated, &order)
	if order.Status != chorus.OrderPending || order.Provider != chorus.ProviderManual || order.Total != 1500 ||
		order.MicroCredits != 30*chorus.MicroPerCredit || !strings.Contains(order.Payment.Instructions, "15.00 USD") {
		t.Errorf("order %+v", order)
	}
	var replay shopOrder
	r = g.do("POST", "/api/checkout", keyA, map[string]any{"provider": "manual"}, "Idempotency-Key", "k-1")
	decodeInto(t, r, http.StatusOK, &replay)
	if replay.ID != order.ID || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: order %d (header %q), want %d", replay.ID, r.Header.Get("Idempotent-Replayed"), order.ID)
	}
	wantAPIError(t, g.do("POST", "/api/checkout", keyA, nil, "Idempotency-Key", "k-2"), http.StatusBadRequest, "invalid_request_error", "cart")
	decodeInto(t, g.do("GET", "/api/cart", keyA, nil), http.StatusOK, &cart)
	if len(cart.Items) != 0 {
		t.Errorf("cart after checkout: %+v", cart)
	}

	// Orders: one's own team only.
	var mine shopList[shopOrder]
	decodeInto(t, g.do("GET", "/api/orders", keyA, nil), http.StatusOK, &mine)
	if len(mine.Data) != 1 || mine.Data[0].ID != order.ID {
		t.Errorf("own orders %+v", mine.Data)
	}
	var theirs shopList[shopOrder]
	decodeInto(t, g.do("GET", "/api/orders", keyB, nil), http.StatusOK, &theirs)
	if len(theirs.Data) != 0 {
		t.Errorf("another team sees %+v", theirs.Data)
	}
	orderPath := "/api/orders/" + strconv.FormatInt(order.ID, 10)
	wantAPIError(t, g.do("GET", orderPath, keyB, nil), http.StatusNotFound, "invalid_request_error", "")
	wantAPIError(t, g.do("POST", orderPath+"/cancel", keyB, nil), http.StatusNotFound, "invalid_request_error", "")
	wantAPIError(t, g.do("GET", "/api/orders?status=lost", keyA, nil), http.StatusBadRequest, "invalid_request_error", "status")

	// The admin marks it paid: fulfilled, credits in the wallet.
	adminPath := "/api/admin/orders/" + strconv.FormatInt(order.ID, 10)
	wantAPIError(t, g.admin("POST", adminPath+"/mark-paid", map[string]any{}), http.StatusBadRequest, "invalid_request_error", "reference")
	var paid shopOrder
	g.mustAdmin("POST", adminPath+"/mark-paid", map[string]any{"reference": "SEPA-001"}, http.StatusOK, &paid)
	if paid.Status != chorus.OrderFulfilled || paid.Payment.Reference != "SEPA-001" {
		t.Errorf("after mark-paid: %+v", paid)
	}
	wantAPIError(t, g.admin("POST", adminPath+"/mark-paid", map[string]any{"reference": "again"}), http.StatusConflict, "conflict_error", "")
	wantAPIError(t, g.do("POST", orderPath+"/cancel", keyA, nil), http.StatusConflict, "conflict_error", "")
	var bal creditsBalance
	decodeInto(t, g.do("GET", "/api/credits/balance", keyA, nil), http.StatusOK, &bal)
	if bal.Balance != 30*chorus.MicroPerCredit {
		t.Errorf("balance %d, want 30 credits", bal.Balance)
	}

	// Refunds: refused once credits are spent, unless allow_negative.
	spend := &chorus.Posting{IdempotencyKey: "e2e-spend", Kind: chorus.PostingSpend, Entries: []chorus.LedgerEntry{
		{Account: chorus.WalletAccount(userA.TeamID), Amount: -5 * chorus.MicroPerCredit},
		{Account: chorus.AccountRevenue, Amount: 5 * chorus.MicroPerCredit},
	}}
	if _, err := g.App.DB.Post(context.Background(), spend); err != nil {
		t.Fatal(err)
	}
	e = wantAPIError(t, g.admin("POST", adminPath+"/refund", map[string]any{}), http.StatusConflict, "conflict_error", "")
	if !strings.Contains(e.Error.Message, "allow_negative") {
		t.Errorf("refund refusal %q does not say how to proceed", e.Error.Message)
	}
	var refunded shopOrder
	g.mustAdmin("POST", adminPath+"/refund", map[string]any{"allow_negative": true, "reason": "goodwill"}, http.StatusOK, &refunded)
	decodeInto(t, g.do("GET", "/api/credits/balance", keyA, nil), http.StatusOK, &bal)
	if refunded.Status != chorus.OrderRefunded || bal.Balance != -5*chorus.MicroPerCredit {
		t.Errorf("after refund: %s, balance %d", refunded.Status, bal.Balance)
	}

	// Admin lists: filters and the page bound.
	var byStatus shopList[shopOrder]
	g.mustAdmin("GET", fmt.Sprintf("/api/admin/orders?status=refunded&team_id=%d", userA.TeamID), nil, http.StatusOK, &byStatus)
	if len(byStatus.Data) != 1 {
		t.Errorf("refunded orders of team A: %+v", byStatus.Data)
	}
	var pays shopList[struct {
		OrderID int64  `json:"order_id"`
		Status  string `json:"status"`
	}]
	g.mustAdmin("GET", "/api/admin/payments?provider=manual&status=refunded", nil, http.StatusOK, &pays)
	if len(pays.Data) != 1 || pays.Data[0].OrderID != order.ID {
		t.Errorf("payments %+v", pays.Data)
	}
	for _, q := range []string{"/api/admin/orders?limit=501", "/api/admin/orders?limit=0", "/api/admin/orders?team_id=x",
		"/api/admin/payments?status=lost", "/api/admin/payments?provider=paypal"} {
		if r := g.admin("GET", q, nil); r.Status != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", q, r.Status)
		}
	}
	// The customer routes take a user's key (the master key is refused there).
	if r := g.do("GET", "/api/shop/products?after=-1", g.customer().Key, nil); r.Status != http.StatusBadRequest {
		t.Errorf("GET /api/shop/products?after=-1 = %d, want 400", r.Status)
	}
}

func TestShopCartConcurrentHTTP(t *testing.T) {
	g := startGateway(t, nil)
	key := g.customer().Key
	p := g.createProduct("Pack", 100, 1)
	const n = 16
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := g.do("POST", "/api/cart", key, map[string]any{"product_id": p.ID}); r.Status != http.StatusOK {
				t.Errorf("add: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	var cart shopCart
	decodeInto(t, g.do("GET", "/api/cart", key, nil), http.StatusOK, &cart)
	if cart.Version != n || len(cart.Items) != 1 || cart.Items[0].Quantity != n {
		t.Errorf("after %d concurrent adds: %+v", n, cart)
	}
}

func TestShopStripe(t *testing.T) {
	fake := stripetest.New(t)
	g := startGateway(t, func(c *config.Config) {
		c.Shop.Stripe = config.ShopStripe{Enabled: true, SecretKey: stripetest.SecretKey, WebhookSecret: stripetest.WebhookSecret,
			SuccessURL: "https://chorus.example/shop/done?order={ORDER_ID}", CancelURL: "https://chorus.example/shop/cart",
			APIBase: fake.URL, Timeout: 10 * time.Second}
	})
	user := g.createUser(chorus.RoleCustomer)
	key := g.createKey(keySpec{Name: "s", UserID: user.ID}).Key
	p := g.createProduct("Pack", 1999, 25)
	checkout := func(idem string) shopOrder {
		t.Helper()
		if r := g.do("POST", "/api/cart", key, map[string]any{"product_id": p.ID, "quantity": 2}); r.Status != http.StatusOK {
			t.Fatalf("add: %d %s", r.Status, r.Body)
		}
		var o shopOrder
		decodeInto(t, g.do("POST", "/api/checkout", key, map[string]any{"provider": "stripe"}, "Idempotency-Key", idem), http.StatusCreated, &o)
		return o
	}
	webhook := func(payload []byte, secret string, at time.Time) response {
		t.Helper()
		return g.do("POST", "/api/webhooks/stripe", "", payload, "Stripe-Signature", stripetest.Sign(payload, secret, at))
	}

	o := checkout("s-1")
	cs, ok := fake.Session(o.Payment.ExternalID)
	if !ok || o.Payment.RedirectURL != cs.URL || cs.AmountTotal != 3998 || cs.ClientReferenceID != strconv.FormatInt(o.ID, 10) {
		t.Fatalf("order %+v, session %+v", o, cs)
	}
	_, paid := fake.Event("checkout.session.completed", fake.Complete(cs.ID))
	if r := webhook(paid, "whsec_wrong", time.Now()); r.Status != http.StatusBadRequest {
		t.Errorf("wrong secret: %d %s", r.Status, r.Body)
	}
	if r := webhook(paid, stripetest.WebhookSecret, time.Now().Add(-10*time.Minute)); r.Status != http.StatusBadRequest {
		t.Errorf("stale signature: %d %s", r.Status, r.Body)
	}
	big := make([]byte, 70<<10)
	if r := webhook(big, stripetest.WebhookSecret, time.Now()); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized webhook: %d", r.Status)
	}
	for range 2 {
		if r := webhook(paid, stripetest.WebhookSecret, time.Now()); r.Status != http.StatusOK {
			t.Fatalf("webhook: %d %s", r.Status, r.Body)
		}
	}
	var got shopOrder
	decodeInto(t, g.do("GET", "/api/orders/"+strconv.FormatInt(o.ID, 10), key, nil), http.StatusOK, &got)
	var bal creditsBalance
	decodeInto(t, g.do("GET", "/api/credits/balance", key, nil), http.StatusOK, &bal)
	if got.Status != chorus.OrderFulfilled || bal.Balance != 50*chorus.MicroPerCredit {
		t.Errorf("after payment: %s, balance %d (want fulfilled, 50 credits once)", got.Status, bal.Balance)
	}
	// Out of order: the session's expiry after its payment changes nothing.
	cs.Status = "expired"
	_, expired := fake.Event("checkout.session.expired", cs)
	if r := webhook(expired, stripetest.WebhookSecret, time.Now()); r.Status != http.StatusOK {
		t.Errorf("late expiry: %d", r.Status)
	}
	// The admin refunds through Stripe.
	var refunded shopOrder
	g.mustAdmin("POST", "/api/admin/orders/"+strconv.FormatInt(o.ID, 10)+"/refund", nil, http.StatusOK, &refunded)
	if re, ok := fake.Refunded(refunded.Payment.Reference); !ok || refunded.Status != chorus.OrderRefunded || refunded.Payment.RefundReference != re {
		t.Errorf("refund: %+v (at Stripe %q %v)", refunded, re, ok)
	}

	// Cancelling a Stripe order expires its session.
	c := checkout("s-2")
	var cancelled shopOrder
	decodeInto(t, g.do("POST", "/api/orders/"+strconv.FormatInt(c.ID, 10)+"/cancel", key, nil), http.StatusOK, &cancelled)
	if s, _ := fake.Session(c.Payment.ExternalID); cancelled.Status != chorus.OrderCancelled || s.Status != "expired" {
		t.Errorf("cancel: order %s, session %s", cancelled.Status, s.Status)
	}
}

func TestShopReconciler(t *testing.T) {
	g := startGateway(t, func(c *config.Config) { c.Shop.ReconcileInterval = time.Second })
	user := g.createUser(chorus.RoleCustomer)
	key := g.createKey(keySpec{Name: "r", UserID: user.ID}).Key
	id := g.pendingOrder(user)
	g.App.Manage.Shop.SetFulfilHook(func(*chorus.Order) error { return fmt.Errorf("injected: ledger unavailable") })
	var o shopOrder
	g.mustAdmin("POST", fmt.Sprintf("/api/admin/orders/%d/mark-paid", id), map[string]any{"reference": "r-1"}, http.StatusOK, &o)
	if o.Status != chorus.OrderPaid {
		t.Fatalf("with fulfilment failing, mark-paid answered %s, want paid", o.Status)
	}
	g.App.Manage.Shop.SetFulfilHook(nil)
	deadline := time.Now().Add(15 * time.Second)
	for {
		decodeInto(t, g.do("GET", fmt.Sprintf("/api/orders/%d", id), key, nil), http.StatusOK, &o)
		if o.Status == chorus.OrderFulfilled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reconciler did not fulfil order %d (still %s)", id, o.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var bal creditsBalance
	decodeInto(t, g.do("GET", "/api/credits/balance", key, nil), http.StatusOK, &bal)
	if bal.Balance != chorus.MicroPerCredit {
		t.Errorf("balance %d, want 1 credit", bal.Balance)
	}
}
