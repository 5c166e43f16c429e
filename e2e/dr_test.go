package e2e_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDisasterRecoveryDrill runs scripts/dr-test.sh against the test
// PostgreSQL server: a running deployment's database is destroyed and
// restored from the latest verified backup. The books after the restore
// must be exactly the backup's (no posting or settlement more or less),
// everything after the backup is lost and counted, and the measured RTO
// is reported.
func TestDisasterRecoveryDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a drill")
	}
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		t.Skip("set CHORUS_TEST_POSTGRES_URL to run the disaster-recovery drill")
	}
	bin := buildChorus(t)
	_, port, _ := net.SplitHostPort(freePort(t))
	const requests = 20
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../scripts/dr-test.sh")
	cmd.Env = chorusEnv("CHORUS_BIN="+bin, "CHORUS_TEST_POSTGRES_URL="+base, "DR_PORT="+port,
		"DR_REQUESTS="+strconv.Itoa(requests))
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("dr-test.sh:\n%s", out)
	if err != nil {
		t.Fatalf("dr-test.sh: %v", err)
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.ToUpper(k) == k {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				got[k] = f
			}
		}
	}
	if got["POSTINGS_RESTORED"] != got["POSTINGS_AT_BACKUP"] || got["SETTLEMENTS_RESTORED"] != got["SETTLEMENTS_AT_BACKUP"] {
		t.Errorf("the restored books differ from the backup's: %v", got)
	}
	// After the backup: one grant and the requests, each charged (a
	// settlement and a posting).
	if got["SETTLEMENTS_LOST"] != requests || got["POSTINGS_LOST"] != requests+1 {
		t.Errorf("lost %v settlements and %v postings, want the %d requests and %d postings made after the backup",
			got["SETTLEMENTS_LOST"], got["POSTINGS_LOST"], requests, requests+1)
	}
	if got["SETTLEMENTS_AT_BACKUP"] < requests {
		t.Errorf("the backup holds %v settlements, want at least the %d requests before it", got["SETTLEMENTS_AT_BACKUP"], requests)
	}
	if rto := got["RTO_SECONDS"]; rto <= 0 || rto > 60 {
		t.Errorf("RTO %vs, want a measured time under 60s", rto)
	}
	if got["RPO_SECONDS"] <= 0 {
		t.Errorf("RPO %vs, want a measured time", got["RPO_SECONDS"])
	}
}
