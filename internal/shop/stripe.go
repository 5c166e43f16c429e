package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// WebhookTolerance is how old a Stripe webhook's signature may be: older
// deliveries are refused as replays.
const WebhookTolerance = 5 * time.Minute

// Stripe takes payments with Stripe Checkout: Start creates a Checkout
// Session (mode payment, the order's items priced in its currency) and
// sends the customer to it; webhooks report the outcome; refunds go
// through Stripe's refund API. Every API call carries an idempotency key
// derived from the order, so retries never make a second session or
// refund.
type Stripe struct {
	client        *stripe.Client
	webhookSecret string
	successURL    string
	cancelURL     string
}

var (
	_ Provider  = (*Stripe)(nil)
	_ Canceller = (*Stripe)(nil)
)

// StripeOptions tune the Stripe client beyond the configuration.
type StripeOptions struct {
	HTTPClient *http.Client // default: one with cfg.Timeout
	Logger     *slog.Logger // the Stripe library's log lines, at debug level
	// MaxNetworkRetries is how often the library retries a call that
	// failed on the network or with a 5xx (idempotently); nil means 2.
	MaxNetworkRetries *int64
}

// NewStripe returns the Stripe provider configured by cfg. cfg.APIBase
// points it at Stripe or, in tests, at a local fake.
func NewStripe(cfg config.ShopStripe, opts StripeOptions) *Stripe {
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	retries := opts.MaxNetworkRetries
	if retries == nil {
		retries = stripe.Int64(2)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := cfg.APIBase
	if base == "" {
		base = stripe.APIURL
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(strings.TrimRight(base, "/")),
		HTTPClient:        hc,
		LeveledLogger:     stripeLogger{log},
		MaxNetworkRetries: retries,
		EnableTelemetry:   stripe.Bool(false),
	})
	client := stripe.NewClient(cfg.SecretKey, stripe.WithBackends(&stripe.Backends{API: b, Connect: b, Uploads: b, MeterEvents: b}))
	return &Stripe{client: client, webhookSecret: cfg.WebhookSecret, successURL: cfg.SuccessURL, cancelURL: cfg.CancelURL}
}

// Name implements Provider.
func (s *Stripe) Name() string { return chorus.ProviderStripe }

// idempotencyKey is the key of one API call about an order. It includes
// the order's creation time so that two Chorus installations sharing a
// Stripe account (staging and production) never collide.
func idempotencyKey(o *chorus.Order, op string) string {
	return fmt.Sprintf("chorus-order-%d-%d-%s", o.ID, o.CreatedAt.UnixMicro(), op)
}

// Start implements Provider: a Checkout Session for the order.
func (s *Stripe) Start(ctx context.Context, o *chorus.Order) (Start, error) {
	id := strconv.FormatInt(o.ID, 10)
	meta := map[string]string{"order_id": id, "team_id": strconv.FormatInt(o.TeamID, 10)}
	urls := strings.NewReplacer("{ORDER_ID}", id)
	params := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		SuccessURL:        stripe.String(urls.Replace(s.successURL)),
		CancelURL:         stripe.String(urls.Replace(s.cancelURL)),
		ClientReferenceID: stripe.String(id),
		Metadata:          meta,
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{Metadata: meta},
	}
	for _, it := range o.Items {
		params.LineItems = append(params.LineItems, &stripe.CheckoutSessionCreateLineItemParams{
			Quantity: stripe.Int64(it.Quantity),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:   stripe.String(o.Currency),
				UnitAmount: stripe.Int64(it.UnitPrice),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{
					Name:        stripe.String(it.Name),
					Description: stripe.String(strings.TrimRight(strings.TrimRight(chorus.FormatCredits(it.UnitCredits), "0"), ".") + " credits"),
				},
			},
		})
	}
	params.SetIdempotencyKey(idempotencyKey(o, "checkout"))
	sess, err := s.client.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return Start{}, fmt.Errorf("stripe: create checkout session: %w", err)
	}
	if sess.ID == "" || sess.URL == "" {
		return Start{}, errors.New("stripe: checkout session without an id or url")
	}
	return Start{ExternalID: sess.ID, RedirectURL: sess.URL}, nil
}

// Cancel implements Canceller: the order's Checkout Session is expired so
// that it can no longer be paid. A session completed already is
// ECONFLICT.
func (s *Stripe) Cancel(ctx context.Context, o *chorus.Order) error {
	if o.Payment == nil || o.Payment.ExternalID == "" {
		return nil // never started: nothing to pay
	}
	id := o.Payment.ExternalID
	params := &stripe.CheckoutSessionExpireParams{}
	params.SetIdempotencyKey(idempotencyKey(o, "expire"))
	_, err := s.client.V1CheckoutSessions.Expire(ctx, id, params)
	if err == nil {
		return nil
	}
	// Expiring fails on a session that is not open: find out why.
	sess, gerr := s.client.V1CheckoutSessions.Retrieve(ctx, id, nil)
	if gerr != nil {
		return fmt.Errorf("stripe: expire checkout session: %w", err)
	}
	switch sess.Status {
	case stripe.CheckoutSessionStatusExpired:
		return nil
	case stripe.CheckoutSessionStatusComplete:
		return chorus.Errorf(chorus.ECONFLICT, "Order %d has been paid already: it cannot be cancelled.", o.ID)
	}
	return fmt.Errorf("stripe: expire checkout session: %w", err)
}

