package chorus

import (
	"encoding/json"
	"strconv"
	"time"
)

// SubjectExport is everything Chorus holds about one person (a data
// subject, in the GDPR's words), as `chorus users export` writes it. It
// never carries a secret: no password hash, TOTP seed, key, session token
// or CSRF token (their types keep them out of JSON), and stored responses
// and client errors only as the person made them.
type SubjectExport struct {
	ExportedAt time.Time `json:"exported_at"`
	User       *User     `json:"user"`
	Team       *Team     `json:"team"`
	// TeamMembers is how many users the team has, the person included: the
	// team's orders are exported whole only when it is 1.
	TeamMembers int64       `json:"team_members"`
	MFA         SubjectMFA  `json:"mfa"`
	Keys        []*APIKey   `json:"api_keys"`
	Sessions    []*Session  `json:"sessions"`
	Budgets     []*Budget   `json:"budgets"` // on the person or on one of their keys
	Usage       []*Usage    `json:"usage_records"`
	Feedback    []*Feedback `json:"feedback"`
	// Scores are the quality scores of answers made with the person's keys.
	Scores       []*ScoreRecord     `json:"quality_scores"`
	Responses    []*SubjectResponse `json:"stored_responses"`
	ClientErrors []*ClientError     `json:"client_errors"`
	Invites      []*Invite          `json:"invitations"` // sent to the person's email
	// Orders are those the person placed, and every order of their team
	// when they are its only member; each with its items and payment.
	Orders []*Order `json:"orders"`
	// Audit holds the audit entries the person made, that target them, or
	// whose details carry their email (in the clear, or as the HMAC a
	// failed sign-in records).
	Audit []*AuditEntry `json:"audit_entries"`
}

// SubjectMFA says whether a person uses a second factor, never the factor.
type SubjectMFA struct {
	Enabled          bool  `json:"enabled"`
	BackupCodesLeft  int64 `json:"backup_codes_left"`
	EnrolmentPending bool  `json:"enrolment_pending"`
}

// SubjectResponse is a stored Responses API answer in an export: the
// request's input items and the response object as JSON.
type SubjectResponse struct {
	ID         string          `json:"id"`
	TeamID     int64           `json:"team_id"`
	KeyID      int64           `json:"key_id"`
	Model      string          `json:"model"`
	PreviousID string          `json:"previous_response_id,omitempty"`
	Input      json.RawMessage `json:"input"`
	Response   json.RawMessage `json:"response"`
	CreatedAt  time.Time       `json:"created_at"`
}

// Erasure is what `chorus users erase` did to one person's data, as its
// audit entry (AuditUserErased) records it: counts only, never the data.
type Erasure struct {
	UserID           int64 `json:"user_id"`
	TeamID           int64 `json:"team_id"`
	Sessions         int64 `json:"sessions_deleted"`
	BackupCodes      int64 `json:"backup_codes_deleted"`
	KeysRevoked      int64 `json:"keys_revoked"`
	Responses        int64 `json:"responses_deleted"`
	FeedbackComments int64 `json:"feedback_comments_deleted"`
	ScoreReasons     int64 `json:"score_reasons_cleared"`
	ClientErrors     int64 `json:"client_errors_deleted"`
	Invites          int64 `json:"invitations_deleted"`
	CartItems        int64 `json:"cart_items_deleted"`
	TeamRenamed      bool  `json:"team_renamed"`
}

// ErasedEmail is the address an erased user's email is replaced with: the
// .invalid top-level domain (RFC 2606) can never receive mail.
func ErasedEmail(userID int64) string {
	return "erased-" + strconv.FormatInt(userID, 10) + "@invalid"
}

// ErasedName is the name an erased user's name is replaced with.
const ErasedName = "erased user"
