package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestBackup(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		b := config.Default().Backup
		if b.Schedule != "" || b.KeepDaily != 7 || b.KeepWeekly != 4 || !b.Verify {
			t.Errorf("defaults %+v", b)
		}
	})
	t.Run("Env", func(t *testing.T) {
		c, err := config.Load("", []string{"CHORUS_BACKUP_DIR=/var/backups/chorus", "CHORUS_BACKUP_SCHEDULE=24h at 03:30",
			"CHORUS_BACKUP_KEEP_DAILY=3", "CHORUS_BACKUP_VERIFY=false"})
		if err != nil {
			t.Fatal(err)
		}
		if b := c.Backup; b.Dir != "/var/backups/chorus" || b.Schedule != "24h at 03:30" || b.KeepDaily != 3 || b.Verify {
			t.Errorf("env not applied: %+v", b)
		}
	})
	for _, tt := range []struct {
		name string
		edit func(b *config.Backup)
		key  string
	}{
		{"ErrSchedule", func(b *config.Backup) { b.Dir, b.Schedule = "/b", "daily" }, "backup.schedule"},
		{"ErrScheduleShort", func(b *config.Backup) { b.Dir, b.Schedule = "/b", "10s" }, "backup.schedule"},
		{"ErrScheduleAt", func(b *config.Backup) { b.Dir, b.Schedule = "/b", "24h at 25:00" }, "backup.schedule"},
		{"ErrScheduleAtOutside", func(b *config.Backup) { b.Dir, b.Schedule = "/b", "6h at 07:00" }, "backup.schedule"},
		{"ErrDirRequired", func(b *config.Backup) { b.Schedule = "24h" }, "backup.dir"},
		{"ErrKeep", func(b *config.Backup) { b.KeepDaily, b.KeepWeekly = 0, 0 }, "backup.keep_daily"},
		{"ErrTimeout", func(b *config.Backup) { b.Timeout = time.Second }, "backup.timeout"},
		{"ErrVerifyDatabase", func(b *config.Backup) { b.VerifyDatabase = "scratch.db" }, "backup.verify_database"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.edit(&c.Backup)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.key+" (") {
				t.Errorf("got %v, want an error about %s", err, tt.key)
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	for _, tt := range []struct {
		in        string
		every, at time.Duration
	}{
		{"24h", 24 * time.Hour, 0},
		{"24h at 03:00", 24 * time.Hour, 3 * time.Hour},
		{" 6h at 05:30 ", 6 * time.Hour, 5*time.Hour + 30*time.Minute},
		{"1h", time.Hour, 0},
	} {
		every, at, err := config.ParseSchedule(tt.in)
		if err != nil || every != tt.every || at != tt.at {
			t.Errorf("ParseSchedule(%q) = %s, %s, %v; want %s, %s", tt.in, every, at, err, tt.every, tt.at)
		}
	}
}
