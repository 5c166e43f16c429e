package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// actorCtx is a context whose audit actor is user id.
func actorCtx(id int64) context.Context {
	return chorus.NewContextWithActor(context.Background(), chorus.Actor{UserID: id, IP: "192.0.2.1", RequestID: "req_test"})
}

// lastAudit returns the newest audit entry with action, failing when there
// is none.
func lastAudit(tb testing.TB, db *store.DB, action string) *chorus.AuditEntry {
	tb.Helper()
	es, err := db.ListAudit(context.Background(), chorus.AuditFilter{Action: action}, chorus.AuditPage{Limit: 1})
	if err != nil {
		tb.Fatal(err)
	}
	if len(es) == 0 {
		tb.Fatalf("no %s audit entry", action)
	}
	return es[0]
}

// auditCount counts the entries with action.
func auditCount(tb testing.TB, db *store.DB, action string) int {
	tb.Helper()
	return len(allAudit(tb, db, chorus.AuditFilter{Action: action}))
}

func tokenHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func mustInvite(tb testing.TB, db *store.DB, token string, edit func(*chorus.Invite)) *chorus.Invite {
	tb.Helper()
	inv := &chorus.Invite{TokenHash: tokenHash(token), Role: chorus.RoleCustomer, TeamRole: chorus.TeamMember,
		ExpiresAt: time.Now().Add(time.Hour)}
	if edit != nil {
		edit(inv)
	}
	if err := db.CreateInvite(context.Background(), inv); err != nil {
		tb.Fatal(err)
	}
	return inv
}

