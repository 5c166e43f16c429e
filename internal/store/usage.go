package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

// usageColumns are a usage record's columns as read back (after its id).
const usageColumns = `request_id, response_id, key_id, user_id, team_id, model, deployment, provider, endpoint, stream,
	input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
	latency_ms, ttft_ms, status, error_code, cost, route, attempts, created_at,
	revenue, provider_cost, saved, cache_hit, energy_wh, co2e_g`

// usageInsertColumns are the columns an INSERT writes: the key, the
// record, whether it is final (see usageFinal) and when it was written.
const usageInsertColumns = `record_key, ` + usageColumns + `, final, written_at`

const usageColumnCount = 32

// Whether a stored record is final: a strict-mode settlement stores its
// request's record before the request ends (usageNotFinal); the usage
// writer's record is final, and completes the settlement's. The rollup
// worker waits for a record to be final (or for its completion to be
// overdue) before adding it to the rollups.
const (
	usageNotFinal = 0
	usageFinal    = 1
)

// usageChunk is how many records one INSERT carries: 12,000 parameters, well
// within SQLite's 32,766 and PostgreSQL's 65,535. Chunks from 50 to 2,000
// records measured within noise of each other on both databases: the
// commit, not the statement, dominates.
const usageChunk = 500

// InsertUsage stores usage records in one transaction, as multi-row INSERTs
// of up to 500 records each (32 on SQLite, prepared: insertUsageSQLite). Records without CreatedAt get the current
// time. IDs are not set on recs. Records without a Key are always inserted.
// A record whose Key is already stored is not inserted again, so writing a
// batch again (a retry after a commit whose outcome was lost, a spool
// replayed) stores each request's record once; the stored record takes the
// fields only known when the request ended (endFields: the response ID,
// latency, time to first token, status and error code) and keeps the rest.
// That completes the record a strict-mode settlement stored with its charge
// (StrictCommit): the tokens and cost it charged never change.
func (db *DB) InsertUsage(ctx context.Context, recs []chorus.Usage) error {
	if len(recs) == 0 {
		return nil
	}
	if db.d.name == DialectPostgres && len(recs) >= usageCopyMin {
		return db.insertUsageCopy(ctx, firstByKey(recs))
	}
	db.prepareUsage(ctx, usageOnConflictUpdate)
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := db.insertUsageTx(ctx, tx, firstByKey(recs), usageOnConflictUpdate, usageFinal); err != nil {
		return err
	}
	return commit(tx)
}

// What an INSERT of usage records does with a record whose key is stored.
const (
	// usageOnConflictUpdate completes the stored record with the fields
	// known only at the end of the request (and the energy estimate, which
	// the writer's hook adds), and makes it final — unless the rollups
	// have it already: a rolled record never changes, so the rollups
	// always equal the sum of the records (a completion that comes after
	// usage.finalize_after keeps the settlement's latency and status).
	usageOnConflictUpdate = ` ON CONFLICT (record_key) DO UPDATE SET response_id = excluded.response_id,
		latency_ms = excluded.latency_ms, ttft_ms = excluded.ttft_ms, status = excluded.status, error_code = excluded.error_code,
		energy_wh = excluded.energy_wh, co2e_g = excluded.co2e_g, final = excluded.final
		WHERE usage_records.rolled = 0`
	// usageOnConflictNothing keeps the stored record as it is.
	usageOnConflictNothing = ` ON CONFLICT (record_key) DO NOTHING`
)

// usageConflict returns onConflict (usageOnConflict*) for d. On PostgreSQL
// usage_records is partitioned by created_at (migration 0020), and a
// partitioned table's unique index must hold the partition key: the key is
// unique per (record_key, created_at). Both writes of a request's record
// carry the request's start as CreatedAt (the gateway sets it; the spool
// replays it), so they meet on the same row.
func (d dialect) usageConflict(onConflict string) string {
	if d.name != DialectPostgres {
		return onConflict
	}
	return strings.Replace(onConflict, "ON CONFLICT (record_key)", "ON CONFLICT (record_key, created_at)", 1)
}

