package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// subject is a person seeded with one of everything Chorus keeps about
// people, each carrying a marker that names them.
type subject struct {
	user       *chorus.User
	key        *chorus.APIKey
	keySecret  string
	totpSecret string
	csrf       string
	order      *chorus.Order
	markers    []string // text that must appear in their export and nowhere else
}

// seedSubject creates a user with a key, two sessions (one revoked), MFA,
// usage, feedback, a quality score, a stored response, a client error, an
// invitation to their email, a fulfilled order and a failed sign-in.
func seedSubject(t *testing.T, db *store.DB, clock *mfaClock, email string) *subject {
	t.Helper()
	ctx := context.Background()
	s := &subject{user: mustCreateUser(t, db, email), keySecret: "sk-chorus-" + randomHex(16)}
	u := s.user
	s.key = mustCreateKey(t, db, u.ID, s.keySecret, func(k *chorus.APIKey) { k.Name = "laptop" })
	s.totpSecret, _ = mustEnrol(t, db, clock, u)
	live := mustSession(t, db, clock, u, false)
	s.csrf = live.CSRFToken
	gone := mustSession(t, db, clock, u, false)
	must(t, db.RevokeSession(ctx, u.ID, gone.ID, "logout"))
	mark := func(what string) string {
		m := what + " of " + email
		s.markers = append(s.markers, m)
		return m
	}
	rec := usageRecord(1, s.key.ID, u.ID, clock.Now())
	rec.TeamID, rec.RequestID, rec.ResponseID = u.TeamID, "req_"+randomHex(8), "resp_"+randomHex(8)
	must(t, db.InsertUsage(ctx, []chorus.Usage{rec}))
	_, err := db.UpsertFeedback(ctx, &chorus.Feedback{ResponseID: rec.ResponseID, KeyID: s.key.ID, UserID: u.ID,
		TeamID: u.TeamID, Model: "gpt-4o", Rating: chorus.RatingUp, Comment: mark("comment")})
	must(t, err)
	must(t, db.InsertScores(ctx, []chorus.ScoreRecord{{ResponseID: rec.ResponseID, Model: "gpt-4o", KeyID: s.key.ID,
		UserID: u.ID, Scorer: "judge", Value: 0.9, Reason: mark("reason"), CreatedAt: clock.Now()}}))
	prompt, _ := json.Marshal([]map[string]string{{"role": "user", "content": mark("prompt")}})
	must(t, db.SaveResponse(ctx, &chorus.StoredResponse{ID: rec.ResponseID, TeamID: u.TeamID, KeyID: s.key.ID,
		UserID: u.ID, Model: "gpt-4o", Input: prompt, Response: []byte(`{"id":"` + rec.ResponseID + `"}`)}))
	must(t, db.InsertClientError(ctx, &chorus.ClientError{UserID: u.ID, TeamID: u.TeamID, Message: mark("crash")}))
	mustInvite(t, db, "invite-"+email, func(inv *chorus.Invite) {
		inv.Email, inv.TeamID, inv.ExpiresAt = email, u.TeamID, clock.Now().Add(time.Hour)
	})
	s.order = mustTransition(t, db, mustOrder(t, db, u, 5).ID, chorus.OrderPaid, chorus.OrderFulfilled)
	must(t, db.RecordLoginFailure(ctx, email, 0, "unknown_user")) // found only by the email's HMAC
	return s
}

