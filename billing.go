package chorus

import (
	"fmt"
	"time"
)

// Hold kinds.
const (
	HoldRequest = "request" // one strict-mode request's worst case
	HoldLease   = "lease"   // a fast-mode instance's credit on one team's wallet
)

// BudgetHold is credit held on one hard budget's period.
type BudgetHold struct {
	BudgetID    int64
	PeriodStart time.Time
	Amount      int64
}

// HoldSpec is a strict-mode request's reservation.
type HoldSpec struct {
	Ref       string // unique per request: the idempotency key of its settlement too
	TeamID    int64
	Owner     string       // the instance
	Wallet    int64        // micro-credits held on the team's wallet; 0 holds nothing there
	Budgets   []BudgetHold // the hard budgets the request falls under
	ExpiresAt time.Time    // when the reaper may release it
}

// QuotaError is the refusal of a request whose worst case (need) exceeds
// what the wallet has available.
func QuotaError(need, available int64) *Error {
	return &Error{Code: EQUOTA, Type: "insufficient_quota", Message: fmt.Sprintf(
		"You exceeded your current quota: this request may cost up to %s credits and your team has %s credits available. Buy credits or redeem a code to continue.",
		FormatCredits(need), FormatCredits(max(available, 0)))}
}

// BudgetError is the refusal of a request that could take budget b past
// its limit.
func BudgetError(b *Budget, need, spent int64) *Error {
	return &Error{Code: EQUOTA, Type: "insufficient_quota", Message: fmt.Sprintf(
		"You exceeded your current quota: the %s budget %d of %s %d (%s credits per %s) has %s credits left and this request may cost up to %s credits.",
		budgetAdjective(b.Period), b.ID, b.Scope, b.ScopeID, FormatCredits(b.Amount), b.Period,
		FormatCredits(max(b.Amount-spent, 0)), FormatCredits(need))}
}

// LeaseSpec asks to grow a fast-mode instance's lease on a team's wallet.
type LeaseSpec struct {
	Ref    string // "lease:<instance>:<team>"
	TeamID int64
	Owner  string
	// Min is what the lease must grow by at least (EQUOTA when the wallet
	// has less available); Want is what it grows by at most, and Fraction
	// caps Want at that share of what the wallet has available (never
	// below Min), so that instances share a small wallet.
	Min, Want int64
	Fraction  float64
	ExpiresAt time.Time
}

// LeaseState is a lease after a change.
type LeaseState struct {
	Amount    int64 // what the lease holds now
	Granted   int64 // what this call added
	Available int64 // what the wallet has available after it
}

// BudgetSpend is what requests cost within one budget's period.
type BudgetSpend struct {
	BudgetID    int64
	PeriodStart time.Time
	Amount      int64
}

// Charge is one team's part of a settlement.
type Charge struct {
	TeamID   int64
	Ref      string // stored on the spend posting: the request ID, or the batch
	Requests int64  // how many requests it settles
	Cost     int64  // what they cost (micro-credits), recorded and counted in the budgets
	// Bill is what of Cost the team's wallet pays: all of it, or nothing
	// for exempt keys.
	Bill int64
	// Hold (strict mode) is the request hold released by the settlement,
	// every row of it.
	Hold string
	// Lease (fast mode) is the lease the charge is paid from first; it
	// shrinks by what it pays.
	Lease string
	Spend []BudgetSpend // the budgets the requests count in
}

// BudgetPeriod names one period of one budget.
type BudgetPeriod struct {
	BudgetID    int64
	PeriodStart time.Time
}

// SettleResult is what a settlement did.
type SettleResult struct {
	// Applied is false when the key was settled before: nothing changed.
	Applied bool
	// Charged is what each charge's wallet paid: its cost, less what no
	// credit covered (a wallet is never taken below zero, nor into credit
	// reserved by other requests).
	Charged []int64
	// Balances are the wallets after (zero for charges without a wallet).
	Balances []Balance
	// Leases are what each charge's lease holds after: 0 once used up or
	// reaped, -1 for a charge that paid nothing from a lease.
	Leases []int64
	// Spent is each budget period's spend after.
	Spent map[BudgetPeriod]int64
	// Alerts is how many budget alerts (events) the settlement raised.
	Alerts int
}

func budgetAdjective(period string) string {
	if period == PeriodMonth {
		return "monthly"
	}
	return "daily"
}

// Validate checks a hold before it is placed. Errors are EINVALID naming
// the field at fault.
func (h *HoldSpec) Validate() error {
	if h.Ref == "" || len(h.Ref) > MaxIdempotencyKey-40 {
		return Invalid("ref", "a hold's ref must be 1 to %d characters", MaxIdempotencyKey-40)
	}
	if h.TeamID <= 0 {
		return Invalid("team_id", "a hold needs a team")
	}
	if h.Wallet < 0 {
		return Invalid("amount", "a hold's amount must not be negative")
	}
	for _, b := range h.Budgets {
		if b.BudgetID <= 0 || b.Amount < 0 {
			return Invalid("budgets", "a budget hold needs a budget and a non-negative amount")
		}
	}
	return nil
}
