package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/chorusgw/chorus"
)

// Every change to a cart first writes the cart's row (its version), which
// locks it: concurrent changes to one cart queue behind each other on
// PostgreSQL as they do on SQLite's single writer, so two tabs adding at
// once both land.

// lineSeq orders a cart's lines: the version that added a line, times
// room for a full replace's lines in the client's order.
func lineSeq(version int64, i int) int64 { return version*(chorus.MaxCartLines+1) + int64(i) }

// Cart returns the user's cart: an empty cart at version 0 when they have
// never changed it.
func (db *DB) Cart(ctx context.Context, userID int64) (*chorus.Cart, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return loadCart(ctx, tx, userID)
}

// AddToCart adds quantity units of a product to the user's cart (a new line,
// or more of a line it has) whatever the cart's version: the addition is
// applied on the server, so concurrent additions all land. The product
// must be on sale, the line may hold at most chorus.MaxCartQuantity units
// and the cart at most chorus.MaxCartLines lines (EINVALID).
func (db *DB) AddToCart(ctx context.Context, userID, productID, quantity int64) (*chorus.Cart, error) {
	if err := validQuantity("quantity", quantity); err != nil {
		return nil, err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	var version int64
	err = tx.queryRow(ctx, `INSERT INTO carts (user_id, version, updated_at) VALUES (?, 1, ?)
		ON CONFLICT (user_id) DO UPDATE SET version = carts.version + 1, updated_at = excluded.updated_at
		RETURNING version`, userID, now).Scan(&version)
	if tx.d.isForeignKey(err) {
		return nil, notFound("user %d not found", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("add to cart: %w", err)
	}
	if err := onSale(ctx, tx, "product_id", productID); err != nil {
		return nil, err
	}
	var total int64
	err = tx.queryRow(ctx, `INSERT INTO cart_items (user_id, product_id, quantity, seq) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity
		RETURNING quantity`, userID, productID, quantity, lineSeq(version, 0)).Scan(&total)
	if err != nil {
		return nil, fmt.Errorf("add to cart: %w", err)
	}
	if total > chorus.MaxCartQuantity {
		return nil, chorus.Invalid("quantity", "a cart holds at most %d units of one product; this would make %d",
			chorus.MaxCartQuantity, total)
	}
	if err := checkLines(ctx, tx, userID); err != nil {
		return nil, err
	}
	cart, err := loadCart(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	return cart, commit(tx)
}

// SetCartItem sets the quantity of a product in the user's cart, adding
// the line if needed (the product must then be on sale). version is the
// cart version the client last saw: when the cart has changed since, the
// error is ECONFLICT and the current cart is returned with it.
func (db *DB) SetCartItem(ctx context.Context, userID, productID, quantity, version int64) (*chorus.Cart, error) {
	if err := validQuantity("quantity", quantity); err != nil {
		return nil, err
	}
	return db.changeCart(ctx, userID, version, func(tx *tx, v int64) error {
		res, err := tx.exec(ctx, `UPDATE cart_items SET quantity = ? WHERE user_id = ? AND product_id = ?`,
			quantity, userID, productID)
		if err != nil {
			return fmt.Errorf("set cart item: %w", err)
		}
		if n, err := affected(res); err != nil || n > 0 {
			return err
		}
		if err := onSale(ctx, tx, "product_id", productID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO cart_items (user_id, product_id, quantity, seq) VALUES (?, ?, ?, ?)`,
			userID, productID, quantity, lineSeq(v, 0)); err != nil {
			return fmt.Errorf("set cart item: %w", err)
		}
		return checkLines(ctx, tx, userID)
	})
}

// RemoveCartItem removes a product's line from the user's cart (ENOTFOUND
// if the cart has none). version is as for SetCartItem.
func (db *DB) RemoveCartItem(ctx context.Context, userID, productID, version int64) (*chorus.Cart, error) {
	return db.changeCart(ctx, userID, version, func(tx *tx, _ int64) error {
		res, err := tx.exec(ctx, `DELETE FROM cart_items WHERE user_id = ? AND product_id = ?`, userID, productID)
		if err != nil {
			return fmt.Errorf("remove cart item: %w", err)
		}
		if n, err := affected(res); err != nil {
			return err
		} else if n == 0 {
			return notFound("product %d is not in the cart", productID)
		}
		return nil
	})
}

// ReplaceCart replaces every line of the user's cart (an empty list clears
// it). Every product must be on sale and appear once; quantities and the
// number of lines are bounded as for AddToCart. version is as for
// SetCartItem.
func (db *DB) ReplaceCart(ctx context.Context, userID int64, lines []chorus.CartLine, version int64) (*chorus.Cart, error) {
	if len(lines) > chorus.MaxCartLines {
		return nil, chorus.Invalid("items", "a cart holds at most %d lines, got %d", chorus.MaxCartLines, len(lines))
	}
	seen := make(map[int64]bool, len(lines))
	for i, l := range lines {
		if err := validQuantity(fmt.Sprintf("items[%d].quantity", i), l.Quantity); err != nil {
			return nil, err
		}
		if seen[l.ProductID] {
			return nil, chorus.Invalid(fmt.Sprintf("items[%d].product_id", i), "product %d appears twice: give each product one line", l.ProductID)
		}
		seen[l.ProductID] = true
	}
	return db.changeCart(ctx, userID, version, func(tx *tx, v int64) error {
		if _, err := tx.exec(ctx, `DELETE FROM cart_items WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("replace cart: %w", err)
		}
		for i, l := range lines {
			if err := onSale(ctx, tx, fmt.Sprintf("items[%d].product_id", i), l.ProductID); err != nil {
				return err
			}
			if _, err := tx.exec(ctx, `INSERT INTO cart_items (user_id, product_id, quantity, seq) VALUES (?, ?, ?, ?)`,
				userID, l.ProductID, l.Quantity, lineSeq(v, i)); err != nil {
				return fmt.Errorf("replace cart: %w", err)
			}
		}
		return nil
	})
}

// changeCart runs change in a transaction after moving the cart from
// version to version+1. A stale version is ECONFLICT, returned with the
// current cart.
func (db *DB) changeCart(ctx context.Context, userID, version int64, change func(tx *tx, newVersion int64) error) (*chorus.Cart, error) {
	if version < 0 {
		return nil, chorus.Invalid("version", "version must be the cart version you last saw (0 or more), got %d", version)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	_, err = tx.exec(ctx, `INSERT INTO carts (user_id, version, updated_at) VALUES (?, 0, ?) ON CONFLICT (user_id) DO NOTHING`,
		userID, now)
	if tx.d.isForeignKey(err) {
		return nil, notFound("user %d not found", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("change cart: %w", err)
	}
	var v int64
	err = tx.queryRow(ctx, `UPDATE carts SET version = version + 1, updated_at = ? WHERE user_id = ? AND version = ?
		RETURNING version`, now, userID, version).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		cart, err := loadCart(ctx, tx, userID)
		if err != nil {
			return nil, err
		}
		e := chorus.Errorf(chorus.ECONFLICT, "The cart has changed since version %d (it is at version %d): reload it and try again.",
			version, cart.Version)
		e.Param = "version"
		return cart, e
	}
	if err != nil {
		return nil, fmt.Errorf("change cart: %w", err)
	}
	if err := change(tx, v); err != nil {
		return nil, err
	}
	cart, err := loadCart(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	return cart, commit(tx)
}

// loadCart reads the user's cart with its products' current prices.
func loadCart(ctx context.Context, tx *tx, userID int64) (*chorus.Cart, error) {
	cart := &chorus.Cart{UserID: userID, Items: []chorus.CartItem{}}
	err := tx.queryRow(ctx, `SELECT version, updated_at FROM carts WHERE user_id = ?`, userID).
		Scan(&cart.Version, scanNullTime(&cart.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return cart, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get cart: %w", err)
	}
	rows, err := tx.query(ctx, `SELECT ci.product_id, p.name, p.price, p.credits, ci.quantity, p.active
		FROM cart_items ci JOIN products p ON p.id = ci.product_id
		WHERE ci.user_id = ? ORDER BY ci.seq, ci.product_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("get cart: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it chorus.CartItem
		if err := rows.Scan(&it.ProductID, &it.Name, &it.UnitPrice, &it.UnitCredits, &it.Quantity, &it.Available); err != nil {
			return nil, fmt.Errorf("get cart: %w", err)
		}
		// Bounded by the product and cart limits: no overflow.
		it.Amount = it.UnitPrice * it.Quantity
		it.Credits = it.UnitCredits * it.Quantity
		cart.Total += it.Amount
		cart.Credits += it.Credits
		cart.Items = append(cart.Items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get cart: %w", err)
	}
	return cart, nil
}

// onSale checks that the product exists and is on sale.
func onSale(ctx context.Context, tx *tx, param string, productID int64) error {
	var active bool
	err := tx.queryRow(ctx, `SELECT active FROM products WHERE id = ?`, productID).Scan(&active)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return chorus.Invalid(param, "product %d does not exist", productID)
	case err != nil:
		return fmt.Errorf("get product: %w", err)
	case !active:
		return chorus.Invalid(param, "product %d is not on sale", productID)
	}
	return nil
}

// checkLines refuses a cart with more than chorus.MaxCartLines lines.
func checkLines(ctx context.Context, tx *tx, userID int64) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM cart_items WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return fmt.Errorf("count cart lines: %w", err)
	}
	if n > chorus.MaxCartLines {
		return chorus.Invalid("product_id", "a cart holds at most %d different products", chorus.MaxCartLines)
	}
	return nil
}

func validQuantity(param string, q int64) error {
	if q < 1 || q > chorus.MaxCartQuantity {
		return chorus.Invalid(param, "quantity must be 1 to %d, got %d", chorus.MaxCartQuantity, q)
	}
	return nil
}
