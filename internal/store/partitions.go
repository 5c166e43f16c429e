package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// usagePartitionPrefix names usage_records' monthly partitions on
// PostgreSQL: usage_records_pYYYYMM holds the records created in that month
// (UTC). usage_records_default holds the records of months without one.
const usagePartitionPrefix = "usage_records_p"

// PartitionReport is what MaintainUsagePartitions did.
type PartitionReport struct {
	Created []string // partitions created
	Dropped []string // partitions dropped (all their records rolled and past retention)
	Kept    []string // partitions past retention kept because some records are not rolled yet
}

// MaintainUsagePartitions keeps usage_records' monthly partitions on
// PostgreSQL (migration 0020): it creates the partitions of now's month and
// of the ahead months after it where missing, and, when before is not zero,
// drops each monthly partition whose whole range is older than before and
// whose records are all rolled — a drop instead of deleting them row by row.
// A partition with a record not rolled yet is kept (PurgeUsage deletes its
// rolled records). Records in the DEFAULT partition are never moved: they
// are purged row by row. On SQLite it does nothing.
//
// A partition that cannot be created (the DEFAULT partition holds records
// of that month, say) does not stop the others: the errors are returned
// together.
func (db *DB) MaintainUsagePartitions(ctx context.Context, now time.Time, ahead int, before time.Time) (PartitionReport, error) {
	var rep PartitionReport
	if db.d.name != DialectPostgres {
		return rep, nil
	}
	var errs []error
	month := monthStart(now)
	for i := 0; i <= ahead; i++ {
		from := month.AddDate(0, i, 0)
		name, created, err := db.createUsagePartition(ctx, from)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if created {
			rep.Created = append(rep.Created, name)
		}
	}
	if !before.IsZero() {
		parts, err := db.usagePartitions(ctx)
		if err != nil {
			return rep, errors.Join(append(errs, err)...)
		}
		for _, p := range parts {
			if p.from.AddDate(0, 1, 0).After(before) {
				continue // some of its range is within the retention
			}
			dropped, err := db.dropRolledPartition(ctx, p.name)
			switch {
			case err != nil:
				errs = append(errs, err)
			case dropped:
				rep.Dropped = append(rep.Dropped, p.name)
			default:
				rep.Kept = append(rep.Kept, p.name)
			}
		}
	}
	return rep, errors.Join(errs...)
}

// monthStart is the first instant of t's month in UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// createUsagePartition creates the partition of the month starting at
// from if it is missing, and says whether it created it.
func (db *DB) createUsagePartition(ctx context.Context, from time.Time) (string, bool, error) {
	name := usagePartitionPrefix + from.Format("200601")
	var exists bool
	if err := db.wdb.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
		return name, false, fmt.Errorf("usage partition %s: %w", name, err)
	}
	if exists {
		return name, false, nil
	}
	// The bounds are formatted by us (RFC 3339, UTC); the name is
	// usagePartitionPrefix and six digits.
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF usage_records FOR VALUES FROM ('%s') TO ('%s')`, // #nosec G201 -- DDL takes no parameters; every part is formatted here from a time
		name, from.Format(time.RFC3339), from.AddDate(0, 1, 0).Format(time.RFC3339))
	if _, err := db.wdb.ExecContext(ctx, q); err != nil {
		return name, false, fmt.Errorf("usage partition %s: %w", name, err)
	}
	return name, true, nil
}

type usagePartition struct {
	name string
	from time.Time
}

// usagePartitions lists usage_records' monthly partitions (not the
// DEFAULT one), oldest first.
func (db *DB) usagePartitions(ctx context.Context) ([]usagePartition, error) {
	rows, err := db.wdb.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'usage_records'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("usage partitions: %w", err)
	}
	defer rows.Close()
	var out []usagePartition
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("usage partitions: %w", err)
		}
		ym, ok := strings.CutPrefix(name, usagePartitionPrefix)
		if !ok {
			continue
		}
		from, err := time.Parse("200601", ym)
		if err != nil {
			continue // not one of ours
		}
		out = append(out, usagePartition{name: name, from: from})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage partitions: %w", err)
	}
	return out, nil
}

// dropRolledPartition drops the partition name if all its records are
// rolled, in one transaction that locks it first, so no record written or
// completed meanwhile is lost. It says whether it dropped it.
func (db *DB) dropRolledPartition(ctx context.Context, name string) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	// Never keep the gateway's writers waiting long behind the lock.
	if _, err := tx.exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
		return false, fmt.Errorf("drop usage partition %s: %w", name, err)
	}
	// name comes from pg_inherits and matched usagePartitionPrefix+YYYYMM.
	if _, err := tx.exec(ctx, `LOCK TABLE `+name+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		return false, fmt.Errorf("drop usage partition %s: %w", name, err)
	}
	var unrolled bool
	if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+name+` WHERE rolled = 0)`).Scan(&unrolled); err != nil {
		return false, fmt.Errorf("drop usage partition %s: %w", name, err)
	}
	if unrolled {
		return false, nil
	}
	if _, err := tx.exec(ctx, `DROP TABLE `+name); err != nil {
		return false, fmt.Errorf("drop usage partition %s: %w", name, err)
	}
	return true, commit(tx)
}
