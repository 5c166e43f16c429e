package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/chorusgw/chorus"
)

const feedbackColumns = `response_id, request_id, key_id, user_id, team_id, model, route, rating, score, comment, created_at, updated_at`

// UpsertFeedback stores f, or replaces the feedback the same key — or, in
// a session (KeyID 0), the same user — gave on the same answer before. It sets f's ID, CreatedAt and UpdatedAt as stored and
// reports whether the row is new. (Two first feedbacks racing on PostgreSQL
// may both report created; the row is still one.)
func (db *DB) UpsertFeedback(ctx context.Context, f *chorus.Feedback) (created bool, err error) {
	if err := f.Validate(); err != nil {
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

// ListFeedback returns one page of feedback in ID order.
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListFeedback(ctx context.Context, f chorus.FeedbackFilter, page chorus.Page) ([]*chorus.Feedback, error) {
	tx, err := db.beginLagged(ctx)
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
	var out []*chorus.Feedback
	for rows.Next() {
		var fb chorus.Feedback
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
