package e2e_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/backup"
	"github.com/chorusgw/chorus/internal/config"
)

// TestBackupCLI drives the operator's interface on a SQLite install, as
// the docs describe it: chorus backup, backup list, restore --dry-run,
// restore (refused over data), restore --force (refused while the server
// runs, done once it stopped); what the restore brings back is the
// backup's data, not what was written after it.
func TestBackupCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildChorus(t)
	data, backups := t.TempDir(), filepath.Join(t.TempDir(), "backups")
	listen := freePort(t)
	env := chorusEnv("CHORUS_DATA_DIR="+data, "CHORUS_LISTEN="+listen, "CHORUS_LOG_LEVEL=warn")
	chorus := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := chorus(args...)
		if err != nil {
			t.Fatalf("chorus %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("migrate")
	must("users", "create", "--email", "kept@example.test")
	out := must("backup", "--dir", backups)
	if !strings.Contains(out, "verification: ok") {
		t.Fatalf("backup output:\n%s", out)
	}
	var list []struct {
		ID           string            `json:"id"`
		Tables       map[string]int64  `json:"tables"`
		Verification struct{ OK bool } `json:"verification"`
	}
	if err := json.Unmarshal([]byte(must("backup", "list", "--dir", backups, "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].Verification.OK || list[0].Tables["users"] != 1 {
		t.Fatalf("backup list: %+v", list)
	}
	must("users", "create", "--email", "lost@example.test")

	if out := must("restore", "--from", backups, "--dry-run"); !strings.Contains(out, "holds data") || !strings.Contains(out, "nothing changed") {
		t.Errorf("dry run output:\n%s", out)
	}
	if out, err := chorus("restore", "--from", backups); err == nil || !strings.Contains(out, "--force") {
		t.Errorf("restore over data without --force: %v\n%s", err, out)
	}
	p := startProcess(t, bin, listen, env)
	if out, err := chorus("restore", "--from", backups, "--force"); err == nil || !strings.Contains(out, "stop it first") {
		t.Errorf("restore while the server runs: %v\n%s", err, out)
	}
	p.stop(t, 10*time.Second)
	if out := must("restore", "--from", backups, "--force"); !strings.Contains(out, "restored; the restored database matches") {
		t.Errorf("restore output:\n%s", out)
	}
	users := must("users", "list")
	if !strings.Contains(users, "kept@example.test") || strings.Contains(users, "lost@example.test") {
		t.Errorf("after the restore, users:\n%s", users)
	}
	if out := must("help"); !strings.Contains(out, "chorus backup") || !strings.Contains(out, "chorus restore") {
		t.Errorf("chorus help does not list backup and restore:\n%s", out)
	}
}

// TestBackupSchedule starts a gateway with backup.schedule set: the slot
// it starts in has not run, so it takes a backup at once, verifies it, and
// /metrics reports it.
func TestBackupSchedule(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, func(c *config.Config) {
		c.Backup.Dir, c.Backup.Schedule = dir, "24h at 00:00"
	})
	deadline := time.Now().Add(30 * time.Second)
	var metrics string
	for {
		metrics = string(g.do("GET", "/metrics", "", nil).Body)
		if m := regexp.MustCompile(`(?m)^chorus_backup_last_verified_timestamp_seconds (\S+)$`).FindStringSubmatch(metrics); m != nil && m[1] != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verified scheduled backup in the metrics after 30s:\n%s", grepLines(metrics, "chorus_backup_"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(metrics, "chorus_backup_failures_total 0") || strings.Contains(metrics, "chorus_backup_last_size_bytes 0\n") {
		t.Errorf("backup metrics:\n%s", grepLines(metrics, "chorus_backup_"))
	}
	list, err := backup.List(dir)
	if err != nil || len(list) != 1 || !list[0].Verified() {
		t.Fatalf("backups in %s: %v, %v; want one verified", dir, list, err)
	}

	// The admin API shows the same: the fleet's status and the backups.
	var rep struct {
		Object string `json:"object"`
		Status struct {
			LastID       string    `json:"last_id"`
			LastVerified time.Time `json:"last_verified"`
			LastError    string    `json:"last_error"`
		} `json:"status"`
		Backups []struct {
			ID           string `json:"id"`
			Verification struct {
				OK bool `json:"ok"`
			} `json:"verification"`
		} `json:"backups"`
	}
	g.mustAdmin("GET", "/api/admin/backups", nil, 200, &rep)
	if rep.Object != "backups" || rep.Status.LastID != list[0].ID || rep.Status.LastVerified.IsZero() || rep.Status.LastError != "" ||
		len(rep.Backups) != 1 || rep.Backups[0].ID != list[0].ID || !rep.Backups[0].Verification.OK {
		t.Errorf("GET /api/admin/backups: %+v", rep)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
