package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
)

// replicaCheckTimeout bounds one replica's check, so that a hung replica
// is reported unreachable instead of stalling the others' checks.
const replicaCheckTimeout = 2 * time.Second

// CheckReplicas measures every read replica once: it reads the primary's
// WAL position, then each replica's replay position and whether replay is
// paused, and stores each replica's state (see Replicas) for the readers.
// The app calls it every second or so; without replicas it does nothing.
// It returns the error reading the primary's position, when that failed
// (every replica is then unknown: reads go to the primary).
func (db *DB) CheckReplicas(ctx context.Context) error {
	s := db.replicas
	if s == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, replicaCheckTimeout)
	primary, err := db.primaryPosition(pctx)
	cancel()
	if err != nil {
		at := s.now()
		for _, r := range s.list {
			r.state.Store(&replicaCheck{ReplicaState: chorus.ReplicaState{
				Name: r.name, Status: chorus.ReplicaUnknown, CheckedAt: at, Err: "primary position unknown: " + err.Error(),
			}})
		}
		return err
	}
	s.history.add(s.now(), primary)
	var wg sync.WaitGroup
	for _, r := range s.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.state.Store(s.check(ctx, r, primary))
		}()
	}
	wg.Wait()
	return nil
}

// replayInfo is what a replica says about its replay.
type replayInfo struct {
	inRecovery bool
	paused     bool
	replay     lsn
}

// check measures one replica against the primary's position primary.
func (s *replicaSet) check(ctx context.Context, r *replica, primary lsn) *replicaCheck {
	ctx, cancel := context.WithTimeout(ctx, replicaCheckTimeout)
	defer cancel()
	info, err := readReplay(ctx, r.db)
	c := &replicaCheck{ReplicaState: chorus.ReplicaState{Name: r.name, CheckedAt: s.now()}}
	switch {
	case err != nil:
		c.Status, c.Err = chorus.ReplicaUnreachable, err.Error()
		return c
	case !info.inRecovery:
		c.Status, c.Err = chorus.ReplicaNotStandby, "not in recovery: promoted, or not a replica"
		return c
	}
	c.replay, c.ReplayLSN = info.replay, info.replay.String()
	if primary > info.replay {
		c.LagBytes = int64(min(uint64(primary-info.replay), math.MaxInt64)) // #nosec G115 -- clamped to MaxInt64 first
	}
	c.Lag, _ = s.history.lag(c.CheckedAt, info.replay)
	switch {
	case info.paused:
		c.Status = chorus.ReplicaPaused
	case c.Lag > s.maxLag:
		c.Status = chorus.ReplicaLagging
	default:
		c.Status = chorus.ReplicaOK
	}
	return c
}

// readReplay asks a replica for its replay state in one round trip.
// pg_is_wal_replay_paused fails outside recovery, hence the CASE.
func readReplay(ctx context.Context, db *sql.DB) (replayInfo, error) {
	var info replayInfo
	var replay sql.NullString
	err := db.QueryRowContext(ctx, `SELECT pg_is_in_recovery(),
		CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END,
		pg_last_wal_replay_lsn()::text`).Scan(&info.inRecovery, &info.paused, &replay)
	if err != nil {
		return info, fmt.Errorf("check replica: %w", err)
	}
	if !info.inRecovery {
		return info, nil
	}
	if !replay.Valid {
		return info, errors.New("check replica: no WAL replayed yet")
	}
	info.replay, err = parseLSN(replay.String)
	return info, err
}
