package manage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// Database says whether the database is reachable (the app's circuit), so
// that management requests are refused at once while it is not, instead of
// each waiting for a connection timeout.
type Database interface {
	Down() bool
	DownSince() (time.Time, error)
	Failed(err error)
}

// databaseGate refuses a management request while the database is down:
// every management route reads or writes it.
func (s *Server) databaseGate() error {
	if s.Database == nil || !s.Database.Down() {
		return nil
	}
	return &chorus.Error{Code: chorus.EUNAVAILABLE, RetryAfter: 5 * time.Second,
		Message: "The database is unreachable: the management API is unavailable until it returns. Try again shortly."}
}

// databaseReadiness says what readiness reports about the database: an
// error when this instance cannot serve model requests (the database is
// down and billing is strict, or there is no circuit to say it is an
// outage), or a "degraded" line when it serves them without the database
// (fast billing or none: keys, models and routes from the snapshot, charges
// from the leases, usage and settlements spooled). Readiness stays 200
// then, so that a load balancer does not take every instance out of
// service during an outage that all of them ride out.
//
// With a circuit, readiness reads it (its ping runs on a connection of its
// own, so a pool busy with requests does not make an instance unready);
// without one (SQLite) it pings.
func (s *Server) databaseReadiness(ctx context.Context) (degraded string, err error) {
	if s.Database == nil {
		if err := s.Store.Ping(ctx); err != nil {
			return "", fmt.Errorf("database unreachable: %w", err)
		}
		return "", nil
	}
	if !s.Database.Down() {
		return "", nil
	}
	since, cause := s.Database.DownSince()
	if cause == nil {
		cause = errors.New("ping failed")
	}
	away := "database unreachable"
	if !since.IsZero() {
		away += " for " + s.Now().Sub(since).Round(time.Second).String()
	}
	if s.Meter.Mode() == config.BillingStrict {
		return "", fmt.Errorf("%s (%v): strict billing refuses model requests until it returns", away, cause)
	}
	return fmt.Sprintf("degraded: database (%s: %v): model requests are served from the snapshot and the leases, usage and charges are spooled, the management API answers 503",
		away, cause), nil
}