// insertUsageTx inserts recs inside tx in chunks of usageChunk, with
// onConflict (usageOnConflict*) for records whose key is stored, final
// (usageFinal or usageNotFinal).
func (db *DB) insertUsageTx(ctx context.Context, tx *tx, recs []chorus.Usage, onConflict string, final int) error {
	now := db.timeNow()
	if db.d.name == DialectSQLite {
		return db.insertUsageSQLite(ctx, tx, recs, onConflict, final, now)
	}
	args := make([]any, 0, min(len(recs), usageChunk)*usageColumnCount)
	for start := 0; start < len(recs); start += usageChunk {
		chunk := recs[start:min(start+usageChunk, len(recs))]
		args = args[:0]
		for i := range chunk {
			var err error
			if args, err = appendUsageArgs(args, &chunk[i], now, final); err != nil {
				return fmt.Errorf("insert usage: %w", err)
			}
		}
		q, full := db.usageInsertSQL(len(chunk), onConflict)
		if !full {
			args = tx.d.oneShot(len(chunk), args)
		}
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("insert usage: %w", err)
		}
	}
	return nil
}

// sqliteUsageChunk is the largest INSERT of usage records on SQLite. There
// every batch size is made of chunks of 32, 16, 8, 4, 2 and 1 records, each
// a statement prepared once on the write connection: SQLite runs in the
// process, and parsing a fresh multi-row INSERT for every batch (each size
// its own text) was half of the INSERTs' CPU in a profile at 1,000
// requests/s. Prepared, a record costs 22 µs instead of 30 (BenchmarkInsertUsage;
// chunks of 8 and 128 measured slower; bench/results/2026-12-07-usage-writer.md).
const sqliteUsageChunk = 32

// usageStmtKey names a prepared usage INSERT: its rows and conflict clause.
type usageStmtKey struct {
	rows       int
	onConflict string
}

// insertUsageSQLite is insertUsageTx on SQLite, with prepared statements.
func (db *DB) insertUsageSQLite(ctx context.Context, tx *tx, recs []chorus.Usage, onConflict string, final int, now time.Time) error {
	args := make([]any, 0, min(len(recs), sqliteUsageChunk)*usageColumnCount)
	for len(recs) > 0 {
		n := sqliteUsageChunk
		for n > len(recs) {
			n /= 2
		}
		args = args[:0]
		for i := range recs[:n] {
			var err error
			if args, err = appendUsageArgs(args, &recs[i], now, final); err != nil {
				return fmt.Errorf("insert usage: %w", err)
			}
		}
		var err error
		if st := db.usageStmt(n, onConflict); st != nil {
			_, err = tx.StmtContext(ctx, st).ExecContext(ctx, tx.d.args(args)...)
		} else {
			_, err = tx.exec(ctx, buildUsageInsert(db.d, n, onConflict), args...)
		}
		if err != nil {
			return fmt.Errorf("insert usage: %w", err)
		}
		recs = recs[n:]
	}
	return nil
}

// prepareUsage prepares, once, SQLite's usage INSERTs with onConflict.
// It must run outside a transaction: SQLite has one write connection, and
// preparing on it waits for it to be free. A statement that fails to
// prepare (the table not migrated yet) is tried again next time; until
// then insertUsageSQLite executes its text.
func (db *DB) prepareUsage(ctx context.Context, onConflict string) {
	if db.d.name != DialectSQLite {
		return
	}
	for n := sqliteUsageChunk; n >= 1; n /= 2 {
		if db.usageStmt(n, onConflict) != nil {
			continue
		}
		// Not under usageMu: preparing waits for the write connection,
		// and a transaction holding it may be asking usageStmt.
		st, err := db.wdb.PrepareContext(ctx, buildUsageInsert(db.d, n, onConflict))
		if err != nil {
			return
		}
		db.usageMu.Lock()
		k := usageStmtKey{n, onConflict}
		if db.usageStmts == nil {
			db.usageStmts = map[usageStmtKey]*sql.Stmt{}
		}
		if db.usageStmts[k] == nil {
			db.usageStmts[k], st = st, nil
		}
		db.usageMu.Unlock()
		if st != nil { // another caller prepared it first
			_ = st.Close()
		}
	}
}

