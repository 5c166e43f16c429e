package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

// ClientErrorRetention is how long client error reports are kept: each
// insert purges what is older, so the table holds at most this window.
const ClientErrorRetention = 30 * 24 * time.Hour

// InsertClientError stores a browser's error report (already normalised
// and scrubbed by the caller) and purges reports past the retention.
func (db *DB) InsertClientError(ctx context.Context, e *chorus.ClientError) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	e.CreatedAt = db.timeNow()
	err = tx.queryRow(ctx, `INSERT INTO client_errors (user_id, team_id, message, stack, route, release, request_id, user_agent, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.UserID, e.TeamID, e.Message, e.Stack, e.Route, e.Release, e.RequestID, e.UserAgent, e.CreatedAt).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("insert client error: %w", err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM client_errors WHERE created_at < ?`, e.CreatedAt.Add(-ClientErrorRetention)); err != nil {
		return fmt.Errorf("purge client errors: %w", err)
	}
	return commit(tx)
}

// ListClientErrors returns one page of client error reports, oldest first
// (page.After is the last id of the previous page).
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListClientErrors(ctx context.Context, f chorus.ClientErrorFilter, page chorus.Page) ([]*chorus.ClientError, error) {
	tx, err := db.beginLagged(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"id > ?"}, []any{page.After}
	if f.UserID != nil {
		where, args = append(where, "user_id = ?"), append(args, *f.UserID)
	}
	if f.Route != "" {
		where, args = append(where, "route = ?"), append(args, f.Route)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, normTime(f.Since))
	}
	args = append(args, limit(page))
	rows, err := tx.query(ctx, `SELECT id, user_id, team_id, message, stack, route, release, request_id, user_agent, created_at
		FROM client_errors WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list client errors: %w", err)
	}
	defer rows.Close()
	var out []*chorus.ClientError
	for rows.Next() {
		var e chorus.ClientError
		if err := rows.Scan(&e.ID, &e.UserID, &e.TeamID, &e.Message, &e.Stack, &e.Route, &e.Release, &e.RequestID,
			&e.UserAgent, scanTime(&e.CreatedAt)); err != nil {
			return nil, fmt.Errorf("list client errors: %w", err)
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list client errors: %w", err)
	}
	return out, nil
}
