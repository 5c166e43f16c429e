package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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

// TestSQLiteUsagePrepareWhileWriting: preparing the INSERTs waits for the
// one write connection; a transaction holding it that writes usage records
// meanwhile (StrictCommit does) must not wait on the preparer.
func TestSQLiteUsagePrepareWhileWriting(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "chorus.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err := db.begin(ctx) // holds the write connection
	if err != nil {
		t.Fatal(err)
	}
	other := make(chan error, 1)
	go func() { other <- db.InsertUsage(ctx, []chorus.Usage{{Key: "a", KeyID: 1, Model: "m", Status: 200}}) }()
	time.Sleep(50 * time.Millisecond) // the other writer is preparing, waiting for the connection
	done := make(chan error, 1)
	go func() {
		err := db.insertUsageTx(ctx, tx, []chorus.Usage{{Key: "b", KeyID: 1, Model: "m", Status: 200}}, usageOnConflictUpdate, usageFinal)
		if err == nil {
			err = commit(tx)
		}
		done <- err
	}()
	for _, c := range []chan error{done, other} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("deadlock: the transaction waited on the preparer, or the preparer on the transaction")
		}
	}
	if n, err := db.CountUsage(ctx); err != nil || n != 2 {
		t.Fatalf("%d records (%v), want 2", n, err)
	}
}
