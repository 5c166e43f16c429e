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
// exists is ECONFLICT. CreatedAt is set when zero. A zero Seq is assigned
// here, the scope's next (set on e): every instance of a fleet learns
// into the same scope, so the sequence is the database's. Two instances
// that take the same number meet on the primary key (the second waits for
// the first's commit), and the second takes the next one; so examples
// become visible in seq order, which Learner.Sync relies on.
func (db *DB) InsertLearnedExample(ctx context.Context, e *chorus.LearnedExample) error {
	if !(e.Label >= 0 && e.Label <= 1) {
		return chorus.Invalid("label", "label must be between 0 and 1, got %v", e.Label)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = db.timeNow()
	}
	if e.Seq != 0 {
		return db.insertLearnedExample(ctx, e, e.Seq)
	}
	var err error
	for range 20 {
		if err = db.insertLearnedExample(ctx, e, 0); chorus.ErrorCode(err) != chorus.ECONFLICT {
			return err
		}
	}
	return err
}

// insertLearnedExample inserts e at seq, or at the scope's next seq when
// seq is 0, and sets e.Seq.
func (db *DB) insertLearnedExample(ctx context.Context, e *chorus.LearnedExample, seq int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if seq == 0 {
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM learned_examples WHERE scope = ?`, e.Scope).Scan(&seq); err != nil {
			return fmt.Errorf("insert learned example: next seq: %w", err)
		}
	}
	holdout := 0
	if e.Holdout {
		holdout = 1
	}
	_, err = tx.exec(ctx, `INSERT INTO learned_examples (scope, seq, response_id, model, source, label, weight, holdout,
		features, prior_features, input_tokens, output_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Scope, seq, e.ResponseID, e.Model, e.Source, e.Label, e.Weight, holdout, string(e.Features), string(e.PriorFeatures),
		e.InputTokens, e.OutputTokens, e.CreatedAt)
	if tx.d.isUnique(err) {
		return chorus.Errorf(chorus.ECONFLICT, "learned example %s #%d exists", e.Scope, seq)
	}
	if err != nil {
		return fmt.Errorf("insert learned example: %w", err)
	}
	if err := commit(tx); err != nil {
		return err
	}
	e.Seq = seq
	return nil
}

// LearnedScopes returns the names of the scopes that have examples.
func (db *DB) LearnedScopes(ctx context.Context) ([]string, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT DISTINCT scope FROM learned_examples ORDER BY scope`)
	if err != nil {
		return nil, fmt.Errorf("learned scopes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("learned scopes: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// MaxFeedbackID returns the newest feedback's ID (0 when there is none):
// where a learner starts following feedback.
func (db *DB) MaxFeedbackID(ctx context.Context) (int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var id int64
	if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM feedback`).Scan(&id); err != nil {
		return 0, fmt.Errorf("max feedback id: %w", err)
	}
	return id, nil
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
// maxLearnedVersions, in one transaction. CreatedAt is set when zero. A
// zero Version is assigned here, the scope's next (set on m): instances of
// a fleet save versions of the same scorer.
func (db *DB) SaveLearnedModel(ctx context.Context, m *chorus.LearnedModel) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = db.timeNow()
	}
	if m.Version != 0 {
		return db.saveLearnedModel(ctx, m, m.Version)
	}
	var err error
	for range 20 {
		if err = db.saveLearnedModel(ctx, m, 0); chorus.ErrorCode(err) != chorus.ECONFLICT {
			return err
		}
	}
	return err
}

func (db *DB) saveLearnedModel(ctx context.Context, m *chorus.LearnedModel, version int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if version == 0 {
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM learned_models WHERE scope = ?`, m.Scope).Scan(&version); err != nil {
			return fmt.Errorf("save learned model: next version: %w", err)
		}
	}
	_, err = tx.exec(ctx, `INSERT INTO learned_models (scope, version, seq, note, snapshot, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		m.Scope, version, m.Seq, m.Note, string(m.Snapshot), m.CreatedAt)
	if tx.d.isUnique(err) {
		return chorus.Errorf(chorus.ECONFLICT, "learned scorer %s version %d exists", m.Scope, version)
	}
	if err != nil {
		return fmt.Errorf("save learned model: %w", err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM learned_models WHERE scope = ? AND version <= ?`,
		m.Scope, version-maxLearnedVersions); err != nil {
		return fmt.Errorf("save learned model: prune: %w", err)
	}
	if err := commit(tx); err != nil {
		return err
	}
	m.Version = version
	return nil
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
