package chorus

import "time"

// Redemption code limits.
const (
	MaxCodesPerBatch = 10_000
	MaxCodeUses      = 1_000_000 // per code
)

// CodeBatch is a batch of redemption codes: each code credits a team's
// wallet with Amount once per team, up to MaxUses teams in all, until the
// batch expires or is disabled.
type CodeBatch struct {
	ID         int64      `json:"id"`
	Memo       string     `json:"memo"`
	Amount     int64      `json:"amount"`   // micro-credits per redemption
	MaxUses    int64      `json:"max_uses"` // per code
	Count      int        `json:"count"`    // codes in the batch
	Uses       int64      `json:"uses"`     // redemptions so far, over all codes (read only)
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	CreatedBy  int64      `json:"created_by,omitempty"` // user ID
	CreatedAt  time.Time  `json:"created_at"`
	// Codes are the codes in the clear, set by CreateCodeBatch only: they
	// are stored as hashes and cannot be read back.
	Codes []string `json:"codes,omitempty"`
}
