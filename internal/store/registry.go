package store

import (
	"context"
	"fmt"

	"github.com/chorusgw/chorus"
)

// Registry is everything the in-memory snapshot is built from, read in one
// transaction so that its parts agree with each other and with Version. Its
// fields match registry.Data, so registry.Data(*r) converts it.
type Registry struct {
	Version int64            // the registry version the data was read at
	Models  []*chorus.Model  // every model, enabled or not, in ID order, with Deployments filled
	Secrets map[int64]string // credential ID → decrypted secret
	Keys    []*chorus.APIKey // active keys (see ActiveKeys), with Role filled
	Routes  []*chorus.Route  // every route, enabled or not, in ID order
}

// LoadRegistry reads the registry in one consistent transaction. It fails
// when a credential cannot be decrypted, naming it.
func (db *DB) LoadRegistry(ctx context.Context) (*Registry, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r := &Registry{}
	// Read the version first: on PostgreSQL the first statement fixes the
	// snapshot, and every read after it sees the same one.
	if err := tx.queryRow(ctx, `SELECT version FROM registry_version WHERE id = 1`).Scan(&r.Version); err != nil {
		return nil, fmt.Errorf("load registry: version: %w", err)
	}
	if r.Models, err = queryModels(ctx, tx, `ORDER BY id`); err != nil {
		return nil, fmt.Errorf("load registry: models: %w", err)
	}
	deps, err := queryDeployments(ctx, tx, `ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load registry: deployments: %w", err)
	}
	byID := make(map[int64]*chorus.Model, len(r.Models))
	for _, m := range r.Models {
		byID[m.ID] = m
	}
	for _, d := range deps {
		if m := byID[d.ModelID]; m != nil {
			m.Deployments = append(m.Deployments, d)
		}
	}
	if r.Secrets, err = db.credentialSecrets(ctx, tx); err != nil {
		return nil, fmt.Errorf("load registry: %w", err)
	}
	if r.Keys, err = activeKeys(ctx, tx, db.timeNow()); err != nil {
		return nil, fmt.Errorf("load registry: %w", err)
	}
	if r.Routes, err = queryRoutes(ctx, tx, `ORDER BY id`); err != nil {
		return nil, fmt.Errorf("load registry: routes: %w", err)
	}
	return r, nil
}

// RegistryVersion returns the current registry version: one cheap query,
// for instances to poll.
func (db *DB) RegistryVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := db.rdb.QueryRowContext(ctx, `SELECT version FROM registry_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("registry version: %w", err)
	}
	return v, nil
}
