package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
)

// session is a signed-in browser: a session cookie and its CSRF token.
type session struct {
	g     *gateway
	token string
	csrf  string
}

// login signs in through POST /api/auth/login and reports whether the
// session awaits the second factor.
func (g *gateway) login(email, password string) (s *session, mfaPending bool) {
	g.t.Helper()
	r := g.do("POST", "/api/auth/login", "", map[string]string{"email": email, "password": password})
	if r.Status != http.StatusOK {
		g.t.Fatalf("login: status %d (%.300s)", r.Status, r.Body)
	}
	var v struct {
		CSRF       string `json:"csrf_token"`
		MFAPending bool   `json:"mfa_pending"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		g.t.Fatal(err)
	}
	token := sessionCookieOf(r)
	if token == "" || v.CSRF == "" {
		g.t.Fatalf("login: cookie %q, csrf_token %q", token, v.CSRF)
	}
	return &session{g: g, token: token, csrf: v.CSRF}, v.MFAPending
}

// sessionCookieOf returns the session cookie r sets, "" if none.
func sessionCookieOf(r response) string {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "chorus_session" && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// signIn creates a session for u directly in the store, as sign-in does
// after a correct password: pending when the user has MFA.
func (g *gateway) signIn(u *chorus.User, pending bool) *session {
	g.t.Helper()
	s := &chorus.Session{UserID: u.ID, MFAPending: pending}
	if !pending { // as a password sign-in: a fresh verification
		now := time.Now()
		s.MFAAt = &now
	}
	return g.newSession(s)
}

// signInVerifiedAt creates a session whose last verification was at at:
// older than the step-up window, it must step up again.
func (g *gateway) signInVerifiedAt(u *chorus.User, at time.Time) *session {
	g.t.Helper()
	return g.newSession(&chorus.Session{UserID: u.ID, MFAAt: &at})
}

func (g *gateway) newSession(s *chorus.Session) *session {
	g.t.Helper()
	var b [32]byte
	rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(token))
	csrf := fmt.Sprintf("%x", h[:8])
	s.TokenHash, s.CSRFToken, s.ExpiresAt = h[:], csrf, time.Now().Add(time.Hour)
	if err := g.App.DB.CreateSession(context.Background(), s); err != nil {
		g.t.Fatal(err)
	}
	return &session{g: g, token: token, csrf: csrf}
}

// do calls the API with the session's cookie and CSRF token.
func (s *session) do(method, path string, body any) response {
	s.g.t.Helper()
	return s.g.do(method, path, "", body, "Cookie", "chorus_session="+s.token, "X-CSRF-Token", s.csrf)
}

// must calls the API, fails unless the status is want, and decodes the
// answer into out (if not nil).
func (s *session) must(method, path string, body any, want int, out any) response {
	s.g.t.Helper()
	r := s.do(method, path, body)
	if r.Status != want {
		s.g.t.Fatalf("%s %s: status %d (%.300s), want %d", method, path, r.Status, r.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			s.g.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return r
}

// wantReason fails unless r is an error with status and OpenAI "code"
// reason.
func wantReason(t *testing.T, r response, status int, reason string) apiError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d (%.300s), want %d", r.Status, r.Body, status)
	}
	e := decodeError(t, r)
	if got := deref(e.Error.Code); got != reason {
		t.Fatalf("error code %q (%s), want %q", got, e.Error.Message, reason)
	}
	return e
}

// mfaUser creates a user with a password.
func (g *gateway) mfaUser(role, password string) *chorus.User {
	g.t.Helper()
	hash, err := auth.HashPassword(password)
	if err != nil {
		g.t.Fatal(err)
	}
	u := &chorus.User{Email: g.unique("mfa") + "@example.test", Name: "MFA user", Role: role, PasswordHash: hash}
	if err := g.App.DB.CreateUser(context.Background(), u); err != nil {
		g.t.Fatal(err)
	}
	return u
}

// clockOffset makes the server's clock run ahead of the real one by a
// settable offset, to let a step-up window pass without waiting. It must
// be installed before the first request.
func clockOffset(g *gateway) *atomic.Int64 {
	var off atomic.Int64
	g.App.Manage.Now = func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	return &off
}

// totpCodes hands out codes of a secret for the gateway's real clock,
// each for a later step than the one before (a step is accepted once), at
// most one step ahead of now.
type totpCodes struct {
	t      *testing.T
	secret string
	last   int64
}

func (c *totpCodes) next() string {
	c.t.Helper()
	step := max(c.last+1, auth.TOTPStep(time.Now())-auth.TOTPSkew)
	if step > auth.TOTPStep(time.Now())+auth.TOTPSkew {
		c.t.Fatal("no fresh TOTP step within the skew: use a backup code")
	}
	c.last = step
	code, err := auth.TOTPCode(c.secret, step)
	if err != nil {
		c.t.Fatal(err)
	}
	return code
}

// wrong returns a code that is never accepted now: two steps ago.
func (c *totpCodes) wrong() string {
	c.t.Helper()
	code, err := auth.TOTPCode(c.secret, auth.TOTPStep(time.Now())-5)
	if err != nil {
		c.t.Fatal(err)
	}
	return code
}

// enrol runs the enrolment on s and returns the codes and backup codes.
func enrol(t *testing.T, s *session) (*totpCodes, []string) {
	t.Helper()
	var e struct {
		OTPAuthURL string `json:"otpauth_url"`
		Secret     string `json:"secret"`
		QRCode     string `json:"qr_code"`
	}
	r := s.must("POST", "/api/auth/mfa/enroll", nil, http.StatusOK, &e)
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("enrolment Cache-Control = %q, want no-store", cc)
	}
	u, err := url.Parse(e.OTPAuthURL)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("issuer") != "Chorus" {
		t.Fatalf("otpauth_url = %q", e.OTPAuthURL)
	}
	secret := u.Query().Get("secret")
	if strings.ReplaceAll(e.Secret, " ", "") != secret {
		t.Errorf("manual secret %q is not the URL's %q", e.Secret, secret)
	}
	if !strings.HasPrefix(e.QRCode, "data:image/png;base64,") {
		t.Errorf("qr_code = %.40q…, want a PNG data URL", e.QRCode)
	}
	codes := &totpCodes{t: t, secret: secret}
	wantReason(t, s.do("POST", "/api/auth/mfa/enroll/confirm", map[string]string{"code": codes.wrong()}), 400, "")
	var c struct {
		Enabled     bool     `json:"enabled"`
		BackupCodes []string `json:"backup_codes"`
	}
	s.must("POST", "/api/auth/mfa/enroll/confirm", map[string]string{"code": codes.next()}, http.StatusOK, &c)
	if !c.Enabled || len(c.BackupCodes) != auth.BackupCodeCount {
		t.Fatalf("confirm = %+v, want enabled with %d backup codes", c, auth.BackupCodeCount)
	}
	return codes, c.BackupCodes
}

func mfaStatus(t *testing.T, s *session) (enabled bool, remaining int) {
	t.Helper()
	var st struct {
		Enabled   bool `json:"enabled"`
		Remaining int  `json:"backup_codes_remaining"`
	}
	s.must("GET", "/api/auth/mfa", nil, http.StatusOK, &st)
	return st.Enabled, st.Remaining
}

// TestMFA walks a customer through enrolment, a sign-in with MFA, step-up
// and its expiry, and disabling MFA.
func TestMFA(t *testing.T) {
	g := startGateway(t, nil)
	clock := clockOffset(g)
	const password = "correct horse battery staple"
	u := g.mfaUser(chorus.RoleCustomer, password)
	newKey := map[string]any{"name": "ci"}

	first, mfaPending := g.login(u.Email, password)
	if mfaPending {
		t.Fatal("sign-in without MFA is pending")
	}
	if enabled, _ := mfaStatus(t, first); enabled {
		t.Fatal("MFA enabled before enrolment")
	}
	codes, backup := enrol(t, first)
	if enabled, remaining := mfaStatus(t, first); !enabled || remaining != auth.BackupCodeCount {
		t.Fatalf("after enrolment: enabled %v, %d backup codes", enabled, remaining)
	}
	t.Run("EnrolmentIsAStepUp", func(t *testing.T) {
		first.must("POST", "/api/keys", newKey, http.StatusCreated, nil)
	})
	first.must("POST", "/api/auth/logout", nil, http.StatusNoContent, nil)

	// Signing in again: the password is right, the second factor pending.
	pending, mfaPending := g.login(u.Email, password)
	if !mfaPending {
		t.Fatal("sign-in with MFA is not pending")
	}
	t.Run("PendingMayOnlyVerify", func(t *testing.T) {
		pending.must("GET", "/api/auth/session", nil, http.StatusOK, nil)
		wantReason(t, pending.do("POST", "/api/keys", newKey), 401, "mfa_pending")
		wantReason(t, pending.do("GET", "/api/keys", nil), 401, "mfa_pending")
		wantReason(t, pending.do("GET", "/api/auth/mfa", nil), 401, "mfa_pending")
		wantReason(t, pending.do("POST", "/api/auth/mfa/enroll", nil), 401, "mfa_pending")
		wantReason(t, pending.do("POST", "/api/auth/mfa/backup-codes", nil), 401, "mfa_pending")
		wantReason(t, pending.do("POST", "/api/auth/mfa/verify", map[string]string{"code": codes.wrong()}), 400, "")
	})
	t.Run("VerifyRotatesTheToken", func(t *testing.T) {
		var v struct {
			Verified bool   `json:"verified"`
			Method   string `json:"method"`
			CSRF     string `json:"csrf_token"`
		}
		r := pending.must("POST", "/api/auth/mfa/verify", map[string]string{"code": codes.next()}, http.StatusOK, &v)
		token := sessionCookieOf(r)
		if !v.Verified || v.Method != "totp" || v.CSRF == "" || token == "" || token == pending.token {
			t.Fatalf("verify = %+v, cookie %q: want a new token and CSRF token", v, token)
		}
		old := *pending
		wantReason(t, old.do("GET", "/api/keys", nil), 401, "invalid_api_key")
		pending.token, pending.csrf = token, v.CSRF
		pending.must("GET", "/api/keys", nil, http.StatusOK, nil)
	})
	signedIn := pending
	t.Run("StepUpAllowedRightAfterSignIn", func(t *testing.T) {
		signedIn.must("POST", "/api/keys", newKey, http.StatusCreated, nil)
	})
	t.Run("StepUpExpires", func(t *testing.T) {
		clock.Store(int64(10*time.Minute + 5*time.Second))
		defer clock.Store(0)
		e := wantReason(t, signedIn.do("POST", "/api/keys", newKey), 403, "mfa_required")
		if !strings.Contains(e.Error.Message, "/api/auth/mfa/verify") {
			t.Errorf("message %q does not say how to step up", e.Error.Message)
		}
		signedIn.must("GET", "/api/keys", nil, http.StatusOK, nil) // not sensitive
	})
	t.Run("StepUpAgain", func(t *testing.T) {
		stale := g.signInVerifiedAt(u, time.Now().Add(-11*time.Minute))
		wantReason(t, stale.do("POST", "/api/keys", newKey), 403, "mfa_required")
		wantReason(t, stale.do("POST", "/api/auth/reauth", map[string]string{"password": password}), 403, "mfa_required")
		// A backup code steps up too, once.
		stale.must("POST", "/api/auth/mfa/verify", map[string]string{"backup_code": backup[0]}, http.StatusOK, nil)
		stale.must("POST", "/api/keys", newKey, http.StatusCreated, nil)
		wantReason(t, stale.do("POST", "/api/auth/mfa/verify", map[string]string{"backup_code": backup[0]}), 400, "")
	})
	t.Run("ReplayRefused", func(t *testing.T) {
		other := g.signIn(u, false) // another session of the same user
		code := codes.next()
		signedIn.must("POST", "/api/auth/mfa/verify", map[string]string{"code": code}, http.StatusOK, nil)
		wantReason(t, signedIn.do("POST", "/api/auth/mfa/verify", map[string]string{"code": code}), 400, "")
		wantReason(t, other.do("POST", "/api/auth/mfa/verify", map[string]string{"code": code}), 400, "")
	})
	t.Run("ReenrolNeedsStepUp", func(t *testing.T) {
		stale := g.signInVerifiedAt(u, time.Now().Add(-11*time.Minute))
		wantReason(t, stale.do("POST", "/api/auth/mfa/enroll", nil), 403, "mfa_required")
		wantReason(t, stale.do("POST", "/api/auth/mfa/enroll/confirm", map[string]string{"code": "123456"}), 403, "mfa_required")
		wantReason(t, stale.do("POST", "/api/auth/mfa/backup-codes", nil), 403, "mfa_required")
	})
	t.Run("BackupCodesRegenerated", func(t *testing.T) {
		var out struct {
			BackupCodes []string `json:"backup_codes"`
		}
		signedIn.must("POST", "/api/auth/mfa/backup-codes", nil, http.StatusOK, &out)
		if len(out.BackupCodes) != auth.BackupCodeCount {
			t.Fatalf("%d backup codes", len(out.BackupCodes))
		}
		wantReason(t, signedIn.do("POST", "/api/auth/mfa/verify", map[string]string{"backup_code": backup[1]}), 400, "")
		backup = out.BackupCodes
		signedIn.must("POST", "/api/auth/mfa/verify", map[string]string{"backup_code": backup[9]}, http.StatusOK, nil)
	})
	t.Run("DisableNeedsPasswordAndCode", func(t *testing.T) {
		for _, body := range []map[string]string{
			{"backup_code": backup[0]},
			{"password": password},
			{"password": "wrong password", "backup_code": backup[0]},
			{"password": password, "code": codes.wrong()},
			{"password": password, "backup_code": "AAAAA-AAAAA"},
		} {
			wantReason(t, signedIn.do("POST", "/api/auth/mfa/disable", body), 400, "")
		}
		if enabled, _ := mfaStatus(t, signedIn); !enabled {
			t.Fatal("a refused disable turned MFA off")
		}
		// Three failures since the last success; two more and even the
		// right answer is refused.
		for range 2 {
			wantReason(t, signedIn.do("POST", "/api/auth/mfa/verify", map[string]string{"code": codes.wrong()}), 400, "")
		}
		r := signedIn.do("POST", "/api/auth/mfa/disable", map[string]string{"password": password, "backup_code": backup[0]})
		wantReason(t, r, 429, "rate_limit_exceeded")
		if ra := r.Header.Get("Retry-After"); ra == "" {
			t.Error("no Retry-After on the throttled answer")
		}
	})
}

// TestMFADisable turns MFA off and steps up with the password after.
func TestMFADisable(t *testing.T) {
	g := startGateway(t, nil)
	const password = "correct horse battery staple"
	u := g.mfaUser(chorus.RoleCustomer, password)
	s := g.signIn(u, false)
	_, backup := enrol(t, s)
	t.Run("RefusedWithoutStepUp", func(t *testing.T) {
		stale := g.signInVerifiedAt(u, time.Now().Add(-11*time.Minute))
		wantReason(t, stale.do("POST", "/api/auth/mfa/disable", map[string]string{"password": password, "backup_code": backup[0]}), 403, "mfa_required")
	})
	t.Run("OK", func(t *testing.T) {
		s.must("POST", "/api/auth/mfa/disable", map[string]string{"password": password, "backup_code": backup[0]}, http.StatusOK, nil)
		if enabled, remaining := mfaStatus(t, s); enabled || remaining != 0 {
			t.Fatalf("after disable: enabled %v, %d backup codes", enabled, remaining)
		}
	})
	t.Run("PasswordStepUp", func(t *testing.T) {
		s := g.signInVerifiedAt(u, time.Now().Add(-11*time.Minute))
		e := wantReason(t, s.do("POST", "/api/keys", map[string]any{"name": "k"}), 403, "mfa_required")
		if !strings.Contains(e.Error.Message, "/api/auth/reauth") {
			t.Errorf("message %q does not name /api/auth/reauth", e.Error.Message)
		}
		wantReason(t, s.do("POST", "/api/auth/reauth", map[string]string{"password": "nope"}), 400, "")
		wantReason(t, s.do("POST", "/api/auth/reauth", map[string]string{}), 400, "")
		wantReason(t, s.do("POST", "/api/auth/mfa/verify", map[string]string{"code": "123456"}), 409, "")
		s.must("POST", "/api/auth/reauth", map[string]string{"password": password}, http.StatusOK, nil)
		s.must("POST", "/api/keys", map[string]any{"name": "k"}, http.StatusCreated, nil)
	})
}

// TestMFABadInput sends malformed bodies to every MFA route.
func TestMFABadInput(t *testing.T) {
	g := startGateway(t, nil)
	u := g.mfaUser(chorus.RoleCustomer, "correct horse battery staple")
	s := g.signIn(u, false)
	enrol(t, s)
	for _, tc := range []struct {
		name, path string
		body       any
	}{
		{"UnknownField", "/api/auth/mfa/verify", map[string]string{"code": "123456", "extra": "x"}},
		{"BothFactors", "/api/auth/mfa/verify", map[string]string{"code": "123456", "backup_code": "AAAAA-AAAAA"}},
		{"Neither", "/api/auth/mfa/verify", map[string]string{}},
		{"NotJSON", "/api/auth/mfa/verify", "code=123456"},
		{"CodeNotString", "/api/auth/mfa/verify", map[string]any{"code": 123456}},
		{"HugeCode", "/api/auth/mfa/verify", map[string]string{"code": strings.Repeat("1", 10000)}},
		{"Injection", "/api/auth/mfa/verify", map[string]string{"backup_code": "' OR 1=1 --"}},
		{"Script", "/api/auth/mfa/verify", map[string]string{"backup_code": "<script>alert(1)</script>"}},
		{"EnrolUnknownField", "/api/auth/mfa/enroll", map[string]string{"secret": "JBSWY3DPEHPK3PXP"}},
		{"ConfirmNoCode", "/api/auth/mfa/enroll/confirm", map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", tc.path, tc.body)
			if r.Status != http.StatusBadRequest && r.Status != http.StatusConflict && r.Status != http.StatusTooManyRequests {
				t.Fatalf("status %d (%.200s), want a 4xx refusal", r.Status, r.Body)
			}
		})
	}
	if enabled, remaining := mfaStatus(t, s); !enabled || remaining != auth.BackupCodeCount {
		t.Errorf("bad input changed MFA: enabled %v, %d backup codes", enabled, remaining)
	}
	t.Run("APIKeysRefused", func(t *testing.T) {
		k := g.createKey(keySpec{Name: "k", UserID: u.ID})
		r := g.do("POST", "/api/auth/mfa/enroll", k.Key, nil)
		if r.Status != http.StatusForbidden {
			t.Errorf("enrol with an API key: %d, want 403", r.Status)
		}
		// Keys are not interactive: step-up does not apply to them.
		if r := g.do("POST", "/api/keys", k.Key, map[string]any{"name": "from-key"}); r.Status != http.StatusCreated {
			t.Errorf("POST /api/keys with a key: %d (%.200s), want 201", r.Status, r.Body)
		}
	})
}

// TestRequiredAdminMFA: with auth.require_admin_mfa an admin must enrol
// before anything else; an admin can reset a user's MFA.
func TestRequiredAdminMFA(t *testing.T) {
	g := startGateway(t, func(c *config.Config) { c.Auth.RequireAdminMFA = true })
	const password = "correct horse battery staple"
	adm := g.mfaUser(chorus.RoleAdmin, password)
	s, _ := g.login(adm.Email, password)
	t.Run("EnrolFirst", func(t *testing.T) {
		wantReason(t, s.do("GET", "/api/admin/models", nil), 403, "mfa_enrollment_required")
		wantReason(t, s.do("GET", "/api/keys", nil), 403, "mfa_enrollment_required")
		// Re-entering the password stays open: enrolling needs a recent one.
		s.must("POST", "/api/auth/reauth", map[string]string{"password": password}, http.StatusOK, nil)
		s.must("GET", "/api/auth/session", nil, http.StatusOK, nil)
	})
	t.Run("EnrolNeedsRecentPassword", func(t *testing.T) {
		stale := g.signInVerifiedAt(adm, time.Now().Add(-11*time.Minute))
		wantReason(t, stale.do("POST", "/api/auth/mfa/enroll", nil), 403, "mfa_required")
	})
	enrol(t, s)
	t.Run("AfterEnrolment", func(t *testing.T) {
		s.must("GET", "/api/admin/models", nil, http.StatusOK, nil)
	})
	t.Run("LoginIsPendingNow", func(t *testing.T) {
		s2, pending := g.login(adm.Email, password)
		if !pending {
			t.Fatal("an admin with MFA signed in without the second factor")
		}
		wantReason(t, s2.do("GET", "/api/admin/models", nil), 401, "mfa_pending")
		s2.must("POST", "/api/auth/logout", nil, http.StatusNoContent, nil)
	})
	t.Run("CustomersNotAffected", func(t *testing.T) {
		c := g.signIn(g.mfaUser(chorus.RoleCustomer, "correct horse battery staple"), false)
		c.must("GET", "/api/keys", nil, http.StatusOK, nil)
	})
	t.Run("ResetUsersMFA", func(t *testing.T) {
		u := g.mfaUser(chorus.RoleCustomer, "correct horse battery staple")
		us := g.signIn(u, false)
		enrol(t, us)
		path := fmt.Sprintf("/api/admin/users/%d/mfa/reset", u.ID)
		stale := g.signInVerifiedAt(adm, time.Now().Add(-11*time.Minute))
		wantReason(t, stale.do("POST", path, nil), 403, "mfa_required")
		s.must("POST", path, nil, http.StatusOK, nil)
		if enabled, remaining := mfaStatus(t, us); enabled || remaining != 0 {
			t.Errorf("after reset: enabled %v, %d backup codes", enabled, remaining)
		}
		wantReason(t, s.do("POST", path, nil), 409, "")
		wantReason(t, s.do("POST", "/api/admin/users/999999/mfa/reset", nil), 404, "")
		wantReason(t, us.do("POST", path, nil), 403, "")
	})
}
