package manage

// The shop API: credit packs, the caller's cart, checkout, orders, and the
// admin's products, orders, payments, manual payments and refunds; and
// Stripe's webhook. Prices and totals are integers in minor units of the
// shop currency (with a "*_display" decimal string); credits are integer
// micro-credits ("micro_credits") with a "credits" decimal string, as in
// the credits API.
//
//	GET    /api/shop/products                  user   products on sale
//	GET    /api/cart                           user   the caller's cart (ETag: its version)
//	POST   /api/cart                           user   add {product_id, quantity}: applied server-side, no version needed
//	PUT    /api/cart                           user   replace {items: [{product_id, quantity}], version}
//	DELETE /api/cart                           user   empty it (version: body, If-Match)
//	GET    /api/cart/items/{product_id}        user   one line
//	POST   /api/cart/items/{product_id}        user   add {quantity} (default 1)
//	PUT    /api/cart/items/{product_id}        user   set {quantity, version}
//	DELETE /api/cart/items/{product_id}        user   remove (version: body, If-Match)
//	POST   /api/checkout                       user   {provider}; Idempotency-Key header required
//	GET    /api/orders                         user   the caller's team's orders (status, limit, after)
//	GET    /api/orders/{id}                    user   one of them (another team's is 404)
//	POST   /api/orders/{id}/cancel             user   cancel a pending order
//	GET    /api/admin/products                 admin  every product (limit, after)
//	POST   /api/admin/products                 admin  create
//	GET    /api/admin/products/{id}            admin
//	PUT    /api/admin/products/{id}            admin  update the fields given; "archived": true takes it off sale for good
//	GET    /api/admin/orders                   admin  (status, team_id, limit, after)
//	GET    /api/admin/orders/{id}              admin
//	GET    /api/admin/payments                 admin  (status, provider, team_id, limit, after)
//	POST   /api/admin/orders/{id}/mark-paid    admin, step-up  a manual order was paid {reference}: fulfils it
//	POST   /api/admin/orders/{id}/refund       admin, step-up  {allow_negative, reason}
//	POST   /api/webhooks/stripe                public Stripe's events (Stripe-Signature verified)
//
// A write that names a cart version (body "version", or If-Match) is
// refused with 409 and the current cart when the cart has changed since.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/shop"
)

// ShopStore is what the shop API needs from the database.
type ShopStore interface {
	CreateProduct(ctx context.Context, p *chorus.Product) error
	UpdateProduct(ctx context.Context, p *chorus.Product) error
	ProductByID(ctx context.Context, id int64) (*chorus.Product, error)
	ListProducts(ctx context.Context, f chorus.ProductFilter, p chorus.Page) ([]*chorus.Product, error)

	Cart(ctx context.Context, userID int64) (*chorus.Cart, error)
	AddToCart(ctx context.Context, userID, productID, quantity int64) (*chorus.Cart, error)
	SetCartItem(ctx context.Context, userID, productID, quantity, version int64) (*chorus.Cart, error)
	RemoveCartItem(ctx context.Context, userID, productID, version int64) (*chorus.Cart, error)
	ReplaceCart(ctx context.Context, userID int64, lines []chorus.CartLine, version int64) (*chorus.Cart, error)

	OrderByID(ctx context.Context, id int64) (*chorus.Order, error)
	ListOrders(ctx context.Context, f chorus.OrderFilter, p chorus.Page) ([]*chorus.Order, error)
	ListPayments(ctx context.Context, f chorus.PaymentFilter, p chorus.Page) ([]*chorus.Payment, error)
}

// maxWebhookBody bounds a webhook delivery; Stripe's events are far smaller.
const maxWebhookBody = 64 << 10

// maxRefundReason bounds a refund's reason.
const maxRefundReason = 500

