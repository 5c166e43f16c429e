package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

// Usage reports read the rollups only (usage_hourly, usage_daily,
// usage_monthly), never the usage records: their cost depends on the
// number of rollup rows in the range, not on the traffic.

// dimColumns maps a report dimension to its rollup column.
var dimColumns = map[string]string{
	chorus.DimTeam: "team_id", chorus.DimKey: "key_id", chorus.DimUser: "user_id", chorus.DimModel: "model",
	chorus.DimDeployment: "deployment", chorus.DimProvider: "provider", chorus.DimStatus: "status",
}

// ValidateUsageQuery checks q's interval, dimensions and range: the range's
// ends must be whole hours (whole days for the daily interval), the
// rollups' resolution.
func ValidateUsageQuery(q *chorus.UsageQuery) error {
	switch q.Interval {
	case "", chorus.IntervalHour, chorus.IntervalDay:
	default:
		return chorus.Invalid("interval", "interval must be %q or %q, got %q", chorus.IntervalHour, chorus.IntervalDay, q.Interval)
	}
	seen := map[string]bool{}
	for _, d := range q.GroupBy {
		if _, ok := dimColumns[d]; !ok {
			return chorus.Invalid("group_by", "group_by names %q; the dimensions are %s", d, strings.Join(chorus.UsageDims(), ", "))
		}
		if seen[d] {
			return chorus.Invalid("group_by", "group_by names %q twice", d)
		}
		seen[d] = true
	}
	unit, name := time.Hour, "an hour (hh:00:00Z)"
	if q.Interval == chorus.IntervalDay {
		unit, name = 24*time.Hour, "a day (00:00:00Z)"
	}
	for _, t := range []struct {
		param string
		at    time.Time
	}{{"since", q.Since}, {"until", q.Until}} {
		if !t.at.IsZero() && !t.at.UTC().Truncate(unit).Equal(t.at) {
			return chorus.Invalid(t.param, "%s must be the start of %s, the rollups' resolution, got %s", t.param, name, t.at.Format(time.RFC3339))
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return chorus.Invalid("until", "until must be after since")
	}
	return nil
}

// rollupSpan is a part of a report's range read from one rollup table.
type rollupSpan struct {
	table        string
	since, until time.Time // zero: unbounded
}

// rollupSpans splits q's range among the rollup tables: an hourly series
// reads usage_hourly, a daily one usage_daily; a total over the range
// (no interval) reads its whole months from usage_monthly, the whole days
// around them from usage_daily and the hours at its ends from
// usage_hourly — at most two partial months of days and two partial days
// of hours, however long the range. fine reads the finest table that
// answers q instead (tests compare the two).
func rollupSpans(q *chorus.UsageQuery, fine bool) []rollupSpan {
	switch {
	case q.Interval == chorus.IntervalHour:
		return []rollupSpan{{"usage_hourly", q.Since, q.Until}}
	case q.Interval == chorus.IntervalDay:
		return []rollupSpan{{"usage_daily", q.Since, q.Until}}
	case fine:
		day := func(t time.Time) bool { return t.IsZero() || dayOf(t).Equal(t) }
		if day(q.Since) && day(q.Until) {
			return []rollupSpan{{"usage_daily", q.Since, q.Until}}
		}
		return []rollupSpan{{"usage_hourly", q.Since, q.Until}}
	}
	// Inward from each set end (zero: unbounded), to the next whole day,
	// then the next whole month.
	inward := func(t time.Time, start func(time.Time) time.Time, next func(time.Time) time.Time) time.Time {
		if t.IsZero() || start(t).Equal(t) {
			return t
		}
		return next(start(t))
	}
	nextDay := func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	nextMonth := func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	same := func(t time.Time) time.Time { return t }
	d1, d2 := inward(q.Since, dayOf, nextDay), inward(q.Until, dayOf, same)
	if !d1.IsZero() && !d2.IsZero() && !d1.Before(d2) { // no whole day: hours only
		return []rollupSpan{{"usage_hourly", q.Since, q.Until}}
	}
	m1, m2 := inward(d1, monthStart, nextMonth), inward(d2, monthStart, same)
	var spans []rollupSpan
	if !q.Since.Equal(d1) {
		spans = append(spans, rollupSpan{"usage_hourly", q.Since, d1})
	}
	if m1.IsZero() || m2.IsZero() || m1.Before(m2) {
		if !d1.Equal(m1) {
			spans = append(spans, rollupSpan{"usage_daily", d1, m1})
		}
		spans = append(spans, rollupSpan{"usage_monthly", m1, m2})
		if !m2.Equal(d2) {
			spans = append(spans, rollupSpan{"usage_daily", m2, d2})
		}
	} else {
		spans = append(spans, rollupSpan{"usage_daily", d1, d2})
	}
	if !q.Until.Equal(d2) {
		spans = append(spans, rollupSpan{"usage_hourly", d2, q.Until})
	}
	return spans
}

// UsageReport returns one page of the report q asks for, in the order of
// its bucket then its dimensions (page.After is the ID — the position — of
// the last row of the previous page). A read replica may serve it.
func (db *DB) UsageReport(ctx context.Context, q chorus.UsageQuery, page chorus.Page) ([]*chorus.UsageRow, error) {
	return db.usageReport(ctx, q, page, false)
}

// usageReport is UsageReport, reading only the finest rollup table that
// answers q when fine is set (rollupSpans).
func (db *DB) usageReport(ctx context.Context, q chorus.UsageQuery, page chorus.Page, fine bool) ([]*chorus.UsageRow, error) {
	if err := ValidateUsageQuery(&q); err != nil {
		return nil, err
	}
	tx, err := db.beginLagged(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	stmt, args, group := usageReportSQL(tx.d, &q, page, fine)
	rows, err := tx.query(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("usage report: %w", err)
	}
	defer rows.Close()
	var out []*chorus.UsageRow
	for rows.Next() {
		r, err := scanReportRow(rows, group, q.Percentiles)
		if err != nil {
			return nil, fmt.Errorf("usage report: %w", err)
		}
		r.ID = page.After + int64(len(out)) + 1
		if len(group) == 0 && r.Requests == 0 {
			continue // no rollup in the range: no row
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ExplainUsageReport returns PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of the
// statement UsageReport runs for q (for benchmarks and operators).
func (db *DB) ExplainUsageReport(ctx context.Context, q chorus.UsageQuery, page chorus.Page) (string, error) {
	if err := ValidateUsageQuery(&q); err != nil {
		return "", err
	}
	if db.d.name != DialectPostgres {
		return "", fmt.Errorf("explain: PostgreSQL only")
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	stmt, args, _ := usageReportSQL(tx.d, &q, page, false)
	rows, err := tx.query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+stmt, args...)
	if err != nil {
		return "", fmt.Errorf("explain usage report: %w", err)
	}
	defer rows.Close()
	var b strings.Builder
	b.WriteString(stmt + "\n")
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		b.WriteString(line + "\n")
	}
	return b.String(), rows.Err()
}

// usageReportSQL builds q's statement: its text, its arguments and the
// grouped columns (bucket first) that scanReportRow reads.
func usageReportSQL(d dialect, q *chorus.UsageQuery, page chorus.Page, fine bool) (string, []any, []string) {
	var group []string
	if q.Interval != "" {
		group = append(group, "bucket")
	}
	for _, dim := range chorus.UsageDims() { // a fixed order, whatever the query's
		for _, g := range q.GroupBy {
			if g == dim {
				group = append(group, dimColumns[dim])
			}
		}
	}
	var filter []string
	var filterArgs []any
	add := func(cond string, v any) { filter, filterArgs = append(filter, cond), append(filterArgs, v) }
	if q.TeamID != nil {
		add("team_id = ?", *q.TeamID)
	}
	if q.KeyID != nil {
		add("key_id = ?", *q.KeyID)
	}
	if q.UserID != nil {
		add("user_id = ?", *q.UserID)
	}
	if q.Model != nil {
		add("model = ?", *q.Model)
	}
	if q.Provider != nil {
		add("provider = ?", *q.Provider)
	}
	// from is one span's table and conditions.
	var args []any
	from := func(sp rollupSpan) string {
		where := []string{"1 = 1"}
		if !sp.since.IsZero() {
			where, args = append(where, "bucket >= ?"), append(args, sp.since)
		}
		if !sp.until.IsZero() {
			where, args = append(where, "bucket < ?"), append(args, sp.until)
		}
		args = append(args, filterArgs...)
		return sp.table + ` WHERE ` + strings.Join(append(where, filter...), " AND ")
	}
	concat := "group_concat(%s, '|')"
	if d.name == DialectPostgres {
		concat = "string_agg(%s, '|')"
	}
	sums := []string{"requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
		"reasoning_tokens", "cost", "revenue", "provider_cost", "saved", "cache_hits", "energy_wh", "co2e_g",
		"latency_ms_sum", "ttft_count", "ttft_ms_sum"}
	sel := append([]string{}, group...)
	for _, c := range sums {
		sel = append(sel, "COALESCE(SUM("+c+"), 0)")
	}
	if q.Percentiles {
		sel = append(sel, "COALESCE("+fmt.Sprintf(concat, "latency_sketch")+", '')", "COALESCE("+fmt.Sprintf(concat, "ttft_sketch")+", '')")
	}
	spans := rollupSpans(q, fine)
	var stmt string
	if len(spans) == 1 {
		stmt = `SELECT ` + strings.Join(sel, ", ") + ` FROM ` + from(spans[0])
	} else {
		// The spans' rows, then one aggregation over them all.
		cols := append(append([]string{}, group...), sums...)
		if q.Percentiles {
			cols = append(cols, "latency_sketch", "ttft_sketch")
		}
		parts := make([]string, len(spans))
		for i, sp := range spans {
			parts[i] = `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + from(sp)
		}
		stmt = `SELECT ` + strings.Join(sel, ", ") + ` FROM (` + strings.Join(parts, " UNION ALL ") + `) spans`
	}
	if len(group) > 0 {
		stmt += ` GROUP BY ` + strings.Join(group, ", ") + ` ORDER BY ` + strings.Join(group, ", ")
	}
	stmt += ` LIMIT ? OFFSET ?`
	return d.rebind(stmt), d.args(append(args, limit(page), page.After)), group
}

// scanReportRow scans one report row: the grouped columns, the sums, and
// the sketches when asked.
func scanReportRow(rows scanner, group []string, pct bool) (*chorus.UsageRow, error) {
	r := &chorus.UsageRow{}
	dst := make([]any, 0, len(group)+19)
	for _, g := range group {
		switch g {
		case "bucket":
			r.Bucket = new(time.Time)
			dst = append(dst, scanTime(r.Bucket))
		case "team_id":
			r.TeamID = new(int64)
			dst = append(dst, r.TeamID)
		case "key_id":
			r.KeyID = new(int64)
			dst = append(dst, r.KeyID)
		case "user_id":
			r.UserID = new(int64)
			dst = append(dst, r.UserID)
		case "model":
			r.Model = new(string)
			dst = append(dst, r.Model)
		case "deployment":
			r.Deployment = new(string)
			dst = append(dst, r.Deployment)
		case "provider":
			r.Provider = new(string)
			dst = append(dst, r.Provider)
		case "status":
			r.Status = new(int)
			dst = append(dst, r.Status)
		}
	}
	var latSum, ttftSum float64
	var ttftCount int64
	dst = append(dst, &r.Requests, &r.Errors, &r.InputTokens, &r.OutputTokens, &r.CachedInputTokens, &r.CacheWriteTokens,
		&r.ReasoningTokens, &r.Cost, &r.Revenue, &r.ProviderCost, &r.Saved, &r.CacheHits, &r.EnergyWh, &r.CO2eGrams,
		&latSum, &ttftCount, &ttftSum)
	var lat, ttft string
	if pct {
		dst = append(dst, &lat, &ttft)
	}
	if err := rows.Scan(dst...); err != nil {
		return nil, err
	}
	r.Margin = r.Revenue - r.ProviderCost
	if tokens := r.InputTokens + r.OutputTokens; tokens > 0 {
		r.WhPer1kTokens = r.EnergyWh * 1000 / float64(tokens)
	}
	if r.Requests > 0 {
		r.LatencyMSMean = latSum / float64(r.Requests)
	}
	if ttftCount > 0 {
		r.TTFTMSMean = ttftSum / float64(ttftCount)
	}
	if pct {
		ls, err := chorus.ParseSketches(lat)
		if err != nil {
			return nil, err
		}
		ts, err := chorus.ParseSketches(ttft)
		if err != nil {
			return nil, err
		}
		q := func(s *chorus.Sketch, p float64) *float64 { v := s.Quantile(p); return &v }
		r.LatencyMSP50, r.LatencyMSP95, r.LatencyMSP99 = q(&ls, 0.5), q(&ls, 0.95), q(&ls, 0.99)
		r.TTFTMSP50, r.TTFTMSP95, r.TTFTMSP99 = q(&ts, 0.5), q(&ts, 0.95), q(&ts, 0.99)
	}
	return r, nil
}

// ExportUsage calls fn with every usage record f selects, in ID order. It
// reads them in pages of a few thousand, each its own short read, so an
// export of millions of records holds neither a transaction nor the
// records in memory. fn's error stops the export and is returned.
func (db *DB) ExportUsage(ctx context.Context, f chorus.UsageFilter, fn func(*chorus.Usage) error) error {
	after := int64(0)
	for {
		page, err := db.listUsage(ctx, f, after, exportPage)
		if err != nil {
			return err
		}
		for _, u := range page {
			if err := fn(u); err != nil {
				return err
			}
			after = u.ID
		}
		if len(page) < exportPage {
			return nil
		}
	}
}
