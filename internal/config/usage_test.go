package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestUsage(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		u := config.Default().Usage
		if u.Retention != 90*24*time.Hour || u.RollupBatch != 5000 || u.FinalizeAfter != 5*time.Minute || u.HourlyRetention == 0 {
			t.Errorf("defaults %+v", u)
		}
	})
	t.Run("Env", func(t *testing.T) {
		c, err := config.Load("", []string{"CHORUS_USAGE_RETENTION=0s", "CHORUS_USAGE_ROLLUP_BATCH=100", "CHORUS_USAGE_ALERT_INTERVAL=10s"})
		if err != nil {
			t.Fatal(err)
		}
		if u := c.Usage; u.Retention != 0 || u.RollupBatch != 100 || u.AlertInterval != 10*time.Second {
			t.Errorf("env not applied: %+v", u)
		}
	})
	for _, tt := range []struct {
		name string
		edit func(u *config.Usage)
		key  string
	}{
		{"ErrRollupBatch", func(u *config.Usage) { u.RollupBatch = 0 }, "usage.rollup_batch"},
		{"ErrRetentionShort", func(u *config.Usage) { u.Retention = time.Hour }, "usage.retention"},
		{"ErrHourlyRetention", func(u *config.Usage) { u.HourlyRetention = -time.Hour }, "usage.hourly_retention"},
		{"ErrFinalizeAfter", func(u *config.Usage) { u.FinalizeAfter = 0 }, "usage.finalize_after"},
		{"ErrAlertInterval", func(u *config.Usage) { u.AlertInterval = 0 }, "usage.alert_interval"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.edit(&c.Usage)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("err = %v, want it to name %s", err, tt.key)
			}
		})
	}
}
