package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/chorusgw/chorus"
)

// TestSQLiteUsagePrepared: on SQLite usage records go in through INSERTs
// prepared once (sizes 32, 16, …, 1) on the write connection, whatever
// the batch's size; a batch written again stores each record once.
func TestSQLiteUsagePrepared(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "chorus.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	recs := make([]chorus.Usage, 45) // 32 + 8 + 4 + 1
	for i := range recs {
		recs[i] = chorus.Usage{Key: fmt.Sprintf("k%d", i), RequestID: fmt.Sprint(i), KeyID: 1, Model: "m", Status: 200, InputTokens: int64(i)}
	}
	if err := db.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if len(db.usageStmts) != 6 {
		t.Fatalf("%d prepared statements, want 6 (32 to 1 records)", len(db.usageStmts))
	}
	st := db.usageStmt(32, usageOnConflictUpdate)
	if err := db.InsertUsage(ctx, append(recs[:3:3], chorus.Usage{Key: "new", KeyID: 1, Model: "m", Status: 200})); err != nil {
		t.Fatal(err)
	}
	if db.usageStmt(32, usageOnConflictUpdate) != st || len(db.usageStmts) != 6 {
		t.Fatal("prepared again")
	}
	if n, err := db.CountUsage(ctx); err != nil || n != 46 {
		t.Fatalf("%d records stored (%v), want 46", n, err)
	}
	var sum int64
	if err := db.rdb.QueryRowContext(ctx, `SELECT SUM(input_tokens) FROM usage_records`).Scan(&sum); err != nil || sum != 45*44/2 {
		t.Fatalf("input tokens %d (%v), want %d", sum, err, 45*44/2)
	}
}
