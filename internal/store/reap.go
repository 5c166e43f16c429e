package store

import (
	"context"
	"fmt"
)

// Releasing holds before they expire. ReapHolds (hold.go) releases what
// expired; these release what is known to be unused sooner: an instance's
// own holds when it shuts down, a hold whose request the database's loss
// cut, and a team's expired holds when they stand between it and a
// request (so credit held by a dead instance does not refuse a team that
// has it, even before the reaper runs).

// ReleaseOwner releases every hold and lease owner has, each in a
// transaction of its own, and returns how many it released. An instance
// calls it at shutdown, once its requests have settled and its charges
// are written: whatever it still holds is unused.
func (db *DB) ReleaseOwner(ctx context.Context, owner string) (int, error) {
	if owner == "" {
		return 0, nil
	}
	return db.releaseWhere(ctx, `owner = ?`, owner)
}

// ReleaseHold releases the request hold ref (every row of it) if it still
// exists, and reports whether it did.
func (db *DB) ReleaseHold(ctx context.Context, ref string) (bool, error) {
	n, err := db.releaseWhere(ctx, `ref = ? AND kind = 'request'`, ref)
	return n > 0, err
}

// ReapTeam releases the expired holds and leases of one team and returns
// how many it released.
func (db *DB) ReapTeam(ctx context.Context, teamID int64) (int, error) {
	return db.releaseWhere(ctx, `team_id = ? AND expires_at < ?`, teamID, db.timeNow())
}

// releaseWhere releases the hold rows that match cond, a row at a time
// (the lock order: the hold row, then the wallet, then budget periods).
func (db *DB) releaseWhere(ctx context.Context, cond string, args ...any) (int, error) {
	rtx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	rows, err := rtx.query(ctx, `SELECT id FROM credit_holds WHERE `+cond+` ORDER BY id`, args...)
	if err != nil {
		rtx.Rollback()
		return 0, fmt.Errorf("release holds: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			rtx.Rollback()
			return 0, err
		}
		ids = append(ids, id)
	}
	err = rows.Err()
	rows.Close()
	rtx.Rollback()
	if err != nil {
		return 0, fmt.Errorf("release holds: %w", err)
	}
	n := 0
	for _, id := range ids {
		ok, err := db.releaseRow(ctx, id, cond, args)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// releaseRow deletes one hold row, if it still matches cond, and takes its
// amount off the reservations it counted in.
func (db *DB) releaseRow(ctx context.Context, id int64, cond string, args []any) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `DELETE FROM credit_holds WHERE id = ? AND `+cond+`
		RETURNING team_id, budget_id, period_start, amount`, append([]any{id}, args...)...)
	if err != nil {
		return false, fmt.Errorf("release hold %d: %w", id, err)
	}
	held, err := scanReleased(rows)
	if err != nil || len(held) == 0 {
		return false, err
	}
	if err := release(ctx, tx, held); err != nil {
		return false, err
	}
	return true, commit(tx)
}