// Refund implements Provider: a refund of the order's PaymentIntent in
// full. A payment refunded already (from the dashboard) is no error.
func (s *Stripe) Refund(ctx context.Context, o *chorus.Order) (string, error) {
	if o.Payment == nil || o.Payment.Reference == "" {
		return "", chorus.Errorf(chorus.ECONFLICT, "Order %d has no recorded Stripe payment to refund.", o.ID)
	}
	params := &stripe.RefundCreateParams{
		PaymentIntent: stripe.String(o.Payment.Reference),
		Metadata:      map[string]string{"order_id": strconv.FormatInt(o.ID, 10)},
	}
	params.SetIdempotencyKey(idempotencyKey(o, "refund"))
	r, err := s.client.V1Refunds.Create(ctx, params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeChargeAlreadyRefunded {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("stripe: refund: %w", err)
	}
	return r.ID, nil
}

// stripeSession is the part of a Checkout Session the shop reads.
type stripeSession struct {
	ID                string            `json:"id"`
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	PaymentStatus     string            `json:"payment_status"`
	PaymentIntent     json.RawMessage   `json:"payment_intent"` // an ID, or the object when expanded
	AmountTotal       int64             `json:"amount_total"`
	Currency          string            `json:"currency"`
}

// stripeCharge is the part of a Charge the shop reads.
type stripeCharge struct {
	ID             string          `json:"id"`
	PaymentIntent  json.RawMessage `json:"payment_intent"`
	Refunded       bool            `json:"refunded"` // in full
	Amount         int64           `json:"amount"`
	AmountRefunded int64           `json:"amount_refunded"`
	Currency       string          `json:"currency"`
}

// ParseWebhook implements Provider: the Stripe-Signature header is
// verified (signed with the webhook secret, at most WebhookTolerance old)
// and the event decoded. Only the fields the shop needs are read, so
// events of any API version are accepted.
func (s *Stripe) ParseWebhook(payload []byte, h http.Header) (*Event, error) {
	e, err := webhook.ConstructEventWithOptions(payload, h.Get("Stripe-Signature"), s.webhookSecret,
		webhook.ConstructEventOptions{Tolerance: WebhookTolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		ce := chorus.Invalid("Stripe-Signature", "The webhook could not be verified: %v", err)
		ce.Err = err
		return nil, ce
	}
	ev := &Event{ID: e.ID, Type: string(e.Type)}
	if e.ID == "" || e.Data == nil {
		return nil, chorus.Invalid("", "The webhook event has no id or data.")
	}
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded",
		"checkout.session.async_payment_failed", "checkout.session.expired":
		var cs stripeSession
		if err := json.Unmarshal(e.Data.Raw, &cs); err != nil {
			return nil, chorus.Invalid("", "The webhook's checkout session cannot be decoded: %v", err)
		}
		ref := cs.ClientReferenceID
		if ref == "" {
			ref = cs.Metadata["order_id"]
		}
		id, err := strconv.ParseInt(ref, 10, 64)
		if err != nil || id <= 0 {
			return ev, nil // not a Chorus checkout
		}
		ev.OrderID, ev.ExternalID, ev.Reference = id, cs.ID, stripeID(cs.PaymentIntent)
		ev.Amount, ev.Currency = cs.AmountTotal, cs.Currency
		switch ev.Type {
		case "checkout.session.completed":
			// "unpaid": an asynchronous method (a bank debit) is still
			// processing; async_payment_succeeded or _failed follows.
			if cs.PaymentStatus == "paid" || cs.PaymentStatus == "no_payment_required" {
				ev.Kind = EventPaid
			}
		case "checkout.session.async_payment_succeeded":
			ev.Kind = EventPaid
		case "checkout.session.async_payment_failed":
			ev.Kind = EventFailed
		case "checkout.session.expired":
			ev.Kind = EventExpired
		}
	case "charge.refunded":
		var ch stripeCharge
		if err := json.Unmarshal(e.Data.Raw, &ch); err != nil {
			return nil, chorus.Invalid("", "The webhook's charge cannot be decoded: %v", err)
		}
		// A partial refund leaves the order as it is: the shop refunds
		// orders in full.
		if pi := stripeID(ch.PaymentIntent); ch.Refunded && pi != "" {
			ev.Kind, ev.Reference = EventRefunded, pi
		}
	}
	return ev, nil
}

// stripeID reads an expandable field: "id" or {"id": …}.
func stripeID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.ID
	}
	return ""
}

// stripeLogger sends the Stripe library's log lines to slog at debug
// level: failures reach the shop as errors, and are logged there.
type stripeLogger struct{ log *slog.Logger }

func (l stripeLogger) printf(format string, v ...any) {
	l.log.Debug("stripe: " + fmt.Sprintf(format, v...))
}

func (l stripeLogger) Debugf(format string, v ...any) { l.printf(format, v...) }
func (l stripeLogger) Infof(format string, v ...any)  { l.printf(format, v...) }
func (l stripeLogger) Warnf(format string, v ...any)  { l.printf(format, v...) }
func (l stripeLogger) Errorf(format string, v ...any) { l.printf(format, v...) }
