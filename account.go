package chorus

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Team owns API keys, budgets and credits. Every user belongs to exactly
// one team; signing up creates a team with the new user as its owner.
type Team struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Team roles: an owner may invite members and manage the team's keys,
// budgets and orders; a member may use the team and manage their own keys.
const (
	TeamOwner  = "owner"
	TeamMember = "member"
)

// Invite lets whoever holds its token sign up (Email, when set, must be
// theirs) into TeamID with TeamRole — or into a new team of their own,
// as its owner, when TeamID is 0 — with the user role Role. The token is
// shown once; only its SHA-256 is stored. It can be used once, before
// ExpiresAt.
type Invite struct {
	ID        int64      `json:"id"`
	TokenHash []byte     `json:"-"`
	Email     string     `json:"email,omitempty"`
	TeamID    int64      `json:"team_id,omitempty"`
	Role      string     `json:"role"`
	TeamRole  string     `json:"team_role"`
	CreatedBy int64      `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	UsedBy    *int64     `json:"used_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Session is a signed-in browser. The cookie holds a random token; the
// database holds only its SHA-256 (TokenHash), so a database read does not
// yield a usable cookie.
type Session struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"user_id"`
	TokenHash []byte    `json:"-"`
	CSRFToken string    `json:"-"` // sent back by the client in X-CSRF-Token on every state-changing request
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// MFAPending is true between a correct password and the second factor
	// for a user with MFA enabled: such a session may only verify MFA or
	// log out.
	MFAPending bool `json:"mfa_pending"`
	// MFAAt is the last time the user proved their second factor in this
	// session; sensitive operations require it to be recent (step-up).
	MFAAt     *time.Time `json:"mfa_at,omitempty"`
	IP        string     `json:"ip"`
	UserAgent string     `json:"user_agent"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Active reports whether the session may be used at now.
func (s *Session) Active(now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.ExpiresAt)
}

// Principal is who is calling a management route: a user signed in with a
// session cookie, or a user's API key. Exactly one of Key and Session is
// set; User is always set (and not disabled).
type Principal struct {
	User    *User
	Key     *APIKey
	Session *Session
}

// IsAdmin reports whether the principal has the admin role.
func (p *Principal) IsAdmin() bool { return p != nil && p.User != nil && p.User.Role == RoleAdmin }

// TeamID returns the principal's team.
func (p *Principal) TeamID() int64 {
	if p == nil || p.User == nil {
		return 0
	}
	return p.User.TeamID
}

// Actor is who performed an action, as the audit log records it. Handlers
// put it in the request context (NewContextWithActor); the store reads it
// when it writes the audit entry in the action's own transaction.
type Actor struct {
	UserID    int64  `json:"user_id,omitempty"`
	KeyID     int64  `json:"key_id,omitempty"`
	SessionID int64  `json:"session_id,omitempty"`
	IP        string `json:"ip,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// System names an actor that is not a user: "bootstrap", "cli",
	// "reconciler", "stripe-webhook", …
	System string `json:"system,omitempty"`
}

type actorKey struct{}

// NewContextWithActor returns a copy of ctx carrying the actor.
func NewContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor in ctx; the zero Actor with System
// "unknown" when there is none.
func ActorFromContext(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{System: "unknown"}
}

// AuditEntry is one record of the append-only, hash-chained audit log.
// Hash is SHA-256 over the canonical encoding of every other field and
// PrevHash (see package audit); Seq runs 1, 2, 3… without gaps.
type AuditEntry struct {
	Seq        int64           `json:"seq"`
	At         time.Time       `json:"at"`
	Actor      Actor           `json:"actor"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type,omitempty"`
	TargetID   string          `json:"target_id,omitempty"`
	TeamID     int64           `json:"team_id,omitempty"` // the team the target belongs to, when it has one
	Details    json.RawMessage `json:"details,omitempty"` // secrets appear only as HMACs
	PrevHash   []byte          `json:"prev_hash"`
	Hash       []byte          `json:"hash"`
}