func TestSignup(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		t.Run("OpenNewTeam", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := &chorus.User{Email: "Ada@Example.com", Name: "Ada", PasswordHash: "h", Role: chorus.RoleAdmin, TeamID: 99}
			inv, err := db.Signup(ctx, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			if inv != nil {
				t.Errorf("invite = %+v, want none", inv)
			}
			// A self sign-up is a customer owning a new team, whatever the caller set.
			if u.Role != chorus.RoleCustomer || u.TeamRole != chorus.TeamOwner || u.TeamID == 99 || u.TeamID == 0 {
				t.Errorf("user = %+v", u)
			}
			team, err := db.TeamByID(ctx, u.TeamID)
			if err != nil || team.Name != "Ada" {
				t.Fatalf("team = %+v, %v", team, err)
			}
			e := lastAudit(t, db, chorus.AuditSignup)
			if e.Actor.UserID != u.ID || e.TargetID != fmt.Sprint(u.ID) || e.TeamID != u.TeamID {
				t.Errorf("audit entry = %+v", e)
			}
		})
		t.Run("InviteIntoTeam", func(t *testing.T) {
			db := MustOpenDB(t, b)
			owner := mustCreateUser(t, db, "owner@example.com")
			inv := mustInvite(t, db, "tok-1", func(i *chorus.Invite) {
				i.TeamID, i.CreatedBy, i.Email = owner.TeamID, owner.ID, "Grace@Example.com"
			})
			if inv.Email != "grace@example.com" {
				t.Errorf("invite email not normalised: %q", inv.Email)
			}
			u := &chorus.User{Email: "grace@example.com", Name: "Grace", PasswordHash: "h"}
			used, err := db.Signup(ctx, u, tokenHash("tok-1"))
			if err != nil {
				t.Fatal(err)
			}
			if used == nil || used.ID != inv.ID || used.UsedBy == nil || *used.UsedBy != u.ID {
				t.Fatalf("used invite = %+v", used)
			}
			if u.TeamID != owner.TeamID || u.TeamRole != chorus.TeamMember || u.Role != chorus.RoleCustomer {
				t.Errorf("user = %+v", u)
			}
			got, err := db.InviteByID(ctx, inv.ID)
			if err != nil || got.UsedAt == nil || got.UsedBy == nil || *got.UsedBy != u.ID {
				t.Fatalf("stored invite = %+v, %v", got, err)
			}
			// Single use.
			_, err = db.Signup(ctx, &chorus.User{Email: "other@example.com", PasswordHash: "h"}, tokenHash("tok-1"))
			assertCode(t, err, chorus.EINVALID)
		})
		t.Run("InviteAdminNewTeam", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustInvite(t, db, "tok-admin", func(i *chorus.Invite) { i.Role, i.TeamRole = chorus.RoleAdmin, chorus.TeamMember })
			u := &chorus.User{Email: "root@example.com", Name: "Root", PasswordHash: "h"}
			if _, err := db.Signup(ctx, u, tokenHash("tok-admin")); err != nil {
				t.Fatal(err)
			}
			if u.Role != chorus.RoleAdmin || u.TeamRole != chorus.TeamOwner {
				t.Errorf("user = %+v, want an admin owning a new team", u)
			}
		})
		t.Run("ErrInvite", func(t *testing.T) {
			clock := newClock(time.Now())
			db := MustOpenDB(t, b, withNow(clock.Now))
			mustInvite(t, db, "tok-exp", func(i *chorus.Invite) { i.ExpiresAt = clock.Now().Add(time.Minute) })
			mustInvite(t, db, "tok-mail", func(i *chorus.Invite) { i.Email = "bob@example.com" })
			clock.Set(clock.Now().Add(2 * time.Minute))
			for name, tc := range map[string]struct {
				token, email, code string
			}{
				"Unknown":   {"nope", "x@example.com", chorus.EINVALID},
				"Expired":   {"tok-exp", "x@example.com", chorus.EINVALID},
				"WrongMail": {"tok-mail", "eve@example.com", chorus.EFORBIDDEN},
			} {
				_, err := db.Signup(ctx, &chorus.User{Email: tc.email, PasswordHash: "h"}, tokenHash(tc.token))
				if chorus.ErrorCode(err) != tc.code {
					t.Errorf("%s: got %v, want %s", name, err, tc.code)
				}
			}
			if n, _ := db.CountUsers(ctx); n != 0 {
				t.Errorf("%d users after refused sign-ups", n)
			}
			// The refused attempt for another email did not use the invitation up.
			if _, err := db.Signup(ctx, &chorus.User{Email: "bob@example.com", PasswordHash: "h"}, tokenHash("tok-mail")); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ErrConflictSpendsInvite", func(t *testing.T) {
			// A taken email spends the invitation (docs/accounts.md), so a
			// leaked one cannot test emails one after another.
			db := MustOpenDB(t, b)
			mustCreateUser(t, db, "taken@example.com")
			inv := mustInvite(t, db, "tok-c", nil)
			_, err := db.Signup(ctx, &chorus.User{Email: "TAKEN@example.com", PasswordHash: "h"}, tokenHash("tok-c"))
			if err != store.ErrInviteSpent {
				t.Fatalf("Signup with a taken email = %v, want ErrInviteSpent", err)
			}
			got, err := db.InviteByID(ctx, inv.ID)
			if err != nil || got.UsedAt == nil || got.UsedBy != nil {
				t.Fatalf("invite after a refused sign-up = %+v, %v; want used, by nobody", got, err)
			}
			_, err = db.Signup(ctx, &chorus.User{Email: "free@example.com", PasswordHash: "h"}, tokenHash("tok-c"))
			assertCode(t, err, chorus.EINVALID)
		})
		t.Run("ErrConflictWithoutInvite", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustCreateUser(t, db, "taken@example.com")
			_, err := db.Signup(ctx, &chorus.User{Email: "taken@example.com", PasswordHash: "h"}, nil)
			assertCode(t, err, chorus.ECONFLICT)
		})
		t.Run("InviteRace", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustInvite(t, db, "tok-race", nil)
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					_, errs[i] = db.Signup(ctx, &chorus.User{Email: fmt.Sprintf("r%d@example.com", i), PasswordHash: "h"}, tokenHash("tok-race"))
				})
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch chorus.ErrorCode(err) {
				case "":
					ok++
				case chorus.EINVALID:
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
			if ok != 1 {
				t.Errorf("%d sign-ups used one invitation, want exactly 1", ok)
			}
			if n, _ := db.CountUsers(ctx); n != 1 {
				t.Errorf("%d users, want 1", n)
			}
		})
	})
}

