package chorus

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Product is a credit pack sold in the shop. Price is in minor units of the
// shop's currency (cents for USD); Credits is in micro-credits. A product
// that has been ordered is never deleted: it is archived, which takes it
// out of the shop while orders keep pointing at it.
type Product struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Price       int64      `json:"price"`         // minor units of the shop currency, per unit
	Credits     int64      `json:"micro_credits"` // granted per unit
	Active      bool       `json:"active"`        // on sale; an archived product is never active
	ArchivedAt  *time.Time `json:"archived_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Shop limits. Prices and credits are bounded so that no cart total can
// overflow int64: 50 lines × 1000 units × 10¹⁴ micro-credits < 2⁶³.
const (
	MaxProductName        = 100
	MaxProductDescription = 2000
	MaxProductPrice       = 10_000_000_000  // minor units: 100 million in a two-decimal currency
	MaxProductCredits     = 100_000_000_000 // micro-credits: 100,000 credits per unit
	MaxCartLines          = 50
	MaxCartQuantity       = 1000
)

// Cart is a user's server-side shopping cart. Version grows by one with
// every change; a client that replaces, sets or removes lines sends the
// version it last saw and is refused when the cart has moved on since.
type Cart struct {
	UserID    int64      `json:"-"`
	Version   int64      `json:"version"`
	Items     []CartItem `json:"items"`
	Currency  string     `json:"currency"`
	Total     int64      `json:"total"`         // minor units: the sum of the items' amounts
	Credits   int64      `json:"micro_credits"` // the sum of the items' credits
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// CartItem is one line of a cart, priced at the product's current price.
// Available is false when the product was taken off sale since it was
// added: such a cart cannot be checked out until the line is removed.
type CartItem struct {
	ProductID   int64  `json:"product_id"`
	Name        string `json:"name"`
	UnitPrice   int64  `json:"unit_price"`
	UnitCredits int64  `json:"unit_micro_credits"`
	Quantity    int64  `json:"quantity"`
	Amount      int64  `json:"amount"`        // UnitPrice × Quantity
	Credits     int64  `json:"micro_credits"` // UnitCredits × Quantity
	Available   bool   `json:"available"`
}

// CartLine is a product and a quantity, as a client sends it.
type CartLine struct {
	ProductID int64 `json:"product_id"`
	Quantity  int64 `json:"quantity"`
}

// Order states. An order is created pending; it becomes paid when its
// payment is confirmed and fulfilled once its credits are in the team's
// wallet. A pending order may fail or be cancelled; a paid or fulfilled
// order may be refunded. Failed, cancelled and refunded are final.
const (
	OrderPending   = "pending"
	OrderPaid      = "paid"
	OrderFulfilled = "fulfilled"
	OrderFailed    = "failed"
	OrderCancelled = "cancelled"
	OrderRefunded  = "refunded"
)

// OrderStatuses lists every order state.
func OrderStatuses() []string {
	return []string{OrderPending, OrderPaid, OrderFulfilled, OrderFailed, OrderCancelled, OrderRefunded}
}

// OrderTransitionAllowed reports whether an order may move from one state
// to another. This is the one table of the order state machine.
func OrderTransitionAllowed(from, to string) bool {
	switch from {
	case OrderPending:
		return to == OrderPaid || to == OrderFailed || to == OrderCancelled
	case OrderPaid:
		return to == OrderFulfilled || to == OrderRefunded
	case OrderFulfilled:
		return to == OrderRefunded
	}
	return false
}

// Payment states, following the order's: a payment is pending until the
// provider confirms it (succeeded) or gives up (failed, cancelled); a
// succeeded payment may be refunded.
const (
	PaymentPending   = "pending"
	PaymentSucceeded = "succeeded"
	PaymentFailed    = "failed"
	PaymentCancelled = "cancelled"
	PaymentRefunded  = "refunded"
)

// PaymentStatusFor returns the payment state that goes with an order state.
func PaymentStatusFor(orderStatus string) string {
	switch orderStatus {
	case OrderPaid, OrderFulfilled:
		return PaymentSucceeded
	case OrderFailed:
		return PaymentFailed
	case OrderCancelled:
		return PaymentCancelled
	case OrderRefunded:
		return PaymentRefunded
	}
	return PaymentPending
}

// Payment providers.
const (
	ProviderManual = "manual" // bank transfer or invoice: an admin marks the order paid
	ProviderStripe = "stripe" // Stripe Checkout
)

// Order is a purchase of credit packs by a team. Its items are a snapshot
// of the products as they were when the order was placed.
type Order struct {
	ID       int64       `json:"id"`
	TeamID   int64       `json:"team_id"`
	UserID   int64       `json:"user_id"` // who placed it
	Status   string      `json:"status"`
	Currency string      `json:"currency"`
	Total    int64       `json:"total"`         // minor units of Currency
	Credits  int64       `json:"micro_credits"` // granted on fulfilment
	Provider string      `json:"provider"`
	Items    []OrderItem `json:"items"`
	Payment  *Payment    `json:"payment,omitempty"`
	// IdempotencyKey is the checkout's Idempotency-Key; RequestHash is a
	// hash of the checkout request, so a reused key with another request
	// is refused.
	IdempotencyKey string     `json:"-"`
	RequestHash    string     `json:"-"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	PaidAt         *time.Time `json:"paid_at,omitempty"`
	FulfilledAt    *time.Time `json:"fulfilled_at,omitempty"`
	RefundedAt     *time.Time `json:"refunded_at,omitempty"`
}

