package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestInstance(t *testing.T) {
	t.Run("DefaultIsHostname", func(t *testing.T) {
		h, err := os.Hostname()
		if err != nil {
			t.Skip("no host name here:", err)
		}
		if got := config.Default().Instance.ID; got != h {
			t.Errorf("default instance.id = %q, want the host name %q", got, h)
		}
	})
	t.Run("Env", func(t *testing.T) {
		c, err := config.Load("", []string{"CHORUS_INSTANCE_ID=chorus-2", "CHORUS_TIMEOUTS_PRE_DRAIN=6s"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Instance.ID, "chorus-2"; got != want {
			t.Errorf("instance.id = %q, want %q", got, want)
		}
		if got, want := c.Timeouts.PreDrain, 6*time.Second; got != want {
			t.Errorf("timeouts.pre_drain = %v, want %v", got, want)
		}
	})
	t.Run("DefaultPreDrainIsZero", func(t *testing.T) {
		if d := config.Default().Timeouts.PreDrain; d != 0 {
			t.Errorf("default timeouts.pre_drain = %v, want 0 (a single instance stops at once)", d)
		}
	})
	for name, tc := range map[string]struct{ env, want string }{
		"ErrEmptyID":         {"CHORUS_INSTANCE_ID=", "CHORUS_INSTANCE_ID"},
		"ErrSpaceInID":       {"CHORUS_INSTANCE_ID=chorus 1", "CHORUS_INSTANCE_ID"},
		"ErrHeaderInID":      {"CHORUS_INSTANCE_ID=a\r\nX-Evil: 1", "CHORUS_INSTANCE_ID"},
		"ErrLongID":          {"CHORUS_INSTANCE_ID=" + strings.Repeat("a", 254), "CHORUS_INSTANCE_ID"},
		"ErrNegativeDrain":   {"CHORUS_TIMEOUTS_PRE_DRAIN=-1s", "CHORUS_TIMEOUTS_PRE_DRAIN"},
		"ErrEndlessPreDrain": {"CHORUS_TIMEOUTS_PRE_DRAIN=1h", "CHORUS_TIMEOUTS_PRE_DRAIN"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load("", []string{tc.env})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%q) = %v, want an error naming %s", tc.env, err, tc.want)
			}
		})
	}
}
