package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/audit"
	"github.com/chorusgw/chorus/internal/store"
)

// TestAuditVerify runs `chorus audit verify` in-process on a temporary
// SQLite database, before and after tampering with it.
func TestAuditVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "chorus.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: "+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHORUS_DATABASE_URL", "")
	t.Setenv("CHORUS_DATA_DIR", dir)
	dsn := filepath.Join(dir, "chorus.db")
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := db.Audit(ctx, &chorus.AuditEntry{Action: "test.event", TargetID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := db.VerifyAudit(ctx)
	db.Close()
	if err != nil || !rep.OK {
		t.Fatalf("setup: %+v %v", rep, err)
	}
	verify := func(extra ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"audit", "verify", "--config", cfgPath}, extra...), &out, &errOut)
		return out.String(), err
	}

	t.Run("OK", func(t *testing.T) {
		out, err := verify()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("ok: 5 entries, head %s\n", rep.HeadHash); out != want {
			t.Fatalf("got %q, want %q", out, want)
		}
	})
	t.Run("OKJSON", func(t *testing.T) {
		out, err := verify("--json")
		if err != nil {
			t.Fatal(err)
		}
		var got chorus.AuditReport
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if !got.OK || got.Entries != 5 || got.HeadSeq != 5 || got.HeadHash != rep.HeadHash || got.Problem != nil {
			t.Fatalf("report %+v", got)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		if _, err := verify("extra"); err == nil {
			t.Error("an extra argument was accepted")
		}
		var out bytes.Buffer
		if err := run(ctx, []string{"audit"}, &out, &out); err == nil {
			t.Error("audit without a subcommand was accepted")
		}
	})

	raw, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit_log SET target_id = 'forged' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	t.Run("Tampered", func(t *testing.T) {
		out, err := verify()
		if !errors.Is(err, errTampered) {
			t.Fatalf("got error %v, want errTampered", err)
		}
		if !strings.HasPrefix(out, "FAILED at seq 3: modified: ") {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("TamperedJSON", func(t *testing.T) {
		out, err := verify("--json")
		if !errors.Is(err, errTampered) {
			t.Fatalf("got error %v, want errTampered", err)
		}
		var got chorus.AuditReport
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if got.OK || got.Problem == nil || got.Problem.Seq != 3 || got.Problem.Kind != audit.KindModified || got.Entries != 2 {
			t.Fatalf("report %+v problem %+v", got, got.Problem)
		}
	})
}
