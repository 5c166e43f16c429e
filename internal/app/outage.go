package app

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusgw/chorus/internal/spool"
	"github.com/chorusgw/chorus/internal/store"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// outage is what the app keeps for when the database goes away
// (config outage): the circuit and the two spools.
type outage struct {
	health       *DBHealth // nil on SQLite (a file in this process does not go away); a nil *DBHealth is never down
	pinger       *pgPinger
	usageSpool   *spool.Spool
	billingSpool *spool.Spool
}

// initOutage builds the database circuit and opens the spools (what an
// earlier run left in them is replayed by the usage writer and the meter).
func (a *App) initOutage() error {
	cfg := a.Config.Outage
	dir := cfg.SpoolDir
	if dir == "" {
		dir = filepath.Join(a.Config.DataDir, "spool")
	}
	var err error
	if a.outage.usageSpool, err = spool.Open(dir, "usage", cfg.SpoolMaxBytes); err != nil {
		return err
	}
	if a.outage.billingSpool, err = spool.Open(dir, "billing", cfg.SpoolMaxBytes); err != nil {
		return err
	}
	if a.DB.Dialect() == store.DialectPostgres {
		a.outage.pinger = &pgPinger{dsn: a.Config.DatabaseDSN()}
		a.outage.health = NewDBHealth(a.outage.pinger.ping, cfg.PingInterval, cfg.PingTimeout, a.Log)
	}
	a.DBHealth = a.outage.health
	return nil
}

// pgPinger pings PostgreSQL on a connection of its own, outside the store's
// pool: a check of the database's health must not wait behind the requests
// queued for the pool (which would open the circuit under load), and a
// fresh connection after a failure tells a stale connection from a
// database that is gone.
type pgPinger struct {
	dsn  string
	mu   sync.Mutex
	conn *pgx.Conn
}

func (p *pgPinger) ping(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		c, err := pgx.Connect(ctx, p.dsn)
		if err != nil {
			return err
		}
		p.conn = c
	}
	if err := p.conn.Ping(ctx); err != nil {
		p.closeLocked()
		return err
	}
	return nil
}

func (p *pgPinger) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
}

func (p *pgPinger) closeLocked() {
	if p.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.conn.Close(ctx)
	p.conn = nil
}

// usageSpoolFull reports whether the usage spool is nearly full (less
// than a tenth left): fast billing then admits no new request while the
// database is down, since its usage record might find no room.
func (a *App) usageSpoolFull() bool {
	sp := a.outage.usageSpool
	return sp.Size() > sp.Max()-sp.Max()/10
}

// closeOutage closes the spools (their entries stay for the next start).
func (a *App) closeOutage() {
	a.outage.pinger.close()
	_ = a.outage.usageSpool.Close()
	_ = a.outage.billingSpool.Close()
}

// registerOutageMetrics exports the circuit and the spools.
func (a *App) registerOutageMetrics() {
	h, o := a.outage.health, &a.outage
	a.Metrics.RegisterOutage(func() telemetry.OutageSample {
		s := telemetry.OutageSample{DatabaseUp: !h.Down(), Outages: h.Outages(),
			UsageSpoolBytes: o.usageSpool.Size(), BillingSpoolBytes: o.billingSpool.Size()}
		if since, _ := h.DownSince(); !since.IsZero() {
			s.OutageSeconds = time.Since(since).Seconds()
		}
		if a.Usage != nil {
			us := a.Usage.Stats()
			s.UsageSpooled, s.UsageReplayed = us.Spooled, us.Replayed
		}
		if m := a.Gateway.Meter; m != nil {
			ms := m.OutageStats()
			s.BillingSpooled, s.BillingWaiting, s.BillingCutHolds, s.BillingSpoolFull = ms.SpooledBatches, ms.Waiting, ms.CutHolds, ms.SpoolFull
		}
		return s
	})
}
