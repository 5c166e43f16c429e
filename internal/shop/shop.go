// Package shop sells credits: it drives an order through its states —
// pending → paid → fulfilled, pending → failed | cancelled, paid or
// fulfilled → refunded — with the payment providers (Stripe Checkout, or
// manual payments an admin confirms), and reconciles orders whose payment
// was confirmed but whose credits were not yet granted.
//
// Every transition is one store transaction with its audit entry; the
// credits of an order are posted in the transaction that marks it
// fulfilled, under the idempotency key "order:<id>:fulfil", so an order's
// credits are granted once however many times fulfilment is tried.
package shop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// Provider takes payments for orders.
type Provider interface {
	// Name is the provider's name as orders record it (chorus.ProviderStripe…).
	Name() string
	// Start starts the payment of a new order: where to send the
	// customer, or what to tell them. Calling it again for the same
	// order returns the same payment.
	Start(ctx context.Context, o *chorus.Order) (Start, error)
	// ParseWebhook verifies and decodes a notification from the provider.
	// A notification that is not authentic is EINVALID.
	ParseWebhook(payload []byte, h http.Header) (*Event, error)
	// Refund returns the order's payment to the customer and returns the
	// provider's reference for the refund. Calling it again for the same
	// order refunds once.
	Refund(ctx context.Context, o *chorus.Order) (reference string, err error)
}

// Canceller is a Provider that must close a payment before its order may
// be cancelled, so that the customer cannot pay a cancelled order. It
// returns ECONFLICT when the customer has paid already.
type Canceller interface {
	Cancel(ctx context.Context, o *chorus.Order) error
}

// Start is how a payment was started.
type Start struct {
	ExternalID   string // the provider's object, e.g. a Stripe Checkout Session
	RedirectURL  string // where the customer pays
	Instructions string // how the customer pays, when there is nowhere to redirect them
}

// EventKind is what a provider's notification means for an order.
type EventKind int

// Event kinds.
const (
	EventIgnored  EventKind = iota // nothing for the shop (another type, a partial refund, a payment still processing)
	EventPaid                      // the payment succeeded
	EventFailed                    // the payment failed
	EventExpired                   // the customer never paid: the order is cancelled
	EventRefunded                  // the payment was refunded in full (perhaps from the provider's dashboard)
)

// Event is a provider's notification, decoded.
type Event struct {
	ID   string // the provider's event ID: each is applied once
	Type string // the provider's event type
	Kind EventKind
	// OrderID names the order (checkout events); refunds name the payment
	// by Reference instead.
	OrderID    int64
	ExternalID string // the payment's provider object (a Checkout Session)
	Reference  string // the payment (a PaymentIntent)
	// RefundReference is the provider's refund, when the event names it.
	RefundReference string
	// Amount and Currency are what was paid, when the event says: a paid
	// event whose amount is not the order's is not applied.
	Amount   int64
	Currency string
}

// Store is what the shop needs from the database; *store.DB has it.
type Store interface {
	Checkout(ctx context.Context, req chorus.CheckoutRequest) (*chorus.Order, bool, error)
	SetPaymentStart(ctx context.Context, orderID int64, s chorus.PaymentStart) (*chorus.Order, error)
	OrderByID(ctx context.Context, id int64) (*chorus.Order, error)
	ListOrders(ctx context.Context, f chorus.OrderFilter, p chorus.Page) ([]*chorus.Order, error)
	TransitionOrder(ctx context.Context, t chorus.OrderTransition) (*chorus.Order, bool, error)
	Balance(ctx context.Context, teamID int64) (chorus.Balance, error)
}

// Service is the shop: orders, their payments and their state machine.
type Service struct {
	Store Store
	// Providers are the enabled payment providers by name; the first is
	// the default at checkout.
	Providers []Provider
	Currency  string // the shop currency (config.Shop.Currency)
	// RefundPolicy is config.RefundReject or config.RefundAllowNegative.
	RefundPolicy string
	Logger       *slog.Logger

	fulfilHook atomic.Pointer[func(o *chorus.Order) error]
}

// SetFulfilHook sets (nil: removes) a function that runs inside every
// fulfilment transaction after the credits are posted; its error rolls the
// fulfilment back. It is a test hook for a failure between payment and
// fulfilment, safe to change while the shop runs.
func (s *Service) SetFulfilHook(f func(o *chorus.Order) error) {
	if f == nil {
		s.fulfilHook.Store(nil)
		return
	}
	s.fulfilHook.Store(&f)
}

