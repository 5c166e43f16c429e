package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/store"
)

// mfaClock is a settable clock for the store's Now.
type mfaClock struct{ t atomic.Int64 }

func newMFAClock(t time.Time) *mfaClock {
	c := &mfaClock{}
	c.Set(t)
	return c
}

func (c *mfaClock) Set(t time.Time)           { c.t.Store(t.UnixNano()) }
func (c *mfaClock) Add(d time.Duration)       { c.t.Add(int64(d)) }
func (c *mfaClock) Now() time.Time            { return time.Unix(0, c.t.Load()).UTC() }
func (c *mfaClock) opt() func(*store.Options) { return withNow(c.Now) }

// mfaEpoch is a time 10 s into a TOTP step, so that small clock moves stay
// within it.
var mfaEpoch = time.Unix(1_800_000_000-1_800_000_000%30+10, 0).UTC()

// totpAt returns the secret's code for the step at t.
func totpAt(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	c, err := auth.TOTPCode(secret, auth.TOTPStep(t))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// mustEnrol enrols u with a fresh secret and returns it and the backup
// codes.
func mustEnrol(tb testing.TB, db *store.DB, clock *mfaClock, u *chorus.User) (secret string, codes []string) {
	tb.Helper()
	ctx := context.Background()
	e, err := auth.NewTOTP("Chorus", u.Email)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.StartMFAEnrolment(ctx, u.ID, e.Secret); err != nil {
		tb.Fatal(err)
	}
	codes, hashes := auth.NewBackupCodes()
	if err := db.ConfirmMFAEnrolment(ctx, u.ID, totpAt(tb, e.Secret, clock.Now()), hashes, 0); err != nil {
		tb.Fatal(err)
	}
	// The confirmation consumed this step: move on to the next one so
	// that tests can verify a fresh code.
	clock.Add(auth.TOTPPeriod)
	return e.Secret, codes
}

// mustSession creates a session for u and returns it with its token hash.
func mustSession(tb testing.TB, db *store.DB, clock *mfaClock, u *chorus.User, pending bool) *chorus.Session {
	tb.Helper()
	h := sha256.Sum256([]byte(randomHex(16)))
	s := &chorus.Session{UserID: u.ID, TokenHash: h[:], CSRFToken: randomHex(8), MFAPending: pending,
		ExpiresAt: clock.Now().Add(24 * time.Hour)}
	if err := db.CreateSession(context.Background(), s); err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustMFAStatus(tb testing.TB, db *store.DB, userID int64) *chorus.MFAStatus {
	tb.Helper()
	st, err := db.MFAStatus(context.Background(), userID)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// auditActions returns the auth.* actions recorded about a user, oldest
// first.
func auditActions(tb testing.TB, db *store.DB, userID int64) []string {
	tb.Helper()
	es, err := db.ListAudit(context.Background(),
		chorus.AuditFilter{Action: "auth.", TargetType: "user", TargetID: fmt.Sprint(userID)},
		chorus.AuditPage{Limit: chorus.MaxPageSize})
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[len(es)-1-i] = e.Action
	}
	return out
}

func TestMFAEnrolment(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clock := newMFAClock(mfaEpoch)
		db := MustOpenDB(t, b, clock.opt())
		u := mustCreateUser(t, db, "ada@example.com")

		t.Run("ErrNotPending", func(t *testing.T) {
			_, hashes := auth.NewBackupCodes()
			assertCode(t, db.ConfirmMFAEnrolment(ctx, u.ID, "123456", hashes, 0), chorus.ECONFLICT)
		})
		t.Run("ErrUnknownUser", func(t *testing.T) {
			assertCode(t, db.StartMFAEnrolment(ctx, u.ID+1000, "JBSWY3DPEHPK3PXP"), chorus.ENOTFOUND)
		})

		e, err := auth.NewTOTP("Chorus", u.Email)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.StartMFAEnrolment(ctx, u.ID, e.Secret); err != nil {
			t.Fatal(err)
		}
		t.Run("Pending", func(t *testing.T) {
			st := mustMFAStatus(t, db, u.ID)
			if st.Enabled || !st.EnrolmentPending || st.BackupCodesRemaining != 0 {
				t.Errorf("status = %+v, want pending, not enabled", st)
			}
		})
		codes, hashes := auth.NewBackupCodes()
		sess := mustSession(t, db, clock, u, false)
		t.Run("ErrWrongCode", func(t *testing.T) {
			wrong := totpAt(t, e.Secret, clock.Now().Add(-2*auth.TOTPPeriod))
			assertCode(t, db.ConfirmMFAEnrolment(ctx, u.ID, wrong, hashes, sess.ID), chorus.EINVALID)
			if st := mustMFAStatus(t, db, u.ID); st.Enabled || !st.EnrolmentPending {
				t.Errorf("after a wrong code: %+v, want still pending", st)
			}
		})
		t.Run("ErrNoCode", func(t *testing.T) {
			assertCode(t, db.ConfirmMFAEnrolment(ctx, u.ID, "", hashes, sess.ID), chorus.EINVALID)
		})
		t.Run("OK", func(t *testing.T) {
			if err := db.ConfirmMFAEnrolment(ctx, u.ID, totpAt(t, e.Secret, clock.Now()), hashes, sess.ID); err != nil {
				t.Fatal(err)
			}
			st := mustMFAStatus(t, db, u.ID)
			if !st.Enabled || st.EnrolmentPending || st.BackupCodesRemaining != auth.BackupCodeCount || st.EnabledAt == nil {
				t.Errorf("status = %+v, want enabled with %d backup codes", st, auth.BackupCodeCount)
			}
			got, err := db.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.MFAEnabled {
				t.Error("User.MFAEnabled is false after enrolment")
			}
			s, _, err := db.SessionByTokenHash(ctx, sess.TokenHash)
			if err != nil {
				t.Fatal(err)
			}
			if s.MFAAt == nil || !s.MFAAt.Equal(clock.Now().Truncate(time.Microsecond)) {
				t.Errorf("session mfa_at = %v, want %v: enrolling proves the factor", s.MFAAt, clock.Now())
			}
			if got, want := auditActions(t, db, u.ID), []string{chorus.AuditMFAFailed, chorus.AuditMFAEnrolled}; !slices.Equal(got, want) {
				t.Errorf("audit = %v, want %v", got, want)
			}
		})
		t.Run("ErrConfirmCodeReplayed", func(t *testing.T) {
			_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: totpAt(t, e.Secret, clock.Now())}, chorus.MFASession{}, "login")
			assertCode(t, err, chorus.EINVALID)
		})
		t.Run("BackupCodeWorks", func(t *testing.T) {
			res, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{BackupCode: codes[3]}, chorus.MFASession{}, "login")
			if err != nil {
				t.Fatal(err)
			}
			if res.Method != chorus.MFAMethodBackupCode || res.BackupCodesRemaining != auth.BackupCodeCount-1 {
				t.Errorf("result = %+v", res)
			}
		})

		t.Run("ReenrolKeepsOldFactorUntilConfirmed", func(t *testing.T) {
			clock.Add(auth.TOTPPeriod)
			e2, err := auth.NewTOTP("Chorus", u.Email)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.StartMFAEnrolment(ctx, u.ID, e2.Secret); err != nil {
				t.Fatal(err)
			}
			if _, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: totpAt(t, e.Secret, clock.Now())}, chorus.MFASession{}, "step_up"); err != nil {
				t.Fatalf("old factor during a pending re-enrolment: %v", err)
			}
			// The new secret's code at the step just used by the old one.
			codes2, hashes2 := auth.NewBackupCodes()
			if err := db.ConfirmMFAEnrolment(ctx, u.ID, totpAt(t, e2.Secret, clock.Now()), hashes2, 0); err != nil {
				t.Fatal(err)
			}
			clock.Add(auth.TOTPPeriod)
			_, err = db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: totpAt(t, e.Secret, clock.Now())}, chorus.MFASession{}, "login")
			assertCode(t, err, chorus.EINVALID)
			_, err = db.VerifyMFA(ctx, u.ID, chorus.MFAProof{BackupCode: codes[4]}, chorus.MFASession{}, "login")
			assertCode(t, err, chorus.EINVALID)
			if _, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{BackupCode: codes2[0]}, chorus.MFASession{}, "login"); err != nil {
				t.Errorf("new backup code: %v", err)
			}
		})
	})
}

