package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

const scoreColumns = `request_id, response_id, model, route, deployment, key_id, user_id, scorer, value, reason, created_at`

const scoreColumnCount = 11

// scoreChunk is how many records one INSERT carries (5,500 parameters).
const scoreChunk = 500

// InsertScores stores score records in one transaction. Records without
// CreatedAt get the current time; IDs are not set on recs. A value outside
// [0, 1] (or NaN) is EINVALID and nothing is stored.
func (db *DB) InsertScores(ctx context.Context, recs []chorus.ScoreRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if v := recs[i].Value; !(v >= 0 && v <= 1) {
			return chorus.Invalid("value", "score %q of response %q is %v, outside [0, 1]", recs[i].Scorer, recs[i].ResponseID, v)
		}
		if recs[i].Scorer == "" {
			return chorus.Invalid("scorer", "a score record needs a scorer")
		}
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := db.timeNow()
	args := make([]any, 0, min(len(recs), scoreChunk)*scoreColumnCount)
	row := "(?" + strings.Repeat(", ?", scoreColumnCount-1) + ")"
	for start := 0; start < len(recs); start += scoreChunk {
		chunk := recs[start:min(start+scoreChunk, len(recs))]
		args = args[:0]
		for i := range chunk {
			r := &chunk[i]
			at := r.CreatedAt
			if at.IsZero() {
				at = now
			}
			args = append(args, r.RequestID, r.ResponseID, r.Model, r.Route, r.Deployment, r.KeyID, r.UserID,
				r.Scorer, r.Value, r.Reason, at)
		}
		q := "INSERT INTO quality_scores (" + scoreColumns + ") VALUES " + row + strings.Repeat(", "+row, len(chunk)-1)
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("insert scores: %w", err)
		}
	}
	return commit(tx)
}

// ListScores returns one page of score records in ID order.
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListScores(ctx context.Context, f chorus.ScoreFilter, page chorus.Page) ([]*chorus.ScoreRecord, error) {
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
	where, args = timeWindow(where, args, f.Since, f.Until)
	args = append(args, limit(page))
	rows, err := tx.query(ctx, `SELECT id, `+scoreColumns+` FROM quality_scores WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list scores: %w", err)
	}
	defer rows.Close()
	var out []*chorus.ScoreRecord
	for rows.Next() {
		var r chorus.ScoreRecord
		if err := rows.Scan(&r.ID, &r.RequestID, &r.ResponseID, &r.Model, &r.Route, &r.Deployment, &r.KeyID,
			&r.UserID, &r.Scorer, &r.Value, &r.Reason, scanTime(&r.CreatedAt)); err != nil {
			return nil, fmt.Errorf("list scores: %w", err)
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list scores: %w", err)
	}
	return out, nil
}

// timeWindow adds created_at bounds to a WHERE list.
func timeWindow(where []string, args []any, since, until time.Time) ([]string, []any) {
	if !since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, since)
	}
	if !until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, until)
	}
	return where, args
}

// QualityAggregates groups the scores and feedback created in the filter's
// window by model, route (and scorer), in SQL, in one snapshot.
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) QualityAggregates(ctx context.Context, f chorus.AggregateFilter) (*chorus.QualityAggregates, error) {
	tx, err := db.beginLagged(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"1 = 1"}, []any{}
	if f.Model != "" {
		where, args = append(where, "model = ?"), append(args, f.Model)
	}
	if f.Route != "" {
		where, args = append(where, "route = ?"), append(args, f.Route)
	}
	where, args = timeWindow(where, args, f.Since, f.Until)
	cond := strings.Join(where, " AND ")
	out := &chorus.QualityAggregates{}

	rows, err := tx.query(ctx, `SELECT model, route, scorer, COUNT(*), SUM(value) FROM quality_scores
		WHERE `+cond+` GROUP BY model, route, scorer ORDER BY model, route, scorer`, args...)
	if err != nil {
		return nil, fmt.Errorf("quality aggregates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a chorus.ScoreAggregate
		if err := rows.Scan(&a.Model, &a.Route, &a.Scorer, &a.Count, &a.Sum); err != nil {
			return nil, fmt.Errorf("quality aggregates: %w", err)
		}
		out.Scores = append(out.Scores, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quality aggregates: %w", err)
	}
	rows.Close()

	rows, err = tx.query(ctx, `SELECT model, route, COUNT(*),
			SUM(CASE WHEN rating = 'up' THEN 1 ELSE 0 END),
			SUM(CASE WHEN rating = 'down' THEN 1 ELSE 0 END),
			SUM(COALESCE(score, CASE WHEN rating = 'up' THEN 1.0 ELSE 0.0 END))
		FROM feedback WHERE `+cond+` GROUP BY model, route ORDER BY model, route`, args...)
	if err != nil {
		return nil, fmt.Errorf("feedback aggregates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a chorus.FeedbackAggregate
		if err := rows.Scan(&a.Model, &a.Route, &a.Count, &a.Up, &a.Down, &a.ValueSum); err != nil {
			return nil, fmt.Errorf("feedback aggregates: %w", err)
		}
		out.Feedback = append(out.Feedback, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feedback aggregates: %w", err)
	}
	return out, nil
}
