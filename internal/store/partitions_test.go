package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// TestUsagePartitionRetention: a month past the retention whose records
// are all rolled is dropped whole; one with a record not rolled yet is kept
// until it is; the rollups keep the dropped records' sums. On SQLite there
// are no partitions and maintenance does nothing.
func TestUsagePartitionRetention(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		now := time.Now().UTC()
		m0 := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		if b.name != store.DialectPostgres {
			rep, err := db.MaintainUsagePartitions(ctx, now, 3, now)
			if err != nil || len(rep.Created)+len(rep.Dropped)+len(rep.Kept) != 0 {
				t.Fatalf("SQLite: %+v, %v; want nothing done", rep, err)
			}
			return
		}
		name := func(m time.Time) string { return "usage_records_p" + m.Format("200601") }

		// The migration made this month's and the next 3; 2 more ahead.
		rep, err := db.MaintainUsagePartitions(ctx, now, 5, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{name(m0.AddDate(0, 4, 0)), name(m0.AddDate(0, 5, 0))}; !slices.Equal(rep.Created, want) {
			t.Fatalf("created %v, want %v", rep.Created, want)
		}
		// Two old months, A and B.
		a, bm := m0.AddDate(0, -6, 0), m0.AddDate(0, -5, 0)
		rep, err = db.MaintainUsagePartitions(ctx, a, 1, time.Time{})
		if err != nil || !slices.Equal(rep.Created, []string{name(a), name(bm)}) {
			t.Fatalf("created %v, %v; want %s, %s", rep.Created, err, name(a), name(bm))
		}
		rec := func(i int, at time.Time) chorus.Usage {
			return chorus.Usage{Key: fmt.Sprintf("k%d", i), RequestID: fmt.Sprintf("r%d", i), KeyID: 1, UserID: 1, TeamID: 1,
				Model: "m", Endpoint: "/v1/chat/completions", Status: 200, Cost: 10, CreatedAt: at}
		}
		if err := db.InsertUsage(ctx, []chorus.Usage{rec(1, a.Add(time.Hour)), rec(2, a.Add(48*time.Hour)), rec(3, bm.Add(time.Hour)), rec(4, now)}); err != nil {
			t.Fatal(err)
		}
		rollAll(t, db, store.RollOptions{})
		// B gets a record the rollups do not have yet.
		if err := db.InsertUsage(ctx, []chorus.Usage{rec(5, bm.Add(2*time.Hour))}); err != nil {
			t.Fatal(err)
		}
		before := m0.AddDate(0, -4, 0).Add(time.Hour) // A and B wholly older
		rep, err = db.MaintainUsagePartitions(ctx, now, 3, before)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Dropped, []string{name(a)}) || !slices.Equal(rep.Kept, []string{name(bm)}) {
			t.Fatalf("dropped %v, kept %v; want %s dropped, %s kept", rep.Dropped, rep.Kept, name(a), name(bm))
		}
		if n, err := db.CountUsage(ctx); err != nil || n != 3 {
			t.Fatalf("%d records left (%v), want 3", n, err)
		}
		// A month not wholly past the retention is never dropped.
		rollAll(t, db, store.RollOptions{})
		rep, err = db.MaintainUsagePartitions(ctx, now, 3, bm.Add(24*time.Hour))
		if err != nil || len(rep.Dropped) != 0 {
			t.Fatalf("dropped %v, %v; want none (B ends after the cut)", rep.Dropped, err)
		}
		rep, err = db.MaintainUsagePartitions(ctx, now, 3, before)
		if err != nil || !slices.Equal(rep.Dropped, []string{name(bm)}) {
			t.Fatalf("dropped %v, %v; want %s once all rolled", rep.Dropped, err, name(bm))
		}
		if n, err := db.CountUsage(ctx); err != nil || n != 1 {
			t.Fatalf("%d records left (%v), want 1", n, err)
		}
		rows, err := db.UsageReport(ctx, chorus.UsageQuery{Interval: chorus.IntervalDay}, chorus.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var requests int64
		for _, r := range rows {
			requests += r.Requests
		}
		if requests != 5 {
			t.Fatalf("rollups hold %d requests, want all 5", requests)
		}
		// Backups count usage_records once, not its partitions again.
		counts, err := db.TableCounts(ctx)
		if err != nil || counts["usage_records"] != 1 {
			t.Fatalf("table counts %v, %v; want usage_records: 1", counts, err)
		}
		for name := range counts {
			if strings.HasPrefix(name, "usage_records_") {
				t.Errorf("table counts list the partition %s", name)
			}
		}
		// Records can still be written to the current month.
		if err := db.InsertUsage(ctx, []chorus.Usage{rec(6, now)}); err != nil {
			t.Fatal(err)
		}
		// A record of a month without a partition goes to the DEFAULT one;
		// that month's partition then cannot be created (reported), the
		// others still are.
		far := m0.AddDate(0, 8, 0)
		if err := db.InsertUsage(ctx, []chorus.Usage{rec(7, far.Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		rep, err = db.MaintainUsagePartitions(ctx, now, 8, time.Time{})
		if err == nil || !strings.Contains(err.Error(), name(far)) {
			t.Fatalf("err = %v; want one naming %s", err, name(far))
		}
		if want := []string{name(m0.AddDate(0, 6, 0)), name(m0.AddDate(0, 7, 0))}; !slices.Equal(rep.Created, want) {
			t.Fatalf("created %v, want %v", rep.Created, want)
		}
	})
}
