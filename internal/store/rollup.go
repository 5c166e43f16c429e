package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

// Usage rollups (docs/usage-analytics.md). The rollup worker calls
// RollUsage: in one transaction it takes a batch of the records not yet
// rolled (rolled = 0) that are final — or whose completion is overdue —
// adds them to the hourly, daily and monthly rollups and marks them
// rolled. The
// marks and the sums commit together, so a crash at any point, a retried
// batch or a replayed spool never counts a record twice, and a rolled
// record never changes again (InsertUsage leaves it alone), so the rollups
// always equal the sum of the records they cover.
//
// On PostgreSQL one instance rolls at a time (a transaction-scoped
// advisory lock), and the records taken are locked (FOR UPDATE) so a
// concurrent completion either lands before they are read or finds them
// rolled. SQLite has one writer.

// rollupLock is the advisory lock key of the rollup worker (PostgreSQL).
const rollupLock = 0x63686f7275730001 // "chorus" + 1

// RollOptions configure one RollUsage call.
type RollOptions struct {
	// Batch is how many records one call rolls at most (default 5,000).
	Batch int
	// FinalizeAfter is how long after it was written a record that is not
	// final (a strict-mode settlement's, whose completion by the usage
	// writer was lost) is rolled anyway (default 5 minutes).
	FinalizeAfter time.Duration
	// BeforeCommit, when set, runs just before the commit; an error from
	// it rolls everything back (fault injection for tests).
	BeforeCommit func() error
}

// rollKey is one rollup row's identity.
type rollKey struct {
	bucket                 time.Time
	team, key, user        int64
	model, deployment, prv string
	status                 int
}

// rollAgg is what a batch adds to one rollup row.
type rollAgg struct {
	requests, errors                                         int64
	in, out, cachedIn, cacheWrite, reasoning                 int64
	cost, revenue, providerCost, saved, cacheHits, ttftCount int64
	energy, co2e, latencySum, ttftSum                        float64
	latency, ttft                                            chorus.Sketch
}

