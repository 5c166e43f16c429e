package chorus

import (
	"time"
	"unicode/utf8"
)

// Feedback ratings.
const (
	RatingUp   = "up"
	RatingDown = "down"
)

// MaxFeedbackComment bounds a feedback comment, in characters.
const MaxFeedbackComment = 2000

// Feedback is what a client said about one answer. Each key has at most one
// feedback per answer: sending another replaces it.
type Feedback struct {
	ID         int64     `json:"id"`
	ResponseID string    `json:"response_id"`
	RequestID  string    `json:"request_id"`
	KeyID      int64     `json:"key_id"`
	UserID     int64     `json:"user_id"`
	TeamID     int64     `json:"team_id"`
	Model      string    `json:"model"`
	Route      string    `json:"route,omitempty"`
	Rating     string    `json:"rating,omitempty"` // RatingUp, RatingDown, or "" when only a score was given
	Score      *float64  `json:"score,omitempty"`  // in [0, 1]
	Comment    string    `json:"comment,omitempty"`
	CreatedAt  time.Time `json:"created_at"` // when this key first gave feedback on the answer
	UpdatedAt  time.Time `json:"updated_at"` // when it last changed it
}

// Validate checks what the database would otherwise reject less clearly.
func (f *Feedback) Validate() error {
	switch {
	case f.ResponseID == "":
		return Invalid("response_id", "response_id is required")
	case f.Rating != "" && f.Rating != RatingUp && f.Rating != RatingDown:
		return Invalid("rating", "rating must be %q or %q, got %q", RatingUp, RatingDown, f.Rating)
	case f.Score != nil && !(*f.Score >= 0 && *f.Score <= 1): // NaN fails too
		return Invalid("score", "score must be between 0 and 1")
	case f.Rating == "" && f.Score == nil:
		return Invalid("rating", "feedback needs a rating or a score")
	case utf8.RuneCountInString(f.Comment) > MaxFeedbackComment:
		return Invalid("comment", "comment must be at most %d characters", MaxFeedbackComment)
	}
	return nil
}

// FeedbackFilter narrows ListFeedback. Zero fields do not filter.
type FeedbackFilter struct {
	ResponseID string
	Model      string
	Route      string
	UserID     *int64
	TeamID     *int64
}

// ScoreRecord is one scorer's verdict on one answer, with what identifies
// the answer: the request, the response ID the client saw, who asked and
// what served it.
type ScoreRecord struct {
	ID         int64     `json:"id"`
	RequestID  string    `json:"request_id"`
	ResponseID string    `json:"response_id"`
	Model      string    `json:"model"`           // public model name
	Route      string    `json:"route,omitempty"` // route name, "" when none
	Deployment string    `json:"deployment,omitempty"`
	KeyID      int64     `json:"key_id"`
	UserID     int64     `json:"user_id"`
	Scorer     string    `json:"scorer"`
	Value      float64   `json:"value"` // in [0, 1]
	Reason     string    `json:"reason"`
	CreatedAt  time.Time `json:"created_at"`
}

// ScoreFilter narrows ListScores. Zero fields do not filter.
type ScoreFilter struct {
	ResponseID string
	Model      string
	Route      string
	Since      time.Time // created at or after
	Until      time.Time // created before
}

// AggregateFilter narrows QualityAggregates. Zero fields do not filter.
type AggregateFilter struct {
	Since time.Time // created at or after
	Until time.Time // created before
	Model string
	Route string
}

// ScoreAggregate sums one scorer's scores of one model on one route.
type ScoreAggregate struct {
	Model  string  `json:"model"`
	Route  string  `json:"route"`
	Scorer string  `json:"scorer"`
	Count  int64   `json:"count"`
	Sum    float64 `json:"sum"`
}

// Mean returns Sum/Count, or 0 when there is nothing.
func (a ScoreAggregate) Mean() float64 { return mean(a.Sum, a.Count) }

// FeedbackAggregate sums the feedback on one model's answers on one route.
// Each feedback's value is its score when one was given, else 1 for "up"
// and 0 for "down"; ValueSum adds them up.
type FeedbackAggregate struct {
	Model    string  `json:"model"`
	Route    string  `json:"route"`
	Count    int64   `json:"count"`
	Up       int64   `json:"up"`
	Down     int64   `json:"down"`
	ValueSum float64 `json:"value_sum"`
}

// Mean returns the mean feedback value, or 0 when there is none.
func (a FeedbackAggregate) Mean() float64 { return mean(a.ValueSum, a.Count) }

// mean is sum/n, or 0 when n is 0.
func mean(sum float64, n int64) float64 {
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// QualityAggregates is scores and feedback grouped by model and route,
// sorted by model, route (and scorer). Sums rather than means are kept so
// that groups can be combined exactly (per model across routes, per route
// across models).
type QualityAggregates struct {
	Scores   []ScoreAggregate
	Feedback []FeedbackAggregate
}
