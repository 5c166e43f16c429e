package manage

import (
	"fmt"
	"net/http"
	"time"

	"github.com/chorusgw/chorus"
)

// Step-up. A sensitive operation (a route registered with stepUp: creating
// API keys, changing provider credentials, role changes, refunds,
// disabling MFA, …) needs a recent verification in the calling session,
// within auth.step_up_window:
//
//   - a user with MFA verifies a TOTP or backup code
//     (POST /api/auth/mfa/verify);
//   - a user without MFA re-enters their password (POST /api/auth/reauth).
//
// Either sets the session's MFAAt. Signing in with MFA sets it too, so a
// fresh sign-in may act at once; enrolling MFA counts as verifying it.

// defaultStepUpWindow applies when the server was built without an auth
// config (tests).
const defaultStepUpWindow = 10 * time.Minute

// Reasons sent as the error's "code", for clients to act on.
const (
	reasonMFARequired   = "mfa_required"            // verify (or re-enter the password), then retry
	reasonMFAPending    = "mfa_pending"             // the sign-in awaits its second factor
	reasonMFAEnrolFirst = "mfa_enrollment_required" // an admin must enrol MFA before anything else
)

// stepUpWindow is how recent a session's verification must be.
func (s *Server) stepUpWindow() time.Duration {
	if s.Auth.StepUpWindow > 0 {
		return s.Auth.StepUpWindow
	}
	return defaultStepUpWindow
}

// requireStepUp refuses a sensitive operation unless the caller's session
// verified its second factor (or, without MFA, its password) within the
// step-up window.
//
// API keys pass: they are not interactive, so there is no one to ask for
// a code, and a key is itself a product of step-up: keys are created only
// by a session that has just stepped up or with the operator's master
// key. Holding one is the authority the step-up granted.
func (s *Server) requireStepUp(r *http.Request, p *chorus.Principal) error {
	_ = r
	if p.Session == nil {
		return nil
	}
	window := s.stepUpWindow()
	if at := p.Session.MFAAt; at != nil && s.Now().Sub(*at) <= window {
		return nil
	}
	how := "verify a code from your authenticator app (or a backup code) with POST /api/auth/mfa/verify"
	if !p.User.MFAEnabled {
		how = "re-enter your password with POST /api/auth/reauth"
	}
	return &chorus.Error{Code: chorus.EFORBIDDEN, Reason: reasonMFARequired, Message: fmt.Sprintf(
		"This operation needs a recent verification: %s, then retry (it stays valid for %s).", how, window)}
}

// mfaGate refuses a session that has not finished signing in (password
// given, second factor pending) unless the route allows it
// (allowMFAPending: verify, enrol, session info, log out). When
// auth.require_admin_mfa is on, an admin session whose user has not
// enrolled MFA is held to the same routes, so the first thing an admin
// does is enrol. API keys are not gated: see requireStepUp.
func (s *Server) mfaGate(r *http.Request, p *chorus.Principal, allowPending bool) error {
	_ = r
	if p.Session == nil || allowPending {
		return nil
	}
	if p.Session.MFAPending {
		return &chorus.Error{Code: chorus.EUNAUTHORIZED, Reason: reasonMFAPending,
			Message: "Finish signing in: verify your second factor with POST /api/auth/mfa/verify."}
	}
	if s.Auth.RequireAdminMFA && p.IsAdmin() && !p.User.MFAEnabled {
		return &chorus.Error{Code: chorus.EFORBIDDEN, Reason: reasonMFAEnrolFirst,
			Message: "Admins must use MFA: enrol MFA first (POST /api/auth/mfa/enroll, then POST /api/auth/mfa/enroll/confirm)."}
	}
	return nil
}
