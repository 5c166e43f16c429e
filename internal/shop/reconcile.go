package shop

import (
	"context"
	"log/slog"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/periodic"
)

// Reconciler finishes orders whose payment was confirmed but whose
// fulfilment failed (the database was briefly unavailable, the instance
// died between the two transactions): it retries the fulfilment of every
// paid order until it succeeds. Fulfilment is idempotent — the order's row
// is locked and its status checked in the transaction that posts the
// credits, under a posting key unique to the order — so reconcilers on
// several instances at once grant each order's credits once.
type Reconciler struct {
	Shop     *Service
	Interval time.Duration // between runs; config.Shop.ReconcileInterval
	Logger   *slog.Logger
}

// reconcileBatch is how many paid orders one query reads.
const reconcileBatch = 100

// Run reconciles every Interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	periodic.Every(ctx, r.Interval, true, func(ctx context.Context) {
		if n, err := r.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
			r.log().Error("reconcile orders", "err", err, "fulfilled", n)
		} else if n > 0 {
			r.log().Info("reconciled orders", "fulfilled", n)
		}
	})
}

// ReconcileOnce tries to fulfil every order that is paid now and returns
// how many this call fulfilled. An order another instance fulfilled (or
// refunded) meanwhile is skipped; an order whose fulfilment fails again is
// left paid for the next run, and the first such error is returned after
// every order was tried.
func (r *Reconciler) ReconcileOnce(ctx context.Context) (int, error) {
	ctx = chorus.NewContextWithActor(ctx, chorus.Actor{System: "reconciler"})
	n := 0
	var firstErr error
	page := chorus.Page{Limit: reconcileBatch}
	for {
		orders, err := r.Shop.Store.ListOrders(ctx, chorus.OrderFilter{Status: chorus.OrderPaid}, page)
		if err != nil {
			return n, err
		}
		for _, o := range orders {
			_, changed, err := r.Shop.Fulfil(ctx, o.ID)
			switch {
			case changed:
				n++
				r.log().Info("order fulfilled by the reconciler", "order_id", o.ID, "team_id", o.TeamID)
			case chorus.ErrorCode(err) == chorus.ECONFLICT:
				// Fulfilled or refunded by someone else since the list.
			case err != nil:
				r.log().Error("fulfilment failed again", "order_id", o.ID, "err", err)
				if firstErr == nil {
					firstErr = err
				}
			}
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
		}
		if len(orders) < page.Limit {
			return n, firstErr
		}
		page.After = orders[len(orders)-1].ID
	}
}

func (r *Reconciler) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}