// exportJSON exports email, failing on error, and returns it encoded.
func exportJSON(t *testing.T, db *store.DB, email string) (*chorus.SubjectExport, string) {
	t.Helper()
	x, err := db.ExportSubject(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return x, string(b)
}

func TestExportSubject(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		clock := newMFAClock(mfaEpoch)
		db := MustOpenDB(t, b, clock.opt())
		ada := seedSubject(t, db, clock, "ada@example.com")
		bob := seedSubject(t, db, clock, "bob@example.com")

		x, doc := exportJSON(t, db, "Ada@Example.com")
		t.Run("HoldsTheirData", func(t *testing.T) {
			for _, m := range ada.markers {
				if !strings.Contains(doc, m) {
					t.Errorf("export lacks %q", m)
				}
			}
			got := map[string]int{"api_keys": len(x.Keys), "sessions": len(x.Sessions), "usage": len(x.Usage),
				"feedback": len(x.Feedback), "scores": len(x.Scores), "responses": len(x.Responses),
				"client_errors": len(x.ClientErrors), "invites": len(x.Invites), "orders": len(x.Orders)}
			want := map[string]int{"api_keys": 1, "sessions": 2, "usage": 1, "feedback": 1, "scores": 1, "responses": 1,
				"client_errors": 1, "invites": 1, "orders": 1}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s: %d, want %d", k, got[k], w)
				}
			}
			if !x.MFA.Enabled || x.MFA.BackupCodesLeft != 10 || x.TeamMembers != 1 || x.Team.ID != ada.user.TeamID {
				t.Errorf("mfa %+v, team %+v with %d members", x.MFA, x.Team, x.TeamMembers)
			}
			if x.Orders[0].Payment == nil || x.Orders[0].ID != ada.order.ID {
				t.Errorf("order %+v: want %d with its payment", x.Orders[0], ada.order.ID)
			}
		})
		t.Run("FindsTheirAuditEntries", func(t *testing.T) {
			actions := map[string]bool{}
			for _, e := range x.Audit {
				actions[e.Action] = true
			}
			for _, a := range []string{chorus.AuditUserCreated, chorus.AuditMFAEnrolled, chorus.AuditLogout,
				chorus.AuditLoginFailed, chorus.AuditOrderTransition} {
				if !actions[a] {
					t.Errorf("no %s entry in the export (got %v)", a, actions)
				}
			}
		})
		t.Run("NothingOfAnother", func(t *testing.T) {
			for _, m := range append(bob.markers, "bob@example.com", bob.order.IdempotencyKey) {
				if strings.Contains(doc, m) {
					t.Errorf("ada's export contains bob's %q", m)
				}
			}
		})
		t.Run("NoSecrets", func(t *testing.T) {
			u, _ := db.UserByID(context.Background(), ada.user.ID)
			for name, s := range map[string]string{"key": ada.keySecret, "TOTP seed": ada.totpSecret, "CSRF token": ada.csrf,
				"password hash": u.PasswordHash, "key hash": jsonBytes(keyHash(ada.keySecret))} {
				if s != "" && strings.Contains(doc, s) {
					t.Errorf("export contains the %s", name)
				}
			}
		})
		t.Run("Audited", func(t *testing.T) {
			e := lastAudit(t, db, chorus.AuditUserExported)
			if e.TargetID != idStr(ada.user.ID) {
				t.Errorf("user.exported targets %s, want %d", e.TargetID, ada.user.ID)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := db.ExportSubject(context.Background(), "nobody@example.com")
			assertCode(t, err, chorus.ENOTFOUND)
		})
	})
}

