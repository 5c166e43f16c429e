package manage

import (
	"context"
	"net/http"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/quality"
)

// QualityStore is what feedback and the quality admin API need from the
// database.
type QualityStore interface {
	UsageByResponseID(ctx context.Context, responseID string, teamID *int64) (*chorus.Usage, error)
	UpsertFeedback(ctx context.Context, f *chorus.Feedback) (created bool, err error)
	ListFeedback(ctx context.Context, f chorus.FeedbackFilter, p chorus.Page) ([]*chorus.Feedback, error)
	ListScores(ctx context.Context, f chorus.ScoreFilter, p chorus.Page) ([]*chorus.ScoreRecord, error)
	QualityAggregates(ctx context.Context, f chorus.AggregateFilter) (*chorus.QualityAggregates, error)
}

// qualityRoutes registers feedback (any key) and the quality admin API. They
// need Server.QualityStore; without it they are not served (404).
func (s *Server) qualityRoutes(mux *api.Mux) {
	if s.QualityStore == nil {
		return
	}
	s.handle(mux, "POST /v1/feedback", accessUser, s.postFeedback)
	s.handle(mux, "GET /api/feedback", accessUser, s.listOwnFeedback)
	s.handle(mux, "GET /api/admin/quality", accessAdmin, s.adminQuality)
	s.handle(mux, "GET /api/admin/quality/scores", accessAdmin, s.adminListScores)
	s.handle(mux, "GET /api/admin/feedback", accessAdmin, s.adminListFeedback)
}

// Windows GET /api/admin/quality accepts.
var qualityWindows = map[string]time.Duration{
	"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
}

// qualityReport is GET /api/admin/quality's answer.
type qualityReport struct {
	Object  string    `json:"object"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	Formula string    `json:"formula"`
	quality.Report
}

// qualityFormula says how the "quality" figures are made (see quality.Summarize).
const qualityFormula = "quality = mean of (each scorer's mean score, and the mean feedback value when there is feedback); " +
	"a feedback's value is its score, else 1 for up and 0 for down"

// adminQuality serves GET /api/admin/quality?window=1h|6h|24h|7d|30d (or
// since/until, RFC 3339)&model=&route=: per model and per route, each
// scorer's count and mean, the feedback (up, down, mean) and one combined
// quality figure, as quality.Summarize defines it.
func (s *Server) adminQuality(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	since, until, err := s.qualityWindow(q.Get("window"), q.Get("since"), q.Get("until"))
	if err != nil {
		return err
	}
	a, err := s.QualityStore.QualityAggregates(r.Context(), chorus.AggregateFilter{
		Since: since, Until: until, Model: q.Get("model"), Route: q.Get("route"),
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, qualityReport{
		Object: "quality_report", Since: since, Until: until, Formula: qualityFormula, Report: quality.Summarize(a),
	})
	return nil
}

// qualityWindow reads the report's time window: window, or since/until (until
// defaults to now; since to 24 hours before until).
func (s *Server) qualityWindow(window, sinceText, untilText string) (since, until time.Time, err error) {
	if window != "" && (sinceText != "" || untilText != "") {
		return since, until, chorus.Invalid("window", "Give window or since/until, not both.")
	}
	until = s.Now().UTC()
	if untilText != "" {
		if until, err = time.Parse(time.RFC3339, untilText); err != nil {
			return since, until, chorus.Invalid("until", "until must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", untilText)
		}
	}
	span := 24 * time.Hour
	if window != "" {
		d, ok := qualityWindows[window]
		if !ok {
			return since, until, chorus.Invalid("window", "window must be one of 1h, 6h, 24h, 7d or 30d, got %q", window)
		}
		span = d
	}
	since = until.Add(-span)
	if sinceText != "" {
		if since, err = time.Parse(time.RFC3339, sinceText); err != nil {
			return since, until, chorus.Invalid("since", "since must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", sinceText)
		}
	}
	if !since.Before(until) {
		return since, until, chorus.Invalid("since", "since must be before until")
	}
	return since.UTC(), until.UTC(), nil
}

// adminListScores serves GET /api/admin/quality/scores?response_id=&model=&route=&limit=&after=.
func (s *Server) adminListScores(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	p, err := api.PageOf(q)
	if err != nil {
		return err
	}
	f := chorus.ScoreFilter{ResponseID: q.Get("response_id"), Model: q.Get("model"), Route: q.Get("route")}
	items, err := s.QualityStore.ListScores(r.Context(), f, p)
	if err != nil {
		return err
	}
	api.WriteList(w, items, p, func(r *chorus.ScoreRecord) int64 { return r.ID })
	return nil
}
