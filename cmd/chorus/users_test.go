package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/store"
)

// TestUsersCommand: the operator's way back in — create an admin, reset a
// lost password (signing the user out), reset MFA, disable and enable —
// each audited as the command line.
func TestUsersCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("CHORUS_DATABASE_URL", "")
	t.Setenv("CHORUS_DATA_DIR", dir)
	t.Setenv("CHORUS_CONFIG", "")
	if err := run(ctx, []string{"migrate"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	users := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, append([]string{"users"}, args...), &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("users %v: %v", args, err)
		}
		return out.String()
	}
	password := regexp.MustCompile(`\n\n  (\S+)\n`)
	out := users("create", "--email", "Ops@Example.com", "--role", "admin")
	m := password.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create printed no password: %q", out)
	}
	first := m[1]

	db, err := store.Open(ctx, filepath.Join(dir, "chorus.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByEmail(ctx, "ops@example.com")
	if err != nil || u.Role != chorus.RoleAdmin || !passwordIs(t, u.PasswordHash, first) {
		t.Fatalf("created user %+v, %v: want an admin whose password is the printed one", u, err)
	}
	if !strings.Contains(users("list", "--q", "ops"), "ops@example.com") {
		t.Error("users list --q ops does not show the user")
	}

	out = users("reset-password", "--email", "ops@example.com")
	m = password.FindStringSubmatch(out)
	if m == nil || m[1] == first {
		t.Fatalf("reset-password printed %q: want a new password", out)
	}
	u, _ = db.UserByEmail(ctx, "ops@example.com")
	if !passwordIs(t, u.PasswordHash, m[1]) || passwordIs(t, u.PasswordHash, first) {
		t.Error("after reset-password the new password does not work, or the old one still does")
	}

	var errOut bytes.Buffer
	if err := run(ctx, []string{"users", "disable", "--email", "ops@example.com"}, &bytes.Buffer{}, &errOut); chorus.ErrorCode(err) != chorus.ECONFLICT {
		t.Errorf("disabling the only admin: %v, want a conflict", err)
	}
	users("create", "--email", "dev@example.com")
	users("disable", "--email", "dev@example.com")
	if u, _ = db.UserByEmail(ctx, "dev@example.com"); u.DisabledAt == nil || u.Role != chorus.RoleCustomer {
		t.Errorf("dev after disable: %+v, want a disabled customer", u)
	}
	users("enable", "--email", "dev@example.com")
	if u, _ = db.UserByEmail(ctx, "dev@example.com"); u.DisabledAt != nil {
		t.Error("enable left the user disabled")
	}

	entries, err := db.ListAudit(ctx, chorus.AuditFilter{}, chorus.AuditPage{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range entries {
		if e.Actor.System == "cli" {
			actions[e.Action] = true
		}
	}
	for _, want := range []string{chorus.AuditUserCreated, chorus.AuditPasswordChanged, chorus.AuditUserDisabled, chorus.AuditUserEnabled} {
		if !actions[want] {
			t.Errorf("no %s entry by the command line in the audit log (got %v)", want, actions)
		}
	}
}

// passwordIs reports whether hash is pw's.
func passwordIs(t *testing.T, hash, pw string) bool {
	t.Helper()
	ok, err := auth.VerifyPassword(hash, pw)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}
