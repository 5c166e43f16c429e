package analytics_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/analytics"
	"github.com/chorusgw/chorus/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clock is a settable clock shared by the store and the worker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func openDB(t *testing.T, clk *clock) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "chorus.db"), store.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func record(key string, team int64, at time.Time, cost int64, wh float64) chorus.Usage {
	return chorus.Usage{Key: key, RequestID: key, TeamID: team, Model: "m", Endpoint: "chat", Status: 200,
		InputTokens: 500, OutputTokens: 500, Cost: cost, ProviderCost: cost, Revenue: cost, EnergyWh: wh, CreatedAt: at}
}

func TestWorker(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)}
	db := openDB(t, clk)
	reg := prometheus.NewRegistry()
	m := analytics.NewMetrics(reg)
	var fired []*chorus.CostAlertFiring
	w := analytics.NewWorker(db, analytics.Options{Batch: 3, Retention: 48 * time.Hour, HourlyRetention: 72 * time.Hour,
		Metrics: m, Now: clk.now, Fired: func(f *chorus.CostAlertFiring) { fired = append(fired, f) }})

	var recs []chorus.Usage
	for i := range 10 {
		recs = append(recs, record("r"+string(rune('a'+i)), 1, clk.now().Add(-time.Duration(i)*12*time.Hour), 1000, 0.5))
	}
	if err := db.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	t.Run("CatchUp", func(t *testing.T) {
		lag, err := w.RollupLag(ctx)
		if err != nil || lag != 108*time.Hour {
			t.Fatalf("lag = %v, %v; want 108h, the oldest record's age", lag, err)
		}
		if n := w.CatchUp(ctx); n != 10 {
			t.Fatalf("rolled %d, want 10 (in batches of 3)", n)
		}
		if got := testutil.ToFloat64(m.Lag()); got != 0 {
			t.Errorf("chorus_rollup_lag_seconds = %g, want 0 when caught up", got)
		}
		if n := w.CatchUp(ctx); n != 0 {
			t.Fatalf("rolled %d again, want 0", n)
		}
	})
	t.Run("Retention", func(t *testing.T) {
		w.Purge(ctx)
		if n, _ := db.CountUsage(ctx); n != 5 {
			t.Fatalf("%d raw records left, want the 5 not older than 48h", n)
		}
		rows, err := db.UsageReport(ctx, chorus.UsageQuery{Interval: chorus.IntervalDay}, chorus.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, r := range rows {
			n += r.Requests
		}
		if n != 10 {
			t.Fatalf("daily rollups count %d requests, want all 10", n)
		}
	})
	t.Run("AlertsFireOncePerPeriod", func(t *testing.T) {
		if _, err := db.CreateCostAlert(ctx, &chorus.CostAlert{Name: "daily spend", Scope: chorus.AlertGlobal, Metric: chorus.AlertCost,
			Period: chorus.PeriodDay, Threshold: 1500, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateCostAlert(ctx, &chorus.CostAlert{Name: "efficiency", Scope: chorus.AlertModel, Model: "m",
			Metric: chorus.AlertWhPer1kTokens, Period: chorus.PeriodMonth, Threshold: 0.6, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		// Today has two records (2000 > 1500), yesterday two too: both days
		// fire; the month's 0.5 Wh per 1,000 tokens stays under 0.6.
		first := w.Alerts().Evaluate(ctx)
		if len(first) != 2 || len(fired) != 2 {
			t.Fatalf("fired %d (%d heard), want today and yesterday", len(first), len(fired))
		}
		if again := w.Alerts().Evaluate(ctx); len(again) != 0 {
			t.Fatalf("fired %d again, want none: once per period", len(again))
		}
		if got := testutil.ToFloat64(m.Fired().WithLabelValues("global", "cost", "day")); got != 2 {
			t.Errorf("chorus_cost_alerts_fired_total = %g, want 2", got)
		}
		var out strings.Builder
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			out.WriteString(mf.GetName() + "\n")
		}
		for _, name := range []string{"chorus_cost_alert_threshold", "chorus_cost_alert_value", "chorus_rollup_lag_seconds"} {
			if !strings.Contains(out.String(), name) {
				t.Errorf("%s not exported", name)
			}
		}
		if got := testutil.ToFloat64(m.Value().WithLabelValues("efficiency", "model", "wh_per_1k_tokens", "month")); got != 0.5 {
			t.Errorf("efficiency value = %g, want 0.5", got)
		}
		// A worse month: 10 Wh on 1,000 tokens now puts the month above 0.6.
		if err := db.InsertUsage(ctx, []chorus.Usage{record("hot", 1, clk.now(), 1, 10)}); err != nil {
			t.Fatal(err)
		}
		w.CatchUp(ctx)
		fs := w.Alerts().Evaluate(ctx)
		if len(fs) != 1 || fs[0].Metric != chorus.AlertWhPer1kTokens {
			t.Fatalf("fired %+v, want the efficiency target", fs)
		}
	})
	t.Run("Run", func(t *testing.T) {
		if err := db.InsertUsage(ctx, []chorus.Usage{record("late", 2, clk.now(), 1, 0)}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if lag, _ := w.RollupLag(ctx); lag == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Run did not roll the new record")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
	})
}

// partitionSpy is a store that partitions usage records: it hears the
// worker's maintenance calls.
type partitionSpy struct {
	*store.DB
	calls []time.Time // each call's before
	ahead int
}

func (p *partitionSpy) MaintainUsagePartitions(ctx context.Context, now time.Time, ahead int, before time.Time) (store.PartitionReport, error) {
	p.calls = append(p.calls, before)
	p.ahead = ahead
	return p.DB.MaintainUsagePartitions(ctx, now, ahead, before)
}

func TestWorkerMaintainsPartitions(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)}
	spy := &partitionSpy{DB: openDB(t, clk)}
	analytics.NewWorker(spy, analytics.Options{Retention: 90 * 24 * time.Hour, Now: clk.now}).Purge(ctx)
	if len(spy.calls) != 1 || !spy.calls[0].Equal(clk.now().Add(-90*24*time.Hour)) || spy.ahead != 3 {
		t.Fatalf("maintenance calls %v (ahead %d); want one, before = now - retention, 3 months ahead", spy.calls, spy.ahead)
	}
	// Without a retention: partitions are still created, none dropped.
	spy.calls = nil
	analytics.NewWorker(spy, analytics.Options{Now: clk.now}).Purge(ctx)
	if len(spy.calls) != 1 || !spy.calls[0].IsZero() {
		t.Fatalf("maintenance calls %v; want one with a zero before (keep for ever)", spy.calls)
	}
}
