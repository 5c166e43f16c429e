package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/chorusgw/chorus"
)

const deploymentColumns = `id, model_id, name, provider, upstream_model, base_url, credential_id, headers, settings,
	input_price, output_price, cached_input_price, cache_write_price, reasoning_price, weight, enabled, created_at, updated_at`

// CreateDeployment stores a new deployment and sets its ID, CreatedAt and
// UpdatedAt. A missing model or credential is EINVALID; a taken name
// ECONFLICT.
func (db *DB) CreateDeployment(ctx context.Context, d *chorus.Deployment) error {
	if err := d.Validate(); err != nil {
		return err
	}
	headers, settings, err := deploymentJSON(d)
	if err != nil {
		return fmt.Errorf("create deployment: %w", err)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkDeploymentRefs(ctx, tx, d); err != nil {
		return err
	}
	d.CreatedAt = db.timeNow()
	d.UpdatedAt = d.CreatedAt
	err = tx.queryRow(ctx, `INSERT INTO deployments
		(model_id, name, provider, upstream_model, base_url, credential_id, headers, settings,
		 input_price, output_price, cached_input_price, cache_write_price, reasoning_price, weight, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.ModelID, d.Name, d.Provider, d.UpstreamModel, d.BaseURL, d.CredentialID, headers, settings,
		d.InputPrice, d.OutputPrice, d.CachedInputPrice, d.CacheWritePrice, d.ReasoningPrice,
		d.Weight, d.Enabled, d.CreatedAt, d.UpdatedAt).Scan(&d.ID)
	if err := db.deploymentWriteErr(err, d); err != nil {
		return err
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditDeploymentCreated, "deployment", idString(d.ID), 0, deploymentDetails(d)))
}

// UpdateDeployment replaces every mutable field of the deployment with ID
// d.ID, including its model and credential, and sets UpdatedAt (and
// CreatedAt, as stored). ENOTFOUND if there is no such deployment.
func (db *DB) UpdateDeployment(ctx context.Context, d *chorus.Deployment) error {
	if err := d.Validate(); err != nil {
		return err
	}
	headers, settings, err := deploymentJSON(d)
	if err != nil {
		return fmt.Errorf("update deployment: %w", err)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkDeploymentRefs(ctx, tx, d); err != nil {
		return err
	}
	d.UpdatedAt = db.timeNow()
	err = tx.queryRow(ctx, `UPDATE deployments SET model_id = ?, name = ?, provider = ?, upstream_model = ?,
		base_url = ?, credential_id = ?, headers = ?, settings = ?, input_price = ?, output_price = ?,
		cached_input_price = ?, cache_write_price = ?, reasoning_price = ?,
		weight = ?, enabled = ?, updated_at = ? WHERE id = ? RETURNING created_at`,
		d.ModelID, d.Name, d.Provider, d.UpstreamModel, d.BaseURL, d.CredentialID, headers, settings,
		d.InputPrice, d.OutputPrice, d.CachedInputPrice, d.CacheWritePrice, d.ReasoningPrice,
		d.Weight, d.Enabled, d.UpdatedAt, d.ID).Scan(scanTime(&d.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("deployment %d not found", d.ID)
	}
	if err := db.deploymentWriteErr(err, d); err != nil {
		return err
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditDeploymentUpdated, "deployment", idString(d.ID), 0, deploymentDetails(d)))
}

// DeleteDeployment deletes a deployment (ENOTFOUND if there is no such
// deployment).
func (db *DB) DeleteDeployment(ctx context.Context, id int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var name string
	var modelID int64
	err = tx.queryRow(ctx, `DELETE FROM deployments WHERE id = ? RETURNING name, model_id`, id).Scan(&name, &modelID)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("deployment %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("delete deployment: %w", err)
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditDeploymentDeleted, "deployment", idString(id), 0,
		map[string]any{"name": name, "model_id": modelID}))
}

// DeploymentByID returns the deployment with the given ID, or ENOTFOUND.
func (db *DB) DeploymentByID(ctx context.Context, id int64) (*chorus.Deployment, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	d, err := scanDeployment(tx.queryRow(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("deployment %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment: %w", err)
	}
	return d, nil
}

// ListDeployments returns one page of deployments in ID order, of one model
// when modelID is not nil.
func (db *DB) ListDeployments(ctx context.Context, modelID *int64, page chorus.Page) ([]*chorus.Deployment, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := `WHERE id > ?`, []any{page.After}
	if modelID != nil {
		where += ` AND model_id = ?`
		args = append(args, *modelID)
	}
	args = append(args, limit(page))
	ds, err := queryDeployments(ctx, tx, where+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return ds, nil
}

// checkDeploymentRefs turns a missing model or credential into a clear
// EINVALID before the insert, which SQLite would only report as "FOREIGN
// KEY constraint failed" without saying which.
func checkDeploymentRefs(ctx context.Context, tx *tx, d *chorus.Deployment) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM models WHERE id = ?`, d.ModelID).Scan(&n); err != nil {
		return fmt.Errorf("check model: %w", err)
	}
	if n == 0 {
		return chorus.Invalid("model_id", "model %d does not exist", d.ModelID)
	}
	if d.CredentialID == nil {
		return nil
	}
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM credentials WHERE id = ?`, *d.CredentialID).Scan(&n); err != nil {
		return fmt.Errorf("check credential: %w", err)
	}
	if n == 0 {
		return chorus.Invalid("credential_id", "credential %d does not exist", *d.CredentialID)
	}
	return nil
}

// deploymentWriteErr maps an insert or update error.
func (db *DB) deploymentWriteErr(err error, d *chorus.Deployment) error {
	switch {
	case err == nil:
		return nil
	case db.d.isUnique(err):
		return conflict(err, "a deployment named %q exists already", d.Name)
	case db.d.isForeignKey(err): // the model or credential was deleted since checkDeploymentRefs
		e := chorus.Invalid("model_id", "the model or credential of deployment %q does not exist", d.Name)
		e.Err = err
		return e
	}
	return fmt.Errorf("write deployment: %w", err)
}

func queryDeployments(ctx context.Context, tx *tx, where string, args ...any) ([]*chorus.Deployment, error) {
	rows, err := tx.query(ctx, `SELECT `+deploymentColumns+` FROM deployments `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chorus.Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func scanDeployment(s scanner) (*chorus.Deployment, error) {
	var d chorus.Deployment
	err := s.Scan(&d.ID, &d.ModelID, &d.Name, &d.Provider, &d.UpstreamModel, &d.BaseURL, &d.CredentialID,
		jsonCol{&d.Headers}, jsonCol{&d.Settings}, &d.InputPrice, &d.OutputPrice,
		&d.CachedInputPrice, &d.CacheWritePrice, &d.ReasoningPrice, &d.Weight, &d.Enabled,
		scanTime(&d.CreatedAt), scanTime(&d.UpdatedAt))
	if err != nil {
		return nil, err
	}
	if len(d.Headers) == 0 {
		d.Headers = nil
	}
	if len(d.Settings) == 0 {
		d.Settings = nil
	}
	return &d, nil
}

func deploymentJSON(d *chorus.Deployment) (headers, settings string, err error) {
	if headers, err = jsonText(d.Headers, "{}"); err != nil {
		return "", "", fmt.Errorf("headers: %w", err)
	}
	if settings, err = jsonText(d.Settings, "{}"); err != nil {
		return "", "", fmt.Errorf("settings: %w", err)
	}
	return headers, settings, nil
}