// usageStmt returns the prepared INSERT of n usage records, or nil.
func (db *DB) usageStmt(n int, onConflict string) *sql.Stmt {
	db.usageMu.Lock()
	defer db.usageMu.Unlock()
	return db.usageStmts[usageStmtKey{n, onConflict}]
}

// appendUsageArgs appends the values of one record's row.
func appendUsageArgs(args []any, u *chorus.Usage, now time.Time, final int) ([]any, error) {
	at := u.CreatedAt
	if at.IsZero() {
		at = now
	}
	attempts, err := attemptsJSON(u.Attempts)
	if err != nil {
		return args, err
	}
	var key any // NULL: no idempotency (the unique index ignores NULLs)
	if u.Key != "" {
		key = u.Key
	}
	return append(args, key, u.RequestID, u.ResponseID, u.KeyID, u.UserID, u.TeamID, u.Model, u.Deployment, u.Provider, u.Endpoint,
		u.Stream, u.InputTokens, u.OutputTokens, u.CachedInputTokens, u.CacheWriteTokens, u.ReasoningTokens, u.LatencyMS, u.TTFTMS, u.Status, u.ErrorCode, u.Cost,
		u.Route, attempts, at, u.Revenue, u.ProviderCost, u.Saved, u.CacheHit, u.EnergyWh, u.CO2eGrams, final, now), nil
}

// firstByKey returns recs with only the first of the records sharing a key
// (one statement may not update a row twice on PostgreSQL). It returns recs
// itself when no key repeats, the usual case.
func firstByKey(recs []chorus.Usage) []chorus.Usage {
	first := make(map[string]int, len(recs))
	dup := false
	for i := range recs {
		if k := recs[i].Key; k != "" {
			if _, ok := first[k]; ok {
				dup = true
				continue
			}
			first[k] = i
		}
	}
	if !dup {
		return recs
	}
	out := make([]chorus.Usage, 0, len(first))
	for i := range recs {
		if k := recs[i].Key; k == "" || first[k] == i {
			out = append(out, recs[i])
		}
	}
	return out
}

// usageInsertSQL returns the INSERT for n records with onConflict, rebound
// for the dialect, and whether it is the writer's full-chunk statement,
// built once per DB and kept in pgx's prepared statement cache on
// PostgreSQL (the others are one-shot: see dialect.oneShot).
func (db *DB) usageInsertSQL(n int, onConflict string) (string, bool) {
	if n == usageChunk && onConflict == usageOnConflictUpdate {
		db.usageOnce.Do(func() { db.usageFull = buildUsageInsert(db.d, usageChunk, usageOnConflictUpdate) })
		return db.usageFull, true
	}
	return buildUsageInsert(db.d, n, onConflict), false
}

