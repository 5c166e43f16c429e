package store_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

var usageEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// usageRecord returns a record whose fields all derive from i.
func usageRecord(i int, keyID, userID int64, at time.Time) chorus.Usage {
	return chorus.Usage{
		RequestID: fmt.Sprintf("req-%06d", i), ResponseID: fmt.Sprintf("chatcmpl-%06d", i), KeyID: keyID, UserID: userID,
		Model: "gpt-4o", Deployment: "openai-gpt-4o", Provider: chorus.ProviderOpenAI, Endpoint: "chat",
		Stream: i%2 == 0, InputTokens: int64(100 + i), OutputTokens: int64(i), LatencyMS: float64(i) + 0.25,
		TTFTMS: float64(i%100) / 4, Status: 200 + i%3, ErrorCode: map[bool]string{true: "upstream"}[i%7 == 0],
		Cost: int64(i) * 1000, CreatedAt: at,
		CachedInputTokens: int64(i % 50), CacheWriteTokens: int64(i % 30), ReasoningTokens: int64(i % 2),
	}
}

func TestInsertUsage(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("Batches", func(t *testing.T) {
			db := MustOpenDB(t, b)
			const n = 5000
			recs := make([]chorus.Usage, n)
			for i := range recs {
				recs[i] = usageRecord(i, int64(1+i%5), int64(1+i%2), usageEpoch.Add(time.Duration(i)*time.Second))
			}
			// One call of 2,000 (several statements), then batches of 1,000 and 1.
			for _, batch := range [][]chorus.Usage{recs[:2000], recs[2000:3000], recs[3000:4999], recs[4999:]} {
				if err := db.InsertUsage(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := db.CountUsage(ctx); err != nil || got != n {
				t.Fatalf("CountUsage: got %d, %v; want %d", got, err, n)
			}
			var got []*chorus.Usage
			page := chorus.Page{Limit: chorus.MaxPageSize}
			for {
				items, err := db.ListUsage(ctx, chorus.UsageFilter{}, page)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, items...)
				if len(items) < page.Limit {
					break
				}
				page.After = items[len(items)-1].ID
			}
			if len(got) != n {
				t.Fatalf("listed %d records, want %d", len(got), n)
			}
			for i, u := range got {
				want := recs[i]
				want.ID = u.ID
				if !reflect.DeepEqual(*u, want) {
					t.Fatalf("record %d:\n got %+v\nwant %+v", i, *u, want)
				}
			}
		})

		t.Run("Idempotent", func(t *testing.T) {
			db := MustOpenDB(t, b)
			recs := make([]chorus.Usage, 6)
			for i := range recs {
				recs[i] = usageRecord(i, 1, 1, usageEpoch)
				recs[i].Key = fmt.Sprintf("key-%d", i%3) // three keyed records, each twice in the batch
			}
			recs[5].Key = "" // and keyless ones, which are always stored
			recs[4].Key = ""
			if err := db.InsertUsage(ctx, recs); err != nil {
				t.Fatal(err)
			}
			// The batch again, as a retry after a lost commit would write it.
			if err := db.InsertUsage(ctx, recs); err != nil {
				t.Fatal(err)
			}
			// Same keys, same request ID: one record per key, whatever the request IDs say.
			if got, err := db.CountUsage(ctx); err != nil || got != 3+4 {
				t.Fatalf("CountUsage: got %d, %v; want 7 (3 keyed once, 2 keyless twice)", got, err)
			}
			items, err := db.ListUsage(ctx, chorus.UsageFilter{}, chorus.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if items[0].RequestID != "req-000000" || items[1].RequestID != "req-000001" || items[2].RequestID != "req-000002" {
				t.Fatalf("the first writes of each key must be the ones kept: %s %s %s", items[0].RequestID, items[1].RequestID, items[2].RequestID)
			}
		})

		t.Run("Empty", func(t *testing.T) {
			db := MustOpenDB(t, b)
			if err := db.InsertUsage(ctx, nil); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("DefaultTime", func(t *testing.T) {
			now := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC)
			db := MustOpenDB(t, b, withNow(func() time.Time { return now }))
			if err := db.InsertUsage(ctx, []chorus.Usage{usageRecord(1, 1, 1, time.Time{})}); err != nil {
				t.Fatal(err)
			}
			got, err := db.ListUsage(ctx, chorus.UsageFilter{}, chorus.Page{})
			if err != nil || len(got) != 1 {
				t.Fatalf("got %v, %v", got, err)
			}
			if !got[0].CreatedAt.Equal(now) {
				t.Errorf("CreatedAt: got %v, want %v", got[0].CreatedAt, now)
			}
		})

		t.Run("Concurrent", func(t *testing.T) {
			// Eight writers at once: on SQLite they queue for the one write
			// connection instead of failing with SQLITE_BUSY. Half of them
			// go through a second handle on the same database, as another
			// process would, and wait on the database's lock instead.
			dsn := b.newDSN(t)
			db := mustOpen(t, dsn)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			dbs := []*store.DB{db, mustOpen(t, dsn)}
			const writers, batches, size = 8, 25, 40
			var wg sync.WaitGroup
			errs := make(chan error, writers*batches)
			for w := range writers {
				wg.Go(func() {
					for j := range batches {
						recs := make([]chorus.Usage, size)
						for i := range recs {
							recs[i] = usageRecord(w*10000+j*100+i, int64(w+1), 1, usageEpoch)
						}
						if err := dbs[w%2].InsertUsage(ctx, recs); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			// Readers at the same time must not disturb the writers.
			stop := make(chan struct{})
			var rg sync.WaitGroup
			for range 2 {
				rg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := db.CountUsage(ctx); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			rg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got, err := db.CountUsage(ctx); err != nil || got != writers*batches*size {
				t.Fatalf("CountUsage: got %d, %v; want %d", got, err, writers*batches*size)
			}
		})

		t.Run("Filters", func(t *testing.T) {
			db := MustOpenDB(t, b)
			// 60 records, one a minute; key 1+i%3, user 1+i%2.
			var recs []chorus.Usage
			for i := range 60 {
				recs = append(recs, usageRecord(i, int64(1+i%3), int64(1+i%2), usageEpoch.Add(time.Duration(i)*time.Minute)))
			}
			if err := db.InsertUsage(ctx, recs); err != nil {
				t.Fatal(err)
			}
			match := func(f chorus.UsageFilter) []string {
				var out []string
				for _, r := range recs {
					if (f.KeyID == nil || r.KeyID == *f.KeyID) && (f.UserID == nil || r.UserID == *f.UserID) &&
						(f.ResponseID == "" || r.ResponseID == f.ResponseID) &&
						(f.Since.IsZero() || !r.CreatedAt.Before(f.Since)) && (f.Until.IsZero() || r.CreatedAt.Before(f.Until)) {
						out = append(out, r.RequestID)
					}
				}
				return out
			}
			tests := []struct {
				name string
				f    chorus.UsageFilter
				want int
			}{
				{"None", chorus.UsageFilter{}, 60},
				{"Key", chorus.UsageFilter{KeyID: ptr[int64](2)}, 20},
				{"User", chorus.UsageFilter{UserID: ptr[int64](1)}, 30},
				{"KeyAndUser", chorus.UsageFilter{KeyID: ptr[int64](1), UserID: ptr[int64](1)}, 10},
				{"SinceInclusive", chorus.UsageFilter{Since: usageEpoch.Add(50 * time.Minute)}, 10},
				{"UntilExclusive", chorus.UsageFilter{Until: usageEpoch.Add(10 * time.Minute)}, 10},
				{"Window", chorus.UsageFilter{Since: usageEpoch.Add(10 * time.Minute), Until: usageEpoch.Add(20 * time.Minute)}, 10},
				{"WindowSubMinute", chorus.UsageFilter{Since: usageEpoch.Add(10*time.Minute + time.Microsecond), Until: usageEpoch.Add(11*time.Minute + time.Microsecond)}, 1},
				{"OtherZone", chorus.UsageFilter{Since: usageEpoch.Add(30 * time.Minute).In(time.FixedZone("X", -5*3600))}, 30},
				{"UserAndWindow", chorus.UsageFilter{UserID: ptr[int64](2), Since: usageEpoch.Add(10 * time.Minute), Until: usageEpoch.Add(20 * time.Minute)}, 5},
				{"ResponseID", chorus.UsageFilter{ResponseID: "chatcmpl-000007"}, 1},
				{"ResponseIDAndOtherUser", chorus.UsageFilter{ResponseID: "chatcmpl-000007", UserID: ptr[int64](1)}, 0},
				{"NoMatch", chorus.UsageFilter{KeyID: ptr[int64](9)}, 0},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var got []string
					page := chorus.Page{Limit: 7}
					for {
						items, err := db.ListUsage(ctx, tt.f, page)
						if err != nil {
							t.Fatal(err)
						}
						for _, u := range items {
							got = append(got, u.RequestID)
						}
						if len(items) < page.Limit {
							break
						}
						page.After = items[len(items)-1].ID
					}
					want := match(tt.f)
					if len(want) != tt.want {
						t.Fatalf("test expectation: %d records match, case says %d", len(want), tt.want)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("got %v, want %v", got, want)
					}
				})
			}
		})
	})
}

// BenchmarkInsertUsage measures one InsertUsage call of 256 records, as the
// usage writer sends them.
func BenchmarkInsertUsage(b *testing.B) {
	eachDBBench(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		db := MustOpenDB(b, be)
		recs := make([]chorus.Usage, 256)
		for i := range recs {
			recs[i] = usageRecord(i, 1, 1, usageEpoch)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := db.InsertUsage(ctx, recs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkInsertUsageParallel measures batches of 64 records from many
// goroutines at once, the contention a busy instance's writers produce.
func BenchmarkInsertUsageParallel(b *testing.B) {
	eachDBBench(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		db := MustOpenDB(b, be)
		recs := make([]chorus.Usage, 64)
		for i := range recs {
			recs[i] = usageRecord(i, 1, 1, usageEpoch)
		}
		b.SetParallelism(4)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.InsertUsage(ctx, recs); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	})
}
