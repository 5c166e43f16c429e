package bench_test

// Usage analytics at scale (docs/usage-analytics.md), on PostgreSQL:
//
//	CHORUS_BENCH_USAGE=200000 CHORUS_TEST_POSTGRES_URL=… go test ./bench -run TestUsageWriterThroughput -v
//	CHORUS_BENCH_REPORTS=1    CHORUS_TEST_POSTGRES_URL=… go test ./bench -run TestUsageReports10M -v -timeout 30m
//
// Both are opt-in (heavy) and skip, saying so, otherwise. The first
// measures the usage writer (records/s into PostgreSQL, and what
// Writer.Record — the request path's part — costs meanwhile), then the
// rollup worker catching up on what it wrote. The second loads 10 million
// usage records (generate_series) into a schema it keeps
// (CHORUS_BENCH_REPORTS_SCHEMA, default chorus_bench_usage10m: a rerun
// reuses it), rolls them up with the rollup worker (analytics.Worker, as
// Chorus does), checks the rollups against the records, then times every
// report query and writes their plans to CHORUS_BENCH_REPORTS_OUT when set.

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/analytics"
	"github.com/chorusgw/chorus/internal/store"
	"github.com/chorusgw/chorus/internal/usage"
)

// usageBenchDB opens a migrated store on schema (created if absent).
func usageBenchDB(t *testing.T, base, schema string, drop bool) *store.DB {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA IF NOT EXISTS " + schema); err != nil {
		t.Fatal(err)
	}
	if drop {
		t.Cleanup(func() {
			if admin, err := sql.Open("pgx", base); err == nil {
				_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
				admin.Close()
			}
		})
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := store.Open(context.Background(), u.String(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// benchRecord is record i of a realistic workload: 200 keys of 50 teams,
// each key using two of ten models, mostly answered.
func benchRecord(i int, at time.Time) chorus.Usage {
	k := int64(1 + (i*7919)%200)
	m := (int(k) + i%2) % 10
	status := 200
	switch {
	case i%50 == 0:
		status = 429
	case i%97 == 0:
		status = 500
	}
	return chorus.Usage{Key: fmt.Sprintf("bench-%d-%d", at.UnixNano(), i), RequestID: "req-" + strconv.Itoa(i),
		ResponseID: "chatcmpl-" + strconv.Itoa(i), KeyID: k, UserID: 1 + k%120, TeamID: 1 + k%50,
		Model: "model-" + strconv.Itoa(m), Deployment: fmt.Sprintf("model-%d-%d", m, i%2), Provider: []string{"openai", "anthropic", "gemini", "simulator"}[m%4],
		Endpoint: "chat", Stream: i%3 == 0, InputTokens: int64(100 + i%900), OutputTokens: int64(20 + i%400),
		LatencyMS: float64(50 + (i*31337)%5000), TTFTMS: float64(10 + (i*17)%300), Status: status,
		Cost: int64(1000 + i%5000), Revenue: int64(1000 + i%5000), ProviderCost: int64(1000 + i%5000),
		EnergyWh: 0.3, CO2eGrams: 0.12, CreatedAt: at}
}

func TestUsageWriterThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CHORUS_BENCH_USAGE"))
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if n <= 0 || base == "" {
		t.Skip("opt-in: CHORUS_BENCH_USAGE=200000 CHORUS_TEST_POSTGRES_URL=… go test ./bench -run TestUsageWriterThroughput -v")
	}
	db := usageBenchDB(t, base, fmt.Sprintf("chorus_bench_%d", time.Now().UnixNano()), true)
	for _, batch := range []int{512, 2000} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			before, _ := db.CountUsage(context.Background())
			w := usage.NewWriter(db, usage.Options{QueueSize: 65536, BatchSize: batch, FlushInterval: 200 * time.Millisecond})
			go w.Run()
			const producers = 8
			lat := make([][]time.Duration, producers)
			now := time.Now().UTC()
			recs := make([]chorus.Usage, n) // made before the clock starts: the writer is measured, not the generator
			for i := range recs {
				recs[i] = benchRecord(i, now)
			}
			start := time.Now()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := p; i < n; i += producers {
						t0 := time.Now()
						if err := w.Record(recs[i]); err != nil {
							t.Error(err)
							return
						}
						lat[p] = append(lat[p], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			after, _ := db.CountUsage(context.Background())
			if after-before != int64(n) {
				t.Fatalf("%d records stored, want %d", after-before, n)
			}
			all := slices.Concat(lat...)
			slices.Sort(all)
			t.Logf("batch %d: %d records in %v = %.0f records/s; Record() p50 %v p99 %v p99.9 %v max %v", batch, n, el.Round(time.Millisecond),
				float64(n)/el.Seconds(), all[len(all)/2], all[len(all)*99/100], all[len(all)*999/1000], all[len(all)-1])
			if rate := float64(n) / el.Seconds(); rate < 20000 {
				t.Errorf("%.0f records/s, want at least 20,000", rate)
			}
		})
	}
	t.Run("rollup", func(t *testing.T) {
		w := analytics.NewWorker(db, analytics.Options{Batch: 5000, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
		start := time.Now()
		total := w.CatchUp(context.Background())
		el := time.Since(start)
		t.Logf("rollup worker: %d records in %v = %.0f records/s", total, el.Round(time.Millisecond), float64(total)/el.Seconds())
		if lag, err := w.RollupLag(context.Background()); err != nil || lag != 0 {
			t.Fatalf("lag %v, %v after catching up", lag, err)
		}
	})
}

// reportQueries are the report queries the APIs and dashboards make, as of
// now (the end of the data set).
func reportQueries(now time.Time) map[string]chorus.UsageQuery {
	day := now.UTC().Truncate(24 * time.Hour)
	hour := now.UTC().Truncate(time.Hour)
	team := int64(7)
	model := "model-3"
	return map[string]chorus.UsageQuery{
		"overview 24h hourly by model, percentiles": {Interval: chorus.IntervalHour, GroupBy: []string{chorus.DimModel},
			Since: hour.Add(-24 * time.Hour), Until: hour, Percentiles: true},
		"errors 7d hourly by status":   {Interval: chorus.IntervalHour, GroupBy: []string{chorus.DimStatus}, Since: hour.Add(-7 * 24 * time.Hour), Until: hour},
		"costs 30d daily by model":     {Interval: chorus.IntervalDay, GroupBy: []string{chorus.DimModel}, Since: day.AddDate(0, 0, -30), Until: day},
		"costs 30d by team":            {GroupBy: []string{chorus.DimTeam}, Since: day.AddDate(0, 0, -30), Until: day},
		"costs 30d by provider":        {GroupBy: []string{chorus.DimProvider}, Since: day.AddDate(0, 0, -30), Until: day},
		"costs 30d by deployment":      {GroupBy: []string{chorus.DimDeployment}, Since: day.AddDate(0, 0, -30), Until: day},
		"energy 30d daily by model":    {Interval: chorus.IntervalDay, GroupBy: []string{chorus.DimModel}, Since: day.AddDate(0, 0, -30), Until: day},
		"90d by model, percentiles":    {GroupBy: []string{chorus.DimModel}, Since: day.AddDate(0, 0, -90), Until: day, Percentiles: true},
		"team 30d daily by key":        {Interval: chorus.IntervalDay, GroupBy: []string{chorus.DimKey}, TeamID: &team, Since: day.AddDate(0, 0, -30), Until: day},
		"team 24h hourly, percentiles": {Interval: chorus.IntervalHour, TeamID: &team, Since: hour.Add(-24 * time.Hour), Until: hour, Percentiles: true},
		"model 30d daily by user":      {Interval: chorus.IntervalDay, GroupBy: []string{chorus.DimUser}, Model: &model, Since: day.AddDate(0, 0, -30), Until: day},
		"59d by model, percentiles, no whole month": {GroupBy: []string{chorus.DimModel}, Since: monthStart(day, -2).AddDate(0, 0, 1),
			Until: monthStart(day, 0).AddDate(0, 0, -1), Percentiles: true},
		"31d hourly by model (the widest)": {Interval: chorus.IntervalHour, GroupBy: []string{chorus.DimModel}, Since: hour.Add(-31 * 24 * time.Hour), Until: hour},
	}
}

func TestUsageReports10M(t *testing.T) {
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if os.Getenv("CHORUS_BENCH_REPORTS") == "" || base == "" {
		t.Skip("opt-in: CHORUS_BENCH_REPORTS=1 CHORUS_TEST_POSTGRES_URL=… go test ./bench -run TestUsageReports10M -v -timeout 30m")
	}
	schema := os.Getenv("CHORUS_BENCH_REPORTS_SCHEMA")
	if schema == "" {
		schema = "chorus_bench_usage10m"
	}
	db := usageBenchDB(t, base, schema, false)
	ctx := context.Background()
	raw, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET search_path = "+schema); err != nil {
		t.Fatal(err)
	}
	const records = 10_000_000
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var have int64
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_records`).Scan(&have); err != nil {
		t.Fatal(err)
	}
	if have != records { // a run cut short while loading starts again
		start := time.Now()
		// The months' partitions, as the worker creates them ahead.
		if _, err := db.MaintainUsagePartitions(ctx, end.AddDate(0, -3, 0), 3, time.Time{}); err != nil {
			t.Fatal(err)
		}
		for _, q := range loadUsageSQL(records, end) {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		t.Logf("loaded %d usage records in %v", records, time.Since(start).Round(time.Second))
	}
	// The rollups, by the rollup worker (a run cut short resumes: each
	// batch commits with its records' marks).
	batch := 5000 // usage.rollup_batch's default
	if v, _ := strconv.Atoi(os.Getenv("CHORUS_BENCH_ROLLUP_BATCH")); v > 0 {
		batch = v
	}
	w := analytics.NewWorker(db, analytics.Options{Batch: batch})
	start := time.Now()
	if n := w.CatchUp(ctx); n > 0 {
		el := time.Since(start)
		t.Logf("rollup worker (batch %d): %d records in %v = %.0f records/s", batch, n, el.Round(time.Second), float64(n)/el.Seconds())
	}
	// Catching up on 10 million records in one go rewrites each rollup row
	// many times and leaves the tables several times their live size; in
	// steady state autovacuum frees the dead rows and new rows reuse the
	// space. Compact them rather than time the reports on that backlog
	// (bench/results/usage-2026-12-07.md gives both).
	for _, q := range []string{`VACUUM FULL ANALYZE usage_hourly`, `VACUUM FULL ANALYZE usage_daily`, `VACUUM FULL ANALYZE usage_monthly`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if lag, err := w.RollupLag(ctx); err != nil || lag != 0 {
		t.Fatalf("rollup lag %v, %v after catching up", lag, err)
	}
	checkBenchRollups(t, ctx, db, conn)
	var hourly, daily, monthly int64
	_ = conn.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM usage_hourly), (SELECT COUNT(*) FROM usage_daily),
		(SELECT COUNT(*) FROM usage_monthly)`).Scan(&hourly, &daily, &monthly)
	t.Logf("data set: %d usage records over 90 days; %d hourly, %d daily and %d monthly rollup rows", records, hourly, daily, monthly)

	var plans strings.Builder
	names := make([]string, 0)
	qs := reportQueries(end)
	for name := range qs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		q := qs[name]
		page := chorus.Page{Limit: chorus.MaxPageSize}
		var times []time.Duration
		var rows int
		for range 15 {
			t0 := time.Now()
			out, err := db.UsageReport(ctx, q, page)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			times = append(times, time.Since(t0))
			rows = len(out)
		}
		slices.Sort(times)
		t.Logf("%-45s %4d rows  p50 %7.2f ms  max %7.2f ms", name, rows, ms(times[len(times)/2]), ms(times[len(times)-1]))
		if times[len(times)/2] > 100*time.Millisecond {
			t.Errorf("%s: p50 %v, want < 100 ms", name, times[len(times)/2])
		}
		plan, err := db.ExplainUsageReport(ctx, q, page)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&plans, "## %s\n\np50 %.2f ms, max %.2f ms over 15 runs, %d rows\n\n```\n%s```\n\n", name, ms(times[len(times)/2]), ms(times[len(times)-1]), rows, plan)
	}
	// The export streams: its heap stays flat however many records.
	team := int64(7)
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	exported := 0
	cw := csv.NewWriter(io.Discard)
	if err := db.ExportUsage(ctx, chorus.UsageFilter{TeamID: &team}, func(u *chorus.Usage) error {
		exported++
		return cw.Write([]string{u.RequestID, u.Model, strconv.Itoa(u.Status)})
	}); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-sampled
	t.Logf("export of team %d: %d records in %v (%.0f records/s); heap %d MB before, peak %d MB", team, exported,
		time.Since(t0).Round(time.Millisecond), float64(exported)/time.Since(t0).Seconds(), before.HeapAlloc>>20, peak>>20)
	if out := os.Getenv("CHORUS_BENCH_REPORTS_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(plans.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// monthStart is the first day of the month n months from t's.
func monthStart(t time.Time, n int) time.Time {
	return time.Date(t.Year(), t.Month()+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// loadUsageSQL generates n usage records over the 90 days before end, with
// benchRecord's shape, not yet rolled up (the test runs the rollup worker).
// The indexes the insert would maintain row by row are built after it.
func loadUsageSQL(n int, end time.Time) []string {
	span := 90 * 24 * 3600.0 / float64(n)
	gen := fmt.Sprintf(`INSERT INTO usage_records (record_key, request_id, response_id, key_id, user_id, team_id, model, deployment, provider,
	endpoint, stream, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttft_ms, status,
	error_code, cost, route, attempts, created_at, revenue, provider_cost, saved, cache_hit, energy_wh, co2e_g, final, rolled, written_at)
SELECT 'bench-' || g, 'req-' || g, 'chatcmpl-' || g, k, 1 + k %% 120, 1 + k %% 50, 'model-' || m, 'model-' || m || '-' || (g %% 2),
	(ARRAY['openai','anthropic','gemini','simulator'])[1 + m %% 4], 'chat', g %% 3 = 0, 100 + g %% 900, 20 + g %% 400, 0, 0, 0,
	50 + (g * 31337) %% 5000, CASE WHEN g %% 3 = 0 THEN 10 + (g * 17) %% 300 ELSE 0 END,
	CASE WHEN g %% 50 = 0 THEN 429 WHEN g %% 97 = 0 THEN 500 ELSE 200 END, '', 1000 + g %% 5000, '', '[]',
	TIMESTAMPTZ '%s' - make_interval(secs => g * %g), 1000 + g %% 5000, 1000 + g %% 5000, 0, g %% 10 = 0, 0.3, 0.12, 1, 0, now()
FROM (SELECT g, 1 + (g * 7919) %% 200 AS k, ((1 + (g * 7919) %% 200) + g %% 2) %% 10 AS m FROM generate_series(1::bigint, %d) AS g) s`,
		end.Format(time.RFC3339), span, n)
	return []string{`TRUNCATE usage_records, usage_hourly, usage_daily, usage_monthly`, `SET work_mem = '256MB'`,
		`DROP INDEX IF EXISTS usage_records_record_key`, `DROP INDEX IF EXISTS usage_records_created_at`,
		`DROP INDEX IF EXISTS usage_records_key_id`, `DROP INDEX IF EXISTS usage_records_user_id`,
		`DROP INDEX IF EXISTS usage_records_unrolled`,
		gen,
		`CREATE UNIQUE INDEX usage_records_record_key ON usage_records (record_key, created_at)`, // as migration 0020 made them
		`CREATE INDEX usage_records_created_at ON usage_records (created_at)`,
		`CREATE INDEX usage_records_key_id ON usage_records (key_id, id)`,
		`CREATE INDEX usage_records_user_id ON usage_records (user_id, id)`,
		`CREATE INDEX usage_records_unrolled ON usage_records (id) WHERE rolled = 0`,
		`RESET work_mem`, `ANALYZE usage_records`}
}

// checkBenchRollups compares the rollups with brute-force sums of the
// records: per model (the whole range, which the report reads from the
// monthly rollups) and per hour (the hourly ones).
func checkBenchRollups(t *testing.T, ctx context.Context, db *store.DB, conn *sql.Conn) {
	t.Helper()
	type sums struct{ requests, errors, tokens, cost int64 }
	brute := func(q string) map[string]sums {
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]sums{}
		for rows.Next() {
			var k string
			var s sums
			if err := rows.Scan(&k, &s.requests, &s.errors, &s.tokens, &s.cost); err != nil {
				t.Fatal(err)
			}
			out[k] = s
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	const agg = `COUNT(*), COUNT(*) FILTER (WHERE status >= 400), SUM(input_tokens + output_tokens), SUM(cost) FROM usage_records`
	byModel := brute(`SELECT model, ` + agg + ` GROUP BY model`)
	byHour := brute(`SELECT to_char(date_trunc('hour', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"'), ` + agg + ` GROUP BY 1`)
	for _, c := range []struct {
		name string
		q    chorus.UsageQuery
		want map[string]sums
		key  func(*chorus.UsageRow) string
	}{
		{"by model", chorus.UsageQuery{GroupBy: []string{chorus.DimModel}}, byModel, func(r *chorus.UsageRow) string { return *r.Model }},
		{"by hour", chorus.UsageQuery{Interval: chorus.IntervalHour}, byHour, func(r *chorus.UsageRow) string { return r.Bucket.Format(time.RFC3339) }},
	} {
		got := map[string]sums{}
		for p := (chorus.Page{Limit: chorus.MaxPageSize}); ; {
			rows, err := db.UsageReport(ctx, c.q, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				got[c.key(r)] = sums{r.Requests, r.Errors, r.InputTokens + r.OutputTokens, r.Cost}
			}
			if len(rows) < p.Limit {
				break
			}
			p.After = rows[len(rows)-1].ID
		}
		if len(got) != len(c.want) {
			t.Fatalf("rollups %s: %d rows, the records give %d", c.name, len(got), len(c.want))
		}
		for k, w := range c.want {
			if got[k] != w {
				t.Fatalf("rollups %s %s: %+v, the records give %+v", c.name, k, got[k], w)
			}
		}
		t.Logf("rollups %s: the %d rows equal the records' sums", c.name, len(got))
	}
}