// Audit actions. Each names what happened, in the past tense.
const (
	AuditLoginSucceeded  = "auth.login.succeeded"
	AuditLoginFailed     = "auth.login.failed"
	AuditLogout          = "auth.logout"
	AuditSessionRevoked  = "auth.session.revoked"
	AuditPasswordChanged = "auth.password.changed"
	AuditSignup          = "auth.signup"
	// AuditSignupRefused: a sign-up with a valid invitation for an email
	// that has an account; the invitation was spent.
	AuditSignupRefused    = "auth.signup.refused"
	AuditMFAEnrolled      = "auth.mfa.enrolled"
	AuditMFAVerified      = "auth.mfa.verified"
	AuditMFAFailed        = "auth.mfa.failed"
	AuditMFADisabled      = "auth.mfa.disabled"
	AuditBackupCodesReset = "auth.mfa.backup_codes_regenerated"
	AuditBackupCodeUsed   = "auth.mfa.backup_code_used"

	AuditUserCreated   = "user.created"
	AuditUserUpdated   = "user.updated"
	AuditRoleChanged   = "user.role_changed"
	AuditUserDisabled  = "user.disabled"
	AuditUserEnabled   = "user.enabled"
	AuditUserExported  = "user.exported" // a data subject export was written (chorus users export)
	AuditUserErased    = "user.erased"   // a data subject's personal data was erased (chorus users erase)
	AuditTeamCreated   = "team.created"
	AuditTeamUpdated   = "team.updated"
	AuditTeamChanged   = "user.team_changed"
	AuditInviteIssued  = "team.invite.created"
	AuditInviteRevoked = "team.invite.revoked"

	AuditKeyCreated = "key.created"
	AuditKeyRevoked = "key.revoked"
	AuditKeyUpdated = "key.updated"

	AuditCredentialCreated = "credential.created" // #nosec G101 -- an audit action name, not a credential
	AuditCredentialUpdated = "credential.updated" // #nosec G101 -- an audit action name, not a credential
	AuditCredentialDeleted = "credential.deleted" // #nosec G101 -- an audit action name, not a credential
	AuditModelCreated      = "model.created"
	AuditModelUpdated      = "model.updated"
	AuditModelDeleted      = "model.deleted"
	AuditDeploymentCreated = "deployment.created"
	AuditDeploymentUpdated = "deployment.updated"
	AuditDeploymentDeleted = "deployment.deleted"
	AuditRouteCreated      = "route.created"
	AuditRouteUpdated      = "route.updated"
	AuditRouteDeleted      = "route.deleted"
	AuditConfigChanged     = "config.changed"

	AuditOrderTransition   = "order.transition"
	AuditPaymentTransition = "payment.transition"
	AuditRefund            = "order.refunded"
	AuditCreditsGranted    = "credits.granted"
	AuditCodeBatchCreated  = "code.batch_created"
	AuditCodeRedeemed      = "code.redeemed"
	AuditProductChanged    = "product.changed"
	AuditBudgetChanged     = "budget.changed"
	AuditCodeBatchDisabled = "code.batch_disabled"
	// AuditReauthenticated: a user without MFA re-entered their password
	// for a sensitive operation (step-up); AuditReauthFailed: a wrong one.
	AuditReauthenticated = "auth.reauth.succeeded"
	AuditReauthFailed    = "auth.reauth.failed"
)

// UserFilter narrows SearchUsers. Zero fields do not filter.
type UserFilter struct {
	// Query matches users whose email or name contains it, compared
	// case-insensitively (ASCII letters).
	Query    string
	Role     string
	TeamID   *int64
	Disabled *bool
}

// Validate checks a user before it is stored: email, name, role and team
// role. Errors are EINVALID naming the field at fault.
func (u *User) Validate() error {
	switch {
	case u.Email == "" || !strings.Contains(u.Email, "@"):
		return Invalid("email", "a valid email address is required")
	case len(u.Email) > 254:
		return Invalid("email", "email must be at most 254 characters")
	case len(u.Name) > 400:
		return Invalid("name", "name must be at most 100 characters")
	case u.Role != RoleAdmin && u.Role != RoleCustomer:
		return Invalid("role", "role must be %q or %q", RoleAdmin, RoleCustomer)
	case u.TeamRole != "" && u.TeamRole != TeamOwner && u.TeamRole != TeamMember:
		return Invalid("team_role", "team_role must be %q or %q", TeamOwner, TeamMember)
	}
	return nil
}
