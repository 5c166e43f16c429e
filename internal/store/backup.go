package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
)

// What backups need from the store (internal/backup): consistent row
// counts taken at the same moment as the copy, the copy itself on SQLite,
// an exported snapshot for pg_dump on PostgreSQL, the holds invariant, and
// a session advisory lock so one instance of a fleet runs the schedule.

// TableCounts returns the number of rows of every table of the schema, read
// on one snapshot.
func (db *DB) TableCounts(ctx context.Context) (map[string]int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return tableCounts(ctx, tx.Tx, db.d)
}

// sqlQueryer is what tableCounts reads through: a transaction or a
// connection.
type sqlQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func tableCounts(ctx context.Context, q sqlQueryer, d dialect) (map[string]int64, error) {
	names, err := tableNames(ctx, q, d)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	counts := make(map[string]int64, len(names))
	for _, name := range names {
		var n int64
		// The name comes from the catalogue, quoted as an identifier.
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+name+`"`).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		counts[name] = n
	}
	return counts, nil
}

// tableNames lists the schema's tables: SQLite's own (sqlite_*) are left
// out, and on PostgreSQL only the current schema's are listed, without
// partitions.
func tableNames(ctx context.Context, q sqlQueryer, d dialect) ([]string, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`
	if d.name == DialectPostgres {
		// Tables and partitioned tables, not their partitions (usage_records'
		// months are counted in usage_records).
		query = `SELECT relname FROM pg_class
			WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition`
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if strings.ContainsRune(n, '"') {
			return nil, fmt.Errorf("table name %q cannot be quoted", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, rows.Err()
}

// CopySQLite writes a consistent copy of a SQLite database to path with
// VACUUM INTO (the copy is one transaction's snapshot) and returns the
// copy's row counts. It holds the one write connection meanwhile, so this
// process's writers wait; when no other process wrote either (the source's
// counts before and after agree), the copy's counts must equal the
// source's or the copy is refused. path must not exist.
func (db *DB) CopySQLite(ctx context.Context, path string) (map[string]int64, error) {
	if db.d.name != DialectSQLite {
		return nil, errors.New("copy: not a SQLite database")
	}
	conn, err := db.wdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	defer conn.Close()
	before, err := tableCounts(ctx, conn, db.d)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return nil, fmt.Errorf("copy: vacuum into %s: %w", path, err)
	}
	after, err := tableCounts(ctx, conn, db.d)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	copied, err := sqliteCounts(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("copy: count the copy: %w", err)
	}
	if maps.Equal(before, after) && !maps.Equal(copied, after) {
		return nil, fmt.Errorf("copy: the copy's row counts %v differ from the database's %v", copied, after)
	}
	return copied, nil
}

// sqliteCounts counts the rows of the SQLite file at path.
func sqliteCounts(ctx context.Context, path string) (map[string]int64, error) {
	c, err := sql.Open("sqlite", path+"?_query_only=1")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return tableCounts(ctx, c, dialect{name: DialectSQLite})
}

// WithSnapshot runs fn while a read-only REPEATABLE READ transaction holds
// an exported PostgreSQL snapshot: fn gets the snapshot's name (for
// pg_dump --snapshot) and the row counts read in it, so what fn dumps and
// the counts are the same moment of the database.
func (db *DB) WithSnapshot(ctx context.Context, fn func(ctx context.Context, snapshot string, counts map[string]int64) error) error {
	if db.d.name != DialectPostgres {
		return errors.New("snapshot: not a PostgreSQL database")
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer tx.Rollback()
	var snapshot string
	if err := tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return fmt.Errorf("export snapshot: %w", err)
	}
	counts, err := tableCounts(ctx, tx.Tx, db.d)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := fn(ctx, snapshot, counts); err != nil {
		return err
	}
	return commit(tx)
}

// CheckHolds verifies that what each wallet and budget period says is
// reserved equals the sum of its holds, and returns the differences found
// (at most a few); none means the holds are consistent.
func (db *DB) CheckHolds(ctx context.Context) ([]string, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	checks := []struct{ query, what string }{{
		`SELECT a.name, a.reserved, COALESCE(CAST(SUM(h.amount) AS BIGINT), 0) FROM ledger_accounts a
			LEFT JOIN credit_holds h ON h.team_id = a.team_id AND h.budget_id = 0
			WHERE a.team_id IS NOT NULL
			GROUP BY a.id, a.name, a.reserved HAVING a.reserved <> COALESCE(SUM(h.amount), 0) ORDER BY a.id LIMIT ?`,
		"wallet",
	}, {
		`SELECT CAST(p.budget_id AS TEXT), p.reserved, COALESCE(CAST(SUM(h.amount) AS BIGINT), 0) FROM budget_periods p
			LEFT JOIN credit_holds h ON h.budget_id = p.budget_id AND h.period_start = p.period_start
			GROUP BY p.budget_id, p.period_start, p.reserved HAVING p.reserved <> COALESCE(SUM(h.amount), 0)
			ORDER BY p.budget_id LIMIT ?`,
		"budget",
	}}
	problems := []string{}
	for _, c := range checks {
		rows, err := tx.query(ctx, c.query, maxReported)
		if err != nil {
			return nil, fmt.Errorf("check holds: %w", err)
		}
		for rows.Next() {
			var name string
			var reserved, held int64
			if err := rows.Scan(&name, &reserved, &held); err != nil {
				rows.Close()
				return nil, fmt.Errorf("check holds: %w", err)
			}
			problems = append(problems, fmt.Sprintf("%s %s: reserved %d, but its holds sum to %d", c.what, name, reserved, held))
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("check holds: %w", err)
		}
	}
	return problems, nil
}

// TryLock takes the session-level advisory lock called name on
// PostgreSQL without waiting, on a connection it keeps until release is
// called: ok is false when another session holds it. On SQLite, where one
// instance owns the database, it always succeeds.
func (db *DB) TryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	if db.d.name != DialectPostgres {
		return func() {}, true, nil
	}
	conn, err := db.wdb.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	const key = `hashtext('chorus.lock'), hashtext($1 || '/' || coalesce(current_schema(), ''))`
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(`+key+`)`, name).Scan(&ok); err != nil || !ok {
		conn.Close()
		if err != nil {
			return nil, false, fmt.Errorf("lock %s: %w", name, err)
		}
		return nil, false, nil
	}
	release = func() {
		// A fresh context: the lock must go even when the caller's ended.
		// Should the unlock fail, closing the connection ends the session
		// and its locks.
		if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(`+key+`)`, name); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}
	return release, true, nil
}

// OtherSessions returns how many other sessions are connected to this
// PostgreSQL database (a running instance, for one); 0 on SQLite, where
// no such count exists.
func (db *DB) OtherSessions(ctx context.Context) (int, error) {
	if db.d.name != DialectPostgres {
		return 0, nil
	}
	var n int
	err := db.wdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	return n, nil
}

// SQLitePath returns the file path a SQLite DSN names (without its
// sqlite: or file: prefix).
func SQLitePath(dsn string) string { return sqlitePath(dsn) }