// RollUsage rolls up to o.Batch records into the rollups and returns how
// many it rolled (0: caught up).
func (db *DB) RollUsage(ctx context.Context, o RollOptions) (int, error) {
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	if o.FinalizeAfter <= 0 {
		o.FinalizeAfter = 5 * time.Minute
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	lockRows := ""
	if tx.d.name == DialectPostgres {
		// The levels setting lets this transaction past the guard that
		// keeps workers older than the monthly rollups out (migration 0021).
		if _, err := tx.exec(ctx, `SELECT pg_advisory_xact_lock(?), set_config('chorus.rollup_levels', 'hourly,daily,monthly', true)`,
			int64(rollupLock)); err != nil {
			return 0, fmt.Errorf("roll usage: lock: %w", err)
		}
		lockRows = " FOR UPDATE"
	}
	ids, levels, span, err := readUnrolled(ctx, tx, db.timeNow().Add(-o.FinalizeAfter), o.Batch, lockRows)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	for i, l := range rollupLevels {
		if err := upsertRollups(ctx, tx, l.table, levels[i]); err != nil {
			return 0, err
		}
	}
	if err := markRolled(ctx, tx, ids, span); err != nil {
		return 0, err
	}
	if o.BeforeCommit != nil {
		if err := o.BeforeCommit(); err != nil {
			return 0, err
		}
	}
	if err := commit(tx); err != nil {
		return 0, err
	}
	return len(ids), nil
}

// rollupLevels are the rollup tables, finest first, with the start of
// the bucket that holds an instant.
var rollupLevels = []struct {
	table  string
	bucket func(time.Time) time.Time
}{
	{"usage_hourly", func(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }},
	{"usage_daily", dayOf},
	{"usage_monthly", monthStart},
}

// readUnrolled reads up to n records to roll, in ID order, and sums them
// per rollup row of each level (rollupLevels' order).
func readUnrolled(ctx context.Context, tx *tx, overdue time.Time, n int, lock string) ([]int64, []map[rollKey]*rollAgg, [2]time.Time, error) {
	var span [2]time.Time // the records' earliest and latest created_at
	rows, err := tx.query(ctx, `SELECT id, team_id, key_id, user_id, model, deployment, provider, status,
		input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
		cost, revenue, provider_cost, saved, cache_hit, energy_wh, co2e_g, latency_ms, ttft_ms, created_at
		FROM usage_records WHERE rolled = 0 AND (final = 1 OR written_at IS NULL OR written_at < ?)
		ORDER BY id LIMIT ?`+lock, overdue, n)
	if err != nil {
		return nil, nil, span, fmt.Errorf("roll usage: read: %w", err)
	}
	defer rows.Close()
	var ids []int64
	levels := make([]map[rollKey]*rollAgg, len(rollupLevels))
	for i := range levels {
		levels[i] = map[rollKey]*rollAgg{}
	}
	for rows.Next() {
		var id int64
		var k rollKey
		var u chorus.Usage
		if err := rows.Scan(&id, &k.team, &k.key, &k.user, &k.model, &k.deployment, &k.prv, &k.status,
			&u.InputTokens, &u.OutputTokens, &u.CachedInputTokens, &u.CacheWriteTokens, &u.ReasoningTokens,
			&u.Cost, &u.Revenue, &u.ProviderCost, &u.Saved, &u.CacheHit, &u.EnergyWh, &u.CO2eGrams, &u.LatencyMS, &u.TTFTMS,
			scanTime(&u.CreatedAt)); err != nil {
			return nil, nil, span, fmt.Errorf("roll usage: read: %w", err)
		}
		ids = append(ids, id)
		if len(ids) == 1 || u.CreatedAt.Before(span[0]) {
			span[0] = u.CreatedAt
		}
		if u.CreatedAt.After(span[1]) {
			span[1] = u.CreatedAt
		}
		for i, l := range rollupLevels {
			k.bucket = l.bucket(u.CreatedAt)
			addRollup(levels[i], k, &u)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, span, fmt.Errorf("roll usage: read: %w", err)
	}
	return ids, levels, span, nil
}

// dayOf is the start (00:00 UTC) of t's day.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// addRollup adds one record to its row of rows.
func addRollup(rows map[rollKey]*rollAgg, k rollKey, u *chorus.Usage) {
	a := rows[k]
	if a == nil {
		a = &rollAgg{}
		rows[k] = a
	}
	a.requests++
	if k.status >= 400 {
		a.errors++
	}
	a.in += u.InputTokens
	a.out += u.OutputTokens
	a.cachedIn += u.CachedInputTokens
	a.cacheWrite += u.CacheWriteTokens
	a.reasoning += u.ReasoningTokens
	a.cost += u.Cost
	a.revenue += u.Revenue
	a.providerCost += u.ProviderCost
	a.saved += u.Saved
	if u.CacheHit {
		a.cacheHits++
	}
	a.energy += u.EnergyWh
	a.co2e += u.CO2eGrams
	a.latencySum += u.LatencyMS
	a.latency.Add(u.LatencyMS)
	if u.TTFTMS > 0 {
		a.ttftCount++
		a.ttftSum += u.TTFTMS
		a.ttft.Add(u.TTFTMS)
	}
}

// rollupChunk is how many rollup rows one statement reads or writes (9
// and 27 parameters each: within both databases' limits).
const rollupChunk = 500

const rollupKeyColumns = `bucket, team_id, key_id, user_id, model, deployment, provider, status`

// upsertRollups adds rows to their rows of table, a chunk at a time: the
// chunk's stored sketches read in one statement and merged here (this
// transaction is the only writer of the rollups: the rollup lock), then
// one multi-row upsert adding the counters in SQL.
func upsertRollups(ctx context.Context, tx *tx, table string, rows map[rollKey]*rollAgg) error {
	keys := make([]rollKey, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	for start := 0; start < len(keys); start += rollupChunk {
		chunk := keys[start:min(start+rollupChunk, len(keys))]
		if err := mergeStoredSketches(ctx, tx, table, chunk, rows); err != nil {
			return err
		}
		if err := writeRollups(ctx, tx, table, chunk, rows); err != nil {
			return err
		}
	}
	return nil
}

// mergeStoredSketches adds the stored sketches of keys' rows to rows'.
func mergeStoredSketches(ctx context.Context, tx *tx, table string, keys []rollKey, rows map[rollKey]*rollAgg) error {
	args := make([]any, 0, len(keys)*8)
	for _, k := range keys {
		args = append(args, k.bucket, k.team, k.key, k.user, k.model, k.deployment, k.prv, k.status)
	}
	tuple := "(?, ?, ?, ?, ?, ?, ?, ?)"
	if tx.d.name == DialectPostgres { // a VALUES list's types are not inferred from the IN
		tuple = "(?::timestamptz, ?::bigint, ?::bigint, ?::bigint, ?::text, ?::text, ?::text, ?::integer)"
	}
	q := `SELECT ` + rollupKeyColumns + `, latency_sketch, ttft_sketch FROM ` + table + ` WHERE (` + rollupKeyColumns + `) IN (VALUES ` +
		tuple + strings.Repeat(", "+tuple, len(keys)-1) + `)`
	rs, err := tx.query(ctx, q, tx.d.oneShot(len(keys), args)...)
	if err != nil {
		return fmt.Errorf("roll usage: read %s: %w", table, err)
	}
	defer rs.Close()
	for rs.Next() {
		var k rollKey
		var lat, ttft string
		if err := rs.Scan(scanTime(&k.bucket), &k.team, &k.key, &k.user, &k.model, &k.deployment, &k.prv, &k.status, &lat, &ttft); err != nil {
			return fmt.Errorf("roll usage: read %s: %w", table, err)
		}
		a := rows[k]
		if a == nil {
			return fmt.Errorf("roll usage: read %s: a row the batch does not have (%v)", table, k)
		}
		if err := a.latency.ParseSketch(lat); err != nil {
			return fmt.Errorf("roll usage: %s: %w", table, err)
		}
		if err := a.ttft.ParseSketch(ttft); err != nil {
			return fmt.Errorf("roll usage: %s: %w", table, err)
		}
	}
	return rs.Err()
}

// writeRollups upserts keys' rows: counters added to the stored ones, the
// merged sketches replacing theirs.
func writeRollups(ctx context.Context, tx *tx, table string, keys []rollKey, rows map[rollKey]*rollAgg) error {
	const cols = 27
	args := make([]any, 0, len(keys)*cols)
	for _, k := range keys {
		a := rows[k]
		args = append(args, k.bucket, k.team, k.key, k.user, k.model, k.deployment, k.prv, k.status,
			a.requests, a.errors, a.in, a.out, a.cachedIn, a.cacheWrite, a.reasoning,
			a.cost, a.revenue, a.providerCost, a.saved, a.cacheHits, a.energy, a.co2e, a.latencySum, a.ttftCount, a.ttftSum,
			a.latency.String(), a.ttft.String())
	}
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	add := func(c string) string { return c + ` = ` + table + `.` + c + ` + excluded.` + c }
	var set []string
	for _, c := range []string{"requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
		"reasoning_tokens", "cost", "revenue", "provider_cost", "saved", "cache_hits", "energy_wh", "co2e_g", "latency_ms_sum",
		"ttft_count", "ttft_ms_sum"} {
		set = append(set, add(c))
	}
	q := `INSERT INTO ` + table + ` (` + rollupKeyColumns + `,
		requests, errors, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
		cost, revenue, provider_cost, saved, cache_hits, energy_wh, co2e_g, latency_ms_sum, ttft_count, ttft_ms_sum,
		latency_sketch, ttft_sketch) VALUES ` + row + strings.Repeat(", "+row, len(keys)-1) + `
		ON CONFLICT (` + rollupKeyColumns + `) DO UPDATE SET ` + strings.Join(set, ", ") + `,
		latency_sketch = excluded.latency_sketch, ttft_sketch = excluded.ttft_sketch`
	if _, err := tx.exec(ctx, q, tx.d.oneShot(len(keys), args)...); err != nil {
		return fmt.Errorf("roll usage: write %s: %w", table, err)
	}
	return nil
}

// markRolled sets rolled = 1 on the records ids (ascending, as read),
// created within span. Records are read in id order, so ids mostly come
// in runs of consecutive numbers: each run is one "id BETWEEN a AND b"
// (exactly its ids: ids are unique integers), so a caught-up batch of
// 5,000 is usually one short UPDATE instead of five of 1,000 parameters.
// On PostgreSQL the created_at span lets the planner skip the monthly
// partitions the batch has no record in (an id alone names no partition).
func markRolled(ctx context.Context, tx *tx, ids []int64, span [2]time.Time) error {
	type run struct{ from, to int64 }
	var runs []run
	for _, id := range ids {
		if n := len(runs); n > 0 && id == runs[n-1].to+1 {
			runs[n-1].to = id
			continue
		}
		runs = append(runs, run{id, id})
	}
	const chunk = 400 // runs per statement: 800 parameters, within both databases' limits
	for start := 0; start < len(runs); start += chunk {
		part := runs[start:min(start+chunk, len(runs))]
		var q strings.Builder
		args := make([]any, 0, 2*len(part)+2)
		q.WriteString(`UPDATE usage_records SET rolled = 1 WHERE `)
		if tx.d.name == DialectPostgres {
			q.WriteString(`created_at BETWEEN ? AND ? AND `)
			args = append(args, span[0], span[1])
		}
		q.WriteString(`(`)
		for i, r := range part {
			if i > 0 {
				q.WriteString(` OR `)
			}
			if r.from == r.to {
				q.WriteString(`id = ?`)
				args = append(args, r.from)
			} else {
				q.WriteString(`id BETWEEN ? AND ?`)
				args = append(args, r.from, r.to)
			}
		}
		q.WriteString(`)`)
		res, err := tx.exec(ctx, q.String(), tx.d.oneShot(len(args), args)...)
		if err != nil {
			return fmt.Errorf("roll usage: mark: %w", err)
		}
		want := int64(0)
		for _, r := range part {
			want += r.to - r.from + 1
		}
		if n, err := res.RowsAffected(); err == nil && n != want {
			return fmt.Errorf("roll usage: mark: %d records marked, want %d", n, want)
		}
	}
	return nil
}

// UsageRollupLag returns how long ago the oldest record not yet in the
// rollups was created; 0 when every record is rolled.
func (db *DB) UsageRollupLag(ctx context.Context) (time.Duration, error) {
	// The primary's read pool: a replica's lag is not the rollups', and on
	// SQLite the writer stays free for writes (/readyz asks often).
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var oldest *time.Time
	err = tx.queryRow(ctx, `SELECT MIN(created_at) FROM usage_records WHERE rolled = 0`).Scan(scanNullTime(&oldest))
	if err != nil {
		return 0, fmt.Errorf("rollup lag: %w", err)
	}
	if oldest == nil {
		return 0, nil
	}
	return max(0, db.timeNow().Sub(*oldest)), nil
}

// PurgeUsage deletes up to limit rolled usage records created before
// before (the raw retention; records not yet rolled wait for the rollups)
// and returns how many it deleted.
func (db *DB) PurgeUsage(ctx context.Context, before time.Time, limit int) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `DELETE FROM usage_records WHERE id IN
		(SELECT id FROM usage_records WHERE created_at < ? AND rolled = 1 ORDER BY created_at LIMIT ?)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("purge usage: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge usage: %w", err)
	}
	return n, commit(tx)
}

// PurgeRollups deletes the hourly rollups older than hourly and the daily
// ones older than daily (a zero time keeps them). The monthly rollups
// follow the daily retention a whole month at a time: a month goes once
// all of it is older than daily.
func (db *DB) PurgeRollups(ctx context.Context, hourly, daily time.Time) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var total int64
	var monthly time.Time
	if !daily.IsZero() {
		monthly = monthStart(daily)
	}
	for table, before := range map[string]time.Time{"usage_hourly": hourly, "usage_daily": daily, "usage_monthly": monthly} {
		if before.IsZero() {
			continue
		}
		res, err := tx.exec(ctx, `DELETE FROM `+table+` WHERE bucket < ?`, before)
		if err != nil {
			return 0, fmt.Errorf("purge %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, commit(tx)
}