// New returns the shop configured by cfg, with its enabled providers.
func New(st Store, cfg config.Shop, log *slog.Logger) *Service {
	s := &Service{Store: st, Currency: cfg.Currency, RefundPolicy: cfg.RefundPolicy, Logger: log}
	if cfg.Stripe.Enabled {
		s.Providers = append(s.Providers, NewStripe(cfg.Stripe, StripeOptions{Logger: log}))
	}
	if cfg.Manual.Enabled {
		s.Providers = append(s.Providers, NewManual(cfg.Manual.Instructions))
	}
	return s
}

// Provider returns the enabled provider with the given name.
func (s *Service) Provider(name string) (Provider, bool) {
	for _, p := range s.Providers {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// ProviderNames lists the enabled providers, the default first.
func (s *Service) ProviderNames() []string {
	names := make([]string, len(s.Providers))
	for i, p := range s.Providers {
		names[i] = p.Name()
	}
	return names
}

// CheckoutInput is a customer's checkout.
type CheckoutInput struct {
	UserID         int64
	TeamID         int64
	Provider       string // "" for the default provider
	IdempotencyKey string
}

// Checkout turns the user's cart into an order and starts its payment. The
// same IdempotencyKey returns the same order (created is false), and
// starts its payment if an earlier try could not; the same key with
// another provider is ECONFLICT. When the provider cannot be reached the
// order stays pending and the error is EUNAVAILABLE: retrying with the
// same key finishes the checkout.
func (s *Service) Checkout(ctx context.Context, in CheckoutInput) (o *chorus.Order, created bool, err error) {
	if in.Provider == "" && len(s.Providers) > 0 {
		in.Provider = s.Providers[0].Name()
	}
	prov, ok := s.Provider(in.Provider)
	if !ok {
		if len(s.Providers) == 0 {
			return nil, false, chorus.Errorf(chorus.ENOTSUPPORTED, "The shop takes no payments: no payment provider is enabled.")
		}
		return nil, false, chorus.Invalid("provider", "provider must be one of %s, got %q",
			strings.Join(s.ProviderNames(), ", "), in.Provider)
	}
	sum := sha256.Sum256([]byte("checkout\x00provider=" + in.Provider))
	o, created, err = s.Store.Checkout(ctx, chorus.CheckoutRequest{
		UserID: in.UserID, TeamID: in.TeamID, Provider: in.Provider, Currency: s.Currency,
		IdempotencyKey: in.IdempotencyKey, RequestHash: hex.EncodeToString(sum[:]),
	})
	if err != nil {
		return nil, false, err
	}
	if o.Status != chorus.OrderPending || started(o.Payment) {
		return o, created, nil
	}
	st, err := prov.Start(ctx, o)
	if err != nil {
		s.log().ErrorContext(ctx, "start payment failed", "order_id", o.ID, "provider", o.Provider, "err", err)
		return nil, false, providerError(err, "Order %d is placed, but the payment could not be started: "+
			"retry with the same Idempotency-Key to finish the checkout.", o.ID)
	}
	o, err = s.Store.SetPaymentStart(ctx, o.ID, chorus.PaymentStart(st))
	return o, created, err
}

// started reports whether a payment was started with its provider.
func started(p *chorus.Payment) bool {
	return p != nil && (p.ExternalID != "" || p.RedirectURL != "" || p.Instructions != "")
}

// Cancel cancels a team's pending order (ENOTFOUND for another team's,
// ECONFLICT if it is no longer pending). teamID 0 acts as an admin, on
// any team's order. A Stripe order's Checkout Session is expired first,
// so that it can no longer be paid.
func (s *Service) Cancel(ctx context.Context, teamID, orderID int64) (*chorus.Order, error) {
	o, err := s.Store.OrderByID(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if teamID != 0 && o.TeamID != teamID {
		return nil, chorus.Errorf(chorus.ENOTFOUND, "order %d not found", orderID)
	}
	if o.Status != chorus.OrderPending {
		return nil, chorus.Errorf(chorus.ECONFLICT, "Order %d is %s: only a pending order can be cancelled.", o.ID, o.Status)
	}
	if prov, ok := s.Provider(o.Provider); ok {
		if c, ok := prov.(Canceller); ok {
			if err := c.Cancel(ctx, o); err != nil {
				return nil, providerError(err, "The payment of order %d could not be closed; try again.", o.ID)
			}
		}
	}
	o, _, err = s.Store.TransitionOrder(ctx, chorus.OrderTransition{
		OrderID: orderID, TeamID: teamID, To: chorus.OrderCancelled, Reason: "cancelled",
	})
	return o, err
}

// MaxReference bounds a manual payment's reference.
const MaxReference = 200

// MarkPaid records that a manual order was paid (reference: the bank
// transfer's, the invoice's…) and fulfils it. An order paid through
// another provider is ECONFLICT. If fulfilment fails the order stays paid
// and the reconciler finishes it; the order is returned either way.
func (s *Service) MarkPaid(ctx context.Context, orderID int64, reference string) (*chorus.Order, error) {
	reference = strings.TrimSpace(reference)
	if reference == "" || utf8.RuneCountInString(reference) > MaxReference || !utf8.ValidString(reference) ||
		strings.ContainsFunc(reference, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, chorus.Invalid("reference", "reference must be 1 to %d printable characters: the payment's reference (a bank transfer, an invoice)", MaxReference)
	}
	o, err := s.Store.OrderByID(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Provider != chorus.ProviderManual {
		return nil, chorus.Errorf(chorus.ECONFLICT, "Order %d is paid through %s: only manual orders can be marked paid.", o.ID, o.Provider)
	}
	o, _, err = s.Store.TransitionOrder(ctx, chorus.OrderTransition{
		OrderID: orderID, Provider: chorus.ProviderManual, To: chorus.OrderPaid, Reference: reference, Reason: "marked paid",
	})
	if err != nil {
		return nil, err
	}
	return s.fulfilOrKeep(ctx, o), nil
}

// Fulfil grants a paid order's credits and marks it fulfilled, in one
// transaction. changed is false, with ECONFLICT, when the order is not
// paid (fulfilled by someone else already, or refunded).
func (s *Service) Fulfil(ctx context.Context, orderID int64) (o *chorus.Order, changed bool, err error) {
	t := chorus.OrderTransition{OrderID: orderID, To: chorus.OrderFulfilled, Reason: "fulfilled"}
	if h := s.fulfilHook.Load(); h != nil {
		t.BeforeCommit = *h
	}
	return s.Store.TransitionOrder(ctx, t)
}

// fulfilOrKeep fulfils a paid order and returns it as it is afterwards; a
// failure is logged and leaves the order paid for the reconciler.
func (s *Service) fulfilOrKeep(ctx context.Context, o *chorus.Order) *chorus.Order {
	f, _, err := s.Fulfil(ctx, o.ID)
	if err != nil {
		s.log().ErrorContext(ctx, "fulfilment failed; the reconciler will retry", "order_id", o.ID, "err", err)
		return o
	}
	return f
}

// RefundInput is an admin's refund.
type RefundInput struct {
	// AllowNegative takes back credits the team has spent already, taking
	// its wallet below zero. Under config.RefundAllowNegative it is
	// always on.
	AllowNegative bool
	Reason        string
}

// Refund returns a paid or fulfilled order's payment (through its
// provider: Stripe's refund API; manual orders are refunded outside
// Chorus) and takes its credits back. Under the reject policy a team that
// has already spent the credits makes it ECONFLICT, before any money
// moves, unless in.AllowNegative.
func (s *Service) Refund(ctx context.Context, orderID int64, in RefundInput) (*chorus.Order, error) {
	o, err := s.Store.OrderByID(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Status != chorus.OrderPaid && o.Status != chorus.OrderFulfilled {
		return nil, chorus.Errorf(chorus.ECONFLICT, "Order %d is %s: only a paid or fulfilled order can be refunded.", o.ID, o.Status)
	}
	allow := in.AllowNegative || s.RefundPolicy == config.RefundAllowNegative
	if o.Status == chorus.OrderFulfilled && !allow {
		b, err := s.Store.Balance(ctx, o.TeamID)
		if err != nil {
			return nil, err
		}
		if b.Balance < o.Credits {
			return nil, chorus.Errorf(chorus.ECONFLICT, "Team %d has already spent some of the credits of order %d: "+
				"its balance is %s credits, the refund takes back %s. Refund with \"allow_negative\": true to take the wallet below zero.",
				o.TeamID, o.ID, chorus.FormatCredits(b.Balance), chorus.FormatCredits(o.Credits))
		}
	}
	var ref string
	paidOut := false
	if o.Provider != chorus.ProviderManual {
		prov, ok := s.Provider(o.Provider)
		if !ok {
			return nil, chorus.Errorf(chorus.EUNAVAILABLE, "Order %d was paid through %s, which is not enabled: refund it there and enable it to record the refund.", o.ID, o.Provider)
		}
		if ref, err = prov.Refund(ctx, o); err != nil {
			return nil, providerError(err, "%s could not refund order %d; nothing was changed. Try again.", o.Provider, o.ID)
		}
		paidOut = true
	}
	reason := in.Reason
	if reason == "" {
		reason = "refunded"
	}
	r, _, err := s.Store.TransitionOrder(ctx, chorus.OrderTransition{
		OrderID: orderID, To: chorus.OrderRefunded, Reference: ref, Reason: reason,
		// Once the provider has returned the money, the credits must come
		// back whatever the balance became meanwhile.
		AllowNegative: allow || paidOut,
	})
	if err != nil && paidOut {
		if cur, gerr := s.Store.OrderByID(ctx, orderID); gerr == nil && cur.Status == chorus.OrderRefunded {
			return cur, nil // the provider's refund notification was faster
		}
		s.log().ErrorContext(ctx, "refund paid out but not recorded", "order_id", orderID, "refund", ref, "err", err)
	}
	return r, err
}

// HandleWebhook applies a provider's notification. A notification that is
// not authentic is EINVALID; one about no order of ours, a duplicate, or
// one that arrives too late to apply changes nothing and is no error. An
// error of any other kind means the notification should be delivered
// again.
func (s *Service) HandleWebhook(ctx context.Context, provider string, payload []byte, h http.Header) error {
	prov, ok := s.Provider(provider)
	if !ok {
		return chorus.Errorf(chorus.ENOTFOUND, "The %s provider is not enabled.", provider)
	}
	ev, err := prov.ParseWebhook(payload, h)
	if err != nil {
		return err
	}
	if chorus.ActorFromContext(ctx).System == "unknown" {
		ctx = chorus.NewContextWithActor(ctx, chorus.Actor{System: provider + "-webhook"})
	}
	log := s.log().With("provider", provider, "event_id", ev.ID, "event_type", ev.Type)
	t := chorus.OrderTransition{OrderID: ev.OrderID, Provider: provider, ExternalID: ev.ExternalID,
		EventID: ev.ID, EventType: ev.Type, Reason: ev.Type}
	switch ev.Kind {
	case EventIgnored:
		return nil
	case EventPaid:
		if ok, err := s.amountMatches(ctx, ev); err != nil || !ok {
			if err == nil {
				log.ErrorContext(ctx, "paid amount differs from the order's: not applied", "order_id", ev.OrderID,
					"amount", ev.Amount, "currency", ev.Currency)
			}
			return ignoreNotFound(err)
		}
		t.To, t.Reference = chorus.OrderPaid, ev.Reference
	case EventFailed:
		t.To = chorus.OrderFailed
	case EventExpired:
		t.To = chorus.OrderCancelled
	case EventRefunded:
		// The money is back with the customer already: take the credits
		// back whatever the balance.
		t.OrderID, t.ExternalID, t.PaymentReference = 0, "", ev.Reference
		t.To, t.Reference, t.AllowNegative = chorus.OrderRefunded, ev.RefundReference, true
	default:
		return fmt.Errorf("webhook: unknown event kind %d", ev.Kind)
	}
	o, changed, err := s.Store.TransitionOrder(ctx, t)
	if err != nil {
		if chorus.ErrorCode(err) == chorus.ENOTFOUND {
			log.InfoContext(ctx, "webhook event for no order of ours", "order_id", ev.OrderID, "reference", ev.Reference)
			return nil
		}
		return err
	}
	switch {
	case o == nil:
		log.DebugContext(ctx, "duplicate webhook event")
	case !changed && t.To == chorus.OrderPaid && (o.Status == chorus.OrderCancelled || o.Status == chorus.OrderFailed):
		log.ErrorContext(ctx, "payment received for an order that is no longer payable: refund it with the provider",
			"order_id", o.ID, "status", o.Status, "reference", ev.Reference)
	case !changed:
		log.InfoContext(ctx, "webhook event out of order: nothing to change", "order_id", o.ID, "status", o.Status, "to", t.To)
	}
	if o != nil && o.Status == chorus.OrderPaid {
		s.fulfilOrKeep(ctx, o)
	}
	return nil
}

// amountMatches reports whether a paid event's amount and currency, when
// it states them, are the order's.
func (s *Service) amountMatches(ctx context.Context, ev *Event) (bool, error) {
	if ev.Amount == 0 && ev.Currency == "" {
		return true, nil
	}
	o, err := s.Store.OrderByID(ctx, ev.OrderID)
	if err != nil {
		return false, err
	}
	return o.Total == ev.Amount && strings.EqualFold(o.Currency, ev.Currency), nil
}

func ignoreNotFound(err error) error {
	if chorus.ErrorCode(err) == chorus.ENOTFOUND {
		return nil
	}
	return err
}

// providerError turns a provider's failure into the client's error: a
// *chorus.Error the provider chose (ECONFLICT…) passes; anything else is
// EUNAVAILABLE with msg.
func providerError(err error, format string, args ...any) error {
	var ce *chorus.Error
	if errors.As(err, &ce) && slices.Contains([]string{chorus.ECONFLICT, chorus.EINVALID}, ce.Code) {
		return ce
	}
	e := chorus.Errorf(chorus.EUNAVAILABLE, format, args...)
	e.Err = err
	return e
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}
