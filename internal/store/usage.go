package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/chorusgw/chorus"
)

const usageInsertColumns = `request_id, response_id, key_id, user_id, team_id, model, deployment, provider, endpoint, stream,
	input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
	latency_ms, ttft_ms, status, error_code, cost, route, attempts, created_at`

const usageColumnCount = 24

// usageChunk is how many records one INSERT carries: 12,000 parameters, well
// within SQLite's 32,766 and PostgreSQL's 65,535. Chunks from 50 to 2,000
// records measured within noise of each other on both databases: the
// commit, not the statement, dominates.
const usageChunk = 500

// InsertUsage stores usage records in one transaction, as multi-row INSERTs
// of up to 500 records each. Records without CreatedAt get the current
// time. IDs are not set on recs. A record whose Key is already stored is
// skipped, so writing a batch again (a retry after a commit whose outcome
// was lost, a spool replayed) stores each request's record once; records
// without a Key are always inserted.
func (db *DB) InsertUsage(ctx context.Context, recs []chorus.Usage) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := db.timeNow()
	args := make([]any, 0, min(len(recs), usageChunk)*usageColumnCount)
	for start := 0; start < len(recs); start += usageChunk {
		chunk := recs[start:min(start+usageChunk, len(recs))]
		args = args[:0]
		for i := range chunk {
			u := &chunk[i]
			at := u.CreatedAt
			if at.IsZero() {
				at = now
			}
			attempts, err := attemptsJSON(u.Attempts)
			if err != nil {
				return fmt.Errorf("insert usage: %w", err)
			}
			var key any // NULL: no idempotency (the unique index ignores NULLs)
			if u.Key != "" {
				key = u.Key
			}
			args = append(args, key, u.RequestID, u.ResponseID, u.KeyID, u.UserID, u.TeamID, u.Model, u.Deployment, u.Provider, u.Endpoint,
				u.Stream, u.InputTokens, u.OutputTokens, u.CachedInputTokens, u.CacheWriteTokens, u.ReasoningTokens, u.LatencyMS, u.TTFTMS, u.Status, u.ErrorCode, u.Cost,
				u.Route, attempts, at)
		}
		if _, err := tx.exec(ctx, db.usageInsertSQL(len(chunk)), args...); err != nil {
			return fmt.Errorf("insert usage: %w", err)
		}
	}
	return commit(tx)
}

// usageInsertSQL returns the INSERT for n records, rebound for the dialect.
// The full-chunk statement is built once per DB (and, on PostgreSQL, stays
// in pgx's prepared statement cache).
func (db *DB) usageInsertSQL(n int) string {
	if n == usageChunk {
		db.usageOnce.Do(func() { db.usageFull = buildUsageInsert(db.d, usageChunk) })
		return db.usageFull
	}
	return buildUsageInsert(db.d, n)
}

func buildUsageInsert(d dialect, n int) string {
	row := "(?" + strings.Repeat(", ?", usageColumnCount-1) + ")"
	var b strings.Builder
	b.Grow(64 + n*(len(row)+2))
	b.WriteString("INSERT INTO usage_records (record_key, " + usageInsertColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT (record_key) DO NOTHING")
	return d.rebind(b.String())
}

// ListUsage returns one page of usage records in ID order.
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListUsage(ctx context.Context, f chorus.UsageFilter, page chorus.Page) ([]*chorus.Usage, error) {
	tx, err := db.beginLagged(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"id > ?"}, []any{page.After}
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
	args = append(args, limit(page))
	rows, err := tx.query(ctx, `SELECT id, `+usageInsertColumns+` FROM usage_records WHERE `+
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
	q, args := `SELECT id, `+usageInsertColumns+` FROM usage_records WHERE response_id = ?`, []any{responseID}
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

// scanUsage scans the columns "id, " + usageInsertColumns.
func scanUsage(s scanner) (*chorus.Usage, error) {
	var u chorus.Usage
	if err := s.Scan(&u.ID, &u.RequestID, &u.ResponseID, &u.KeyID, &u.UserID, &u.TeamID, &u.Model, &u.Deployment, &u.Provider,
		&u.Endpoint, &u.Stream, &u.InputTokens, &u.OutputTokens, &u.CachedInputTokens, &u.CacheWriteTokens, &u.ReasoningTokens, &u.LatencyMS, &u.TTFTMS, &u.Status,
		&u.ErrorCode, &u.Cost, &u.Route, jsonCol{&u.Attempts}, scanTime(&u.CreatedAt)); err != nil {
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
