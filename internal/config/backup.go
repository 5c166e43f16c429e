package config

import (
	"fmt"
	"strings"
	"time"
)

// Backup configures backups (internal/backup, docs/backups.md): where
// they go, how many are kept, and the schedule the server runs them on
// (on one instance of a fleet).
type Backup struct {
	// Dir is where backups are written, one directory each. The schedule
	// runs only when it is set; `chorus backup` defaults to it.
	Dir string `yaml:"dir"`
	// Schedule is how often the server takes a backup: a duration (24h,
	// 6h), optionally followed by "at HH:MM" (UTC) to fix when: "24h at
	// 03:00" is every day at 03:00 UTC. Empty: the server takes none.
	Schedule string `yaml:"schedule"`
	// KeepDaily and KeepWeekly keep the newest backup of each of that many
	// most recent days and ISO weeks that have one (docs/backups.md).
	KeepDaily  int `yaml:"keep_daily"`
	KeepWeekly int `yaml:"keep_weekly"`
	// Verify restores each backup into a scratch database and checks it.
	Verify bool `yaml:"verify"`
	// PGDump and PGRestore are the PostgreSQL tools; empty: found on PATH.
	PGDump    string `yaml:"pg_dump"`
	PGRestore string `yaml:"pg_restore"`
	// VerifyDatabase (PostgreSQL) is a database verification restores into,
	// replacing what it holds; empty: a fresh chorus_verify_<random>
	// database is created on the same server and dropped afterwards.
	VerifyDatabase string `yaml:"verify_database"`
	// Timeout bounds one scheduled run (backup, verification, pruning).
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultBackup is the backups' default configuration: no schedule.
func DefaultBackup() Backup {
	return Backup{KeepDaily: 7, KeepWeekly: 4, Verify: true, Timeout: time.Hour}
}

// ParseSchedule reads a backup.schedule: every is the interval, at the
// offset from midnight UTC of the slots ("24h at 03:00" → 24h, 3h).
func ParseSchedule(s string) (every, at time.Duration, err error) {
	dur, clock, hasAt := strings.Cut(strings.TrimSpace(s), " at ")
	every, err = time.ParseDuration(strings.TrimSpace(dur))
	if err != nil {
		return 0, 0, fmt.Errorf(`want a duration such as 24h, optionally followed by "at HH:MM" (UTC), got %q`, s)
	}
	if every < time.Minute {
		return 0, 0, fmt.Errorf("the interval must be at least 1m, got %s", every)
	}
	if hasAt {
		t, err := time.Parse("15:04", strings.TrimSpace(clock))
		if err != nil {
			return 0, 0, fmt.Errorf(`"at" wants a UTC time of day HH:MM, got %q`, clock)
		}
		at = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
		if at >= every {
			return 0, 0, fmt.Errorf(`"at %s" must fall within the interval %s`, clock, every)
		}
	}
	return every, at, nil
}

func (b Backup) errors() []error {
	var errs problems
	if b.Schedule != "" {
		if _, _, err := ParseSchedule(b.Schedule); err != nil {
			errs.add("backup.schedule", "%v", err)
		}
		if b.Dir == "" {
			errs.add("backup.dir", "must be set when backup.schedule is")
		}
	}
	if b.KeepDaily < 0 || b.KeepWeekly < 0 {
		errs.add("backup.keep_daily", "keep_daily and keep_weekly must not be negative, got %d and %d", b.KeepDaily, b.KeepWeekly)
	}
	if b.KeepDaily+b.KeepWeekly < 1 {
		errs.add("backup.keep_daily", "keep_daily + keep_weekly must be at least 1 (the newest backup is always kept)")
	}
	if b.Timeout < time.Minute {
		errs.add("backup.timeout", "must be at least 1m, got %s", b.Timeout)
	}
	if b.VerifyDatabase != "" && !strings.HasPrefix(b.VerifyDatabase, "postgres://") && !strings.HasPrefix(b.VerifyDatabase, "postgresql://") {
		errs.add("backup.verify_database", "must be a postgres:// URL, got %q", redactURL(b.VerifyDatabase))
	}
	return errs
}
