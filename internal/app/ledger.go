package app

import (
	"context"
	"time"

	"github.com/chorusgw/chorus/internal/periodic"
)

// checkLedger verifies the credits ledger's invariants every
// ledger_check_interval until ctx ends and exports the result
// (chorus_ledger_check_ok, alerted on in deploy/prometheus/alerts.yaml).
// Every instance runs it: a read-only scan, so the fleet's alerts do not
// depend on one instance being up.
func (a *App) checkLedger(ctx context.Context) {
	if a.Config.LedgerCheckInterval <= 0 {
		return
	}
	m := a.Metrics.RegisterLedgerCheck()
	periodic.Every(ctx, a.Config.LedgerCheckInterval, true, func(ctx context.Context) {
		rep, err := a.DB.CheckLedger(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				m.Failed()
				a.Log.Warn("ledger check failed", "err", err)
			}
		case !rep.OK:
			m.Checked(time.Now(), max(1, len(rep.Problems)))
			a.Log.Error("ledger check found problems", "problems", rep.Problems)
		default:
			m.Checked(time.Now(), 0)
		}
	})
}
