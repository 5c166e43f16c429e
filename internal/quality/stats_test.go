package quality_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/quality"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestSummarize(t *testing.T) {
	a := &chorus.QualityAggregates{
		Scores: []chorus.ScoreAggregate{
			{Model: "a", Route: "", Scorer: "json_valid", Count: 1, Sum: 1},
			{Model: "a", Route: "r", Scorer: "json_valid", Count: 3, Sum: 2},
			{Model: "a", Route: "r", Scorer: "judge", Count: 2, Sum: 1.2},
			{Model: "b", Route: "r", Scorer: "judge", Count: 2, Sum: 0.4},
		},
		Feedback: []chorus.FeedbackAggregate{
			{Model: "a", Route: "r", Count: 4, Up: 1, Down: 2, ValueSum: 1.75},
			{Model: "c", Route: "", Count: 1, Up: 1, ValueSum: 1},
		},
	}
	rep := quality.Summarize(a)
	if len(rep.Models) != 3 || len(rep.Routes) != 1 {
		t.Fatalf("got %d models and %d routes, want 3 and 1: %+v", len(rep.Models), len(rep.Routes), rep)
	}

	t.Run("ModelAcrossRoutes", func(t *testing.T) {
		m := rep.Models[0]
		if m.Name != "a" || len(m.Scorers) != 2 || m.Scorers[0].Scorer != "json_valid" {
			t.Fatalf("model a: %+v", m)
		}
		// json_valid: (1 + 2) / 4 = 0.75; judge: 0.6; feedback 1.75/4.
		if m.Scorers[0].Count != 4 || !near(m.Scorers[0].Mean, 0.75) || !near(m.Scorers[1].Mean, 0.6) {
			t.Errorf("scorers %+v", m.Scorers)
		}
		if m.Feedback == nil || m.Feedback.Count != 4 || m.Feedback.Up != 1 || m.Feedback.Down != 2 || !near(m.Feedback.Mean, 0.4375) {
			t.Errorf("feedback %+v", m.Feedback)
		}
		if want := (0.75 + 0.6 + 0.4375) / 3; m.Quality == nil || !near(*m.Quality, want) {
			t.Errorf("quality %v, want %v: the mean of the scorer means and the feedback mean", m.Quality, want)
		}
	})
	t.Run("RouteAcrossModels", func(t *testing.T) {
		r := rep.Routes[0]
		// json_valid 2/3 (model a only), judge (1.2 + 0.4) / 4 = 0.4, feedback 0.4375.
		if r.Name != "r" || !near(r.Scorers[0].Mean, 2.0/3) || !near(r.Scorers[1].Mean, 0.4) || r.Scorers[1].Count != 4 {
			t.Errorf("route r: %+v", r)
		}
		if want := (2.0/3 + 0.4 + 0.4375) / 3; r.Quality == nil || !near(*r.Quality, want) {
			t.Errorf("quality %v, want %v", r.Quality, want)
		}
	})
	t.Run("FeedbackOnly", func(t *testing.T) {
		c := rep.Models[2]
		if c.Name != "c" || len(c.Scorers) != 0 || c.Quality == nil || *c.Quality != 1 {
			t.Errorf("model c: %+v", c)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		rep := quality.Summarize(nil)
		if rep.Models == nil || rep.Routes == nil || len(rep.Models) != 0 {
			t.Errorf("got %+v, want empty (non-nil) lists", rep)
		}
	})
}

// fakeAggregates serves QualityAggregates from a function.
type fakeAggregates func(f chorus.AggregateFilter) (*chorus.QualityAggregates, error)

func (f fakeAggregates) QualityAggregates(ctx context.Context, filter chorus.AggregateFilter) (*chorus.QualityAggregates, error) {
	return f(filter)
}

func TestStats(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var gotFilter chorus.AggregateFilter
	fail := false
	src := fakeAggregates(func(f chorus.AggregateFilter) (*chorus.QualityAggregates, error) {
		gotFilter = f
		if fail {
			return nil, errors.New("db down")
		}
		return &chorus.QualityAggregates{Scores: []chorus.ScoreAggregate{
			{Model: "a", Route: "r", Scorer: "json_valid", Count: 2, Sum: 1},
		}}, nil
	})
	s := quality.NewStats(src, quality.StatsOptions{Window: time.Hour, Now: func() time.Time { return now }, Logger: quietLogger()})
	if _, ok := s.ModelQuality("a"); ok {
		t.Error("quality known before the first refresh")
	}
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !gotFilter.Since.Equal(now.Add(-time.Hour)) {
		t.Errorf("window starts %v, want an hour before now", gotFilter.Since)
	}
	if q, ok := s.ModelQuality("a"); !ok || q != 0.5 {
		t.Errorf("ModelQuality(a) = %v, %v; want 0.5", q, ok)
	}
	if q, ok := s.RouteQuality("r"); !ok || q != 0.5 {
		t.Errorf("RouteQuality(r) = %v, %v; want 0.5", q, ok)
	}
	if _, ok := s.ModelQuality("zzz"); ok {
		t.Error("an unknown model has a quality")
	}
	fail = true
	if err := s.Refresh(context.Background()); err == nil {
		t.Error("a failed refresh reported no error")
	}
	if q, ok := s.ModelQuality("a"); !ok || q != 0.5 {
		t.Errorf("after a failed refresh: %v, %v; want the previous figure", q, ok)
	}
	var nilStats *quality.Stats
	if _, ok := nilStats.ModelQuality("a"); ok {
		t.Error("a nil Stats knows a quality")
	}
}