// TestMFASecretSealed checks that the database holds the TOTP secret only
// sealed, bound to its user.
func TestMFASecretSealed(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clock := newMFAClock(mfaEpoch)
		dsn := b.newDSN(t)
		db := mustOpen(t, dsn, clock.opt())
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		u := mustCreateUser(t, db, "ada@example.com")
		secret, codes := mustEnrol(t, db, clock, u)
		raw := rawDB(t, b, dsn)
		var sealed, pending []byte
		q := `SELECT mfa_secret_enc, mfa_pending_secret_enc FROM users WHERE id = $1`
		if b.name == store.DialectSQLite {
			q = strings.Replace(q, "$1", "?", 1)
		}
		if err := raw.QueryRow(q, u.ID).Scan(&sealed, &pending); err != nil {
			t.Fatal(err)
		}
		if len(sealed) == 0 || pending != nil {
			t.Fatalf("secret column %d bytes, pending %v; want a sealed secret and no pending one", len(sealed), pending)
		}
		for _, clear := range [][]byte{[]byte(secret), []byte(strings.ToLower(secret)), mustBase32(t, secret)} {
			if bytes.Contains(sealed, clear) {
				t.Fatalf("the stored column contains the secret in the clear")
			}
		}
		s := testSealer(t, testKey)
		if got, err := s.Open(sealed, []byte(fmt.Sprintf("chorus/totp/%d", u.ID))); err != nil || string(got) != secret {
			t.Errorf("open with the user's associated data = %q, %v; want the secret", got, err)
		}
		if _, err := s.Open(sealed, []byte(fmt.Sprintf("chorus/totp/%d", u.ID+1))); err == nil {
			t.Error("the sealed secret opens for another user")
		}
		rows, err := raw.Query(`SELECT code_hash FROM mfa_backup_codes`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				t.Fatal(err)
			}
			n++
			for _, c := range codes {
				if bytes.Contains(h, []byte(strings.ReplaceAll(c, "-", ""))) || bytes.Contains(h, []byte(c)) {
					t.Errorf("a backup code is stored in the clear")
				}
			}
		}
		if n != auth.BackupCodeCount {
			t.Errorf("%d backup code rows, want %d", n, auth.BackupCodeCount)
		}
	})
}