func TestCreateInvite(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		admin := mustCreateUser(t, db, "admin@example.com")
		inv := mustInvite(t, db, "tok-a", func(i *chorus.Invite) { i.CreatedBy = admin.ID; i.TeamID = admin.TeamID })
		e := lastAudit(t, db, chorus.AuditInviteIssued)
		if e.TargetID != fmt.Sprint(inv.ID) || e.TeamID != admin.TeamID || strings.Contains(string(e.Details), "tok-a") {
			t.Errorf("audit entry = %+v", e)
		}
		for name, tc := range map[string]func(*chorus.Invite){
			"Role":     func(i *chorus.Invite) { i.Role = "root" },
			"TeamRole": func(i *chorus.Invite) { i.TeamRole = "boss" },
			"NoTeam":   func(i *chorus.Invite) { i.TeamID = 9999 },
			"Past":     func(i *chorus.Invite) { i.ExpiresAt = time.Now().Add(-time.Hour) },
			"NoHash":   func(i *chorus.Invite) { i.TokenHash = nil },
		} {
			i := &chorus.Invite{TokenHash: tokenHash(name), Role: chorus.RoleCustomer, TeamRole: chorus.TeamMember, ExpiresAt: time.Now().Add(time.Hour)}
			tc(i)
			if err := db.CreateInvite(ctx, i); chorus.ErrorCode(err) != chorus.EINVALID {
				t.Errorf("%s: got %v, want EINVALID", name, err)
			}
		}
		if n := auditCount(t, db, chorus.AuditInviteIssued); n != 1 {
			t.Errorf("%d invite audit entries, want 1", n)
		}
	})
}