// shopRoutes registers the shop API.
func (s *Server) shopRoutes(mux *api.Mux) {
	s.handle(mux, "GET /api/shop/products", accessUser, s.shopProducts)

	s.handle(mux, "GET /api/cart", accessUser, s.getCart)
	s.handle(mux, "POST /api/cart", accessUser, s.addToCart)
	s.handle(mux, "PUT /api/cart", accessUser, s.replaceCart)
	s.handle(mux, "DELETE /api/cart", accessUser, s.clearCart)
	s.handle(mux, "GET /api/cart/items/{product_id}", accessUser, s.getCartItem)
	s.handle(mux, "POST /api/cart/items/{product_id}", accessUser, s.addCartItem)
	s.handle(mux, "PUT /api/cart/items/{product_id}", accessUser, s.setCartItem)
	s.handle(mux, "DELETE /api/cart/items/{product_id}", accessUser, s.removeCartItem)

	s.handle(mux, "POST /api/checkout", accessUser, s.checkout)
	s.handle(mux, "GET /api/orders", accessUser, s.listOwnOrders)
	s.handle(mux, "GET /api/orders/{id}", accessUser, s.getOwnOrder)
	s.handle(mux, "POST /api/orders/{id}/cancel", accessUser, s.cancelOwnOrder)

	s.handle(mux, "GET /api/admin/products", accessAdmin, s.adminListProducts)
	s.handle(mux, "POST /api/admin/products", accessAdmin, s.adminCreateProduct)
	s.handle(mux, "GET /api/admin/products/{id}", accessAdmin, s.adminGetProduct)
	s.handle(mux, "PUT /api/admin/products/{id}", accessAdmin, s.adminUpdateProduct)
	s.handle(mux, "GET /api/admin/orders", accessAdmin, s.adminListOrders)
	s.handle(mux, "GET /api/admin/orders/{id}", accessAdmin, s.adminGetOrder)
	s.handle(mux, "GET /api/admin/payments", accessAdmin, s.adminListPayments)
	s.handle(mux, "POST /api/admin/orders/{id}/mark-paid", accessAdmin|stepUp, s.adminMarkPaid)
	s.handle(mux, "POST /api/admin/orders/{id}/refund", accessAdmin|stepUp, s.adminRefund)

	s.handle(mux, "POST /api/webhooks/stripe", accessPublic, s.stripeWebhook)
}

// ---- views

type productView struct {
	Object string `json:"object"` // "product"
	*chorus.Product
	Currency     string `json:"currency"`
	PriceDisplay string `json:"price_display"` // Price as a decimal in Currency
	Credits      string `json:"credits"`       // the micro-credits as credits
}

func (s *Server) viewProduct(p *chorus.Product) productView {
	cur := s.shopCurrency()
	return productView{Object: "product", Product: p, Currency: cur, PriceDisplay: shop.FormatAmount(p.Price, cur),
		Credits: chorus.FormatCredits(p.Credits)}
}

func (s *Server) viewProducts(ps []*chorus.Product) []productView {
	out := make([]productView, len(ps))
	for i, p := range ps {
		out[i] = s.viewProduct(p)
	}
	return out
}

type orderItemView struct {
	chorus.OrderItem
	Credits       string `json:"credits"`
	AmountDisplay string `json:"amount_display"`
}

type orderView struct {
	Object string `json:"object"` // "order"
	*chorus.Order
	Items        []orderItemView `json:"items"`
	Credits      string          `json:"credits"`
	TotalDisplay string          `json:"total_display"`
}

func viewOrder(o *chorus.Order) orderView {
	v := orderView{Object: "order", Order: o, Items: make([]orderItemView, len(o.Items)),
		Credits: chorus.FormatCredits(o.Credits), TotalDisplay: shop.FormatAmount(o.Total, o.Currency)}
	for i, it := range o.Items {
		v.Items[i] = orderItemView{OrderItem: it, Credits: chorus.FormatCredits(it.Credits),
			AmountDisplay: shop.FormatAmount(it.Amount, o.Currency)}
	}
	return v
}

func viewOrders(os []*chorus.Order) []orderView {
	out := make([]orderView, len(os))
	for i, o := range os {
		out[i] = viewOrder(o)
	}
	return out
}

type paymentView struct {
	Object string `json:"object"` // "payment"
	*chorus.Payment
	AmountDisplay string `json:"amount_display"`
}

// ---- helpers

// shopCurrency is the currency prices are in.
func (s *Server) shopCurrency() string {
	if s.Shop != nil && s.Shop.Currency != "" {
		return s.Shop.Currency
	}
	return "usd"
}

// shopService returns the shop, or ENOTSUPPORTED when it is not running.
func (s *Server) shopService() (*shop.Service, error) {
	if s.Shop == nil {
		return nil, chorus.Errorf(chorus.ENOTSUPPORTED, "The shop is not enabled on this server.")
	}
	return s.Shop, nil
}

// ---- customer: products

func (s *Server) shopProducts(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	page, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	ps, err := s.Store.ListProducts(r.Context(), chorus.ProductFilter{OnSale: true}, page)
	if err != nil {
		return err
	}
	api.WriteList(w, s.viewProducts(ps), page, func(v productView) int64 { return v.ID })
	return nil
}

// ---- customer: checkout and orders

