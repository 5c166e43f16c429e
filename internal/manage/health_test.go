package manage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadinessChecks(t *testing.T) {
	s := &Server{Now: time.Now}
	t.Run("Off", func(t *testing.T) {
		for name, c := range map[string]Check{"redis": s.redisCheck(context.Background()), "usage_queue": s.usageQueueCheck(),
			"rollup_lag": s.rollupLagCheck(context.Background())} {
			if c.Status != CheckOff {
				t.Errorf("%s = %+v, want off", name, c)
			}
		}
	})
	t.Run("RedisOK", func(t *testing.T) {
		s := &Server{Now: time.Now, Readiness: Readiness{Redis: func(context.Context) error { return nil }}}
		if c := s.redisCheck(context.Background()); c.Status != CheckOK || c.Seconds == nil {
			t.Errorf("redis = %+v", c)
		}
	})
	t.Run("RedisDown", func(t *testing.T) {
		s := &Server{Now: time.Now, Readiness: Readiness{Redis: func(context.Context) error { return errors.New("dial tcp: refused") }}}
		if c := s.redisCheck(context.Background()); c.Status != CheckDegraded || !strings.Contains(c.Message, "refused") {
			t.Errorf("redis = %+v", c)
		}
	})
	for _, tc := range []struct {
		name            string
		depth, capacity int
		want            string
	}{{"QueueEmpty", 0, 100, CheckOK}, {"QueueBusy", 89, 100, CheckOK}, {"QueueNearlyFull", 90, 100, CheckDegraded}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{Readiness: Readiness{UsageQueue: func() (int, int) { return tc.depth, tc.capacity }}}
			c := s.usageQueueCheck()
			if c.Status != tc.want || *c.Depth != tc.depth || *c.Capacity != tc.capacity {
				t.Errorf("usage queue = %+v, want %s", c, tc.want)
			}
		})
	}
	t.Run("RollupLag", func(t *testing.T) {
		s := &Server{RollupLag: func(context.Context) (time.Duration, error) { return 90 * time.Second, nil }}
		if c := s.rollupLagCheck(context.Background()); c.Status != CheckOK || *c.Seconds != 90 {
			t.Errorf("rollup lag = %+v", c)
		}
		s.RollupLag = func(context.Context) (time.Duration, error) { return 0, errors.New("no rollup state") }
		if c := s.rollupLagCheck(context.Background()); c.Status != CheckDegraded || !strings.Contains(c.Message, "no rollup state") {
			t.Errorf("rollup lag on error = %+v", c)
		}
	})
}