func TestUserAdmin(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		t.Run("Role", func(t *testing.T) {
			db := MustOpenDB(t, b)
			a := mustCreateUser(t, db, "a@example.com")
			ctx := actorCtx(a.ID)
			if _, err := db.SetUserRole(ctx, a.ID, chorus.RoleAdmin); err != nil {
				t.Fatal(err)
			}
			c := mustCreateUser(t, db, "c@example.com")
			u, err := db.SetUserRole(ctx, c.ID, chorus.RoleAdmin)
			if err != nil || u.Role != chorus.RoleAdmin {
				t.Fatalf("SetUserRole = %+v, %v", u, err)
			}
			e := lastAudit(t, db, chorus.AuditRoleChanged)
			if e.Actor.UserID != a.ID || e.TargetID != fmt.Sprint(c.ID) || !strings.Contains(string(e.Details), `"to":"admin"`) {
				t.Errorf("audit entry = %+v %s", e, e.Details)
			}
			// The same role again records nothing.
			before := auditCount(t, db, chorus.AuditRoleChanged)
			if _, err := db.SetUserRole(ctx, c.ID, chorus.RoleAdmin); err != nil {
				t.Fatal(err)
			}
			if got := auditCount(t, db, chorus.AuditRoleChanged); got != before {
				t.Errorf("a no-op role change was recorded")
			}
			if _, err := db.SetUserRole(ctx, c.ID, chorus.RoleCustomer); err != nil {
				t.Fatal(err)
			}
			_, err = db.SetUserRole(ctx, a.ID, chorus.RoleCustomer)
			assertCode(t, err, chorus.ECONFLICT)
			_, err = db.SetUserRole(ctx, a.ID, "root")
			assertCode(t, err, chorus.EINVALID)
			_, err = db.SetUserRole(ctx, 9999, chorus.RoleAdmin)
			assertCode(t, err, chorus.ENOTFOUND)
			if got, _ := db.UserByID(ctx, a.ID); got.Role != chorus.RoleAdmin {
				t.Errorf("the last admin was demoted")
			}
		})
		t.Run("LastAdminRace", func(t *testing.T) {
			// Two admins demoting each other at once: one must stay.
			db := MustOpenDB(t, b)
			var admins []*chorus.User
			for i := range 2 {
				u := &chorus.User{Email: fmt.Sprintf("adm%d@example.com", i), Role: chorus.RoleAdmin}
				if err := db.CreateUser(context.Background(), u); err != nil {
					t.Fatal(err)
				}
				admins = append(admins, u)
			}
			for round := range 5 {
				var wg sync.WaitGroup
				for i, u := range admins {
					wg.Go(func() {
						_, _ = db.SetUserRole(actorCtx(admins[1-i].ID), u.ID, chorus.RoleCustomer)
					})
				}
				wg.Wait()
				n := 0
				for _, u := range admins {
					got, err := db.UserByID(context.Background(), u.ID)
					if err != nil {
						t.Fatal(err)
					}
					if got.Role == chorus.RoleAdmin {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("round %d: %d admins left, want 1", round, n)
				}
				for _, u := range admins {
					if _, err := db.SetUserRole(context.Background(), u.ID, chorus.RoleAdmin); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
		t.Run("Disable", func(t *testing.T) {
			db := MustOpenDB(t, b)
			ctx := context.Background()
			admin := &chorus.User{Email: "root@example.com", Role: chorus.RoleAdmin}
			if err := db.CreateUser(ctx, admin); err != nil {
				t.Fatal(err)
			}
			u := mustCreateUser(t, db, "bob@example.com")
			key := mustCreateKey(t, db, u.ID, "sk-disable-me-0123456789")
			for i := range 2 {
				if err := db.CreateSession(ctx, &chorus.Session{UserID: u.ID, TokenHash: tokenHash(fmt.Sprint("s", i)), CSRFToken: "c", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			v0, _ := db.RegistryVersion(ctx)
			got, err := db.SetUserDisabled(actorCtx(admin.ID), u.ID, true)
			if err != nil || got.DisabledAt == nil {
				t.Fatalf("disable = %+v, %v", got, err)
			}
			if v1, _ := db.RegistryVersion(ctx); v1 <= v0 {
				t.Error("disabling did not bump the registry version")
			}
			if ss, _ := db.ListSessions(ctx, u.ID); len(ss) != 0 {
				t.Errorf("%d sessions survive disabling", len(ss))
			}
			if _, _, err := db.SessionByTokenHash(ctx, tokenHash("s0")); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Errorf("session of a disabled user: %v", err)
			}
			if _, err := db.KeyByHash(ctx, keyHash("sk-disable-me-0123456789")); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Errorf("key of a disabled user: %v", err)
			}
			if ks, _ := db.ActiveKeys(ctx); len(ks) != 0 {
				t.Errorf("active keys after disabling: %d", len(ks))
			}
			e := lastAudit(t, db, chorus.AuditUserDisabled)
			if e.Actor.UserID != admin.ID || !strings.Contains(string(e.Details), `"sessions_revoked":2`) || !strings.Contains(string(e.Details), `"keys_suspended":1`) {
				t.Errorf("audit entry = %+v %s", e, e.Details)
			}
			// Again: nothing changes, nothing is recorded.
			if _, err := db.SetUserDisabled(ctx, u.ID, true); err != nil {
				t.Fatal(err)
			}
			if n := auditCount(t, db, chorus.AuditUserDisabled); n != 1 {
				t.Errorf("%d disable entries, want 1", n)
			}
			if _, err := db.SetUserDisabled(ctx, u.ID, false); err != nil {
				t.Fatal(err)
			}
			if k, err := db.KeyByHash(ctx, keyHash("sk-disable-me-0123456789")); err != nil || k.ID != key.ID {
				t.Errorf("key after re-enabling: %v", err)
			}
			if n := auditCount(t, db, chorus.AuditUserEnabled); n != 1 {
				t.Errorf("%d enable entries, want 1", n)
			}
			_, err = db.SetUserDisabled(ctx, admin.ID, true)
			assertCode(t, err, chorus.ECONFLICT)
		})
		t.Run("Search", func(t *testing.T) {
			db := MustOpenDB(t, b)
			ctx := context.Background()
			byEmail := map[string]*chorus.User{}
			for _, e := range []string{"alice@example.com", "bob@corp.example", "carol_x@example.com", "dave%@example.com"} {
				byEmail[e] = mustCreateUser(t, db, e)
			}
			admin := &chorus.User{Email: "root@corp.example", Name: "Root Admin", Role: chorus.RoleAdmin}
			if err := db.CreateUser(ctx, admin); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SetUserDisabled(ctx, byEmail["bob@corp.example"].ID, true); err != nil {
				t.Fatal(err)
			}
			yes, no := true, false
			for name, tc := range map[string]struct {
				f    chorus.UserFilter
				want []string
			}{
				"All":        {chorus.UserFilter{}, []string{"alice@example.com", "bob@corp.example", "carol_x@example.com", "dave%@example.com", "root@corp.example"}},
				"Query":      {chorus.UserFilter{Query: "CORP"}, []string{"bob@corp.example", "root@corp.example"}},
				"QueryName":  {chorus.UserFilter{Query: "root admin"}, []string{"root@corp.example"}},
				"Underscore": {chorus.UserFilter{Query: "_"}, []string{"carol_x@example.com"}},
				"Percent":    {chorus.UserFilter{Query: "%"}, []string{"dave%@example.com"}},
				"Injection":  {chorus.UserFilter{Query: "' OR '1'='1"}, nil},
				"Role":       {chorus.UserFilter{Role: chorus.RoleAdmin}, []string{"root@corp.example"}},
				"Disabled":   {chorus.UserFilter{Disabled: &yes}, []string{"bob@corp.example"}},
				"Enabled":    {chorus.UserFilter{Disabled: &no, Query: "corp"}, []string{"root@corp.example"}},
				"Team":       {chorus.UserFilter{TeamID: &admin.TeamID}, []string{"root@corp.example"}},
			} {
				us, err := db.SearchUsers(ctx, tc.f, chorus.Page{})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				var got []string
				for _, u := range us {
					got = append(got, u.Email)
				}
				if strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("%s: got %v, want %v", name, got, tc.want)
				}
			}
		})
		t.Run("ChangePassword", func(t *testing.T) {
			db := MustOpenDB(t, b)
			ctx := context.Background()
			u := mustCreateUser(t, db, "pw@example.com")
			var keep int64
			for i := range 3 {
				s := &chorus.Session{UserID: u.ID, TokenHash: tokenHash(fmt.Sprint("pw", i)), CSRFToken: "c", ExpiresAt: time.Now().Add(time.Hour)}
				if err := db.CreateSession(ctx, s); err != nil {
					t.Fatal(err)
				}
				keep = s.ID
			}
			n, err := db.ChangePassword(actorCtx(u.ID), u.ID, "new-hash", keep)
			if err != nil || n != 2 {
				t.Fatalf("ChangePassword = %d, %v; want 2 revoked", n, err)
			}
			ss, _ := db.ListSessions(ctx, u.ID)
			if len(ss) != 1 || ss[0].ID != keep {
				t.Errorf("sessions left: %+v", ss)
			}
			if got, _ := db.UserByID(ctx, u.ID); got.PasswordHash != "new-hash" {
				t.Errorf("hash = %q", got.PasswordHash)
			}
			if e := lastAudit(t, db, chorus.AuditPasswordChanged); strings.Contains(string(e.Details), "new-hash") || e.TargetID != fmt.Sprint(u.ID) {
				t.Errorf("audit entry = %+v %s", e, e.Details)
			}
			_, err = db.ChangePassword(ctx, 9999, "h", 0)
			assertCode(t, err, chorus.ENOTFOUND)
		})
	})
}

func TestTeams(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		t.Run("CreateRenameList", func(t *testing.T) {
			db := MustOpenDB(t, b)
			tm := &chorus.Team{Name: "Research"}
			if err := db.CreateTeam(ctx, tm); err != nil {
				t.Fatal(err)
			}
			if tm.ID == 0 || tm.CreatedAt.IsZero() {
				t.Fatalf("team = %+v", tm)
			}
			got, err := db.RenameTeam(ctx, tm.ID, "R&D")
			if err != nil || got.Name != "R&D" {
				t.Fatalf("rename = %+v, %v", got, err)
			}
			if e := lastAudit(t, db, chorus.AuditTeamUpdated); !strings.Contains(string(e.Details), `"from":"Research"`) {
				t.Errorf("audit details = %s", e.Details)
			}
			mustCreateUser(t, db, "x@example.com")
			ts, err := db.ListTeams(ctx, "r&", chorus.Page{})
			if err != nil || len(ts) != 1 || ts[0].ID != tm.ID {
				t.Fatalf("ListTeams = %+v, %v", ts, err)
			}
			_, err = db.RenameTeam(ctx, 9999, "x")
			assertCode(t, err, chorus.ENOTFOUND)
			_, err = db.RenameTeam(ctx, tm.ID, "  ")
			assertCode(t, err, chorus.EINVALID)
		})
		t.Run("MoveAndRemove", func(t *testing.T) {
			db := MustOpenDB(t, b)
			owner := mustCreateUser(t, db, "owner@example.com")
			member := &chorus.User{Email: "member@example.com", Role: chorus.RoleCustomer, TeamID: owner.TeamID}
			if err := db.CreateUser(ctx, member); err != nil {
				t.Fatal(err)
			}
			if member.TeamRole != chorus.TeamMember {
				t.Fatalf("member's team role = %q", member.TeamRole)
			}
			mustCreateKey(t, db, member.ID, "sk-member-key-0123456789")
			// The only owner cannot leave while a member stays.
			other := mustCreateUser(t, db, "other@example.com")
			_, err := db.SetUserTeam(ctx, owner.ID, other.TeamID, chorus.TeamMember)
			assertCode(t, err, chorus.ECONFLICT)
			_, err = db.SetUserTeam(ctx, owner.ID, owner.TeamID, chorus.TeamMember)
			assertCode(t, err, chorus.ECONFLICT)
			_, err = db.SetUserTeam(ctx, member.ID, 9999, chorus.TeamMember)
			assertCode(t, err, chorus.EINVALID)
			members, err := db.TeamMembers(ctx, owner.TeamID, chorus.Page{})
			if err != nil || len(members) != 2 {
				t.Fatalf("members = %d, %v", len(members), err)
			}
			// Removing a member: a team of their own, keys revoked.
			u, err := db.RemoveTeamMember(actorCtx(owner.ID), owner.TeamID, member.ID)
			if err != nil {
				t.Fatal(err)
			}
			if u.TeamID == owner.TeamID || u.TeamRole != chorus.TeamOwner {
				t.Errorf("removed member = %+v", u)
			}
			if _, err := db.KeyByHash(ctx, keyHash("sk-member-key-0123456789")); err != nil {
				t.Fatal(err)
			} else if ks, _ := db.ActiveKeys(ctx); len(ks) != 0 {
				t.Errorf("the removed member's key is still active")
			}
			e := lastAudit(t, db, chorus.AuditTeamChanged)
			if e.Actor.UserID != owner.ID || !strings.Contains(string(e.Details), `"keys_revoked":1`) || !strings.Contains(string(e.Details), `"reason":"removed"`) {
				t.Errorf("audit entry = %+v %s", e, e.Details)
			}
			_, err = db.RemoveTeamMember(ctx, owner.TeamID, member.ID)
			assertCode(t, err, chorus.ENOTFOUND)
			// Alone now, the owner may move; and an admin may make them a member elsewhere.
			u, err = db.SetUserTeam(ctx, owner.ID, other.TeamID, chorus.TeamMember)
			if err != nil || u.TeamID != other.TeamID || u.TeamRole != chorus.TeamMember {
				t.Fatalf("move = %+v, %v", u, err)
			}
		})
	})
}

func TestLoginSession(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		db := MustOpenDB(t, b)
		u := mustCreateUser(t, db, "login@example.com")
		ctx := chorus.NewContextWithActor(context.Background(), chorus.Actor{IP: "192.0.2.9", RequestID: "req_1"})
		s := &chorus.Session{UserID: u.ID, TokenHash: tokenHash("login"), CSRFToken: "csrf", ExpiresAt: time.Now().Add(time.Hour), UserAgent: "test"}
		if err := db.CreateLoginSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		e := lastAudit(t, db, chorus.AuditLoginSucceeded)
		if e.Actor.UserID != u.ID || e.Actor.SessionID != s.ID || e.Actor.IP != "192.0.2.9" || e.TeamID != u.TeamID {
			t.Errorf("login audit entry = %+v", e)
		}
		if err := db.RecordLoginFailure(ctx, " Login@Example.com", u.ID, "wrong_password"); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordLoginFailure(ctx, "login@example.com", 0, "unknown_user"); err != nil {
			t.Fatal(err)
		}
		fails := allAudit(t, db, chorus.AuditFilter{Action: chorus.AuditLoginFailed})
		if len(fails) != 2 {
			t.Fatalf("%d failure entries, want 2", len(fails))
		}
		if fails[1].TargetID != fmt.Sprint(u.ID) || fails[0].TargetID != "" {
			t.Errorf("targets = %q, %q", fails[1].TargetID, fails[0].TargetID)
		}
		for _, f := range fails {
			if strings.Contains(strings.ToLower(string(f.Details)), "login@example.com") {
				t.Errorf("the email is in the clear: %s", f.Details)
			}
		}
		// The same email gives the same HMAC, so attempts correlate.
		mac := func(e *chorus.AuditEntry) string {
			d := string(e.Details)
			i := strings.Index(d, `"email_hmac":"`)
			return d[i : i+40]
		}
		if mac(fails[0]) != mac(fails[1]) {
			t.Errorf("HMACs differ: %s vs %s", fails[0].Details, fails[1].Details)
		}
	})
}
