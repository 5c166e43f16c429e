package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// TestUsageReportLevels checks that a report over a long range, which
// reads whole months from usage_monthly and its edges from usage_daily and
// usage_hourly, equals the same report read from the finest table alone,
// and the brute-force sums of the raw records, over random ranges,
// groupings and filters.
func TestUsageReportLevels(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 21))
		// Four months and a half before the clock, months of 28 to 31 days.
		end := clk.now().Truncate(time.Hour)
		start := end.AddDate(0, 0, -135)
		w := &rollWorkload{rng: rng, base: start}
		var recs []chorus.Usage
		for range 6 {
			batch := make([]chorus.Usage, 400)
			for i := range batch {
				batch[i] = w.record(int64(1 + rng.IntN(2)))
				batch[i].CreatedAt = start.Add(time.Duration(rng.Int64N(int64(end.Sub(start)))))
			}
			if err := db.InsertUsage(ctx, batch); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, batch...)
		}
		rollAll(t, db, store.RollOptions{Batch: 500})

		// A range's ends: any hour, a day's start, a month's start, unbounded.
		at := func() time.Time {
			t0 := start.Add(-48*time.Hour + time.Duration(rng.Int64N(int64(end.Sub(start)+96*time.Hour))))
			switch rng.IntN(5) {
			case 0:
				return time.Time{}
			case 1:
				y, m, _ := t0.Date()
				return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
			case 2:
				return t0.Truncate(24 * time.Hour)
			default:
				return t0.Truncate(time.Hour)
			}
		}
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
		dims := chorus.UsageDims()
		for i := range 60 {
			q := chorus.UsageQuery{Since: at(), Until: at(), Percentiles: true}
			if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
				q.Since, q.Until = q.Until, q.Since
				if q.Since.Equal(q.Until) {
					q.Until = q.Until.Add(time.Hour)
				}
			}
			for _, d := range dims {
				if rng.IntN(4) == 0 {
					q.GroupBy = append(q.GroupBy, d)
				}
			}
			if rng.IntN(3) == 0 {
				team := int64(1 + rng.IntN(2))
				q.TeamID = &team
			}
			name := fmt.Sprintf("%d %s..%s by %v team %v", i, q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339), q.GroupBy, q.TeamID != nil)
			coarse, err := db.UsageReport(ctx, q, chorus.Page{Limit: chorus.MaxPageSize})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			fine, err := db.UsageReportFine(ctx, q, chorus.Page{Limit: chorus.MaxPageSize})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(coarse) != len(fine) {
				t.Fatalf("%s: %d rows, the finest table gives %d", name, len(coarse), len(fine))
			}
			var requests, cost int64
			for j, c := range coarse {
				f := fine[j]
				if reportRowKey(c) != reportRowKey(f) ||
					c.Requests != f.Requests || c.Errors != f.Errors || c.InputTokens != f.InputTokens || c.OutputTokens != f.OutputTokens ||
					c.CachedInputTokens != f.CachedInputTokens || c.ReasoningTokens != f.ReasoningTokens || c.Cost != f.Cost ||
					c.Revenue != f.Revenue || c.ProviderCost != f.ProviderCost || c.Saved != f.Saved || c.CacheHits != f.CacheHits {
					t.Fatalf("%s: row %d\ncoarse %+v\nfine   %+v", name, j, *c, *f)
				}
				if !near(c.EnergyWh, f.EnergyWh) || !near(c.CO2eGrams, f.CO2eGrams) || !near(c.LatencyMSMean, f.LatencyMSMean) || !near(c.TTFTMSMean, f.TTFTMSMean) {
					t.Fatalf("%s: row %d: float sums differ\ncoarse %+v\nfine   %+v", name, j, *c, *f)
				}
				for k, p := range [][2]*float64{{c.LatencyMSP50, f.LatencyMSP50}, {c.LatencyMSP95, f.LatencyMSP95}, {c.LatencyMSP99, f.LatencyMSP99},
					{c.TTFTMSP50, f.TTFTMSP50}, {c.TTFTMSP95, f.TTFTMSP95}, {c.TTFTMSP99, f.TTFTMSP99}} {
					if *p[0] != *p[1] {
						t.Fatalf("%s: row %d: percentile %d = %g, the finest table gives %g", name, j, k, *p[0], *p[1])
					}
				}
				requests += c.Requests
				cost += c.Cost
			}
			var wantReq, wantCost int64
			for _, r := range recs {
				if (q.Since.IsZero() || !r.CreatedAt.Before(q.Since)) && (q.Until.IsZero() || r.CreatedAt.Before(q.Until)) &&
					(q.TeamID == nil || r.TeamID == *q.TeamID) {
					wantReq++
					wantCost += r.Cost
				}
			}
			if requests != wantReq || cost != wantCost {
				t.Fatalf("%s: %d requests costing %d, the records hold %d costing %d", name, requests, cost, wantReq, wantCost)
			}
		}
	})
}

// reportRowKey is what identifies a report row: its grouped values.
func reportRowKey(r *chorus.UsageRow) string {
	s := ""
	for _, v := range []any{r.Bucket, r.TeamID, r.KeyID, r.UserID, r.Model, r.Deployment, r.Provider, r.Status} {
		switch p := v.(type) {
		case *time.Time:
			if p != nil {
				s += p.Format(time.RFC3339)
			}
		case *int64:
			if p != nil {
				s += fmt.Sprint(*p)
			}
		case *string:
			if p != nil {
				s += *p
			}
		case *int:
			if p != nil {
				s += fmt.Sprint(*p)
			}
		}
		s += "|"
	}
	return s
}
