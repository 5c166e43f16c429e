package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/chorusgw/chorus/internal/backup"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/periodic"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// backupTick is how often every instance checks whether a backup is due
// (the one that takes the lock and finds its slot not run runs it).
const backupTick = time.Minute

// NewBackuper returns the backuper the configuration describes, for the
// schedule and for `chorus backup` and `chorus restore`.
func NewBackuper(cfg config.Config, dir string, log *slog.Logger) *backup.Backuper {
	if dir == "" {
		dir = cfg.Backup.Dir
	}
	return backup.New(backup.Options{
		Dir: dir, DSN: cfg.DatabaseDSN(),
		PGDump: cfg.Backup.PGDump, PGRestore: cfg.Backup.PGRestore, VerifyDatabase: cfg.Backup.VerifyDatabase,
		Log: log,
	})
}

// backupReport is GET /api/admin/backups: the configuration, the
// scheduled backups' status (from the database: the fleet's) and the
// backups in backup.dir (as this instance sees it), oldest first.
type backupReport struct {
	Object   string             `json:"object"` // "backups"
	Dir      string             `json:"dir"`
	Schedule string             `json:"schedule"`
	Verify   bool               `json:"verify"`
	Status   backup.Status      `json:"status"`
	Backups  []*backup.Manifest `json:"backups"`
}

// reportBackups builds the backups' admin report.
func (a *App) reportBackups(ctx context.Context) (any, error) {
	cfg := a.Config.Backup
	rep := backupReport{Object: "backups", Dir: cfg.Dir, Schedule: cfg.Schedule, Verify: cfg.Verify, Backups: []*backup.Manifest{}}
	st, err := backup.ReadStatus(ctx, a.DB)
	if err != nil {
		return nil, err
	}
	rep.Status = st
	if cfg.Dir != "" {
		ms, err := backup.List(cfg.Dir)
		if err != nil {
			return nil, err
		}
		if ms != nil {
			rep.Backups = ms
		}
	}
	return rep, nil
}

// backupState is what the backup metrics report: the fleet's status read
// from the database, and this instance's failed runs.
type backupState struct {
	mu       sync.Mutex
	status   backup.Status
	failures int64
}

func (s *backupState) sample() telemetry.BackupSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return telemetry.BackupSample{LastSuccess: s.status.LastSuccess, LastVerified: s.status.LastVerified,
		LastSize: s.status.LastSize, Failures: s.failures}
}

// runBackups starts the backup schedule (backup.schedule) and its
// metrics; without a schedule it does nothing.
func (a *App) runBackups(ctx context.Context) {
	cfg := a.Config.Backup
	if cfg.Schedule == "" {
		return
	}
	every, at, err := config.ParseSchedule(cfg.Schedule)
	if err != nil { // Validate refused it already
		a.Log.Error("backup schedule", "err", err)
		return
	}
	s := &backup.Scheduler{
		DB: a.DB, Backuper: NewBackuper(a.Config, "", a.Log),
		Schedule: backup.Schedule{Every: every, At: at},
		Keep:     backup.Retention{Daily: cfg.KeepDaily, Weekly: cfg.KeepWeekly},
		Verify:   cfg.Verify, Now: time.Now, Log: a.Log,
	}
	state := &backupState{}
	a.Metrics.RegisterBackup(state.sample)
	go periodic.Every(ctx, backupTick, true, func(ctx context.Context) {
		runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		ran, err := s.Tick(runCtx)
		if err != nil && ctx.Err() == nil {
			a.Log.Error("backup schedule", "ran", ran, "err", err)
			state.mu.Lock()
			state.failures++
			state.mu.Unlock()
		}
		st, err := backup.ReadStatus(ctx, a.DB)
		if err != nil {
			a.Log.Warn("backup status", "err", err)
			return
		}
		state.mu.Lock()
		state.status = st
		state.mu.Unlock()
	})
}
