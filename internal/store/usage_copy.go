package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// usageCopyMin is the smallest batch InsertUsage sends through COPY on
// PostgreSQL; smaller ones take the multi-row INSERT (one round trip).
const usageCopyMin = 64

// usageStaging is the session's temporary table that COPY fills: the
// insert's columns, emptied at each commit.
const usageStaging = "chorus_usage_staging"

// insertUsageCopy is InsertUsage on PostgreSQL for a large batch: the
// records are streamed with COPY (binary, no statement to parse, no
// parameter limit) into a temporary table, then moved into usage_records
// by one INSERT … SELECT with the same ON CONFLICT as the multi-row
// INSERT, all in one transaction — the same idempotency and completion
// rules, several times the throughput (bench/usage_test.go).
func (db *DB) insertUsageCopy(ctx context.Context, recs []chorus.Usage) error {
	conn, err := db.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("insert usage: %w", err)
	}
	defer conn.Close()
	now := db.timeNow()
	rows := make([][]any, len(recs))
	for i := range recs {
		args, err := appendUsageArgs(make([]any, 0, usageColumnCount), &recs[i], now, usageFinal)
		if err != nil {
			return fmt.Errorf("insert usage: %w", err)
		}
		rows[i] = db.d.args(args) // times as stored: UTC, microseconds
	}
	cols := strings.Split(strings.Join(strings.Fields(usageInsertColumns), ""), ",")
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS `+usageStaging+` ON COMMIT DELETE ROWS AS
			SELECT `+usageInsertColumns+` FROM usage_records WITH NO DATA`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{usageStaging}, cols, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO usage_records (`+usageInsertColumns+`) SELECT `+usageInsertColumns+
			` FROM `+usageStaging+db.d.usageConflict(usageOnConflictUpdate)); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return fmt.Errorf("insert usage: %w", err)
	}
	return nil
}