func mustBase32(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestVerifyMFAReplayAndSkew(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clock := newMFAClock(mfaEpoch)
		dsn := b.newDSN(t)
		db := mustOpen(t, dsn, clock.opt())
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		other := mustOpen(t, dsn, clock.opt()) // a second instance on the same database
		u := mustCreateUser(t, db, "ada@example.com")
		secret, _ := mustEnrol(t, db, clock, u)
		verify := func(db *store.DB, code string) error {
			_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: code}, chorus.MFASession{}, "step_up")
			return err
		}

		t.Run("SameCodeTwice", func(t *testing.T) {
			code := totpAt(t, secret, clock.Now())
			if err := verify(db, code); err != nil {
				t.Fatal(err)
			}
			assertCode(t, verify(db, code), chorus.EINVALID)
		})
		t.Run("SameCodeOnAnotherInstance", func(t *testing.T) {
			clock.Add(auth.TOTPPeriod)
			code := totpAt(t, secret, clock.Now())
			if err := verify(other, code); err != nil {
				t.Fatal(err)
			}
			assertCode(t, verify(db, code), chorus.EINVALID)
		})
		t.Run("EarlierStepAfterLater", func(t *testing.T) {
			clock.Add(3 * auth.TOTPPeriod)
			next := totpAt(t, secret, clock.Now().Add(auth.TOTPPeriod))
			prev := totpAt(t, secret, clock.Now())
			if err := verify(db, next); err != nil {
				t.Fatalf("code of the next step: %v", err)
			}
			assertCode(t, verify(db, prev), chorus.EINVALID)
		})
		for _, tc := range []struct {
			name   string
			offset int64
			ok     bool
		}{
			{"SkewMinusOne", -1, true},
			{"SkewPlusOne", +1, true},
			{"SkewMinusTwo", -2, false},
			{"SkewPlusTwo", +2, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// A fresh user each time: earlier steps are consumed per user,
				// and a failure count must not throttle later cases.
				u := mustCreateUser(t, db, "skew"+randomHex(4)+"@example.com")
				secret, _ := mustEnrol(t, db, clock, u)
				clock.Add(5 * auth.TOTPPeriod)
				code := totpAt(t, secret, clock.Now().Add(time.Duration(tc.offset)*auth.TOTPPeriod))
				_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: code}, chorus.MFASession{}, "login")
				if tc.ok && err != nil {
					t.Fatalf("step %+d refused: %v", tc.offset, err)
				}
				if !tc.ok {
					assertCode(t, err, chorus.EINVALID)
				}
			})
		}
		t.Run("ConcurrentSameCode", func(t *testing.T) {
			clock.Add(3 * auth.TOTPPeriod)
			code := totpAt(t, secret, clock.Now())
			oks := concurrently(8, func(i int) error {
				return verify([]*store.DB{db, other}[i%2], code)
			})
			if oks != 1 {
				t.Errorf("%d of 8 concurrent uses of one code succeeded, want 1", oks)
			}
		})
	})
}

