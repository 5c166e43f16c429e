package manage

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// POST /v1/feedback: a client rates an answer it received.

// Feedback lookup: usage records reach the database in batches (every
// ~200 ms), so feedback sent right after an answer may find nothing yet. The
// lookup is retried for up to feedbackWait, each try in its own short read
// transaction, so no connection is held while waiting.
const (
	feedbackWait     = time.Second
	feedbackInterval = 150 * time.Millisecond
	maxResponseID    = 256
)

// feedbackInput is the body of POST /v1/feedback.
type feedbackInput struct {
	ResponseID string   `json:"response_id"`
	Rating     *string  `json:"rating"` // "up" | "down" | "thumbs_up" | "thumbs_down"
	Score      *float64 `json:"score"`  // 0..1
	Comment    string   `json:"comment"`
}

// feedbackOutput is the stored feedback as the client sees it.
type feedbackOutput struct {
	Object string `json:"object"`
	*chorus.Feedback
}

// ratings maps what clients may send to what is stored.
var ratings = map[string]string{
	"up": chorus.RatingUp, "thumbs_up": chorus.RatingUp, "down": chorus.RatingDown, "thumbs_down": chorus.RatingDown,
}

// validate checks the input and returns the rating to store.
func (in *feedbackInput) validate() (string, error) {
	in.ResponseID = strings.TrimSpace(in.ResponseID)
	if in.ResponseID == "" {
		return "", chorus.Invalid("response_id", "response_id is required: the id of the answer (chatcmpl-…, msg_…) you are rating.")
	}
	if len(in.ResponseID) > maxResponseID {
		return "", chorus.Invalid("response_id", "response_id must be at most %d characters.", maxResponseID)
	}
	rating := ""
	if in.Rating != nil {
		r, ok := ratings[strings.ToLower(strings.TrimSpace(*in.Rating))]
		if !ok {
			return "", chorus.Invalid("rating", "Invalid rating %q: use \"up\" or \"down\" (or \"thumbs_up\", \"thumbs_down\").", *in.Rating)
		}
		rating = r
	}
	if in.Score != nil && !(*in.Score >= 0 && *in.Score <= 1) {
		return "", chorus.Invalid("score", "score must be a number between 0 and 1, got %v.", *in.Score)
	}
	if rating == "" && in.Score == nil {
		return "", chorus.Invalid("rating", "Feedback needs a rating (\"up\" or \"down\") or a score between 0 and 1.")
	}
	if n := utf8.RuneCountInString(in.Comment); n > chorus.MaxFeedbackComment {
		return "", chorus.Invalid("comment", "comment is too long: %d characters; the maximum is %d.", n, chorus.MaxFeedbackComment)
	}
	return rating, nil
}

// postFeedback serves POST /v1/feedback. Feedback is accepted only on an
// answer given to one of the caller's user's keys; any other response ID is
// 404, whether it exists or not. A key's second feedback on the same answer
// replaces the first (200); the first is 201.
func (s *Server) postFeedback(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	var in feedbackInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	rating, err := in.validate()
	if err != nil {
		return err
	}
	u, err := s.findAnswer(r.Context(), in.ResponseID, p.TeamID())
	if err != nil {
		return err
	}
	f := &chorus.Feedback{
		ResponseID: in.ResponseID, RequestID: u.RequestID, KeyID: keyID(p), UserID: p.User.ID, TeamID: p.TeamID(),
		Model: u.Model, Route: u.Route, Rating: rating, Score: in.Score, Comment: in.Comment,
	}
	created, err := s.QualityStore.UpsertFeedback(r.Context(), f)
	if err != nil {
		return err
	}
	if s.Learner != nil {
		// The feedback is stored: a learned scorer that fails to learn from
		// it is logged, not the client's error.
		if _, err := s.Learner.Feedback(r.Context(), f); err != nil {
			s.Logger.WarnContext(r.Context(), "learned scorer did not learn from feedback", "response_id", f.ResponseID, "err", err)
		}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	api.WriteJSON(w, status, feedbackOutput{Object: "feedback", Feedback: f})
	return nil
}

// findAnswer returns the usage record of an answer given to one of the
// team's keys, waiting up to feedbackWait for the usage writer to store it.
func (s *Server) findAnswer(ctx context.Context, responseID string, team int64) (*chorus.Usage, error) {
	deadline := s.Now().Add(feedbackWait)
	for {
		u, err := s.QualityStore.UsageByResponseID(ctx, responseID, &team)
		if err == nil {
			return u, nil
		}
		if chorus.ErrorCode(err) != chorus.ENOTFOUND {
			return nil, err
		}
		if !s.Now().Before(deadline) {
			return nil, &chorus.Error{Code: chorus.ENOTFOUND, Param: "response_id",
				Message: "No response with id '" + responseID + "' was found for your team."}
		}
		t := time.NewTimer(feedbackInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "client closed request", Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// adminListFeedback serves GET /api/admin/feedback.
func (s *Server) adminListFeedback(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	p, err := api.PageOf(q)
	if err != nil {
		return err
	}
	f := chorus.FeedbackFilter{ResponseID: q.Get("response_id"), Model: q.Get("model"), Route: q.Get("route")}
	if v := q.Get("user_id"); v != "" {
		n, err := parseID("user_id", v)
		if err != nil {
			return err
		}
		f.UserID = &n
	}
	items, err := s.QualityStore.ListFeedback(r.Context(), f, p)
	if err != nil {
		return err
	}
	api.WriteList(w, items, p, func(f *chorus.Feedback) int64 { return f.ID })
	return nil
}

// listOwnFeedback serves GET /api/feedback: the feedback the caller's team
// gave, filtered like the admin list.
func (s *Server) listOwnFeedback(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	team := p.TeamID()
	f := chorus.FeedbackFilter{ResponseID: q.Get("response_id"), Model: q.Get("model"), Route: q.Get("route"), TeamID: &team}
	items, err := s.QualityStore.ListFeedback(r.Context(), f, page)
	if err != nil {
		return err
	}
	api.WriteList(w, items, page, func(f *chorus.Feedback) int64 { return f.ID })
	return nil
}

// parseID parses a non-negative integer query parameter.
func parseID(name, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, chorus.Invalid(name, "%s must be a non-negative integer, got %q", name, v)
	}
	return n, nil
}

// keyID is the principal's API key, 0 for a session.
func keyID(p *chorus.Principal) int64 {
	if p.Key != nil {
		return p.Key.ID
	}
	return 0
}
