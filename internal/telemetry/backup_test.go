package telemetry_test

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/telemetry"
)

func TestBackupMetrics(t *testing.T) {
	m := telemetry.New()
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	m.RegisterBackup(func() telemetry.BackupSample {
		return telemetry.BackupSample{LastSuccess: at, LastSize: 4096, Failures: 2}
	})
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			switch {
			case metric.GetGauge() != nil:
				got[f.GetName()] = metric.GetGauge().GetValue()
			case metric.GetCounter() != nil:
				got[f.GetName()] = metric.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		"chorus_backup_last_success_timestamp_seconds":  float64(at.Unix()),
		"chorus_backup_last_verified_timestamp_seconds": 0, // never: the alert fires
		"chorus_backup_last_size_bytes":                 4096,
		"chorus_backup_failures_total":                  2,
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s = %v (exported: %v), want %v", name, g, ok, w)
		}
	}

	// Every backup metric the alert rules use is one exported here.
	rules, err := os.ReadFile("../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`chorus_backup_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) < 3 {
		t.Fatalf("the alert rules use %d backup metrics, want the rules ChorusBackupTooOld and ChorusBackupVerificationTooOld", len(used))
	}
	for _, name := range used {
		if _, ok := want[name]; !ok {
			t.Errorf("deploy/prometheus/alerts.yaml uses %s, which Chorus does not export", name)
		}
	}
}