// concurrently runs f(0…n-1) at once and returns how many returned nil.
// Every error must be a refusal (EINVALID or ERATELIMIT).
func concurrently(n int, f func(i int) error) int {
	var wg sync.WaitGroup
	var oks atomic.Int64
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := f(i)
			switch chorus.ErrorCode(err) {
			case "":
				oks.Add(1)
			case chorus.EINVALID, chorus.ERATELIMIT:
			default:
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return int(oks.Load())
}

func TestBackupCodeSingleUse(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clock := newMFAClock(mfaEpoch)
		dsn := b.newDSN(t)
		db := mustOpen(t, dsn, clock.opt())
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		other := mustOpen(t, dsn, clock.opt())
		u := mustCreateUser(t, db, "ada@example.com")
		_, codes := mustEnrol(t, db, clock, u)
		use := func(db *store.DB, code string) error {
			_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{BackupCode: code}, chorus.MFASession{}, "login")
			return err
		}

		t.Run("Twice", func(t *testing.T) {
			if err := use(db, strings.ToLower(codes[0])); err != nil {
				t.Fatal(err)
			}
			assertCode(t, use(other, codes[0]), chorus.EINVALID)
		})
		t.Run("Concurrent", func(t *testing.T) {
			for round, code := range codes[1:4] {
				clock.Add(MFAWindowForTest) // past the failures of the round before
				oks := concurrently(6, func(i int) error {
					return use([]*store.DB{db, other}[i%2], code)
				})
				if oks != 1 {
					t.Fatalf("round %d: %d of 6 concurrent uses of one backup code succeeded, want 1", round, oks)
				}
			}
			if got, want := mustMFAStatus(t, db, u.ID).BackupCodesRemaining, auth.BackupCodeCount-4; got != want {
				t.Errorf("%d backup codes remaining, want %d", got, want)
			}
		})
		t.Run("ErrMalformed", func(t *testing.T) {
			clock.Add(MFAWindowForTest) // past the failures of the concurrent rounds
			for _, c := range []string{"not-a-code", "' OR 1=1 --", strings.Repeat("A", 64)} {
				assertCode(t, use(db, c), chorus.EINVALID)
			}
		})
		t.Run("AuditHasNoCodes", func(t *testing.T) {
			es, err := db.ListAudit(ctx, chorus.AuditFilter{Action: "auth."}, chorus.AuditPage{Limit: chorus.MaxPageSize})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				for _, c := range codes {
					if bytes.Contains(bytes.ToUpper(e.Details), []byte(strings.ReplaceAll(c, "-", ""))) ||
						bytes.Contains(e.Details, []byte(c)) {
						t.Errorf("audit entry %d (%s) contains a backup code: %s", e.Seq, e.Action, e.Details)
					}
				}
			}
		})
	})
}

// MFAWindowForTest moves past the throttle's window.
const MFAWindowForTest = chorus.MFAFailureWindow + time.Second