// checkout places an order from the caller's cart. The Idempotency-Key
// header is required: the same key answers 200 with the same order (and
// Idempotent-Replayed: true), a new order is 201.
func (s *Server) checkout(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	sh, err := s.shopService()
	if err != nil {
		return err
	}
	user := p.User.ID
	key := r.Header.Get("Idempotency-Key")
	if err := chorus.ValidIdempotencyKey(key); err != nil {
		return err
	}
	var body struct {
		Provider string `json:"provider"`
	}
	if err := api.DecodeOptionalJSON(w, r, &body); err != nil {
		return err
	}
	o, created, err := sh.Checkout(r.Context(), shop.CheckoutInput{
		UserID: user, TeamID: p.TeamID(), Provider: body.Provider, IdempotencyKey: key,
	})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	api.WriteJSON(w, status, viewOrder(o))
	return nil
}

// orderStatus parses ?status=.
func orderStatus(q url.Values) (string, error) {
	v := q.Get("status")
	if v != "" && !slices.Contains(chorus.OrderStatuses(), v) {
		return "", chorus.Invalid("status", "status must be one of %s, got %q", strings.Join(chorus.OrderStatuses(), ", "), v)
	}
	return v, nil
}

// teamIDParam parses ?team_id=.
func teamIDParam(q url.Values) (int64, error) {
	id, err := api.IDParam(q, "team_id")
	if id == nil || err != nil {
		return 0, err
	}
	return *id, nil
}

func (s *Server) listOwnOrders(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	status, err := orderStatus(q)
	if err != nil {
		return err
	}
	os, err := s.Store.ListOrders(r.Context(), chorus.OrderFilter{TeamID: team, Status: status}, page)
	if err != nil {
		return err
	}
	api.WriteList(w, viewOrders(os), page, func(v orderView) int64 { return v.ID })
	return nil
}

// ownOrder returns the order with the path's ID if the caller's team owns
// it; another team's order is ENOTFOUND, as if it did not exist.
func (s *Server) ownOrder(r *http.Request, p *chorus.Principal) (*chorus.Order, error) {
	team := p.TeamID()
	id, err := api.PathID(r)
	if err != nil {
		return nil, err
	}
	o, err := s.Store.OrderByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if o.TeamID != team {
		return nil, chorus.Errorf(chorus.ENOTFOUND, "order %d not found", id)
	}
	return o, nil
}

func (s *Server) getOwnOrder(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	o, err := s.ownOrder(r, p)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewOrder(o))
	return nil
}

func (s *Server) cancelOwnOrder(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	sh, err := s.shopService()
	if err != nil {
		return err
	}
	o, err := s.ownOrder(r, p)
	if err != nil {
		return err
	}
	if o, err = sh.Cancel(r.Context(), o.TeamID, o.ID); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewOrder(o))
	return nil
}

// ---- admin: products

// productInput is a product as the admin API takes it; absent fields keep
// their value on update.
type productInput struct {
	Name         *string `json:"name"`
	Description  *string `json:"description"`
	Price        *int64  `json:"price"`         // minor units of the shop currency
	MicroCredits *int64  `json:"micro_credits"` // granted per unit
	Active       *bool   `json:"active"`
	Archived     *bool   `json:"archived"` // true: off sale for good (orders keep pointing at it)
}

func (in *productInput) apply(p *chorus.Product, now time.Time) {
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Price != nil {
		p.Price = *in.Price
	}
	if in.MicroCredits != nil {
		p.Credits = *in.MicroCredits
	}
	if in.Archived != nil {
		switch {
		case *in.Archived && p.ArchivedAt == nil:
			p.ArchivedAt = &now
			if in.Active == nil {
				p.Active = false
			}
		case !*in.Archived:
			p.ArchivedAt = nil
		}
	}
	if in.Active != nil {
		p.Active = *in.Active
	}
}

func (s *Server) adminListProducts(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	page, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	ps, err := s.Store.ListProducts(r.Context(), chorus.ProductFilter{}, page)
	if err != nil {
		return err
	}
	api.WriteList(w, s.viewProducts(ps), page, func(v productView) int64 { return v.ID })
	return nil
}

func (s *Server) adminCreateProduct(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in productInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	switch {
	case in.Name == nil:
		return chorus.Invalid("name", "name is required")
	case in.Price == nil:
		return chorus.Invalid("price", "price is required: minor units of %s (e.g. cents), per unit", strings.ToUpper(s.shopCurrency()))
	case in.MicroCredits == nil:
		return chorus.Invalid("micro_credits", "micro_credits is required: the micro-credits one unit grants (1 credit = 1000000)")
	}
	p := &chorus.Product{Active: true}
	in.apply(p, s.Now())
	if err := s.Store.CreateProduct(r.Context(), p); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, s.viewProduct(p))
	return nil
}

