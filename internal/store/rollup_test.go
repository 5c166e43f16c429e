package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// rollWorkload makes random usage records over three days, a few of each
// dimension, with refused requests (model "") and errors among them.
type rollWorkload struct {
	rng  *rand.Rand
	n    int
	base time.Time
}

func (w *rollWorkload) record(team int64) chorus.Usage {
	w.n++
	r := w.rng
	models := []string{"gpt-4o", "claude", "sim", ""}
	u := chorus.Usage{
		RequestID: fmt.Sprintf("req-%d", w.n), Key: fmt.Sprintf("key-%d-%d", team, w.n),
		KeyID: int64(1 + r.IntN(3)), UserID: int64(1 + r.IntN(2)), TeamID: team,
		Model: models[r.IntN(len(models))], Endpoint: "chat", Stream: r.IntN(2) == 0,
		InputTokens: int64(r.IntN(5000)), OutputTokens: int64(r.IntN(2000)),
		LatencyMS: r.ExpFloat64() * 800, Status: []int{200, 200, 200, 400, 429, 502}[r.IntN(6)],
		Cost: int64(r.IntN(100000)), CreatedAt: w.base.Add(time.Duration(r.IntN(72*3600)) * time.Second),
		CacheHit: r.IntN(5) == 0, EnergyWh: r.Float64() * 3, CO2eGrams: r.Float64(),
	}
	if u.Model != "" {
		u.Deployment = u.Model + "-" + []string{"a", "b"}[r.IntN(2)]
		u.Provider = []string{"openai", "anthropic"}[r.IntN(2)]
	}
	u.CachedInputTokens, u.ReasoningTokens = u.InputTokens/3, u.OutputTokens/4
	u.Revenue, u.ProviderCost, u.Saved = u.Cost, u.Cost/2, int64(r.IntN(1000))
	if u.Stream {
		u.TTFTMS = r.ExpFloat64() * 200
	}
	if u.Status != 200 {
		u.ErrorCode = "err"
	}
	return u
}