func TestMFAThrottle(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clock := newMFAClock(mfaEpoch)
		db := MustOpenDB(t, b, clock.opt())
		u := mustCreateUser(t, db, "ada@example.com")
		secret, codes := mustEnrol(t, db, clock, u)
		verify := func(code string) error {
			_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: code}, chorus.MFASession{}, "login")
			return err
		}
		wrong := func() string { return totpAt(t, secret, clock.Now().Add(-10*auth.TOTPPeriod)) }

		t.Run("SuccessResetsCount", func(t *testing.T) {
			for range chorus.MFAMaxFailures - 1 {
				assertCode(t, verify(wrong()), chorus.EINVALID)
			}
			if err := verify(totpAt(t, secret, clock.Now())); err != nil {
				t.Fatal(err)
			}
			clock.Add(auth.TOTPPeriod)
			for range chorus.MFAMaxFailures - 1 {
				assertCode(t, verify(wrong()), chorus.EINVALID)
			}
			if err := db.CheckMFAThrottle(ctx, u.ID); err != nil {
				t.Fatalf("throttled after %d failures since a success: %v", chorus.MFAMaxFailures-1, err)
			}
		})
		t.Run("Throttled", func(t *testing.T) {
			// The fifth failure since the success, a wrong password re-entry.
			clock.Add(time.Minute)
			if err := db.RecordReauthFailure(ctx, u.ID, "disable"); err != nil {
				t.Fatal(err)
			}
			for _, err := range []error{
				verify(totpAt(t, secret, clock.Now())), // even the right code
				func() error {
					_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{BackupCode: codes[0]}, chorus.MFASession{}, "login")
					return err
				}(),
				db.DisableMFA(ctx, u.ID, chorus.MFAProof{BackupCode: codes[0]}),
				db.CheckMFAThrottle(ctx, u.ID),
			} {
				assertCode(t, err, chorus.ERATELIMIT)
				var ce *chorus.Error
				if errors.As(err, &ce) && (ce.RetryAfter <= 0 || ce.RetryAfter > chorus.MFAFailureWindow) {
					t.Errorf("RetryAfter = %v, want in (0, %v]", ce.RetryAfter, chorus.MFAFailureWindow)
				}
			}
			if st := mustMFAStatus(t, db, u.ID); !st.Enabled || st.BackupCodesRemaining != auth.BackupCodeCount {
				t.Errorf("a throttled attempt changed something: %+v", st)
			}
		})
		t.Run("OpensAfterWindow", func(t *testing.T) {
			var ce *chorus.Error
			if !errors.As(db.CheckMFAThrottle(ctx, u.ID), &ce) {
				t.Fatal("not throttled")
			}
			clock.Add(ce.RetryAfter - 2*time.Second)
			assertCode(t, db.CheckMFAThrottle(ctx, u.ID), chorus.ERATELIMIT)
			clock.Add(3 * time.Second)
			if err := verify(totpAt(t, secret, clock.Now())); err != nil {
				t.Fatalf("after RetryAfter: %v", err)
			}
		})
		t.Run("OtherUsersUnaffected", func(t *testing.T) {
			v := mustCreateUser(t, db, "bob@example.com")
			s2, _ := mustEnrol(t, db, clock, v)
			for range chorus.MFAMaxFailures {
				_, _ = db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: wrong()}, chorus.MFASession{}, "login")
			}
			if _, err := db.VerifyMFA(ctx, v.ID, chorus.MFAProof{Code: totpAt(t, s2, clock.Now())}, chorus.MFASession{}, "login"); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func TestVerifyMFASession(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clock := newMFAClock(mfaEpoch)
		db := MustOpenDB(t, b, clock.opt())
		u := mustCreateUser(t, db, "ada@example.com")
		secret, _ := mustEnrol(t, db, clock, u)

		t.Run("LoginRotatesToken", func(t *testing.T) {
			s := mustSession(t, db, clock, u, true)
			newHash := sha256.Sum256([]byte("new token"))
			res, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: totpAt(t, secret, clock.Now())},
				chorus.MFASession{ID: s.ID, NewTokenHash: newHash[:], NewCSRFToken: "new-csrf"}, "login")
			if err != nil {
				t.Fatal(err)
			}
			if res.Method != chorus.MFAMethodTOTP {
				t.Errorf("method = %q", res.Method)
			}
			if _, _, err := db.SessionByTokenHash(ctx, s.TokenHash); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Errorf("the old token still works (err %v)", err)
			}
			got, _, err := db.SessionByTokenHash(ctx, newHash[:])
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != s.ID || got.MFAPending || got.CSRFToken != "new-csrf" || got.MFAAt == nil ||
				!got.MFAAt.Equal(clock.Now().Truncate(time.Microsecond)) {
				t.Errorf("session after verify = %+v", got)
			}
		})
		t.Run("StepUpSetsMFAAt", func(t *testing.T) {
			clock.Add(auth.TOTPPeriod)
			s := mustSession(t, db, clock, u, false)
			if _, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: totpAt(t, secret, clock.Now())}, chorus.MFASession{ID: s.ID}, "step_up"); err != nil {
				t.Fatal(err)
			}
			got, _, err := db.SessionByTokenHash(ctx, s.TokenHash)
			if err != nil {
				t.Fatal(err)
			}
			if got.MFAAt == nil || !got.MFAAt.Equal(clock.Now().Truncate(time.Microsecond)) {
				t.Errorf("mfa_at = %v, want %v", got.MFAAt, clock.Now())
			}
		})
		t.Run("ErrRevokedSessionConsumesNothing", func(t *testing.T) {
			clock.Add(auth.TOTPPeriod)
			s := mustSession(t, db, clock, u, true)
			if err := db.RevokeSession(ctx, u.ID, s.ID, "logout"); err != nil {
				t.Fatal(err)
			}
			code := totpAt(t, secret, clock.Now())
			_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: code}, chorus.MFASession{ID: s.ID}, "login")
			assertCode(t, err, chorus.EUNAUTHORIZED)
			if _, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: code}, chorus.MFASession{}, "login"); err != nil {
				t.Errorf("the code was consumed by a verification that failed: %v", err)
			}
		})
		t.Run("ErrAnotherUsersSession", func(t *testing.T) {
			clock.Add(auth.TOTPPeriod)
			v := mustCreateUser(t, db, "eve@example.com")
			s := mustSession(t, db, clock, v, true)
			_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{Code: totpAt(t, secret, clock.Now())}, chorus.MFASession{ID: s.ID}, "login")
			assertCode(t, err, chorus.EUNAUTHORIZED)
		})
		t.Run("ErrProofShape", func(t *testing.T) {
			for _, p := range []chorus.MFAProof{{}, {Code: "123456", BackupCode: "ABCDE-FGHIJ"}, {Code: strings.Repeat("1", 100)}} {
				_, err := db.VerifyMFA(ctx, u.ID, p, chorus.MFASession{}, "login")
				assertCode(t, err, chorus.EINVALID)
			}
		})
		t.Run("ErrNoMFA", func(t *testing.T) {
			v := mustCreateUser(t, db, "nomfa@example.com")
			_, err := db.VerifyMFA(ctx, v.ID, chorus.MFAProof{Code: "123456"}, chorus.MFASession{}, "login")
			assertCode(t, err, chorus.ECONFLICT)
		})
	})
}

