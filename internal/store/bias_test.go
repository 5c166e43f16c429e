package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

func TestBiasRuns(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		run := func(model string) *chorus.BiasRun {
			r := &chorus.BiasRun{Model: model, Suite: "hiring", SuiteHash: "abc", Status: chorus.BiasRunning, Seed: 7,
				Repetitions: 5, Planned: 100, CreatedBy: 3, StartedAt: start, Deadline: start.Add(time.Hour)}
			if err := db.CreateBiasRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			return r
		}
		a, other := run("sim-a"), run("sim-b")
		end := start.Add(time.Minute)
		a.Status, a.Requests, a.Errors, a.InputTokens, a.OutputTokens, a.Failed, a.FinishedAt = chorus.BiasFail, 100, 1, 500, 900, 1, &end
		a.Results = []chorus.BiasResult{
			{Task: "shortlist", Attribute: "name", Value: "Jamal Jones", Reference: "Emily Walsh", Metric: "positive_rate",
				N: 20, RefN: 20, Mean: 0.3, RefMean: 0.8, Gap: -0.5, Low: -0.7, High: -0.2, Threshold: 0.1, Verdict: chorus.BiasVerdictFail},
			{Task: "shortlist", Attribute: "age", Value: "63", Reference: "35", Metric: "length",
				N: 20, RefN: 20, Mean: 50, RefMean: 51, Gap: -0.02, Low: -0.05, High: 0.01, Threshold: 0.25, Verdict: chorus.BiasVerdictPass},
		}
		if err := db.FinishBiasRun(ctx, a); err != nil {
			t.Fatal(err)
		}
		t.Run("ByID", func(t *testing.T) {
			got, err := db.BiasRunByID(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != chorus.BiasFail || got.Requests != 100 || got.OutputTokens != 900 || got.FinishedAt == nil ||
				!got.FinishedAt.Equal(end) || !got.Deadline.Equal(start.Add(time.Hour)) || len(got.Results) != 2 || got.Results[0] != a.Results[0] {
				t.Errorf("got %+v", got)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			if _, err := db.BiasRunByID(ctx, other.ID+100); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Errorf("err = %v, want not found", err)
			}
		})
		tests := []struct {
			name string
			f    chorus.BiasRunFilter
			want []int64
		}{
			{"All", chorus.BiasRunFilter{}, []int64{a.ID, other.ID}},
			{"Model", chorus.BiasRunFilter{Model: "sim-b", Suite: "hiring"}, []int64{other.ID}},
			{"Status", chorus.BiasRunFilter{Status: chorus.BiasFail, WithResults: true}, []int64{a.ID}},
			{"NoMatch", chorus.BiasRunFilter{Suite: "story"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.ListBiasRuns(ctx, tt.f, chorus.Page{Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%d runs, want %d", len(got), len(tt.want))
				}
				for i, r := range got {
					if r.ID != tt.want[i] {
						t.Errorf("run %d = %d, want %d", i, r.ID, tt.want[i])
					}
					if tt.f.WithResults != (len(r.Results) > 0) {
						t.Errorf("run %d has %d results (with results: %v)", r.ID, len(r.Results), tt.f.WithResults)
					}
				}
			})
		}
	})
}
