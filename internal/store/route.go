package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/chorusgw/chorus"
)

const routeColumns = `id, name, description, strategy, targets, config, enabled, created_at, updated_at`

// CreateRoute stores a new route and sets its ID, CreatedAt and UpdatedAt.
// Its name must be free among routes and models alike (ECONFLICT): clients
// ask for either as "model".
func (db *DB) CreateRoute(ctx context.Context, r *chorus.Route) error {
	if err := validateRoute(r); err != nil {
		return err
	}
	targets, config, err := routeJSON(r)
	if err != nil {
		return fmt.Errorf("create route: %w", err)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := claimName(ctx, tx, "models", r.Name); err != nil {
		return err
	}
	r.CreatedAt = db.timeNow()
	r.UpdatedAt = r.CreatedAt
	err = tx.queryRow(ctx, `INSERT INTO routes
		(name, description, strategy, targets, config, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.Name, r.Description, r.Strategy, targets, config, r.Enabled, r.CreatedAt, r.UpdatedAt).Scan(&r.ID)
	if db.d.isUnique(err) {
		return conflict(err, "a route named %q exists already", r.Name)
	}
	if err != nil {
		return fmt.Errorf("create route: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditRouteCreated, "route", idString(r.ID), 0, routeDetails(r))); err != nil {
		return err
	}
	return commit(tx)
}

// UpdateRoute replaces every mutable field of the route with ID r.ID (name,
// description, strategy, targets, config, enabled) and sets UpdatedAt (and
// CreatedAt, as stored). ENOTFOUND if there is no such route; ECONFLICT if
// the new name is taken by another route or by a model.
func (db *DB) UpdateRoute(ctx context.Context, r *chorus.Route) error {
	if err := validateRoute(r); err != nil {
		return err
	}
	targets, config, err := routeJSON(r)
	if err != nil {
		return fmt.Errorf("update route: %w", err)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := claimName(ctx, tx, "models", r.Name); err != nil {
		return err
	}
	r.UpdatedAt = db.timeNow()
	err = tx.queryRow(ctx, `UPDATE routes SET name = ?, description = ?, strategy = ?, targets = ?, config = ?,
		enabled = ?, updated_at = ? WHERE id = ? RETURNING created_at`,
		r.Name, r.Description, r.Strategy, targets, config, r.Enabled, r.UpdatedAt, r.ID).Scan(scanTime(&r.CreatedAt))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("route %d not found", r.ID)
	case db.d.isUnique(err):
		return conflict(err, "a route named %q exists already", r.Name)
	case err != nil:
		return fmt.Errorf("update route: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditRouteUpdated, "route", idString(r.ID), 0, routeDetails(r))); err != nil {
		return err
	}
	return commit(tx)
}

// DeleteRoute deletes a route (ENOTFOUND if there is no such route).
func (db *DB) DeleteRoute(ctx context.Context, id int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var name string
	err = tx.queryRow(ctx, `DELETE FROM routes WHERE id = ? RETURNING name`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("route %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("delete route: %w", err)
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditRouteDeleted, "route", idString(id), 0, map[string]any{"name": name}))
}

// RouteByID returns the route with the given ID, or ENOTFOUND.
func (db *DB) RouteByID(ctx context.Context, id int64) (*chorus.Route, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return routeWhere(ctx, tx, `id = ?`, id)
}

// RouteByName returns the route with the given public name, or ENOTFOUND.
func (db *DB) RouteByName(ctx context.Context, name string) (*chorus.Route, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return routeWhere(ctx, tx, `name = ?`, name)
}

// ListRoutes returns one page of routes, enabled or not, in ID order.
func (db *DB) ListRoutes(ctx context.Context, page chorus.Page) ([]*chorus.Route, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rs, err := queryRoutes(ctx, tx, `WHERE id > ? ORDER BY id LIMIT ?`, page.After, limit(page))
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	return rs, nil
}

// claimName bumps the registry version, as every registry write does, and
// then fails with ECONFLICT if a row of table ("models" or "routes") is named
// name: models and routes share one namespace, which no constraint can span.
//
// The bump comes first because it is also the lock: the UPDATE holds the one
// row of registry_version until commit, so two transactions that claim the
// same name in the two tables take turns, and the second one's SELECT sees
// the first one's row (on PostgreSQL each statement of a READ COMMITTED
// transaction reads what was committed before it started; SQLite has one
// writer at a time anyway).
func claimName(ctx context.Context, tx *tx, table, name string) error {
	if err := bumpRegistry(ctx, tx); err != nil {
		return err
	}
	what := strings.TrimSuffix(table, "s") // "model" or "route"
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("claim name: %w", err)
	}
	if n > 0 {
		return chorus.Errorf(chorus.ECONFLICT, "a %s named %q exists; models and routes share one namespace", what, name)
	}
	return nil
}

func routeWhere(ctx context.Context, tx *tx, where string, args ...any) (*chorus.Route, error) {
	r, err := scanRoute(tx.queryRow(ctx, `SELECT `+routeColumns+` FROM routes WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("route not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get route: %w", err)
	}
	return r, nil
}

func queryRoutes(ctx context.Context, tx *tx, where string, args ...any) ([]*chorus.Route, error) {
	rows, err := tx.query(ctx, `SELECT `+routeColumns+` FROM routes `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chorus.Route
	for rows.Next() {
		r, err := scanRoute(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRoute(s scanner) (*chorus.Route, error) {
	var r chorus.Route
	err := s.Scan(&r.ID, &r.Name, &r.Description, &r.Strategy, jsonCol{&r.Targets}, jsonCol{&r.Config},
		&r.Enabled, scanTime(&r.CreatedAt), scanTime(&r.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// routeJSON encodes a route's JSON columns.
func routeJSON(r *chorus.Route) (targets, config string, err error) {
	if targets, err = jsonText(r.Targets, "[]"); err != nil {
		return "", "", fmt.Errorf("encode targets: %w", err)
	}
	if config, err = jsonText(r.Config, "{}"); err != nil {
		return "", "", fmt.Errorf("encode config: %w", err)
	}
	return targets, config, nil
}

// validateRoute checks what keeps a stored route meaningful. The admin API
// checks the rest (target models exist and are of one kind, config ranges)
// before it calls the store.
func validateRoute(r *chorus.Route) error {
	switch {
	case strings.TrimSpace(r.Name) == "" || strings.TrimSpace(r.Name) != r.Name:
		return chorus.Invalid("name", "route name is required and may not start or end with spaces")
	case len(r.Name) > 200:
		return chorus.Invalid("name", "route name is longer than 200 bytes")
	case !chorus.ValidStrategy(r.Strategy):
		return chorus.Invalid("strategy", "strategy must be one of %v, got %q", chorus.Strategies(), r.Strategy)
	case len(r.Targets) == 0:
		return chorus.Invalid("targets", "a route needs at least one target")
	}
	for i, t := range r.Targets {
		if t.Model == "" {
			return chorus.Invalid(fmt.Sprintf("targets[%d].model", i), "target model is required")
		}
	}
	return nil
}
