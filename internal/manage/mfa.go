package manage

import (
	"context"
	"net/http"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/auth"
)

// MFAStore is what the MFA API needs from the database (see store/mfa.go).
type MFAStore interface {
	StartMFAEnrolment(ctx context.Context, userID int64, secret string) error
	ConfirmMFAEnrolment(ctx context.Context, userID int64, code string, backupHashes [][]byte, sessionID int64) error
	VerifyMFA(ctx context.Context, userID int64, proof chorus.MFAProof, s chorus.MFASession, purpose string) (*chorus.MFAResult, error)
	DisableMFA(ctx context.Context, userID int64, proof chorus.MFAProof) error
	ResetMFA(ctx context.Context, userID int64) error
	RegenerateBackupCodes(ctx context.Context, userID int64, hashes [][]byte) error
	MFAStatus(ctx context.Context, userID int64) (*chorus.MFAStatus, error)
	CheckMFAThrottle(ctx context.Context, userID int64) error
	Reauthenticate(ctx context.Context, userID, sessionID int64) error
	RecordReauthFailure(ctx context.Context, userID int64, purpose string) error
}

// totpIssuer is the name authenticator apps show next to the account.
const totpIssuer = "Chorus"

// mfaRoutes registers the MFA API. Everything but the status is for
// session principals: MFA protects people signing in, and API keys are
// not people (see requireStepUp).
func (s *Server) mfaRoutes(mux *api.Mux) {
	s.handle(mux, "GET /api/auth/mfa", accessUser, s.mfaStatus)
	s.handle(mux, "POST /api/auth/mfa/enroll", accessUser|allowMFAPending, s.mfaEnrol)
	s.handle(mux, "POST /api/auth/mfa/enroll/confirm", accessUser|allowMFAPending, s.mfaConfirm)
	s.handle(mux, "POST /api/auth/mfa/verify", accessUser|allowMFAPending, s.mfaVerify)
	s.handle(mux, "POST /api/auth/reauth", accessUser|allowMFAPending, s.reauth) // an admin who must enrol may need it first
	s.handle(mux, "POST /api/auth/mfa/disable", accessUser|stepUp, s.mfaDisable)
	s.handle(mux, "POST /api/auth/mfa/backup-codes", accessUser|stepUp, s.mfaBackupCodes)
	s.handle(mux, "POST /api/admin/users/{id}/mfa/reset", accessAdmin|stepUp, s.adminResetMFA)
}

// sessionOnly refuses API keys on routes that manage a person's sign-in
// (MFA, sessions, log out).
func sessionOnly(p *chorus.Principal) error {
	if p.Session == nil {
		return chorus.Errorf(chorus.EFORBIDDEN, "This is for a signed-in session (the console), not for API keys.")
	}
	return nil
}

// signedIn is sessionOnly for routes that a sign-in awaiting its second
// factor may not use although the route allows pending sessions for the
// admins who must enrol.
func signedIn(p *chorus.Principal) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	if p.Session.MFAPending {
		return &chorus.Error{Code: chorus.EUNAUTHORIZED, Reason: reasonMFAPending,
			Message: "Finish signing in: verify your second factor with POST /api/auth/mfa/verify."}
	}
	return nil
}

// mfaStatus: GET /api/auth/mfa.
func (s *Server) mfaStatus(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	st, err := s.Store.MFAStatus(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, st)
	return nil
}

// mfaEnrolResponse is a new TOTP secret, shown once.
type mfaEnrolResponse struct {
	OTPAuthURL string `json:"otpauth_url"`
	Secret     string `json:"secret"`  // base32, grouped by four for typing
	QRCode     string `json:"qr_code"` // a PNG data URL
	Issuer     string `json:"issuer"`
	Account    string `json:"account"`
	Digits     int    `json:"digits"`
	Period     int    `json:"period"`
	Algorithm  string `json:"algorithm"`
}

// mfaEnrol: POST /api/auth/mfa/enroll. Generates a secret and keeps it
// pending until confirmed; replacing an enabled factor needs step-up.
func (s *Server) mfaEnrol(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := signedIn(p); err != nil {
		return err
	}
	if err := api.DecodeOptionalJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	// Enrolling binds a second factor to the account: someone holding a
	// stolen session must not be able to bind theirs. A recent password
	// (sign-in or POST /api/auth/reauth) or, to replace a factor, a recent
	// code is required.
	if err := s.requireStepUp(r, p); err != nil {
		return err
	}
	e, err := auth.NewTOTP(totpIssuer, p.User.Email)
	if err != nil {
		return err
	}
	if err := s.Store.StartMFAEnrolment(r.Context(), p.User.ID, e.Secret); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, mfaEnrolResponse{
		OTPAuthURL: e.URL, Secret: e.ManualSecret, QRCode: e.QRCode, Issuer: totpIssuer, Account: p.User.Email,
		Digits: auth.TOTPDigits, Period: int(auth.TOTPPeriod.Seconds()), Algorithm: "SHA1",
	})
	return nil
}

// mfaCodeRequest is a second factor: one of code and backup_code.
type mfaCodeRequest struct {
	Code       string `json:"code"`
	BackupCode string `json:"backup_code"`
}

