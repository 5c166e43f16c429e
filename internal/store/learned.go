package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/chorusgw/chorus"
)

// Learned quality scorers' examples and saved versions (migration 0019).

// maxLearnedVersions is how many saved versions of a scorer are kept: the
// oldest are deleted when a new one is saved.
const maxLearnedVersions = 50

// InsertLearnedExample stores one labelled example; a (scope, seq) that
// exists is ECONFLICT. CreatedAt is set when zero.
func (db *DB) InsertLearnedExample(ctx context.Context, e *chorus.LearnedExample) error {
	if !(e.Label >= 0 && e.Label <= 1) {
		return chorus.Invalid("label", "label must be between 0 and 1, got %v", e.Label)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = db.timeNow()
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	holdout := 0
	if e.Holdout {
		holdout = 1
	}
	_, err = tx.exec(ctx, `INSERT INTO learned_examples (scope, seq, response_id, model, source, label, weight, holdout,
		features, prior_features, input_tokens, output_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Scope, e.Seq, e.ResponseID, e.Model, e.Source, e.Label, e.Weight, holdout, string(e.Features), string(e.PriorFeatures),
		e.InputTokens, e.OutputTokens, e.CreatedAt)
	if tx.d.isUnique(err) {
		return chorus.Errorf(chorus.ECONFLICT, "learned example %s #%d exists", e.Scope, e.Seq)
	}
	if err != nil {
		return fmt.Errorf("insert learned example: %w", err)
	}
	return commit(tx)
}

// ListLearnedExamples returns up to limit of a scope's examples after seq,
// in seq order.
func (db *DB) ListLearnedExamples(ctx context.Context, scope string, afterSeq int64, limit int) ([]*chorus.LearnedExample, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT scope, seq, response_id, model, source, label, weight, holdout, features,
		prior_features, input_tokens, output_tokens, created_at FROM learned_examples WHERE scope = ? AND seq > ? ORDER BY seq LIMIT ?`,
		scope, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list learned examples: %w", err)
	}
	defer rows.Close()
	var out []*chorus.LearnedExample
	for rows.Next() {
		var e chorus.LearnedExample
		var holdout int
		var feats, prior string
		if err := rows.Scan(&e.Scope, &e.Seq, &e.ResponseID, &e.Model, &e.Source, &e.Label, &e.Weight, &holdout, &feats,
			&prior, &e.InputTokens, &e.OutputTokens, scanTime(&e.CreatedAt)); err != nil {
			return nil, fmt.Errorf("list learned examples: %w", err)
		}
		e.Holdout, e.Features = holdout != 0, []byte(feats)
		if prior != "" {
			e.PriorFeatures = []byte(prior)
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list learned examples: %w", err)
	}
	return out, nil
}

// DeleteLearnedExamplesAfter deletes a scope's examples after seq.
func (db *DB) DeleteLearnedExamplesAfter(ctx context.Context, scope string, seq int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.exec(ctx, `DELETE FROM learned_examples WHERE scope = ? AND seq > ?`, scope, seq); err != nil {
		return fmt.Errorf("delete learned examples: %w", err)
	}
	return commit(tx)
}

// SaveLearnedModel stores a version of a scorer's weights (an existing
// version is ECONFLICT) and deletes the versions beyond the newest
// maxLearnedVersions, in one transaction. CreatedAt is set when zero.
func (db *DB) SaveLearnedModel(ctx context.Context, m *chorus.LearnedModel) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = db.timeNow()
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.exec(ctx, `INSERT INTO learned_models (scope, version, seq, note, snapshot, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		m.Scope, m.Version, m.Seq, m.Note, string(m.Snapshot), m.CreatedAt)
	if tx.d.isUnique(err) {
		return chorus.Errorf(chorus.ECONFLICT, "learned scorer %s version %d exists", m.Scope, m.Version)
	}
	if err != nil {
		return fmt.Errorf("save learned model: %w", err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM learned_models WHERE scope = ? AND version <= ?`,
		m.Scope, m.Version-maxLearnedVersions); err != nil {
		return fmt.Errorf("save learned model: prune: %w", err)
	}
	return commit(tx)
}

// LearnedModel returns one saved version; ENOTFOUND when there is none.
func (db *DB) LearnedModel(ctx context.Context, scope string, version int64) (*chorus.LearnedModel, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var m chorus.LearnedModel
	var snap string
	err = tx.queryRow(ctx, `SELECT scope, version, seq, note, snapshot, created_at FROM learned_models
		WHERE scope = ? AND version = ?`, scope, version).Scan(&m.Scope, &m.Version, &m.Seq, &m.Note, &snap, scanTime(&m.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &chorus.Error{Code: chorus.ENOTFOUND, Param: "version",
			Message: "Learned scorer " + scope + " has no saved version " + strconv.FormatInt(version, 10) + "."}
	}
	if err != nil {
		return nil, fmt.Errorf("get learned model: %w", err)
	}
	m.Snapshot = []byte(snap)
	return &m, nil
}

// LatestLearnedModels returns every scope's newest saved version.
func (db *DB) LatestLearnedModels(ctx context.Context) ([]*chorus.LearnedModel, error) {
	return db.learnedModels(ctx, `SELECT m.scope, m.version, m.seq, m.note, m.snapshot, m.created_at FROM learned_models m
		WHERE m.version = (SELECT MAX(version) FROM learned_models WHERE scope = m.scope) ORDER BY m.scope`, true)
}

// ListLearnedModels returns a scope's saved versions, newest first,
// without their weights.
func (db *DB) ListLearnedModels(ctx context.Context, scope string) ([]*chorus.LearnedModel, error) {
	return db.learnedModels(ctx, `SELECT scope, version, seq, note, '', created_at FROM learned_models
		WHERE scope = ? ORDER BY version DESC`, false, scope)
}

func (db *DB) learnedModels(ctx context.Context, q string, withSnapshot bool, args ...any) ([]*chorus.LearnedModel, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list learned models: %w", err)
	}
	defer rows.Close()
	var out []*chorus.LearnedModel
	for rows.Next() {
		var m chorus.LearnedModel
		var snap string
		if err := rows.Scan(&m.Scope, &m.Version, &m.Seq, &m.Note, &snap, scanTime(&m.CreatedAt)); err != nil {
			return nil, fmt.Errorf("list learned models: %w", err)
		}
		if withSnapshot {
			m.Snapshot = []byte(snap)
		}
		out = append(out, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list learned models: %w", err)
	}
	return out, nil
}