func TestDisableAndResetMFA(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clock := newMFAClock(mfaEpoch)
		db := MustOpenDB(t, b, clock.opt())

		t.Run("Disable", func(t *testing.T) {
			u := mustCreateUser(t, db, "ada@example.com")
			secret, codes := mustEnrol(t, db, clock, u)
			assertCode(t, db.DisableMFA(ctx, u.ID, chorus.MFAProof{Code: "000000"}), chorus.EINVALID)
			if !mustMFAStatus(t, db, u.ID).Enabled {
				t.Fatal("a wrong code disabled MFA")
			}
			if err := db.DisableMFA(ctx, u.ID, chorus.MFAProof{Code: totpAt(t, secret, clock.Now())}); err != nil {
				t.Fatal(err)
			}
			if st := mustMFAStatus(t, db, u.ID); st.Enabled || st.EnrolmentPending || st.BackupCodesRemaining != 0 {
				t.Errorf("after disable: %+v", st)
			}
			_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{BackupCode: codes[0]}, chorus.MFASession{}, "login")
			assertCode(t, err, chorus.ECONFLICT)
			acts := auditActions(t, db, u.ID)
			if acts[len(acts)-1] != chorus.AuditMFADisabled {
				t.Errorf("audit = %v, want it to end with %s", acts, chorus.AuditMFADisabled)
			}
		})
		t.Run("Reset", func(t *testing.T) {
			u := mustCreateUser(t, db, "lost@example.com")
			mustEnrol(t, db, clock, u)
			admin := chorus.NewContextWithActor(ctx, chorus.Actor{UserID: 1, IP: "10.0.0.1"})
			if err := db.ResetMFA(admin, u.ID); err != nil {
				t.Fatal(err)
			}
			if st := mustMFAStatus(t, db, u.ID); st.Enabled || st.BackupCodesRemaining != 0 {
				t.Errorf("after reset: %+v", st)
			}
			assertCode(t, db.ResetMFA(admin, u.ID), chorus.ECONFLICT)
			assertCode(t, db.ResetMFA(admin, u.ID+1000), chorus.ENOTFOUND)
			es, err := db.ListAudit(ctx, chorus.AuditFilter{Action: chorus.AuditMFADisabled, TargetType: "user", TargetID: fmt.Sprint(u.ID)},
				chorus.AuditPage{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 1 || es[0].Actor.UserID != 1 || !bytes.Contains(es[0].Details, []byte(`"admin"`)) {
				t.Errorf("reset audit = %+v", es)
			}
		})
		t.Run("RegenerateBackupCodes", func(t *testing.T) {
			u := mustCreateUser(t, db, "regen@example.com")
			_, old := mustEnrol(t, db, clock, u)
			fresh, hashes := auth.NewBackupCodes()
			if err := db.RegenerateBackupCodes(ctx, u.ID, hashes); err != nil {
				t.Fatal(err)
			}
			_, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{BackupCode: old[0]}, chorus.MFASession{}, "login")
			assertCode(t, err, chorus.EINVALID)
			if _, err := db.VerifyMFA(ctx, u.ID, chorus.MFAProof{BackupCode: fresh[0]}, chorus.MFASession{}, "login"); err != nil {
				t.Fatal(err)
			}
			v := mustCreateUser(t, db, "nomfa@example.com")
			assertCode(t, db.RegenerateBackupCodes(ctx, v.ID, hashes), chorus.ECONFLICT)
		})
	})
}

