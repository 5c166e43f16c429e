package app

import (
	"context"
	"time"

	"github.com/chorusgw/chorus/internal/periodic"
)

// purgeResponses deletes stored Responses API answers past
// responses.retention, every responses.purge_interval, until ctx ends.
// Every instance runs it; the deletes are idempotent.
func (a *App) purgeResponses(ctx context.Context) {
	cfg := a.Config.Responses
	periodic.Every(ctx, cfg.PurgeInterval, true, func(ctx context.Context) {
		n, err := a.DB.PurgeResponses(ctx, time.Now().Add(-cfg.Retention))
		switch {
		case err != nil && ctx.Err() == nil:
			a.Log.Warn("stored responses not purged", "err", err)
		case n > 0:
			a.Log.Info("stored responses purged", "count", n, "retention", cfg.Retention)
		}
	})
}