func TestEraseSubject(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := chorus.NewContextWithActor(context.Background(), chorus.Actor{System: "cli"})
		clock := newMFAClock(mfaEpoch)
		db := MustOpenDB(t, b, clock.opt())
		ada := seedSubject(t, db, clock, "ada@example.com")
		seedSubject(t, db, clock, "bob@example.com")
		bobBefore, _ := exportJSON(t, db, "bob@example.com")
		ledgerBefore := mustCheckLedger(t, db)
		balanceBefore := mustBalance(t, db, ada.user.TeamID)
		usageBefore, _ := db.CountUsage(ctx)

		r, err := db.EraseSubject(ctx, ada.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := chorus.Erasure{UserID: ada.user.ID, TeamID: ada.user.TeamID, Sessions: 2, BackupCodes: 10, KeysRevoked: 1,
			Responses: 1, FeedbackComments: 1, ScoreReasons: 1, ClientErrors: 1, Invites: 1, TeamRenamed: true}
		if *r != want {
			t.Errorf("erasure %+v, want %+v", *r, want)
		}
		t.Run("Pseudonymised", func(t *testing.T) {
			u, err := db.UserByID(ctx, ada.user.ID)
			if err != nil {
				t.Fatal(err)
			}
			if u.Email != chorus.ErasedEmail(u.ID) || u.Name != chorus.ErasedName || u.PasswordHash != "" ||
				u.DisabledAt == nil || u.MFAEnabled {
				t.Errorf("erased user %+v", u)
			}
			_, err = db.UserByEmail(ctx, "ada@example.com")
			assertCode(t, err, chorus.ENOTFOUND)
			k, _ := db.KeyByID(ctx, ada.key.ID)
			if k.RevokedAt == nil || k.Name != "erased" {
				t.Errorf("key after erasure: %+v, want revoked and renamed", k)
			}
		})
		t.Run("PersonalDataGone", func(t *testing.T) {
			x, _ := exportJSON(t, db, chorus.ErasedEmail(ada.user.ID))
			x.Audit = nil // the audit log is kept whole: see EraseSubject
			doc := mustMarshal(t, x)
			for _, m := range append(ada.markers, "ada@example.com") {
				if strings.Contains(doc, m) {
					t.Errorf("after erasure the export still holds %q", m)
				}
			}
			if len(x.Sessions)+len(x.Responses)+len(x.ClientErrors)+len(x.Invites) != 0 || x.Feedback[0].Rating != chorus.RatingUp {
				t.Errorf("after erasure: %d sessions, %d responses, %d client errors, %d invites, feedback %+v",
					len(x.Sessions), len(x.Responses), len(x.ClientErrors), len(x.Invites), x.Feedback[0])
			}
		})
		t.Run("BooksKept", func(t *testing.T) {
			after := mustCheckLedger(t, db)
			if after.Postings != ledgerBefore.Postings || after.Total != 0 {
				t.Errorf("ledger %+v, before %+v", after, ledgerBefore)
			}
			if got := mustBalance(t, db, ada.user.TeamID); got != balanceBefore {
				t.Errorf("balance %+v, want %+v", got, balanceBefore)
			}
			usageAfter, _ := db.CountUsage(ctx)
			o, err := db.OrderByID(ctx, ada.order.ID)
			if usageAfter != usageBefore || err != nil || o.UserID != ada.user.ID || o.Payment == nil {
				t.Errorf("usage %d → %d; order %+v, %v", usageBefore, usageAfter, o, err)
			}
		})
		t.Run("OthersUntouched", func(t *testing.T) {
			bobAfter, _ := exportJSON(t, db, "bob@example.com")
			bobBefore.Audit, bobAfter.Audit, bobAfter.ExportedAt = nil, nil, bobBefore.ExportedAt
			if a, b := mustMarshal(t, bobBefore), mustMarshal(t, bobAfter); a != b {
				t.Errorf("bob's data changed:\n%s\n%s", a, b)
			}
		})
		t.Run("AuditedAndChainIntact", func(t *testing.T) {
			e := lastAudit(t, db, chorus.AuditUserErased)
			if e.Actor.System != "cli" || e.TargetID != idStr(ada.user.ID) || strings.Contains(string(e.Details), "ada@") {
				t.Errorf("user.erased entry %+v", e)
			}
			rep, err := db.VerifyAudit(ctx)
			if err != nil || !rep.OK {
				t.Errorf("audit chain after erasure: %+v, %v", rep, err)
			}
		})
		t.Run("ErrLastAdmin", func(t *testing.T) {
			admin := &chorus.User{Email: "root@example.com", Role: chorus.RoleAdmin}
			must(t, db.CreateUser(ctx, admin))
			_, err := db.EraseSubject(ctx, admin.ID)
			assertCode(t, err, chorus.ECONFLICT)
		})
	})
}

// jsonBytes is b as encoding/json writes a []byte (base64), quotes cut.
func jsonBytes(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func idStr(id int64) string { return fmt.Sprint(id) }
