package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chorusgw/chorus"
)

// SaveResponse stores a Responses API answer (an existing ID is
// EINVALID: IDs are never reused). CreatedAt is set when zero.
func (db *DB) SaveResponse(ctx context.Context, r *chorus.StoredResponse) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = db.timeNow()
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.exec(ctx, `INSERT INTO responses (id, team_id, key_id, user_id, model, previous_id, input, response, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TeamID, r.KeyID, r.UserID, r.Model, r.PreviousID, string(r.Input), string(r.Response), r.CreatedAt)
	if tx.d.isUnique(err) {
		return chorus.Errorf(chorus.ECONFLICT, "response %s exists", r.ID)
	}
	if err != nil {
		return fmt.Errorf("save response: %w", err)
	}
	return commit(tx)
}

// GetResponse returns a team's stored response; ENOTFOUND when there is
// none (another team's included).
func (db *DB) GetResponse(ctx context.Context, teamID int64, id string) (*chorus.StoredResponse, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var r chorus.StoredResponse
	var input, resp string
	err = tx.queryRow(ctx, `SELECT id, team_id, key_id, user_id, model, previous_id, input, response, created_at
		FROM responses WHERE id = ? AND team_id = ?`, id, teamID).Scan(
		&r.ID, &r.TeamID, &r.KeyID, &r.UserID, &r.Model, &r.PreviousID, &input, &resp, scanTime(&r.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, responseNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("get response: %w", err)
	}
	r.Input, r.Response = []byte(input), []byte(resp)
	return &r, nil
}

// ResponseChain returns the conversation that ends with a team's response
// id, oldest first: the response, the one its request named as previous,
// and so on, at most chorus.MaxConversationDepth of them, in one query.
// ENOTFOUND when id itself is not the team's; an earlier response that was
// deleted or purged ends the chain there.
func (db *DB) ResponseChain(ctx context.Context, teamID int64, id string) ([]*chorus.StoredResponse, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `WITH RECURSIVE chain (id, previous_id, model, input, response, created_at, depth) AS (
			SELECT id, previous_id, model, input, response, created_at, 0 FROM responses WHERE id = ? AND team_id = ?
			UNION ALL
			SELECT r.id, r.previous_id, r.model, r.input, r.response, r.created_at, c.depth + 1
			FROM responses r JOIN chain c ON r.id = c.previous_id
			WHERE r.team_id = ? AND c.previous_id <> '' AND c.depth + 1 < ?
		)
		SELECT id, previous_id, model, input, response, created_at FROM chain ORDER BY depth DESC`,
		id, teamID, teamID, chorus.MaxConversationDepth)
	if err != nil {
		return nil, fmt.Errorf("response chain: %w", err)
	}
	defer rows.Close()
	var out []*chorus.StoredResponse
	for rows.Next() {
		r := &chorus.StoredResponse{TeamID: teamID}
		var input, resp string
		if err := rows.Scan(&r.ID, &r.PreviousID, &r.Model, &input, &resp, scanTime(&r.CreatedAt)); err != nil {
			return nil, fmt.Errorf("response chain: %w", err)
		}
		r.Input, r.Response = []byte(input), []byte(resp)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("response chain: %w", err)
	}
	if len(out) == 0 {
		return nil, responseNotFound(id)
	}
	return out, nil
}

// DeleteResponse deletes a team's stored response; ENOTFOUND when there is
// none.
func (db *DB) DeleteResponse(ctx context.Context, teamID int64, id string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `DELETE FROM responses WHERE id = ? AND team_id = ?`, id, teamID)
	if err != nil {
		return fmt.Errorf("delete response: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return responseNotFound(id)
	}
	return commit(tx)
}

// PurgeResponses deletes stored responses created before the cutoff and
// returns how many went.
func (db *DB) PurgeResponses(ctx context.Context, before time.Time) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `DELETE FROM responses WHERE created_at < ?`, before)
	if err != nil {
		return 0, fmt.Errorf("purge responses: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, commit(tx)
}

// responseNotFound is OpenAI's not-found error for a response ID.
func responseNotFound(id string) error {
	return &chorus.Error{Code: chorus.ENOTFOUND, Message: "Response with id '" + id + "' not found."}
}
