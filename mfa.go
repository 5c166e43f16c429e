package chorus

import "time"

// The verification throttle: after MFAMaxFailures failed verifications
// (TOTP or backup codes, and password re-entries) within MFAFailureWindow,
// and none succeeded since, a user's next attempts are refused (ERATELIMIT
// with a RetryAfter) until the oldest of them leaves the window. The
// failures are counted from the audit log, where each is recorded anyway,
// so the throttle holds across instances with no other shared state.
const (
	MFAMaxFailures   = 5
	MFAFailureWindow = 15 * time.Minute
)

// MFA verification methods, as MFAResult and the audit log name them.
const (
	MFAMethodTOTP       = "totp"
	MFAMethodBackupCode = "backup_code"
	MFAMethodPassword   = "password"
)

// MFAStatus is a user's second factor as they may see it.
type MFAStatus struct {
	Enabled   bool       `json:"enabled"`
	EnabledAt *time.Time `json:"enabled_at,omitempty"`
	// EnrolmentPending: a secret was generated and awaits its first code.
	EnrolmentPending     bool `json:"enrollment_pending"`
	BackupCodesRemaining int  `json:"backup_codes_remaining"`
}

// MFAProof is a second factor offered by a user: a TOTP code or a backup
// code, exactly one of them.
type MFAProof struct {
	Code       string
	BackupCode string
}

// Validate checks the shape of the proof (not its value).
func (p MFAProof) Validate() error {
	switch {
	case p.Code == "" && p.BackupCode == "":
		return Invalid("code", "code is required: the 6-digit code from your authenticator app, or backup_code")
	case p.Code != "" && p.BackupCode != "":
		return Invalid("backup_code", "send either code or backup_code, not both")
	case len(p.Code) > 32:
		return Invalid("code", "code must be the 6 digits your authenticator app shows")
	case len(p.BackupCode) > 64:
		return Invalid("backup_code", "backup_code must be one of your backup codes, such as ABCDE-FGHIJ")
	}
	return nil
}

// MFASession is the session a verification was made in, which a success
// marks verified (mfa_at = now, mfa_pending cleared).
type MFASession struct {
	ID int64 // 0: no session to mark
	// NewTokenHash and NewCSRFToken, when set, replace the session's token
	// hash and CSRF token in the same transaction: finishing a sign-in
	// rotates the token, so a token planted before it (session fixation) is
	// worth nothing after.
	NewTokenHash []byte
	NewCSRFToken string
}

// MFAResult is the outcome of a successful verification.
type MFAResult struct {
	Method               string `json:"method"` // MFAMethodTOTP or MFAMethodBackupCode
	BackupCodesRemaining int    `json:"backup_codes_remaining"`
}
