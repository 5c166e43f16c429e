package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/chorusgw/chorus"
)

// AuditAfter returns up to limit audit entries after seq, in seq order,
// whose action is one of actions, of team teamID when it is not nil. The
// live event stream reads changes from it: audit entries are written in
// the transaction of the change and their seqs commit in order (every
// audited transaction updates the one audit head row).
func (db *DB) AuditAfter(ctx context.Context, seq int64, actions []string, teamID *int64, limit int) ([]*chorus.AuditEntry, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"seq > ?"}, []any{seq}
	if len(actions) > 0 {
		where = append(where, "action IN (?"+strings.Repeat(", ?", len(actions)-1)+")")
		for _, a := range actions {
			args = append(args, a)
		}
	}
	if teamID != nil {
		where, args = append(where, "team_id = ?"), append(args, *teamID)
	}
	out, err := queryAudit(ctx, tx, `WHERE `+strings.Join(where, " AND ")+` ORDER BY seq LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("audit after %d: %w", seq, err)
	}
	return out, nil
}

// LiveHead is the newest position of the live event stream: the audit
// log's last seq and the events table's last id.
func (db *DB) LiveHead(ctx context.Context) (chorus.LiveCursor, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return chorus.LiveCursor{}, err
	}
	defer tx.Rollback()
	var c chorus.LiveCursor
	if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_log`).Scan(&c.Audit); err != nil {
		return c, fmt.Errorf("live head: %w", err)
	}
	if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&c.Event); err != nil {
		return c, fmt.Errorf("live head: %w", err)
	}
	return c, nil
}
