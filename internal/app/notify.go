package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusgw/chorus/internal/store"
)

// Instant changes across instances. The listener also LISTENs on
// store.LiveChannel, where every audited change of a team and every budget
// alert is announced on commit, and wakes the live update streams
// (manage.Server.WakeLive). Instant registry changes across instances. Every transaction that
// changes the registry (models, routes, keys, users — a disabled user
// among them) notifies store.RegistryChannel on commit; each instance on
// PostgreSQL LISTENs on a connection of its own and refreshes its snapshot
// on every notification, so a revoked key or a disabled user is refused
// everywhere within a round trip, not at the next registry.poll_interval.
// Polling stays as the safety net for notifications missed while the
// connection was down (the listener also refreshes each time it
// reconnects). SQLite runs on one machine, where the instance that made
// the change refreshes itself.

// listenerName is the application_name of the listening connection, so an
// operator (or a test) can find it in pg_stat_activity.
const listenerName = "chorus-registry-listener"

// Backoff between reconnections of the listener.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 30 * time.Second
)

// listenRegistry refreshes the registry on every registry notification
// until ctx ends, reconnecting with exponential backoff when the
// connection fails. It returns at once on SQLite.
func (a *App) listenRegistry(ctx context.Context) {
	if a.DB.Dialect() != store.DialectPostgres {
		return
	}
	backoff := listenMinBackoff
	for {
		connected, err := a.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff = listenMinBackoff
		}
		a.Log.Warn("registry notifications interrupted; polling until reconnected", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listenOnce connects, LISTENs, catches up, and refreshes on each
// notification until the connection fails or ctx ends. connected reports
// whether it got as far as listening.
func (a *App) listenOnce(ctx context.Context) (connected bool, err error) {
	cfg, err := pgx.ParseConfig(a.Config.DatabaseDSN())
	if err != nil {
		return false, fmt.Errorf("parse database_url: %w", err)
	}
	cfg.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range []string{store.RegistryChannel, store.LiveChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return false, fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	// Changes committed while nobody listened: catch up now.
	a.refreshRegistry(ctx)
	a.Manage.WakeLive()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		if n.Channel == store.LiveChannel {
			a.Manage.WakeLive()
			continue
		}
		a.refreshRegistry(ctx)
	}
}

// refreshRegistry rebuilds the snapshot if the version moved.
func (a *App) refreshRegistry(ctx context.Context) {
	if err := a.Registry.Refresh(ctx, false); err != nil && ctx.Err() == nil {
		a.Log.Warn("registry refresh after a notification failed; serving the previous snapshot", "err", err)
	}
}
