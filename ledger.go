package chorus

import (
	"strconv"
	"time"
)

// Ledger accounts. A team's wallet is "team:<id>"; the system accounts are
// fixed names. Every posting moves credits between accounts: its entries
// sum to zero, so credits are never created or destroyed, only moved —
// a top-up moves them from AccountPayments to a wallet, a request's
// charge from the wallet to AccountRevenue.
const (
	AccountRevenue    = "system:revenue"    // credits spent on tokens
	AccountPayments   = "system:payments"   // clearing account of credits sold (payments received)
	AccountPromotions = "system:promotions" // credits given away: redemption codes, admin grants
	AccountRefunds    = "system:refunds"    // credits taken back by refunds
)

// Posting kinds.
const (
	PostingTopUp      = "topup"      // an order's credits granted (payments → wallet)
	PostingSpend      = "spend"      // requests' charges (wallet → revenue)
	PostingRefund     = "refund"     // an order refunded (wallet → refunds)
	PostingRedemption = "redemption" // a redemption code (promotions → wallet)
	PostingGrant      = "grant"      // an admin grant or adjustment (promotions ⇄ wallet)
)

// LedgerEntry is one leg of a posting: a signed amount on one account.
// Positive amounts credit the account (its balance grows).
type LedgerEntry struct {
	Account string `json:"account"` // "team:<id>" or a system account
	Amount  int64  `json:"amount"`  // micro-credits, signed
}

// Posting is one balanced movement of credits. IdempotencyKey is unique:
// posting the same key again returns the first posting and moves nothing.
type Posting struct {
	ID             int64         `json:"id"`
	IdempotencyKey string        `json:"idempotency_key"`
	Kind           string        `json:"kind"`
	TeamID         int64         `json:"team_id,omitempty"` // the team it concerns, for history queries
	Memo           string        `json:"memo,omitempty"`
	Ref            string        `json:"ref,omitempty"` // what caused it: "order:12", "req_…", "code:7"
	Entries        []LedgerEntry `json:"entries"`
	// AllowNegative lets the posting take a wallet below zero (refunds
	// under the "allow negative" policy, settlement of an aborted stream
	// that cost more than its hold). Not stored.
	AllowNegative bool      `json:"-"`
	CreatedAt     time.Time `json:"created_at"`
}

// WalletAccount returns the ledger account of a team's wallet.
func WalletAccount(teamID int64) string { return "team:" + strconv.FormatInt(teamID, 10) }

// Balance is a team wallet's state. Available is what new requests may
// reserve: Balance minus the credits held by requests in flight.
type Balance struct {
	TeamID    int64 `json:"team_id"`
	Balance   int64 `json:"balance"`   // micro-credits: the sum of the wallet's entries
	Reserved  int64 `json:"reserved"`  // micro-credits held for requests in flight
	Available int64 `json:"available"` // Balance - Reserved
}

// PostingFilter narrows ListPostings. Zero fields do not filter.
type PostingFilter struct {
	TeamID *int64    // postings concerning this team
	Kind   string    // one of the chorus.Posting* kinds
	Since  time.Time // created at or after
	Until  time.Time // created before
}

// LedgerReport is what CheckLedger found.
type LedgerReport struct {
	OK       bool     `json:"ok"`       // no problem found
	Problems []string `json:"problems"` // broken invariants, at most a few of each kind
	Accounts int64    `json:"accounts"`
	Postings int64    `json:"postings"`
	Entries  int64    `json:"entries"`
	Total    int64    `json:"total"` // the sum of every entry: zero
	// NegativeWallets are the wallets below zero. That is not a broken
	// invariant by itself (AllowNegative postings may do it) but worth
	// a look.
	NegativeWallets []Balance `json:"negative_wallets"`
}
