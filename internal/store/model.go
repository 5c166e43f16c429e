package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/chorusgw/chorus"
)

const modelColumns = `id, name, kind, description, context_window, max_output, max_tokens_policy, owned_by, enabled, created_at, updated_at`

// CreateModel stores a new model and sets its ID, CreatedAt and UpdatedAt.
// The name must be free among models and routes alike (ECONFLICT).
// Deployments are not stored with it: create them with CreateDeployment.
func (db *DB) CreateModel(ctx context.Context, m *chorus.Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := claimName(ctx, tx, "routes", m.Name); err != nil {
		return err
	}
	m.CreatedAt = db.timeNow()
	m.UpdatedAt = m.CreatedAt
	err = tx.queryRow(ctx, `INSERT INTO models
		(name, kind, description, context_window, max_output, max_tokens_policy, owned_by, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		m.Name, m.Kind, m.Description, m.ContextWindow, m.MaxOutput, m.MaxTokensPolicy, m.OwnedBy, m.Enabled,
		m.CreatedAt, m.UpdatedAt).Scan(&m.ID)
	if db.d.isUnique(err) {
		return conflict(err, "a model named %q exists already", m.Name)
	}
	if err != nil {
		return fmt.Errorf("create model: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditModelCreated, "model", idString(m.ID), 0, modelDetails(m))); err != nil {
		return err
	}
	return commit(tx)
}

// UpdateModel replaces every mutable field of the model with ID m.ID and
// sets UpdatedAt (and CreatedAt, as stored). ENOTFOUND if there is no such
// model; ECONFLICT if the new name is taken by another model or a route.
func (db *DB) UpdateModel(ctx context.Context, m *chorus.Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := claimName(ctx, tx, "routes", m.Name); err != nil {
		return err
	}
	m.UpdatedAt = db.timeNow()
	err = tx.queryRow(ctx, `UPDATE models SET name = ?, kind = ?, description = ?, context_window = ?,
		max_output = ?, max_tokens_policy = ?, owned_by = ?, enabled = ?, updated_at = ? WHERE id = ? RETURNING created_at`,
		m.Name, m.Kind, m.Description, m.ContextWindow, m.MaxOutput, m.MaxTokensPolicy, m.OwnedBy, m.Enabled,
		m.UpdatedAt, m.ID).Scan(scanTime(&m.CreatedAt))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("model %d not found", m.ID)
	case db.d.isUnique(err):
		return conflict(err, "a model named %q exists already", m.Name)
	case err != nil:
		return fmt.Errorf("update model: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditModelUpdated, "model", idString(m.ID), 0, modelDetails(m))); err != nil {
		return err
	}
	return commit(tx)
}

// DeleteModel deletes a model and its deployments (ENOTFOUND if there is no
// such model).
func (db *DB) DeleteModel(ctx context.Context, id int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var name string
	err = tx.queryRow(ctx, `DELETE FROM models WHERE id = ? RETURNING name`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("model %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("delete model: %w", err)
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditModelDeleted, "model", idString(id), 0, map[string]any{"name": name}))
}

// ModelByID returns the model with the given ID, without its deployments
// (see ListDeployments), or ENOTFOUND.
func (db *DB) ModelByID(ctx context.Context, id int64) (*chorus.Model, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return modelWhere(ctx, tx, `id = ?`, id)
}

// ModelByName returns the model with the given public name, without its
// deployments, or ENOTFOUND.
func (db *DB) ModelByName(ctx context.Context, name string) (*chorus.Model, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return modelWhere(ctx, tx, `name = ?`, name)
}

// ListModels returns one page of models, enabled or not, in ID order,
// without their deployments.
func (db *DB) ListModels(ctx context.Context, page chorus.Page) ([]*chorus.Model, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ms, err := queryModels(ctx, tx, `WHERE id > ? ORDER BY id LIMIT ?`, page.After, limit(page))
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return ms, nil
}

func modelWhere(ctx context.Context, tx *tx, where string, args ...any) (*chorus.Model, error) {
	m, err := scanModel(tx.queryRow(ctx, `SELECT `+modelColumns+` FROM models WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("model not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get model: %w", err)
	}
	return m, nil
}

func queryModels(ctx context.Context, tx *tx, where string, args ...any) ([]*chorus.Model, error) {
	rows, err := tx.query(ctx, `SELECT `+modelColumns+` FROM models `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chorus.Model
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func scanModel(s scanner) (*chorus.Model, error) {
	var m chorus.Model
	err := s.Scan(&m.ID, &m.Name, &m.Kind, &m.Description, &m.ContextWindow, &m.MaxOutput, &m.MaxTokensPolicy, &m.OwnedBy,
		&m.Enabled, scanTime(&m.CreatedAt), scanTime(&m.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &m, nil
}
