package quality

import (
	"context"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/periodic"
)

// Summary is the quality of one model or one route over a window.
type Summary struct {
	Name string `json:"name"`
	// Quality is the combined figure (see Summarize); nil when nothing was
	// measured.
	Quality  *float64         `json:"quality"`
	Scorers  []ScorerSummary  `json:"scorers"`
	Feedback *FeedbackSummary `json:"feedback,omitempty"`
}

// ScorerSummary is one scorer's results.
type ScorerSummary struct {
	Scorer string  `json:"scorer"`
	Count  int64   `json:"count"`
	Mean   float64 `json:"mean"`
}

// FeedbackSummary is the feedback clients gave. Mean is the mean feedback
// value: a feedback's score when it has one, else 1 for up and 0 for down.
type FeedbackSummary struct {
	Count int64   `json:"count"`
	Up    int64   `json:"up"`
	Down  int64   `json:"down"`
	Mean  float64 `json:"mean"`
}

// Report is quality per model and per route.
type Report struct {
	Models []Summary `json:"models"`
	Routes []Summary `json:"routes"`
}

// Summarize rolls aggregates up per model (across routes) and per route
// (across models; answers served without a route count for their model
// only). Means are combined from sums and counts, so they are exact.
//
// The combined quality of a model or route is the unweighted mean of its
// figures: each scorer's mean, plus the mean feedback value when there is
// feedback:
//
//	quality = (Σ_scorers mean_s + [feedback mean]) / (number of scorers + [1 if feedback])
//
// Each scorer counts once however many answers it scored, so a cheap scorer
// that runs on every answer does not drown a judge that samples; feedback
// counts as one more scorer, the clients' own.
func Summarize(a *chorus.QualityAggregates) Report {
	type acc struct {
		scorers  map[string]*ScorerSummary
		sums     map[string]float64
		feedback *FeedbackSummary
		fbSum    float64
	}
	models, routes := map[string]*acc{}, map[string]*acc{}
	get := func(m map[string]*acc, name string) *acc {
		x := m[name]
		if x == nil {
			x = &acc{scorers: map[string]*ScorerSummary{}, sums: map[string]float64{}}
			m[name] = x
		}
		return x
	}
	addScore := func(x *acc, s chorus.ScoreAggregate) {
		ss := x.scorers[s.Scorer]
		if ss == nil {
			ss = &ScorerSummary{Scorer: s.Scorer}
			x.scorers[s.Scorer] = ss
		}
		ss.Count += s.Count
		x.sums[s.Scorer] += s.Sum
	}
	addFeedback := func(x *acc, f chorus.FeedbackAggregate) {
		if x.feedback == nil {
			x.feedback = &FeedbackSummary{}
		}
		x.feedback.Count += f.Count
		x.feedback.Up += f.Up
		x.feedback.Down += f.Down
		x.fbSum += f.ValueSum
	}
	if a != nil {
		for _, s := range a.Scores {
			addScore(get(models, s.Model), s)
			if s.Route != "" {
				addScore(get(routes, s.Route), s)
			}
		}
		for _, f := range a.Feedback {
			addFeedback(get(models, f.Model), f)
			if f.Route != "" {
				addFeedback(get(routes, f.Route), f)
			}
		}
	}
	finish := func(m map[string]*acc) []Summary {
		out := make([]Summary, 0, len(m))
		for name, x := range m {
			s := Summary{Name: name, Scorers: make([]ScorerSummary, 0, len(x.scorers))}
			var total float64
			var n int
			for _, ss := range x.scorers {
				if ss.Count > 0 {
					ss.Mean = x.sums[ss.Scorer] / float64(ss.Count)
					total += ss.Mean
					n++
				}
				s.Scorers = append(s.Scorers, *ss)
			}
			sort.Slice(s.Scorers, func(i, j int) bool { return s.Scorers[i].Scorer < s.Scorers[j].Scorer })
			if x.feedback != nil && x.feedback.Count > 0 {
				x.feedback.Mean = x.fbSum / float64(x.feedback.Count)
				s.Feedback = x.feedback
				total += x.feedback.Mean
				n++
			}
			if n > 0 {
				q := total / float64(n)
				s.Quality = &q
			}
			out = append(out, s)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	return Report{Models: finish(models), Routes: finish(routes)}
}

// AggregateSource reads quality aggregates.
type AggregateSource interface {
	QualityAggregates(ctx context.Context, f chorus.AggregateFilter) (*chorus.QualityAggregates, error)
}

// StatsOptions configure Stats. Zero values take the defaults.
type StatsOptions struct {
	Window time.Duration // how far back quality is measured (default 24 h)
	Every  time.Duration // refresh period (default 30 s)
	Logger *slog.Logger  // refresh failures; nil discards them
	Now    func() time.Time
}

// Stats is a read-only snapshot of per-model and per-route quality, rebuilt
// from the database every so often, for the router to weigh targets by:
// reading it touches no database. A nil *Stats knows nothing.
type Stats struct {
	src  AggregateSource
	opts StatsOptions
	cur  atomic.Pointer[statsSnapshot]
}

type statsSnapshot struct {
	models, routes map[string]float64
	builtAt        time.Time
}

// NewStats returns an empty Stats; call Refresh or Run to fill it.
func NewStats(src AggregateSource, opts StatsOptions) *Stats {
	if opts.Window <= 0 {
		opts.Window = 24 * time.Hour
	}
	if opts.Every <= 0 {
		opts.Every = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Stats{src: src, opts: opts}
	s.cur.Store(&statsSnapshot{})
	return s
}

// Refresh rebuilds the snapshot from the database.
func (s *Stats) Refresh(ctx context.Context) error {
	now := s.opts.Now()
	a, err := s.src.QualityAggregates(ctx, chorus.AggregateFilter{Since: now.Add(-s.opts.Window)})
	if err != nil {
		return err
	}
	rep := Summarize(a)
	snap := &statsSnapshot{models: map[string]float64{}, routes: map[string]float64{}, builtAt: now}
	for _, m := range rep.Models {
		if m.Quality != nil {
			snap.models[m.Name] = *m.Quality
		}
	}
	for _, r := range rep.Routes {
		if r.Quality != nil {
			snap.routes[r.Name] = *r.Quality
		}
	}
	s.cur.Store(snap)
	return nil
}

// Run refreshes at once and then every StatsOptions.Every until ctx ends; a
// failed refresh keeps the previous snapshot.
func (s *Stats) Run(ctx context.Context) {
	periodic.Every(ctx, s.opts.Every, true, func(ctx context.Context) {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("quality stats refresh failed; keeping the previous figures", "err", err)
		}
	})
}

// ModelQuality returns the combined quality (in [0, 1]) of a public model
// over the window, and whether anything was measured.
func (s *Stats) ModelQuality(name string) (float64, bool) {
	if s == nil {
		return 0, false
	}
	q, ok := s.cur.Load().models[name]
	return q, ok
}

// RouteQuality is ModelQuality for a route.
func (s *Stats) RouteQuality(name string) (float64, bool) {
	if s == nil {
		return 0, false
	}
	q, ok := s.cur.Load().routes[name]
	return q, ok
}

// BuiltAt returns when the snapshot was built (zero before the first refresh).
func (s *Stats) BuiltAt() time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.cur.Load().builtAt
}
