package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// TestUsersExportErase: a data subject's export (to standard output and to
// a private file) and erasure, which needs --yes and is audited as the
// command line.
func TestUsersExportErase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("CHORUS_DATABASE_URL", "")
	t.Setenv("CHORUS_DATA_DIR", dir)
	t.Setenv("CHORUS_CONFIG", "")
	chorusCmd := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(ctx, args, &out, &bytes.Buffer{})
		return out.String(), err
	}
	for _, args := range [][]string{{"migrate"}, {"users", "create", "--email", "ops@example.com", "--role", "admin"},
		{"users", "create", "--email", "ada@example.com", "--name", "Ada"}} {
		if _, err := chorusCmd(args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	db, err := store.Open(ctx, filepath.Join(dir, "chorus.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ada, _ := db.UserByEmail(ctx, "ada@example.com")
	if err := db.InsertClientError(ctx, &chorus.ClientError{UserID: ada.ID, TeamID: ada.TeamID, Message: "Ada's crash"}); err != nil {
		t.Fatal(err)
	}

	t.Run("Export", func(t *testing.T) {
		out, err := chorusCmd("users", "export", "--email", "ada@example.com")
		var x chorus.SubjectExport
		if err != nil || json.Unmarshal([]byte(out), &x) != nil {
			t.Fatalf("export: %v, %q", err, out)
		}
		if x.User.Email != "ada@example.com" || len(x.ClientErrors) != 1 || strings.Contains(out, ada.PasswordHash) {
			t.Errorf("export %+v: want Ada, her client error, and no password hash", x)
		}
		path := filepath.Join(dir, "ada.json")
		if _, err := chorusCmd("users", "export", "--email", "ada@example.com", "--out", path); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("export file: %v, %v; want mode 0600", fi, err)
		}
	})
	t.Run("EraseNeedsYes", func(t *testing.T) {
		_, err := chorusCmd("users", "erase", "--email", "ada@example.com")
		if chorus.ErrorCode(err) != chorus.EINVALID {
			t.Errorf("erase without --yes: %v, want EINVALID", err)
		}
		if _, err := db.UserByEmail(ctx, "ada@example.com"); err != nil {
			t.Errorf("erase without --yes changed the user: %v", err)
		}
	})
	t.Run("Erase", func(t *testing.T) {
		out, err := chorusCmd("users", "erase", "--email", "ada@example.com", "--yes")
		if err != nil || !strings.Contains(out, "1 client error reports") {
			t.Fatalf("erase: %v, %q", err, out)
		}
		u, err := db.UserByID(ctx, ada.ID)
		if err != nil || u.Email != chorus.ErasedEmail(ada.ID) || u.DisabledAt == nil {
			t.Errorf("erased user %+v, %v", u, err)
		}
		es, err := db.ListAudit(ctx, chorus.AuditFilter{Action: chorus.AuditUserErased}, chorus.AuditPage{Limit: 1})
		if err != nil || len(es) != 1 || es[0].Actor.System != "cli" {
			t.Errorf("user.erased entries %+v, %v: want one by the command line", es, err)
		}
	})
}
