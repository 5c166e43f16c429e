package chorus

import (
	"fmt"
	"time"
)

// AuditFilter narrows ListAudit. Zero fields do not filter.
type AuditFilter struct {
	ActorUserID *int64 // entries by this user
	// Action is an exact action, or a prefix when it ends with "."
	// ("auth." matches "auth.login.failed" and every other auth.* action).
	Action     string
	TargetType string
	TargetID   string // only together with TargetType
	TeamID     *int64
	Since      time.Time // at >= Since
	Until      time.Time // at < Until
}

// AuditPage asks for one page of the audit log, newest first. Before is the
// cursor: only entries with seq < Before are returned, so the next page
// passes the seq of the last (oldest) entry of this one; 0 starts at the
// newest entry. Limit is clamped like chorus.Page's: to [1, MaxPageSize],
// DefaultPageSize when 0.
type AuditPage struct {
	Before int64
	Limit  int
}

// AuditReport is the outcome of VerifyAudit.
type AuditReport struct {
	OK bool `json:"ok"`
	// Entries is the number of entries verified: all of them when OK, those
	// before the problem otherwise.
	Entries int64 `json:"entries"`
	// HeadSeq and HeadHash (hex) are the stored head of the chain: the seq
	// and hash of the last entry appended.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// Problem is the first inconsistency found, nil when OK.
	Problem *AuditProblem `json:"problem,omitempty"`
}

// AuditProblem is the first inconsistency a verification of the audit chain
// finds. Seq is the first entry that cannot be trusted; Kind is one of the
// audit package's Kind constants.
type AuditProblem struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Error implements error.
func (p *AuditProblem) Error() string { return fmt.Sprintf("seq %d: %s: %s", p.Seq, p.Kind, p.Detail) }