// OrderItem is one line of an order, as sold.
type OrderItem struct {
	ProductID   int64  `json:"product_id"`
	Name        string `json:"name"`
	UnitPrice   int64  `json:"unit_price"`
	UnitCredits int64  `json:"unit_micro_credits"`
	Quantity    int64  `json:"quantity"`
	Amount      int64  `json:"amount"`        // UnitPrice × Quantity
	Credits     int64  `json:"micro_credits"` // UnitCredits × Quantity
}

// Payment is the payment of one order through one provider.
type Payment struct {
	ID       int64  `json:"id"`
	OrderID  int64  `json:"order_id"`
	TeamID   int64  `json:"team_id"`
	Provider string `json:"provider"`
	Status   string `json:"status"`
	Amount   int64  `json:"amount"` // minor units of Currency
	Currency string `json:"currency"`
	// ExternalID is the provider's object for the payment (a Stripe
	// Checkout Session); Reference is the payment proper (a Stripe
	// PaymentIntent, or the reference an admin gave a manual payment);
	// RefundReference is the provider's refund.
	ExternalID      string `json:"external_id,omitempty"`
	Reference       string `json:"reference,omitempty"`
	RefundReference string `json:"refund_reference,omitempty"`
	// RedirectURL is where the customer pays (Stripe Checkout);
	// Instructions tell them how to pay otherwise (manual payments).
	RedirectURL  string    `json:"redirect_url,omitempty"`
	Instructions string    `json:"instructions,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// MaxIdempotencyKey bounds a checkout's Idempotency-Key.
const MaxIdempotencyKey = 200

// CheckoutRequest asks Checkout to turn a user's cart into an order.
type CheckoutRequest struct {
	UserID   int64
	TeamID   int64  // the team the order is for: its wallet gets the credits
	Provider string // the payment provider chosen
	Currency string // the shop currency, recorded on the order
	// IdempotencyKey identifies the checkout: the same key returns the
	// same order. RequestHash identifies the request's content: the same
	// key with another hash is ECONFLICT.
	IdempotencyKey string
	RequestHash    string
}

// ValidIdempotencyKey checks an Idempotency-Key: 1 to MaxIdempotencyKey
// printable ASCII characters.
func ValidIdempotencyKey(k string) error {
	if k == "" {
		return Invalid("Idempotency-Key", "The Idempotency-Key header is required: send a unique value (such as a UUID) per checkout.")
	}
	if len(k) > MaxIdempotencyKey {
		return Invalid("Idempotency-Key", "The Idempotency-Key header must be at most %d characters.", MaxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e {
			return Invalid("Idempotency-Key", "The Idempotency-Key header must be printable ASCII.")
		}
	}
	return nil
}

// OrderFilter narrows ListOrders; zero fields match everything.
type OrderFilter struct {
	TeamID int64
	Status string
}

// PaymentStart is what a provider answered when asked to start a payment.
type PaymentStart struct {
	ExternalID   string // the provider's object (a Stripe Checkout Session ID)
	RedirectURL  string // where the customer pays
	Instructions string // how the customer pays otherwise
}

// OrderTransition asks TransitionOrder to move an order to another state.
type OrderTransition struct {
	// OrderID names the order; when 0, the order is found by its payment's
	// Reference with Provider (e.g. a Stripe PaymentIntent).
	OrderID          int64
	PaymentReference string
	To               string
	// TeamID, when not 0, must own the order; Provider, when set, must be
	// the order's; ExternalID, when set, must be its payment's. Any
	// mismatch is ENOTFOUND, as if the order did not exist.
	TeamID     int64
	Provider   string
	ExternalID string
	// EventID is the provider event that causes the transition. It is
	// recorded in the transition's transaction: an event seen before
	// changes nothing. With an event, a transition the state machine
	// refuses is no error either (the event arrived late or out of
	// order): it is recorded and nothing else changes.
	EventID   string
	EventType string
	// Reference is recorded on the payment: the payment's own reference
	// when it becomes paid, the refund's when it is refunded.
	Reference string
	Reason    string // why, for the audit log
	// AllowNegative lets a refund take back credits the team has spent
	// already, taking its wallet below zero. Without it such a refund is
	// ECONFLICT.
	AllowNegative bool
	// BeforeCommit, when set, runs inside the transaction after every
	// write; an error rolls the whole transition back (a test hook for
	// failures between the writes and the commit).
	BeforeCommit func(o *Order) error
}

// PaymentFilter narrows ListPayments; zero fields match everything.
type PaymentFilter struct {
	TeamID   int64
	Status   string
	Provider string
}

// ProductFilter narrows ListProducts.
type ProductFilter struct {
	OnSale bool // only active products (what customers see)
}

// ValidateProduct checks a product's fields, trimming its name and
// description, and returns an EINVALID error naming the first bad field.
func ValidateProduct(p *Product) error {
	p.Name = strings.TrimSpace(p.Name)
	p.Description = strings.TrimSpace(p.Description)
	switch {
	case p.Name == "":
		return Invalid("name", "name is required")
	case utf8.RuneCountInString(p.Name) > MaxProductName:
		return Invalid("name", "name must be at most %d characters", MaxProductName)
	case !printable(p.Name, false):
		return Invalid("name", "name must be printable text on one line")
	case utf8.RuneCountInString(p.Description) > MaxProductDescription:
		return Invalid("description", "description must be at most %d characters", MaxProductDescription)
	case !printable(p.Description, true):
		return Invalid("description", "description must be printable text")
	case p.Price < 1 || p.Price > MaxProductPrice:
		return Invalid("price", "price must be 1 to %d (minor units of the shop currency, e.g. cents), got %d",
			int64(MaxProductPrice), p.Price)
	case p.Credits < 1 || p.Credits > MaxProductCredits:
		return Invalid("micro_credits", "micro_credits must be 1 to %d (1 credit = 1000000), got %d", int64(MaxProductCredits), p.Credits)
	case p.ArchivedAt != nil && p.Active:
		return Invalid("active", "an archived product cannot be on sale: unarchive it first")
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters
// (newlines and tabs allowed when multiline).
func printable(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