func buildUsageInsert(d dialect, n int, onConflict string) string {
	row := "(?" + strings.Repeat(", ?", usageColumnCount-1) + ")"
	var b strings.Builder
	b.Grow(len(onConflict) + 64 + n*(len(row)+2))
	b.WriteString("INSERT INTO usage_records (" + usageInsertColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(d.usageConflict(onConflict))
	return d.rebind(b.String())
}

// ListUsage returns one page of usage records in ID order.
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListUsage(ctx context.Context, f chorus.UsageFilter, page chorus.Page) ([]*chorus.Usage, error) {
	return db.listUsage(ctx, f, page.After, limit(page))
}

// exportPage is how many records one read of ExportUsage takes.
const exportPage = 5000

// listUsage returns up to n records f selects after the ID after.
func (db *DB) listUsage(ctx context.Context, f chorus.UsageFilter, after int64, n int) ([]*chorus.Usage, error) {
	tx, err := db.beginLagged(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"id > ?"}, []any{after}
	if f.KeyID != nil {
		where, args = append(where, "key_id = ?"), append(args, *f.KeyID)
	}
	if f.UserID != nil {
		where, args = append(where, "user_id = ?"), append(args, *f.UserID)
	}
	if f.TeamID != nil {
		where, args = append(where, "team_id = ?"), append(args, *f.TeamID)
	}
	if f.ResponseID != "" {
		where, args = append(where, "response_id = ?"), append(args, f.ResponseID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, f.Since)
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, f.Until)
	}
	if f.Model != nil {
		where, args = append(where, "model = ?"), append(args, *f.Model)
	}
	if f.Status != nil {
		where, args = append(where, "status = ?"), append(args, *f.Status)
	}
	args = append(args, n)
	rows, err := tx.query(ctx, `SELECT id, `+usageColumns+` FROM usage_records WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list usage: %w", err)
	}
	defer rows.Close()
	var out []*chorus.Usage
	for rows.Next() {
		u, err := scanUsage(rows)
		if err != nil {
			return nil, fmt.Errorf("list usage: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list usage: %w", err)
	}
	return out, nil
}

// UsageByResponseID returns the newest usage record of the answer the client
// saw as responseID (of that team's keys only, when teamID is not nil), or
// ENOTFOUND. Newest, because some upstreams (the simulator, self-hosted
// servers) reuse answer IDs. Records reach the database in batches, so a
// record may be missing for a moment after its response was sent.
func (db *DB) UsageByResponseID(ctx context.Context, responseID string, teamID *int64) (*chorus.Usage, error) {
	if responseID == "" {
		return nil, notFound("No usage record for an empty response ID.")
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q, args := `SELECT id, `+usageColumns+` FROM usage_records WHERE response_id = ?`, []any{responseID}
	if teamID != nil {
		q, args = q+` AND team_id = ?`, append(args, *teamID)
	}
	u, err := scanUsage(tx.queryRow(ctx, q+` ORDER BY id DESC LIMIT 1`, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("No usage record for response %q.", responseID)
	}
	if err != nil {
		return nil, fmt.Errorf("usage by response id: %w", err)
	}
	return u, nil
}

// scanUsage scans the columns "id, " + usageColumns.
func scanUsage(s scanner) (*chorus.Usage, error) {
	var u chorus.Usage
	if err := s.Scan(&u.ID, &u.RequestID, &u.ResponseID, &u.KeyID, &u.UserID, &u.TeamID, &u.Model, &u.Deployment, &u.Provider,
		&u.Endpoint, &u.Stream, &u.InputTokens, &u.OutputTokens, &u.CachedInputTokens, &u.CacheWriteTokens, &u.ReasoningTokens, &u.LatencyMS, &u.TTFTMS, &u.Status,
		&u.ErrorCode, &u.Cost, &u.Route, jsonCol{&u.Attempts}, scanTime(&u.CreatedAt),
		&u.Revenue, &u.ProviderCost, &u.Saved, &u.CacheHit, &u.EnergyWh, &u.CO2eGrams); err != nil {
		return nil, err
	}
	if len(u.Attempts) == 0 {
		u.Attempts = nil // stored as "[]": none reads back as nil
	}
	return &u, nil
}

// attemptsJSON encodes a record's attempts for their JSON column. Most
// records of plain models have none: they skip the encoder.
func attemptsJSON(a []chorus.UsageAttempt) (string, error) {
	if len(a) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode attempts: %w", err)
	}
	return string(b), nil
}

// CountUsage returns the number of usage records.
func (db *DB) CountUsage(ctx context.Context) (int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM usage_records`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count usage: %w", err)
	}
	return n, nil
}