func TestReauthenticate(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clock := newMFAClock(mfaEpoch)
		db := MustOpenDB(t, b, clock.opt())

		t.Run("OK", func(t *testing.T) {
			u := mustCreateUser(t, db, "ada@example.com")
			s := mustSession(t, db, clock, u, false)
			if err := db.Reauthenticate(ctx, u.ID, s.ID); err != nil {
				t.Fatal(err)
			}
			got, _, err := db.SessionByTokenHash(ctx, s.TokenHash)
			if err != nil {
				t.Fatal(err)
			}
			if got.MFAAt == nil || !got.MFAAt.Equal(clock.Now().Truncate(time.Microsecond)) {
				t.Errorf("mfa_at = %v", got.MFAAt)
			}
			if acts := auditActions(t, db, u.ID); !slices.Equal(acts, []string{chorus.AuditReauthenticated}) {
				t.Errorf("audit = %v", acts)
			}
		})
		t.Run("ErrUserHasMFA", func(t *testing.T) {
			u := mustCreateUser(t, db, "mfa@example.com")
			mustEnrol(t, db, clock, u)
			s := mustSession(t, db, clock, u, false)
			assertCode(t, db.Reauthenticate(ctx, u.ID, s.ID), chorus.EFORBIDDEN)
		})
		t.Run("ErrOtherUsersSession", func(t *testing.T) {
			u := mustCreateUser(t, db, "u1@example.com")
			v := mustCreateUser(t, db, "u2@example.com")
			s := mustSession(t, db, clock, v, false)
			assertCode(t, db.Reauthenticate(ctx, u.ID, s.ID), chorus.EUNAUTHORIZED)
		})
	})
}
