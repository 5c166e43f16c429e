package store_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

// scoreRecord returns a score record whose fields derive from i.
func scoreRecord(i int, model, route, scorer string, value float64, at time.Time) chorus.ScoreRecord {
	return chorus.ScoreRecord{
		RequestID: fmt.Sprintf("req-%d", i), ResponseID: fmt.Sprintf("chatcmpl-%d", i), Model: model, Route: route,
		Deployment: model + "-dep", KeyID: int64(1 + i%3), UserID: int64(1 + i%2), Scorer: scorer, Value: value,
		Reason: fmt.Sprintf("reason %d", i), CreatedAt: at,
	}
}

func TestInsertScores(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			var recs []chorus.ScoreRecord
			for i := range 1203 { // three statements
				recs = append(recs, scoreRecord(i, "m"+fmt.Sprint(i%2), "", "json_valid", float64(i%11)/10, usageEpoch.Add(time.Duration(i)*time.Second)))
			}
			if err := db.InsertScores(ctx, recs); err != nil {
				t.Fatal(err)
			}
			var got []*chorus.ScoreRecord
			ids := walk(t, 100, func(r *chorus.ScoreRecord) int64 { return r.ID }, func(p chorus.Page) ([]*chorus.ScoreRecord, error) {
				items, err := db.ListScores(ctx, chorus.ScoreFilter{}, p)
				got = append(got, items...)
				return items, err
			})
			if len(ids) != len(recs) {
				t.Fatalf("listed %d records, want %d", len(ids), len(recs))
			}
			for i, r := range got {
				want := recs[i]
				want.ID = r.ID
				if !reflect.DeepEqual(*r, want) {
					t.Fatalf("record %d:\n got %+v\nwant %+v", i, *r, want)
				}
			}
		})

		t.Run("DefaultTime", func(t *testing.T) {
			now := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
			db := MustOpenDB(t, b, withNow(func() time.Time { return now }))
			if err := db.InsertScores(ctx, []chorus.ScoreRecord{scoreRecord(1, "m", "", "regex", 1, time.Time{})}); err != nil {
				t.Fatal(err)
			}
			got, err := db.ListScores(ctx, chorus.ScoreFilter{}, chorus.Page{})
			if err != nil || len(got) != 1 {
				t.Fatalf("got %v, %v", got, err)
			}
			if !got[0].CreatedAt.Equal(now) {
				t.Errorf("CreatedAt: got %v, want %v", got[0].CreatedAt, now)
			}
		})

		t.Run("ErrValue", func(t *testing.T) {
			db := MustOpenDB(t, b)
			for _, v := range []float64{-0.01, 1.01, math.NaN(), math.Inf(1)} {
				recs := []chorus.ScoreRecord{scoreRecord(1, "m", "", "regex", 1, usageEpoch), scoreRecord(2, "m", "", "regex", v, usageEpoch)}
				assertCode(t, db.InsertScores(ctx, recs), chorus.EINVALID)
			}
			got, err := db.ListScores(ctx, chorus.ScoreFilter{}, chorus.Page{})
			if err != nil || len(got) != 0 {
				t.Fatalf("after rejected inserts: got %d records (%v), want none (no half-writes)", len(got), err)
			}
		})

		t.Run("Filters", func(t *testing.T) {
			db := MustOpenDB(t, b)
			// 40 records a minute apart: model a/b alternating, route r1 for
			// the first 20 and "" after.
			var recs []chorus.ScoreRecord
			for i := range 40 {
				route := "r1"
				if i >= 20 {
					route = ""
				}
				recs = append(recs, scoreRecord(i, string(rune('a'+i%2)), route, "length", 1, usageEpoch.Add(time.Duration(i)*time.Minute)))
			}
			if err := db.InsertScores(ctx, recs); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name string
				f    chorus.ScoreFilter
				want int
			}{
				{"None", chorus.ScoreFilter{}, 40},
				{"ResponseID", chorus.ScoreFilter{ResponseID: "chatcmpl-7"}, 1},
				{"Model", chorus.ScoreFilter{Model: "a"}, 20},
				{"Route", chorus.ScoreFilter{Route: "r1"}, 20},
				{"ModelAndRoute", chorus.ScoreFilter{Model: "b", Route: "r1"}, 10},
				{"Window", chorus.ScoreFilter{Since: usageEpoch.Add(5 * time.Minute), Until: usageEpoch.Add(15 * time.Minute)}, 10},
				{"NoMatch", chorus.ScoreFilter{Model: "zzz"}, 0},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ids := walk(t, 7, func(r *chorus.ScoreRecord) int64 { return r.ID }, func(p chorus.Page) ([]*chorus.ScoreRecord, error) {
						return db.ListScores(ctx, tt.f, p)
					})
					if got := len(ids); got != tt.want {
						t.Errorf("got %d records, want %d", got, tt.want)
					}
				})
			}
		})
	})
}

