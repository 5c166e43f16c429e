package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/limit/limittest"
)

// The shared limit of TestRateLimitThreeInstances: 12,000 requests a
// minute on one key, so a burst of 12,000 then 200 a second.
const (
	sharedRPM    = 12_000
	instances    = 3
	hammerers    = 8 // goroutines per instance
	runFor       = 6 * time.Second
	instanceEnv  = "CHORUS_TEST_RL_INSTANCE"
	instanceOut  = "CHORUS_TEST_RL_OUT"
	instancePre  = "CHORUS_TEST_RL_PREFIX"
	instanceFrom = "CHORUS_TEST_RL_START" // unix ns: every instance starts at once
)

// instanceResult is what one instance reports.
type instanceResult struct {
	Attempts int64   `json:"attempts"`
	Errors   int64   `json:"errors"`
	Faults   int64   `json:"faults"`
	Admitted []int64 `json:"admitted"` // unix ns of each admitted decision's return
	First    int64   `json:"first"`    // unix ns when the first call started
	Last     int64   `json:"last"`     // unix ns when the last call returned
}

// TestRateLimitThreeInstances runs three limiter processes — separate OS
// processes, each with its own Redis client and pool, as three Chorus
// instances are — hammering one key on one Redis, and checks that together
// they admit exactly what one limiter would: the burst plus the rate over
// the run, within 1%, and the rate after the burst within 1%.
func TestRateLimitThreeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process rate limit test skipped in -short mode")
	}
	c := limittest.Redis(t)
	prefix := limittest.Prefix(t, c)
	start := time.Now().Add(500 * time.Millisecond) // time for the processes to start
	dir := t.TempDir()
	var wg sync.WaitGroup
	results := make([]instanceResult, instances)
	for i := range instances {
		out := filepath.Join(dir, "instance"+strconv.Itoa(i)+".json")
		cmd := exec.Command(os.Args[0], "-test.run=^TestRateLimitInstance$", "-test.count=1")
		cmd.Env = append(os.Environ(), instanceEnv+"=1", instanceOut+"="+out, instancePre+"="+prefix,
			instanceFrom+"="+strconv.FormatInt(start.UnixNano(), 10), "CHORUS_TEST_REDIS_URL="+limittest.RedisURL())
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := cmd.Wait(); err != nil {
				t.Errorf("instance %d: %v\n%s", i, err, stderr.String())
				return
			}
			b, err := os.ReadFile(out)
			if err == nil {
				err = json.Unmarshal(b, &results[i])
			}
			if err != nil {
				t.Errorf("instance %d result: %v\n%s", i, err, stderr.String())
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	var all []int64
	var attempts int64
	first, last := results[0].First, results[0].Last
	for i, r := range results {
		if r.Errors > 0 || r.Faults > 0 {
			t.Fatalf("instance %d: %d errors, %d faults: every decision must come from Redis", i, r.Errors, r.Faults)
		}
		all = append(all, r.Admitted...)
		attempts += r.Attempts
		first, last = min(first, r.First), max(last, r.Last)
		t.Logf("instance %d: %d attempts, %d admitted", i, r.Attempts, len(r.Admitted))
	}
	slices.Sort(all)
	span := time.Duration(last - first)
	rate := float64(sharedRPM) / limit.Period.Seconds()
	// GCRA from a full bucket admits at most burst + rate × span, and under
	// saturation exactly that (less the last interval's fraction).
	allowed := float64(sharedRPM) + rate*span.Seconds()
	got := float64(len(all))
	t.Logf("3 instances, %v: %d attempts (%.0f/s), %d admitted; burst + rate × span = %.0f (%.3f%%)",
		span.Round(time.Millisecond), attempts, float64(attempts)/span.Seconds(), len(all), allowed, 100*(got-allowed)/allowed)
	if got > allowed+1 {
		t.Errorf("admitted %d > burst %d + rate × %v = %.0f", len(all), sharedRPM, span, allowed)
	}
	if got < 0.99*allowed {
		t.Errorf("admitted %d < 99%% of %.0f: the limiter is stricter than its limit (or the instances did not saturate it)", len(all), allowed)
	}

	// After the burst, the combined rate is the limit's.
	burstEnd := time.Unix(0, all[sharedRPM-1])
	from, to := burstEnd.Add(500*time.Millisecond), time.Unix(0, last).Add(-500*time.Millisecond)
	if to.Sub(from) < 2*time.Second {
		t.Fatalf("the burst took until %v of a %v run: too slow a machine to measure the steady rate", burstEnd.Sub(time.Unix(0, first)), span)
	}
	lo, _ := slices.BinarySearch(all, from.UnixNano())
	hi, _ := slices.BinarySearch(all, to.UnixNano())
	steady, want := float64(hi-lo), rate*to.Sub(from).Seconds()
	t.Logf("after the burst: %d admitted in %v = %.1f/s, limit %.1f/s (%.3f%%)",
		hi-lo, to.Sub(from).Round(time.Millisecond), steady/to.Sub(from).Seconds(), rate, 100*(steady-want)/want)
	if d := steady - want; d > 0.01*want+2 || d < -(0.01*want+2) {
		t.Errorf("steady rate: %d admitted in %v, want %.0f ± 1%%", hi-lo, to.Sub(from), want)
	}
}

// TestRateLimitInstance is one instance of TestRateLimitThreeInstances,
// run in its own process; on its own it does nothing.
func TestRateLimitInstance(t *testing.T) {
	if os.Getenv(instanceEnv) != "1" {
		t.Skip("runs only as a child of TestRateLimitThreeInstances")
	}
	c, err := limit.NewRedisClient(limittest.RedisURL(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var res instanceResult
	var mu sync.Mutex
	l := limit.NewRedis(c, limit.RedisOptions{Prefix: os.Getenv(instancePre), Timeout: time.Second,
		OnFault: func(error) { mu.Lock(); res.Faults++; mu.Unlock() }})
	defer l.Close()
	from, _ := strconv.ParseInt(os.Getenv(instanceFrom), 10, 64)
	time.Sleep(time.Until(time.Unix(0, from)))
	end := time.Now().Add(runFor)
	req := limit.Request{KeyID: 1, UserID: 1, Model: "m", KeyLimits: limit.Limits{RPM: sharedRPM}}
	var wg sync.WaitGroup
	res.First = time.Now().UnixNano()
	for range hammerers {
		wg.Go(func() {
			var admitted []int64
			var attempts, errs int64
			for time.Now().Before(end) {
				r := req
				d, _, err := l.Admit(context.Background(), &r)
				attempts++
				switch {
				case err != nil:
					errs++
				case d.Allowed:
					admitted = append(admitted, time.Now().UnixNano())
				}
			}
			mu.Lock()
			res.Attempts += attempts
			res.Errors += errs
			res.Admitted = append(res.Admitted, admitted...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Last = time.Now().UnixNano()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(instanceOut), b, 0o600); err != nil {
		t.Fatal(fmt.Errorf("write result: %w", err))
	}
}
