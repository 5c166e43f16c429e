package app

import (
	"fmt"
	"time"

	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/limit"
)

// throttleTimeout bounds one Redis call of the login throttle; past it the
// throttle counts in process (see auth.ThrottleOptions).
const throttleTimeout = 250 * time.Millisecond

// initAccounts gives the server its login throttle: shared through Redis
// when redis_url is set, so that an attacker cannot multiply their guesses
// by the number of instances; in process otherwise.
func (a *App) initAccounts() error {
	lt := a.Config.Auth.LoginThrottle
	opts := auth.ThrottleOptions{
		Account: auth.ThrottleRule{Max: lt.AccountFailures, Window: lt.Window},
		IP:      auth.ThrottleRule{Max: lt.IPFailures, Window: lt.Window},
		Prefix:  lt.Prefix, Timeout: throttleTimeout, Logger: a.Log,
	}
	if a.Config.RedisURL != "" {
		c, err := limit.NewRedisClient(a.Config.RedisURL, throttleTimeout)
		if err != nil {
			return fmt.Errorf("login throttle: %w", err)
		}
		opts.Redis = c
		a.closers = append(a.closers, func() { c.Close() })
	}
	a.Manage.LoginThrottle = auth.NewThrottle(opts)
	return nil
}