func TestUpsertFeedback(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("CreateThenReplace", func(t *testing.T) {
			now := usageEpoch
			db := MustOpenDB(t, b, withNow(func() time.Time { return now }))
			f := &chorus.Feedback{ResponseID: "chatcmpl-1", RequestID: "req-1", KeyID: 3, UserID: 2, Model: "m", Route: "r",
				Rating: chorus.RatingUp, Comment: "good"}
			created, err := db.UpsertFeedback(ctx, f)
			if err != nil || !created {
				t.Fatalf("first: created %v, %v; want true", created, err)
			}
			if f.ID < 1 || !f.CreatedAt.Equal(now) || !f.UpdatedAt.Equal(now) {
				t.Fatalf("first: got %+v, want an ID and both times %v", f, now)
			}
			firstID := f.ID

			now = now.Add(time.Minute)
			g := &chorus.Feedback{ResponseID: "chatcmpl-1", RequestID: "req-1", KeyID: 3, UserID: 2, Model: "m", Route: "r",
				Score: ptr(0.25)}
			created, err = db.UpsertFeedback(ctx, g)
			if err != nil || created {
				t.Fatalf("second: created %v, %v; want false", created, err)
			}
			if g.ID != firstID || !g.CreatedAt.Equal(usageEpoch) || !g.UpdatedAt.Equal(now) {
				t.Fatalf("second: got ID %d created %v updated %v; want ID %d created %v updated %v",
					g.ID, g.CreatedAt, g.UpdatedAt, firstID, usageEpoch, now)
			}
			list, err := db.ListFeedback(ctx, chorus.FeedbackFilter{}, chorus.Page{})
			if err != nil || len(list) != 1 {
				t.Fatalf("list: %d rows (%v), want 1", len(list), err)
			}
			got := list[0]
			if got.Rating != "" || got.Score == nil || *got.Score != 0.25 || got.Comment != "" {
				t.Errorf("stored %+v: want the second feedback to replace the first (no rating, score 0.25, no comment)", got)
			}

			// Another key of the same user gets a row of its own.
			h := &chorus.Feedback{ResponseID: "chatcmpl-1", KeyID: 4, UserID: 2, Model: "m", Rating: chorus.RatingDown}
			if created, err := db.UpsertFeedback(ctx, h); err != nil || !created || h.ID == firstID {
				t.Fatalf("other key: created %v, ID %d, %v; want a new row", created, h.ID, err)
			}
		})

		t.Run("Concurrent", func(t *testing.T) {
			// Eight first feedbacks on one answer by one key at once: one row.
			db := MustOpenDB(t, b)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for i := range 8 {
				wg.Go(func() {
					f := &chorus.Feedback{ResponseID: "same", KeyID: 1, UserID: 1, Model: "m", Score: ptr(float64(i) / 10)}
					if _, err := db.UpsertFeedback(ctx, f); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			list, err := db.ListFeedback(ctx, chorus.FeedbackFilter{ResponseID: "same"}, chorus.Page{})
			if err != nil || len(list) != 1 {
				t.Fatalf("got %d rows (%v), want 1", len(list), err)
			}
		})

		t.Run("Errors", func(t *testing.T) {
			db := MustOpenDB(t, b)
			long := make([]rune, chorus.MaxFeedbackComment+1)
			for i := range long {
				long[i] = 'é'
			}
			tests := []struct {
				name string
				f    chorus.Feedback
			}{
				{"ErrResponseIDRequired", chorus.Feedback{Rating: chorus.RatingUp}},
				{"ErrRating", chorus.Feedback{ResponseID: "x", Rating: "meh"}},
				{"ErrScoreRange", chorus.Feedback{ResponseID: "x", Score: ptr(1.5)}},
				{"ErrScoreNaN", chorus.Feedback{ResponseID: "x", Score: ptr(math.NaN())}},
				{"ErrNothing", chorus.Feedback{ResponseID: "x"}},
				{"ErrCommentLong", chorus.Feedback{ResponseID: "x", Rating: chorus.RatingUp, Comment: string(long)}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, err := db.UpsertFeedback(ctx, &tt.f)
					assertCode(t, err, chorus.EINVALID)
				})
			}
			ok := chorus.Feedback{ResponseID: "x", Rating: chorus.RatingUp, Comment: string(long[:chorus.MaxFeedbackComment])}
			if _, err := db.UpsertFeedback(ctx, &ok); err != nil {
				t.Errorf("a comment of exactly %d characters: %v", chorus.MaxFeedbackComment, err)
			}
		})

		t.Run("ListFilters", func(t *testing.T) {
			db := MustOpenDB(t, b)
			for i := range 30 {
				f := &chorus.Feedback{ResponseID: fmt.Sprintf("r-%d", i), KeyID: int64(i % 3), UserID: int64(i % 2),
					Model: string(rune('a' + i%3)), Route: map[bool]string{true: "x"}[i < 10], Rating: chorus.RatingUp}
				if _, err := db.UpsertFeedback(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			tests := []struct {
				name string
				f    chorus.FeedbackFilter
				want int
			}{
				{"None", chorus.FeedbackFilter{}, 30},
				{"Model", chorus.FeedbackFilter{Model: "b"}, 10},
				{"Route", chorus.FeedbackFilter{Route: "x"}, 10},
				{"User", chorus.FeedbackFilter{UserID: ptr[int64](1)}, 15},
				{"ResponseID", chorus.FeedbackFilter{ResponseID: "r-4"}, 1},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ids := walk(t, 4, func(f *chorus.Feedback) int64 { return f.ID }, func(p chorus.Page) ([]*chorus.Feedback, error) {
						return db.ListFeedback(ctx, tt.f, p)
					})
					if len(ids) != tt.want {
						t.Errorf("got %d rows, want %d", len(ids), tt.want)
					}
				})
			}
		})
	})
}

