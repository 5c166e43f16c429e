package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/chorusgw/chorus/internal/store"
)

// Schedule says when backups are due: at the instants At + k·Every after
// the Unix epoch (UTC). Every 24h with At 3h is every day at 03:00 UTC;
// Every 6h with At 0 is 00:00, 06:00, 12:00 and 18:00.
type Schedule struct {
	Every time.Duration
	At    time.Duration // offset from midnight UTC, less than Every
}

// Slot returns the latest due instant at or before now.
func (s Schedule) Slot(now time.Time) time.Time {
	since := now.UTC().Sub(time.Unix(0, 0).UTC().Add(s.At))
	k := since / s.Every
	if since < 0 && since%s.Every != 0 {
		k--
	}
	return time.Unix(0, 0).UTC().Add(s.At + k*s.Every)
}

// Meta keys the scheduler keeps in the database, so that every instance
// of a fleet knows what the one that ran the backup did.
const (
	metaLastSlot = "backup.last_slot" // the Unix second of the last slot run
	metaStatus   = "backup.status"    // Status as JSON
)

// Status is the state of scheduled backups, kept in the database.
type Status struct {
	LastSuccess  time.Time `json:"last_success"`  // when the last backup was taken
	LastVerified time.Time `json:"last_verified"` // when the last backup that verified was taken
	LastSize     int64     `json:"last_size_bytes"`
	LastID       string    `json:"last_id"`
	LastError    string    `json:"last_error"` // of the last run; "" when it succeeded
	LastRun      time.Time `json:"last_run"`
}

// MetaReader reads the database's meta table (a *store.DB).
type MetaReader interface {
	GetMeta(ctx context.Context, key string) (string, bool, error)
}

// Scheduler runs a backup once per slot of its schedule on exactly one
// instance of a fleet: each instance calls Tick (every minute, say); the
// one that takes the advisory lock and finds the slot not yet run runs it
// and records it in the database.
type Scheduler struct {
	DB       *store.DB
	Backuper *Backuper
	Schedule Schedule
	Keep     Retention
	Verify   bool
	Now      func() time.Time
	Log      *slog.Logger
}

// Tick runs the current slot's backup if no instance has; ran says
// whether this call did. The error is a failed backup's (also recorded in
// the status) or a failure to read or write the schedule's state.
func (s *Scheduler) Tick(ctx context.Context) (ran bool, err error) {
	slot := s.Schedule.Slot(s.Now())
	release, ok, err := s.DB.TryLock(ctx, "backup")
	if err != nil || !ok {
		return false, err
	}
	defer release()
	last, ok, err := s.DB.GetMeta(ctx, metaLastSlot)
	if err != nil {
		return false, err
	}
	if n, perr := strconv.ParseInt(last, 10, 64); ok && perr == nil && n >= slot.Unix() {
		return false, nil
	}
	// The slot is claimed before the run: a backup that fails is not
	// retried every minute (the alert on the last success's age tells).
	if err := s.DB.SetMeta(ctx, metaLastSlot, strconv.FormatInt(slot.Unix(), 10)); err != nil {
		return false, err
	}
	m, runErr := s.Backuper.Run(ctx, s.DB, s.Verify, s.Keep)
	if err := s.record(ctx, m, runErr); err != nil {
		return true, err
	}
	return true, runErr
}

// record updates the status after a run.
func (s *Scheduler) record(ctx context.Context, m *Manifest, runErr error) error {
	st, err := ReadStatus(ctx, s.DB)
	if err != nil {
		return err
	}
	st.LastRun, st.LastError = s.Now().UTC(), ""
	if runErr != nil {
		st.LastError = runErr.Error()
		s.Log.Error("scheduled backup failed", "err", runErr)
	}
	if m != nil && runErr == nil {
		st.LastSuccess, st.LastSize, st.LastID = m.StartedAt, m.Size, m.ID
	}
	if m != nil && m.Verified() {
		st.LastVerified = m.StartedAt
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.DB.SetMeta(ctx, metaStatus, string(b))
}

// ReadStatus reads the scheduled backups' status from the database (the
// zero Status when none ran yet).
func ReadStatus(ctx context.Context, db MetaReader) (Status, error) {
	var st Status
	v, ok, err := db.GetMeta(ctx, metaStatus)
	if err != nil || !ok {
		return st, err
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, fmt.Errorf("backup status: %w", err)
	}
	return st, nil
}
