package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
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

// validate checks what the database would otherwise reject less clearly.
func (f *Feedback) validate() error {
	switch {
	case f.ResponseID == "":
		return chorus.Invalid("response_id", "response_id is required")
	case f.Rating != "" && f.Rating != RatingUp && f.Rating != RatingDown:
		return chorus.Invalid("rating", "rating must be %q or %q, got %q", RatingUp, RatingDown, f.Rating)
	case f.Score != nil && !(*f.Score >= 0 && *f.Score <= 1): // NaN fails too
		return chorus.Invalid("score", "score must be between 0 and 1")
	case f.Rating == "" && f.Score == nil:
		return chorus.Invalid("rating", "feedback needs a rating or a score")
	case utf8.RuneCountInString(f.Comment) > MaxFeedbackComment:
		return chorus.Invalid("comment", "comment must be at most %d characters", MaxFeedbackComment)
	}
	return nil
}

const feedbackColumns = `response_id, request_id, key_id, user_id, team_id, model, route, rating, score, comment, created_at, updated_at`

// UpsertFeedback stores f, or replaces the feedback the same key — or, in
// a session (KeyID 0), the same user — gave on the same answer before. It sets f's ID, CreatedAt and UpdatedAt as stored and
// reports whether the row is new. (Two first feedbacks racing on PostgreSQL
// may both report created; the row is still one.)
func (db *DB) UpsertFeedback(ctx context.Context, f *Feedback) (created bool, err error) {
	if err := f.validate(); err != nil {
		return false, err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var existing int64
	err = tx.queryRow(ctx, `SELECT id FROM feedback WHERE response_id = ? AND key_id = ? AND user_id = ?`, f.ResponseID, f.KeyID, f.UserID).Scan(&existing)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("upsert feedback: %w", err)
	}
	now := db.timeNow()
	var rating *string
	if f.Rating != "" {
		rating = &f.Rating
	}
	err = tx.queryRow(ctx, `INSERT INTO feedback (`+feedbackColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (response_id, key_id, user_id) DO UPDATE SET request_id = excluded.request_id, team_id = excluded.team_id,
			model = excluded.model, route = excluded.route, rating = excluded.rating, score = excluded.score,
			comment = excluded.comment, updated_at = excluded.updated_at
		RETURNING id, created_at, updated_at`,
		f.ResponseID, f.RequestID, f.KeyID, f.UserID, f.TeamID, f.Model, f.Route, rating, f.Score, f.Comment, now, now,
	).Scan(&f.ID, scanTime(&f.CreatedAt), scanTime(&f.UpdatedAt))
	if err != nil {
		return false, fmt.Errorf("upsert feedback: %w", err)
	}
	if err := commit(tx); err != nil {
		return false, err
	}
	return existing == 0, nil
}

// FeedbackFilter narrows ListFeedback. Zero fields do not filter.
type FeedbackFilter struct {
	ResponseID string
	Model      string
	Route      string
	UserID     *int64
	TeamID     *int64
}

// ListFeedback returns one page of feedback in ID order.
func (db *DB) ListFeedback(ctx context.Context, f FeedbackFilter, page chorus.Page) ([]*Feedback, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"id > ?"}, []any{page.After}
	for _, c := range []struct {
		col, v string
	}{{"response_id", f.ResponseID}, {"model", f.Model}, {"route", f.Route}} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	if f.UserID != nil {
		where, args = append(where, "user_id = ?"), append(args, *f.UserID)
	}
	if f.TeamID != nil {
		where, args = append(where, "team_id = ?"), append(args, *f.TeamID)
	}
	args = append(args, limit(page))
	rows, err := tx.query(ctx, `SELECT id, `+feedbackColumns+` FROM feedback WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list feedback: %w", err)
	}
	defer rows.Close()
	var out []*Feedback
	for rows.Next() {
		var fb Feedback
		var rating sql.NullString
		if err := rows.Scan(&fb.ID, &fb.ResponseID, &fb.RequestID, &fb.KeyID, &fb.UserID, &fb.TeamID, &fb.Model, &fb.Route,
			&rating, &fb.Score, &fb.Comment, scanTime(&fb.CreatedAt), scanTime(&fb.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("list feedback: %w", err)
		}
		fb.Rating = rating.String
		out = append(out, &fb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list feedback: %w", err)
	}
	return out, nil
}
