package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/chorusgw/chorus"
)

const productColumns = `id, name, description, price, credits, active, archived_at, created_at, updated_at`

// CreateProduct stores a new product and sets its ID, CreatedAt and
// UpdatedAt. Invalid fields are EINVALID naming the field.
func (db *DB) CreateProduct(ctx context.Context, p *chorus.Product) error {
	if err := chorus.ValidateProduct(p); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	p.CreatedAt = db.timeNow()
	p.UpdatedAt = p.CreatedAt
	p.ArchivedAt = normTimePtr(p.ArchivedAt)
	err = tx.queryRow(ctx, `INSERT INTO products (name, description, price, credits, active, archived_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Name, p.Description, p.Price, p.Credits, p.Active, p.ArchivedAt, p.CreatedAt, p.UpdatedAt).Scan(&p.ID)
	if err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditProductChanged, "product", strconv.FormatInt(p.ID, 10), 0,
		map[string]any{"op": "created", "product": p})); err != nil {
		return err
	}
	return commit(tx)
}

// UpdateProduct replaces the name, description, price, credits, active flag
// and archive time of the product with ID p.ID, and sets UpdatedAt and
// CreatedAt as stored (ENOTFOUND if there is no such product). Orders keep
// the prices they were placed at; carts show the new ones.
func (db *DB) UpdateProduct(ctx context.Context, p *chorus.Product) error {
	if err := chorus.ValidateProduct(p); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	before, err := productWhere(ctx, tx, `id = ?`+forUpdate(tx), p.ID)
	if err != nil {
		return err
	}
	p.UpdatedAt = db.timeNow()
	p.CreatedAt = before.CreatedAt
	p.ArchivedAt = normTimePtr(p.ArchivedAt)
	if _, err := tx.exec(ctx, `UPDATE products SET name = ?, description = ?, price = ?, credits = ?, active = ?,
		archived_at = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.Description, p.Price, p.Credits, p.Active, p.ArchivedAt, p.UpdatedAt, p.ID); err != nil {
		return fmt.Errorf("update product: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditProductChanged, "product", strconv.FormatInt(p.ID, 10), 0,
		map[string]any{"op": "updated", "before": before, "after": p})); err != nil {
		return err
	}
	return commit(tx)
}

// ProductByID returns the product with the given ID, or ENOTFOUND.
func (db *DB) ProductByID(ctx context.Context, id int64) (*chorus.Product, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return productWhere(ctx, tx, `id = ?`, id)
}

// ListProducts returns one page of products in ID order.
func (db *DB) ListProducts(ctx context.Context, f chorus.ProductFilter, page chorus.Page) ([]*chorus.Product, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where := `id > ?`
	if f.OnSale {
		where += ` AND active = ?`
	}
	args := []any{page.After}
	if f.OnSale {
		args = append(args, true)
	}
	args = append(args, limit(page))
	rows, err := tx.query(ctx, `SELECT `+productColumns+` FROM products WHERE `+where+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	var out []*chorus.Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return out, nil
}

func productWhere(ctx context.Context, tx *tx, where string, args ...any) (*chorus.Product, error) {
	p, err := scanProduct(tx.queryRow(ctx, `SELECT `+productColumns+` FROM products WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("product not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get product: %w", err)
	}
	return p, nil
}

func scanProduct(s scanner) (*chorus.Product, error) {
	var p chorus.Product
	if err := s.Scan(&p.ID, &p.Name, &p.Description, &p.Price, &p.Credits, &p.Active,
		scanNullTime(&p.ArchivedAt), scanTime(&p.CreatedAt), scanTime(&p.UpdatedAt)); err != nil {
		return nil, err
	}
	return &p, nil
}

// forUpdate returns " FOR UPDATE" on PostgreSQL, where a read that decides
// a write must lock its row; SQLite's write transactions are serial.
func forUpdate(tx *tx) string {
	if tx.d.name == DialectPostgres {
		return ` FOR UPDATE`
	}
	return ""
}