func TestQualityAggregates(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		now := usageEpoch.Add(48 * time.Hour)
		db := MustOpenDB(t, b, withNow(func() time.Time { return now }))

		// Inside the window: model a on route r (json_valid 1, 0, 1; judge
		// 0.8), model a without a route (json_valid 1), model b on r
		// (judge 0.4). Outside: one score of a that must not count.
		in := usageEpoch.Add(24 * time.Hour)
		recs := []chorus.ScoreRecord{
			scoreRecord(1, "a", "r", "json_valid", 1, in),
			scoreRecord(2, "a", "r", "json_valid", 0, in),
			scoreRecord(3, "a", "r", "json_valid", 1, in),
			scoreRecord(4, "a", "r", "judge", 0.8, in),
			scoreRecord(5, "a", "", "json_valid", 1, in),
			scoreRecord(6, "b", "r", "judge", 0.4, in),
			scoreRecord(7, "a", "r", "json_valid", 0, usageEpoch),
		}
		if err := db.InsertScores(ctx, recs); err != nil {
			t.Fatal(err)
		}
		fbs := []chorus.Feedback{
			{ResponseID: "1", KeyID: 1, Model: "a", Route: "r", Rating: chorus.RatingUp},
			{ResponseID: "2", KeyID: 1, Model: "a", Route: "r", Rating: chorus.RatingDown},
			{ResponseID: "3", KeyID: 1, Model: "a", Route: "r", Score: ptr(0.5)},
			{ResponseID: "4", KeyID: 1, Model: "a", Route: "r", Rating: chorus.RatingDown, Score: ptr(0.25)}, // the score wins
			{ResponseID: "5", KeyID: 1, Model: "b", Route: "", Rating: chorus.RatingUp},
		}
		for i := range fbs {
			if _, err := db.UpsertFeedback(ctx, &fbs[i]); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("Window", func(t *testing.T) {
			got, err := db.QualityAggregates(ctx, chorus.AggregateFilter{Since: in.Add(-time.Hour), Until: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			wantScores := []chorus.ScoreAggregate{
				{Model: "a", Route: "", Scorer: "json_valid", Count: 1, Sum: 1},
				{Model: "a", Route: "r", Scorer: "json_valid", Count: 3, Sum: 2},
				{Model: "a", Route: "r", Scorer: "judge", Count: 1, Sum: 0.8},
				{Model: "b", Route: "r", Scorer: "judge", Count: 1, Sum: 0.4},
			}
			if !reflect.DeepEqual(got.Scores, wantScores) {
				t.Errorf("scores:\n got %+v\nwant %+v", got.Scores, wantScores)
			}
			wantFeedback := []chorus.FeedbackAggregate{
				{Model: "a", Route: "r", Count: 4, Up: 1, Down: 2, ValueSum: 1 + 0 + 0.5 + 0.25},
				{Model: "b", Route: "", Count: 1, Up: 1, Down: 0, ValueSum: 1},
			}
			if !reflect.DeepEqual(got.Feedback, wantFeedback) {
				t.Errorf("feedback:\n got %+v\nwant %+v", got.Feedback, wantFeedback)
			}
			if m := got.Scores[1].Mean(); math.Abs(m-2.0/3) > 1e-12 {
				t.Errorf("mean of a/r/json_valid = %v, want 2/3", m)
			}
			if m := got.Feedback[0].Mean(); m != 0.4375 {
				t.Errorf("mean feedback of a/r = %v, want 0.4375", m)
			}
		})

		t.Run("All", func(t *testing.T) {
			got, err := db.QualityAggregates(ctx, chorus.AggregateFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for _, s := range got.Scores {
				n += s.Count
			}
			if n != int64(len(recs)) {
				t.Errorf("no window: %d scores counted, want %d", n, len(recs))
			}
		})

		t.Run("ModelAndRoute", func(t *testing.T) {
			got, err := db.QualityAggregates(ctx, chorus.AggregateFilter{Model: "a", Route: "r", Since: in})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Scores) != 2 || len(got.Feedback) != 1 || got.Feedback[0].Count != 4 {
				t.Errorf("model a on route r: got %+v", got)
			}
		})

		t.Run("Empty", func(t *testing.T) {
			got, err := db.QualityAggregates(ctx, chorus.AggregateFilter{Model: "nobody"})
			if err != nil || len(got.Scores) != 0 || len(got.Feedback) != 0 {
				t.Errorf("got %+v, %v; want nothing", got, err)
			}
		})
	})
}

func TestUsageByResponseID(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		recs := []chorus.Usage{usageRecord(1, 1, 1, usageEpoch), usageRecord(2, 2, 2, usageEpoch)}
		again := usageRecord(3, 3, 3, usageEpoch)
		again.ResponseID = recs[0].ResponseID // a provider that reuses IDs: the newest wins
		recs = append(recs, again)
		for i := range recs {
			recs[i].TeamID = int64(10 * (i + 1))
		}
		if err := db.InsertUsage(ctx, recs); err != nil {
			t.Fatal(err)
		}

		t.Run("OK", func(t *testing.T) {
			got, err := db.UsageByResponseID(ctx, recs[1].ResponseID, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := recs[1]
			want.ID = got.ID
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got %+v\nwant %+v", *got, want)
			}
		})
		t.Run("Newest", func(t *testing.T) {
			got, err := db.UsageByResponseID(ctx, recs[0].ResponseID, nil)
			if err != nil || got.RequestID != again.RequestID {
				t.Errorf("got %+v, %v; want request %s", got, err, again.RequestID)
			}
		})
		t.Run("Team", func(t *testing.T) {
			got, err := db.UsageByResponseID(ctx, recs[0].ResponseID, ptr[int64](10))
			if err != nil || got.RequestID != recs[0].RequestID {
				t.Errorf("got %+v, %v; want team 10's request %s", got, err, recs[0].RequestID)
			}
			_, err = db.UsageByResponseID(ctx, recs[1].ResponseID, ptr[int64](10))
			assertCode(t, err, chorus.ENOTFOUND)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := db.UsageByResponseID(ctx, "chatcmpl-nope", nil)
			assertCode(t, err, chorus.ENOTFOUND)
			_, err = db.UsageByResponseID(ctx, "", nil)
			assertCode(t, err, chorus.ENOTFOUND)
		})
	})
}
