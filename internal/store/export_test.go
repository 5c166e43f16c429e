package store

import (
	"context"

	"github.com/chorusgw/chorus"
)

// UsageReportFine is UsageReport reading only the finest rollup table that
// answers q, for tests comparing it with the coarse levels.
func (db *DB) UsageReportFine(ctx context.Context, q chorus.UsageQuery, page chorus.Page) ([]*chorus.UsageRow, error) {
	return db.usageReport(ctx, q, page, true)
}