func (q mfaCodeRequest) proof() chorus.MFAProof {
	return chorus.MFAProof{Code: q.Code, BackupCode: q.BackupCode}
}

// mfaConfirm: POST /api/auth/mfa/enroll/confirm {code}. Enables MFA and
// returns the backup codes, the only time they are shown.
func (s *Server) mfaConfirm(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := signedIn(p); err != nil {
		return err
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if p.User.MFAEnabled {
		if err := s.requireStepUp(r, p); err != nil {
			return err
		}
	}
	codes, hashes := auth.NewBackupCodes()
	if err := s.Store.ConfirmMFAEnrolment(r.Context(), p.User.ID, req.Code, hashes, p.Session.ID); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"enabled": true, "backup_codes": codes})
	return nil
}

// mfaVerify: POST /api/auth/mfa/verify {code} or {backup_code}. For a
// sign-in awaiting its second factor it finishes the sign-in, with a new
// session token (and CSRF token) so that a token fixed before sign-in is
// useless; for a signed-in session it is the step-up.
func (s *Server) mfaVerify(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	var req mfaCodeRequest
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	sess := chorus.MFASession{ID: p.Session.ID}
	purpose := "step_up"
	var token string
	if p.Session.MFAPending {
		purpose = "login"
		var hash []byte
		token, hash = auth.NewToken("")
		csrf, _ := auth.NewToken("")
		sess.NewTokenHash, sess.NewCSRFToken = hash, csrf
	}
	res, err := s.Store.VerifyMFA(r.Context(), p.User.ID, req.proof(), sess, purpose)
	if err != nil {
		return err
	}
	out := map[string]any{"verified": true, "method": res.Method, "backup_codes_remaining": res.BackupCodesRemaining}
	if token != "" {
		s.setSessionCookie(w, r, token, p.Session.ExpiresAt)
		out["csrf_token"] = sess.NewCSRFToken
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// reauth: POST /api/auth/reauth {password}, the step-up of users without
// MFA.
func (s *Server) reauth(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if p.User.MFAEnabled {
		return &chorus.Error{Code: chorus.EFORBIDDEN, Reason: reasonMFARequired,
			Message: "This account uses MFA: verify a code with POST /api/auth/mfa/verify instead."}
	}
	if err := s.checkPassword(r.Context(), p, req.Password, "reauth"); err != nil {
		return err
	}
	if err := s.Store.Reauthenticate(r.Context(), p.User.ID, p.Session.ID); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"verified": true, "method": chorus.MFAMethodPassword})
	return nil
}

// checkPassword verifies the user's password for a re-authentication,
// throttled with the MFA verifications; a wrong one is recorded.
func (s *Server) checkPassword(ctx context.Context, p *chorus.Principal, password, purpose string) error {
	if password == "" {
		return chorus.Invalid("password", "password is required")
	}
	if len(password) > auth.MaxPasswordLength {
		return chorus.Invalid("password", "The password is incorrect.")
	}
	if err := s.Store.CheckMFAThrottle(ctx, p.User.ID); err != nil {
		return err
	}
	// Normalised as at sign-in (auth.NormalizePassword), or a password
	// with composed characters would not match here.
	ok, err := auth.VerifyPassword(p.User.PasswordHash, auth.NormalizePassword(password))
	if err != nil || !ok {
		if err := s.Store.RecordReauthFailure(ctx, p.User.ID, purpose); err != nil {
			return err
		}
		return chorus.Invalid("password", "The password is incorrect.")
	}
	return nil
}

// mfaDisable: POST /api/auth/mfa/disable {password, code | backup_code}.
// Needs step-up and a full re-authentication: the password and a second
// factor.
func (s *Server) mfaDisable(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := signedIn(p); err != nil {
		return err
	}
	var req struct {
		Password string `json:"password"`
		mfaCodeRequest
	}
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if !p.User.MFAEnabled {
		return chorus.Errorf(chorus.ECONFLICT, "MFA is not enabled.")
	}
	if req.Code == "" && req.BackupCode == "" {
		return chorus.Invalid("code", "code is required: the 6-digit code from your authenticator app, or backup_code")
	}
	if err := s.checkPassword(r.Context(), p, req.Password, "disable"); err != nil {
		return err
	}
	if err := s.Store.DisableMFA(r.Context(), p.User.ID, req.proof()); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"enabled": false})
	return nil
}

// mfaBackupCodes: POST /api/auth/mfa/backup-codes. New backup codes,
// shown once; the old ones stop working.
func (s *Server) mfaBackupCodes(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := signedIn(p); err != nil {
		return err
	}
	if err := api.DecodeOptionalJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	codes, hashes := auth.NewBackupCodes()
	if err := s.Store.RegenerateBackupCodes(r.Context(), p.User.ID, hashes); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"backup_codes": codes})
	return nil
}

// adminResetMFA: POST /api/admin/users/{id}/mfa/reset, for a user who lost
// their device. The user signs in with the password alone afterwards and
// may enrol again.
func (s *Server) adminResetMFA(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := api.DecodeOptionalJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	if err := s.Store.ResetMFA(r.Context(), id); err != nil {
		return err
	}
	st, err := s.Store.MFAStatus(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user_id": id, "mfa": st})
	return nil
}
