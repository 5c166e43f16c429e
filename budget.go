package chorus

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Budget scopes and periods.
const (
	BudgetTeam = "team"
	BudgetUser = "user"
	BudgetKey  = "key"

	PeriodDay   = "day"   // a UTC calendar day
	PeriodMonth = "month" // a UTC calendar month
)

// Event types.
const (
	// EventBudgetExceeded: a soft budget's spend reached its amount (once
	// per period).
	EventBudgetExceeded = "budget.exceeded"
)

// Webhook delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Budget caps what a team, one of its users or one of its keys spends per
// UTC day or month. A hard budget refuses requests that could take it past
// its amount; a soft one raises an alert once per period when its spend
// reaches the amount.
type Budget struct {
	ID         int64     `json:"id"`
	TeamID     int64     `json:"team_id"`
	Scope      string    `json:"scope"`    // team, user, key
	ScopeID    int64     `json:"scope_id"` // the team's, user's or key's ID
	Period     string    `json:"period"`   // day, month
	Amount     int64     `json:"amount"`   // micro-credits per period
	Hard       bool      `json:"hard"`
	WebhookURL string    `json:"webhook_url,omitempty"` // soft budgets: where alerts are POSTed
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// The current period, as of the read: its start, the spend and what
	// strict-mode requests in flight hold on it.
	PeriodStart time.Time `json:"period_start"`
	Spent       int64     `json:"spent"`
	Reserved    int64     `json:"reserved"`
}

// PeriodStart returns the start of the UTC day or month t falls in.
func PeriodStart(period string, t time.Time) time.Time {
	t = t.UTC()
	if period == PeriodMonth {
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// BudgetChange is what UpdateBudget may change; nil fields stay.
type BudgetChange struct {
	Amount     *int64
	Hard       *bool
	WebhookURL *string
	// RotateSecret issues a new webhook secret (returned once); a budget
	// that gains a URL gets one anyway.
	RotateSecret bool
}

// BudgetFilter narrows ListBudgets. Zero fields do not filter.
type BudgetFilter struct {
	TeamID *int64
}

// BudgetAlert is the data of a budget.exceeded event.
type BudgetAlert struct {
	BudgetID    int64     `json:"budget_id"`
	Scope       string    `json:"scope"`
	ScopeID     int64     `json:"scope_id"`
	Period      string    `json:"period"`
	PeriodStart time.Time `json:"period_start"`
	Amount      int64     `json:"amount"` // the budget, micro-credits
	Spent       int64     `json:"spent"`  // the spend that crossed it
	Hard        bool      `json:"hard"`
}

// Event is something the consoles show, such as a budget alert, with the
// state of its webhook delivery when it has one.
type Event struct {
	ID        int64           `json:"id"`
	TeamID    int64           `json:"team_id"`
	Type      string          `json:"type"`
	BudgetID  int64           `json:"budget_id,omitempty"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
	Webhook   *DeliveryState  `json:"webhook,omitempty"`
}

// DeliveryState is where a webhook delivery stands.
type DeliveryState struct {
	Status      string     `json:"status"` // pending, delivered, failed
	Attempts    int        `json:"attempts"`
	LastStatus  int        `json:"last_status,omitempty"` // HTTP status of the last attempt
	LastError   string     `json:"last_error,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// EventFilter narrows ListEvents. Zero fields do not filter.
type EventFilter struct {
	TeamID *int64
	Type   string
}

// Delivery is a webhook delivery claimed for sending.
type Delivery struct {
	ID       int64
	EventID  int64
	BudgetID int64
	TeamID   int64
	URL      string
	Attempt  int    // 1 for the first attempt
	Secret   string // the budget's webhook secret; "" when the budget is gone
	Event    Event
}

// DeliveryResult is the outcome of one delivery attempt.
type DeliveryResult struct {
	Status    int       // HTTP status; 0 when none came back
	Error     string    // why it failed
	Delivered bool      // a 2xx answer
	Retry     time.Time // when to try again; zero: give up (failed)
}

// Budget limits.
const (
	MaxBudgetsPerTeam = 100
	MaxBudgetAmount   = 1_000_000_000 * MicroPerCredit // a billion credits
	maxWebhookURL     = 2048
)

// Validate checks a budget before it is stored: its scope, period, amount
// and webhook URL (soft budgets only). Errors are EINVALID naming the field.
func (b *Budget) Validate() error {
	switch b.Scope {
	case BudgetTeam, BudgetUser, BudgetKey:
	default:
		return Invalid("scope", "scope must be team, user or key, got %q", b.Scope)
	}
	if b.ScopeID <= 0 && b.Scope != BudgetTeam {
		return Invalid("scope_id", "scope_id must name the %s", b.Scope)
	}
	if b.Period != PeriodDay && b.Period != PeriodMonth {
		return Invalid("period", "period must be day or month, got %q", b.Period)
	}
	if b.Amount < 1 || b.Amount > MaxBudgetAmount {
		return Invalid("amount", "amount must be 1 to %d micro-credits, got %d", int64(MaxBudgetAmount), b.Amount)
	}
	if b.WebhookURL != "" {
		if b.Hard {
			return Invalid("webhook_url", "only soft budgets alert: a hard budget refuses requests instead")
		}
		if err := validWebhookURL(b.WebhookURL); err != nil {
			return Invalid("webhook_url", "webhook_url %s", err)
		}
	}
	return nil
}

func validWebhookURL(s string) error {
	if len(s) > maxWebhookURL {
		return fmt.Errorf("must be at most %d characters", maxWebhookURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("must be an absolute http:// or https:// URL without credentials or fragment")
	}
	return nil
}
