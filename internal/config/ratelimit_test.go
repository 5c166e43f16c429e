package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestRateLimitsConfig(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		got := config.Default().RateLimits
		if !got.FailOpen || got.Timeout != 500*time.Millisecond || got.DeploymentWait != 250*time.Millisecond || got.Prefix == "" ||
			got.TripAfter != 3 || got.ProbeEvery != time.Second || got.FallbackShare != 0 ||
			got.Key != (config.RateLimit{}) || got.User != (config.RateLimit{}) || got.Team != (config.RateLimit{}) || len(got.Models) != 0 {
			t.Fatalf("defaults = %+v: want nothing limited, fail open, 500ms, trip after 3, probe every 1s, share by the fleet, 250ms", got)
		}
	})
	t.Run("OK", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		body := `redis_url: redis://127.0.0.1:6379/0
rate_limits:
  fail_open: true
  key: {rpm: 600, tpm: 200000, concurrency: 8}
  user: {rpm: 1200}
  models:
    gpt-4o: {rpm: 60, tpm: 30000}
`
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p, []string{"CHORUS_RATE_LIMITS_KEY_RPM=60", "CHORUS_RATE_LIMITS_FAIL_OPEN=false",
			"CHORUS_RATE_LIMITS_TIMEOUT=20ms", "CHORUS_RATE_LIMITS_TEAM_CONCURRENCY=100", "CHORUS_RATE_LIMITS_DEPLOYMENT_WAIT=0s",
			"CHORUS_RATE_LIMITS_TRIP_AFTER=5", "CHORUS_RATE_LIMITS_PROBE_EVERY=2s", "CHORUS_RATE_LIMITS_FALLBACK_SHARE=3"})
		if err != nil {
			t.Fatal(err)
		}
		got, want := c.RateLimits, config.RateLimits{
			Prefix: "chorus:rl:", FailOpen: false, Timeout: 20 * time.Millisecond, DeploymentWait: 0,
			Key:    config.RateLimit{RPM: 60, TPM: 200000, Concurrency: 8},
			User:   config.RateLimit{RPM: 1200},
			Team:   config.RateLimit{Concurrency: 100},
			Models: map[string]config.RateLimit{"gpt-4o": {RPM: 60, TPM: 30000}},
		}
		if got.Prefix != want.Prefix || got.FailOpen != want.FailOpen || got.Timeout != want.Timeout ||
			got.DeploymentWait != want.DeploymentWait || got.TripAfter != 5 || got.ProbeEvery != 2*time.Second || got.FallbackShare != 3 || got.Key != want.Key || got.User != want.User ||
			got.Team != want.Team || len(got.Models) != 1 || got.Models["gpt-4o"] != want.Models["gpt-4o"] {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("ErrUnknownKey", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte("rate_limits:\n  key: {rps: 1}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(p, nil); err == nil || !strings.Contains(err.Error(), "rps") {
			t.Fatalf("err = %v, want it to name the unknown key", err)
		}
	})
	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"ErrNegativeRPM":   {[]string{"CHORUS_RATE_LIMITS_KEY_RPM=-1"}, "rate_limits.key.rpm"},
		"ErrNegativeConc":  {[]string{"CHORUS_RATE_LIMITS_USER_CONCURRENCY=-5"}, "rate_limits.user.concurrency"},
		"ErrBadTPM":        {[]string{"CHORUS_RATE_LIMITS_TEAM_TPM=lots"}, "CHORUS_RATE_LIMITS_TEAM_TPM"},
		"ErrTimeout":       {[]string{"CHORUS_RATE_LIMITS_TIMEOUT=0s"}, "rate_limits.timeout"},
		"ErrLongTimeout":   {[]string{"CHORUS_RATE_LIMITS_TIMEOUT=1m"}, "rate_limits.timeout"},
		"ErrWait":          {[]string{"CHORUS_RATE_LIMITS_DEPLOYMENT_WAIT=-1s"}, "rate_limits.deployment_wait"},
		"ErrPrefix":        {[]string{"CHORUS_RATE_LIMITS_PREFIX="}, "rate_limits.prefix"},
		"ErrTrip":          {[]string{"CHORUS_RATE_LIMITS_TRIP_AFTER=0"}, "rate_limits.trip_after"},
		"ErrProbe":         {[]string{"CHORUS_RATE_LIMITS_PROBE_EVERY=0s"}, "rate_limits.probe_every"},
		"ErrShare":         {[]string{"CHORUS_RATE_LIMITS_FALLBACK_SHARE=-1"}, "rate_limits.fallback_share"},
		"ErrModelsFromEnv": {[]string{"CHORUS_RATE_LIMITS_MODELS=gpt-4o"}, "CHORUS_RATE_LIMITS_MODELS"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load("", tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	t.Run("ErrNegativeModelLimit", func(t *testing.T) {
		c := config.Default()
		c.RateLimits.Models = map[string]config.RateLimit{"m": {TPM: -1}}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "rate_limits.models.m.tpm") {
			t.Fatalf("err = %v, want it to name rate_limits.models.m.tpm", err)
		}
	})
}