func (s *Server) adminGetProduct(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	p, err := s.Store.ProductByID(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, s.viewProduct(p))
	return nil
}

func (s *Server) adminUpdateProduct(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in productInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	p, err := s.Store.ProductByID(r.Context(), id)
	if err != nil {
		return err
	}
	in.apply(p, s.Now())
	if err := s.Store.UpdateProduct(r.Context(), p); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, s.viewProduct(p))
	return nil
}

// ---- admin: orders and payments

func (s *Server) adminListOrders(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	status, err := orderStatus(q)
	if err != nil {
		return err
	}
	team, err := teamIDParam(q)
	if err != nil {
		return err
	}
	os, err := s.Store.ListOrders(r.Context(), chorus.OrderFilter{TeamID: team, Status: status}, page)
	if err != nil {
		return err
	}
	api.WriteList(w, viewOrders(os), page, func(v orderView) int64 { return v.ID })
	return nil
}

func (s *Server) adminGetOrder(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	o, err := s.Store.OrderByID(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewOrder(o))
	return nil
}

// paymentStatuses are the states ?status= accepts on payments.
var paymentStatuses = []string{chorus.PaymentPending, chorus.PaymentSucceeded, chorus.PaymentFailed,
	chorus.PaymentCancelled, chorus.PaymentRefunded}

func (s *Server) adminListPayments(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	var f chorus.PaymentFilter
	if f.TeamID, err = teamIDParam(q); err != nil {
		return err
	}
	if v := q.Get("status"); v != "" {
		if !slices.Contains(paymentStatuses, v) {
			return chorus.Invalid("status", "status must be one of %s, got %q", strings.Join(paymentStatuses, ", "), v)
		}
		f.Status = v
	}
	if v := q.Get("provider"); v != "" {
		if v != chorus.ProviderManual && v != chorus.ProviderStripe {
			return chorus.Invalid("provider", "provider must be %s or %s, got %q", chorus.ProviderManual, chorus.ProviderStripe, v)
		}
		f.Provider = v
	}
	ps, err := s.Store.ListPayments(r.Context(), f, page)
	if err != nil {
		return err
	}
	out := make([]paymentView, len(ps))
	for i, p := range ps {
		out[i] = paymentView{Object: "payment", Payment: p, AmountDisplay: shop.FormatAmount(p.Amount, p.Currency)}
	}
	api.WriteList(w, out, page, func(v paymentView) int64 { return v.ID })
	return nil
}

// adminMarkPaid records a manual order's payment and fulfils it. If the
// fulfilment fails the order is answered paid: the reconciler finishes it.
func (s *Server) adminMarkPaid(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	sh, err := s.shopService()
	if err != nil {
		return err
	}
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var body struct {
		Reference string `json:"reference"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	o, err := sh.MarkPaid(r.Context(), id, body.Reference)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewOrder(o))
	return nil
}

// adminRefund refunds a paid or fulfilled order (through Stripe for Stripe
// orders) and takes its credits back; see config.Shop.RefundPolicy.
func (s *Server) adminRefund(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	sh, err := s.shopService()
	if err != nil {
		return err
	}
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var body struct {
		AllowNegative bool   `json:"allow_negative"`
		Reason        string `json:"reason"`
	}
	if err := api.DecodeOptionalJSON(w, r, &body); err != nil {
		return err
	}
	if !utf8.ValidString(body.Reason) || utf8.RuneCountInString(body.Reason) > maxRefundReason {
		return chorus.Invalid("reason", "reason must be text of at most %d characters", maxRefundReason)
	}
	o, err := sh.Refund(r.Context(), id, shop.RefundInput{AllowNegative: body.AllowNegative, Reason: strings.TrimSpace(body.Reason)})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewOrder(o))
	return nil
}

// ---- webhooks

// stripeWebhook applies one of Stripe's events: 400 when its signature
// does not verify, 200 when it was applied or has nothing to apply
// (duplicates, replays, late or unknown events), 5xx when Stripe should
// deliver it again.
func (s *Server) stripeWebhook(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	sh, err := s.shopService()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return api.TooLarge(maxWebhookBody)
	}
	if err != nil {
		return chorus.Invalid("", "The request body could not be read.")
	}
	ctx := chorus.NewContextWithActor(r.Context(), chorus.Actor{System: "stripe-webhook", RequestID: api.RequestID(r.Context())})
	if err := sh.HandleWebhook(ctx, chorus.ProviderStripe, body, r.Header); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, json.RawMessage(`{"received":true}`))
	return nil
}