// rollAll rolls until caught up.
func rollAll(tb testing.TB, db *store.DB, o store.RollOptions) {
	tb.Helper()
	for range 10000 {
		n, err := db.RollUsage(context.Background(), o)
		if err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	tb.Fatal("rollup never caught up")
}

// assertRollupsExact compares the hourly and daily rollups with the
// brute-force sums of the raw records: every counter equal, the float
// sums within rounding, the percentiles equal to those of a sketch of the
// raw values.
func assertRollupsExact(tb testing.TB, db *store.DB) {
	tb.Helper()
	ctx := context.Background()
	for _, interval := range []string{chorus.IntervalHour, chorus.IntervalDay} {
		type agg struct {
			row      chorus.UsageRow
			lat, tt  chorus.Sketch
			latSum   float64
			ttSum    float64
			ttftSeen int64
		}
		want := map[string]*agg{}
		err := db.ExportUsage(ctx, chorus.UsageFilter{}, func(u *chorus.Usage) error {
			b := u.CreatedAt.UTC().Truncate(time.Hour)
			if interval == chorus.IntervalDay {
				b = u.CreatedAt.UTC().Truncate(24 * time.Hour)
			}
			k := fmt.Sprintf("%s|%d|%d|%d|%s|%s|%s|%d", b.Format(time.RFC3339), u.TeamID, u.KeyID, u.UserID, u.Model, u.Deployment, u.Provider, u.Status)
			a := want[k]
			if a == nil {
				a = &agg{}
				want[k] = a
			}
			r := &a.row
			r.Requests++
			if u.Status >= 400 {
				r.Errors++
			}
			r.InputTokens += u.InputTokens
			r.OutputTokens += u.OutputTokens
			r.CachedInputTokens += u.CachedInputTokens
			r.CacheWriteTokens += u.CacheWriteTokens
			r.ReasoningTokens += u.ReasoningTokens
			r.Cost += u.Cost
			r.Revenue += u.Revenue
			r.ProviderCost += u.ProviderCost
			r.Saved += u.Saved
			if u.CacheHit {
				r.CacheHits++
			}
			r.EnergyWh += u.EnergyWh
			r.CO2eGrams += u.CO2eGrams
			a.latSum += u.LatencyMS
			a.lat.Add(u.LatencyMS)
			if u.TTFTMS > 0 {
				a.ttftSeen++
				a.ttSum += u.TTFTMS
				a.tt.Add(u.TTFTMS)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		got := map[string]*chorus.UsageRow{}
		q := chorus.UsageQuery{Interval: interval, GroupBy: chorus.UsageDims(), Percentiles: true}
		for p := (chorus.Page{Limit: chorus.MaxPageSize}); ; {
			rows, err := db.UsageReport(ctx, q, p)
			if err != nil {
				tb.Fatal(err)
			}
			for _, r := range rows {
				k := fmt.Sprintf("%s|%d|%d|%d|%s|%s|%s|%d", r.Bucket.Format(time.RFC3339), *r.TeamID, *r.KeyID, *r.UserID, *r.Model, *r.Deployment, *r.Provider, *r.Status)
				got[k] = r
			}
			if len(rows) < p.Limit {
				break
			}
			p.After = rows[len(rows)-1].ID
		}
		if len(got) != len(want) {
			tb.Fatalf("%s: %d rollup rows, want %d", interval, len(got), len(want))
		}
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }
		for k, w := range want {
			g := got[k]
			if g == nil {
				tb.Fatalf("%s: no rollup row %s", interval, k)
			}
			r := w.row
			if g.Requests != r.Requests || g.Errors != r.Errors || g.InputTokens != r.InputTokens || g.OutputTokens != r.OutputTokens ||
				g.CachedInputTokens != r.CachedInputTokens || g.CacheWriteTokens != r.CacheWriteTokens || g.ReasoningTokens != r.ReasoningTokens ||
				g.Cost != r.Cost || g.Revenue != r.Revenue || g.ProviderCost != r.ProviderCost || g.Saved != r.Saved || g.CacheHits != r.CacheHits ||
				g.Margin != r.Revenue-r.ProviderCost {
				tb.Fatalf("%s %s: rollup %+v, want sums %+v", interval, k, *g, r)
			}
			if !near(g.EnergyWh, r.EnergyWh) || !near(g.CO2eGrams, r.CO2eGrams) || !near(g.LatencyMSMean*float64(r.Requests), w.latSum) {
				tb.Fatalf("%s %s: energy %g co2e %g latency mean %g, want %g %g %g", interval, k, g.EnergyWh, g.CO2eGrams, g.LatencyMSMean, r.EnergyWh, r.CO2eGrams, w.latSum/float64(r.Requests))
			}
			if *g.LatencyMSP50 != w.lat.Quantile(0.5) || *g.LatencyMSP99 != w.lat.Quantile(0.99) || *g.TTFTMSP95 != w.tt.Quantile(0.95) {
				tb.Fatalf("%s %s: percentiles %g %g %g, want %g %g %g", interval, k, *g.LatencyMSP50, *g.LatencyMSP99, *g.TTFTMSP95,
					w.lat.Quantile(0.5), w.lat.Quantile(0.99), w.tt.Quantile(0.95))
			}
		}
	}
}

func TestRollupsExact(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		team := fundedTeam(t, db, "rollups", 1<<50)
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		w := &rollWorkload{rng: rand.New(rand.NewPCG(seed, 15)), base: clk.now().Add(-48 * time.Hour)}
		roll := store.RollOptions{Batch: 37, FinalizeAfter: time.Minute}
		var batches [][]chorus.Usage
		var pending []chorus.Usage // strict records stored with their settlement, not yet completed
		errKilled := errors.New("killed mid-batch")
		for step := range 300 {
			switch op := w.rng.IntN(10); {
			case op < 4: // the writer's batch
				batch := make([]chorus.Usage, 1+w.rng.IntN(150)) // from 64 records on, PostgreSQL takes them through COPY
				for i := range batch {
					batch[i] = w.record(team)
				}
				if err := db.InsertUsage(ctx, batch); err != nil {
					t.Fatal(err)
				}
				batches = append(batches, batch)
			case op == 4 && len(batches) > 0: // a batch replayed (a retry, the spool after a crash)
				if err := db.InsertUsage(ctx, batches[w.rng.IntN(len(batches))]); err != nil {
					t.Fatal(err)
				}
			case op == 5: // strict mode: the record stored with its settlement, completed later
				rec := w.record(team)
				ref := fmt.Sprintf("hold-%d", step)
				mustStrict(t, db, strictHold(ref, team, rec.Cost, clk.now().Add(time.Hour)))
				outs := mustStrict(t, db, strictSettle(ref, team, rec.Cost, &rec))
				if outs[0].Err != nil {
					t.Fatal(outs[0].Err)
				}
				rec.Status, rec.LatencyMS, rec.ErrorCode = 499, rec.LatencyMS+1000, "canceled"
				pending = append(pending, rec)
			case op == 6 && len(pending) > 0: // the writer completes a strict record (perhaps after the rollups took it)
				i := w.rng.IntN(len(pending))
				if err := db.InsertUsage(ctx, []chorus.Usage{pending[i]}); err != nil {
					t.Fatal(err)
				}
				pending = append(pending[:i], pending[i+1:]...)
			case op == 7: // the worker killed mid-batch: nothing of it stays
				o := roll
				o.BeforeCommit = func() error { return errKilled }
				if _, err := db.RollUsage(ctx, o); !errors.Is(err, errKilled) && err != nil {
					t.Fatal(err)
				}
			case op == 8:
				clk.add(time.Duration(w.rng.IntN(90)) * time.Second)
			default:
				if _, err := db.RollUsage(ctx, roll); err != nil {
					t.Fatal(err)
				}
			}
		}
		clk.add(2 * time.Minute) // strict records never completed are rolled as they are
		rollAll(t, db, roll)
		assertRollupsExact(t, db)
		if lag, err := db.UsageRollupLag(ctx); err != nil || lag != 0 {
			t.Fatalf("lag = %v, %v; want 0 when caught up", lag, err)
		}
		// Completions that come after their records were rolled change
		// neither.
		for _, rec := range pending {
			if err := db.InsertUsage(ctx, []chorus.Usage{rec}); err != nil {
				t.Fatal(err)
			}
		}
		rollAll(t, db, roll)
		assertRollupsExact(t, db)
	})
}

func TestRollupsConcurrent(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		w := &rollWorkload{rng: rand.New(rand.NewPCG(7, 7)), base: time.Now().Add(-24 * time.Hour)}
		batches := make([][]chorus.Usage, 40)
		for i := range batches {
			batches[i] = make([]chorus.Usage, 50)
			for j := range batches[i] {
				batches[i][j] = w.record(int64(1 + i%3))
			}
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		errs := make(chan error, 16)
		for g := range 3 { // writers, each batch written twice (a replay)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < len(batches); i += 3 {
					for range 2 {
						if err := db.InsertUsage(ctx, batches[i]); err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		var rollers sync.WaitGroup
		for range 2 { // two instances' workers
			rollers.Add(1)
			go func() {
				defer rollers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := db.RollUsage(ctx, store.RollOptions{Batch: 100}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		rollers.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		rollAll(t, db, store.RollOptions{})
		assertRollupsExact(t, db)
	})
}

func TestUsageReportValidation(t *testing.T) {
	at := time.Date(2030, 1, 1, 10, 30, 0, 0, time.UTC)
	for name, q := range map[string]chorus.UsageQuery{
		"ErrInterval":   {Interval: "week"},
		"ErrDimension":  {GroupBy: []string{"colour"}},
		"ErrTwice":      {GroupBy: []string{"model", "model"}},
		"ErrSinceHour":  {Since: at},
		"ErrSinceDay":   {Interval: chorus.IntervalDay, Since: at.Truncate(time.Hour)},
		"ErrUntilFirst": {Since: at.Truncate(time.Hour), Until: at.Truncate(time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			assertCode(t, store.ValidateUsageQuery(&q), chorus.EINVALID)
		})
	}
	t.Run("OK", func(t *testing.T) {
		q := chorus.UsageQuery{Interval: chorus.IntervalDay, GroupBy: []string{"model", "team"}, Since: at.Truncate(24 * time.Hour)}
		if err := store.ValidateUsageQuery(&q); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUsageRetention(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		w := &rollWorkload{rng: rand.New(rand.NewPCG(1, 2)), base: clk.now().Add(-72 * time.Hour)}
		recs := make([]chorus.Usage, 200)
		for i := range recs {
			recs[i] = w.record(1)
		}
		if err := db.InsertUsage(ctx, recs); err != nil {
			t.Fatal(err)
		}
		cut := clk.now().Add(-36 * time.Hour)
		// Not rolled yet: retention keeps them for the rollups.
		if n, err := db.PurgeUsage(ctx, cut, 1000); err != nil || n != 0 {
			t.Fatalf("purged %d, %v before the rollups took them; want 0", n, err)
		}
		rollAll(t, db, store.RollOptions{})
		before, err := db.UsageReport(ctx, chorus.UsageQuery{}, chorus.Page{})
		if err != nil || len(before) != 1 {
			t.Fatalf("report = %v, %v", before, err)
		}
		old := 0
		for _, r := range recs {
			if r.CreatedAt.Before(cut) {
				old++
			}
		}
		if n, err := db.PurgeUsage(ctx, cut, 1000); err != nil || n != int64(old) {
			t.Fatalf("purged %d, %v; want the %d records older than the cut", n, err, old)
		}
		if n, _ := db.CountUsage(ctx); n != int64(len(recs)-old) {
			t.Fatalf("%d records left, want %d", n, len(recs)-old)
		}
		after, err := db.UsageReport(ctx, chorus.UsageQuery{}, chorus.Page{})
		if err != nil || len(after) != 1 || after[0].Requests != before[0].Requests {
			t.Fatalf("report after the purge = %+v, %v; want the rollups kept (%d requests)", after, err, before[0].Requests)
		}
		// The rollups' own retention.
		n, err := db.PurgeRollups(ctx, clk.now().Add(-24*time.Hour), time.Time{})
		if err != nil || n == 0 {
			t.Fatalf("purged %d rollups, %v; want the old hourly ones", n, err)
		}
		daily, err := db.UsageReport(ctx, chorus.UsageQuery{Interval: chorus.IntervalDay}, chorus.Page{})
		if err != nil || len(daily) == 0 {
			t.Fatalf("daily report = %v, %v; want the daily rollups kept", daily, err)
		}
		var sum int64
		for _, r := range daily {
			sum += r.Requests
		}
		if sum != int64(len(recs)) {
			t.Fatalf("daily rollups hold %d requests, want %d", sum, len(recs))
		}
	})
}

// BenchmarkRollUsage measures the rollup worker's transaction: 5,000 new
// records (five models, two keys, an hour's spread) rolled into the
// hourly, daily and monthly levels and marked rolled.
func BenchmarkRollUsage(b *testing.B) {
	eachDBBench(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		db := MustOpenDB(b, be)
		const batch = 5000
		recs := make([]chorus.Usage, batch)
		next := 0
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for i := range recs {
				recs[i] = usageRecord(next, int64(1+next%2), 1, usageEpoch.Add(time.Duration(next%3600)*time.Second))
				recs[i].Model = fmt.Sprintf("model-%d", next%5)
				recs[i].Key = fmt.Sprintf("bench-%d", next)
				next++
			}
			if err := db.InsertUsage(ctx, recs); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			n, err := db.RollUsage(ctx, store.RollOptions{Batch: batch})
			if err != nil || n != batch {
				b.Fatalf("rolled %d, %v", n, err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
	})
}
