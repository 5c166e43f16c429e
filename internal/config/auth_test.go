package config_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestAuth(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := config.Load("", nil)
		if err != nil {
			t.Fatal(err)
		}
		a := c.Auth
		if a.Signup != config.SignupInvite || a.PasswordMinLength != 12 || a.SessionLifetime != 24*time.Hour ||
			a.SessionIdle != 2*time.Hour || a.LoginThrottle.AccountFailures != 10 || a.LoginThrottle.IPFailures != 50 ||
			a.LoginThrottle.Window != 15*time.Minute || a.SecureCookies {
			t.Fatalf("defaults = %+v", a)
		}
	})
	t.Run("Env", func(t *testing.T) {
		c, err := config.Load("", []string{"CHORUS_AUTH_SIGNUP=open", "CHORUS_AUTH_TRUSTED_PROXIES=10.0.0.0/8, 192.0.2.1 ,2001:db8::/32",
			"CHORUS_AUTH_LOGIN_THROTTLE_WINDOW=1h", "CHORUS_AUTH_SECURE_COOKIES=true"})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := c.Auth.Proxies()
		if err != nil {
			t.Fatal(err)
		}
		want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/32")}
		if len(ps) != len(want) {
			t.Fatalf("proxies = %v, want %v", ps, want)
		}
		for i := range want {
			if ps[i] != want[i] {
				t.Errorf("proxy %d = %v, want %v", i, ps[i], want[i])
			}
		}
		if c.Auth.Signup != config.SignupOpen || c.Auth.LoginThrottle.Window != time.Hour || !c.Auth.SecureCookies {
			t.Errorf("auth = %+v", c.Auth)
		}
	})
	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"ErrSignup":          {[]string{"CHORUS_AUTH_SIGNUP=maybe"}, "auth.signup"},
		"ErrMinLengthLow":    {[]string{"CHORUS_AUTH_PASSWORD_MIN_LENGTH=6"}, "auth.password_min_length"},
		"ErrMinLengthHigh":   {[]string{"CHORUS_AUTH_PASSWORD_MIN_LENGTH=300"}, "auth.password_min_length"},
		"ErrLifetime":        {[]string{"CHORUS_AUTH_SESSION_LIFETIME=0s"}, "auth.session_lifetime"},
		"ErrIdleOverLife":    {[]string{"CHORUS_AUTH_SESSION_LIFETIME=1h", "CHORUS_AUTH_SESSION_IDLE=2h"}, "auth.session_idle"},
		"ErrInviteLifetime":  {[]string{"CHORUS_AUTH_INVITE_LIFETIME=2000h"}, "auth.invite_lifetime"},
		"ErrProxies":         {[]string{"CHORUS_AUTH_TRUSTED_PROXIES=10.0.0.0/8,proxy.example"}, "auth.trusted_proxies"},
		"ErrAccountFailures": {[]string{"CHORUS_AUTH_LOGIN_THROTTLE_ACCOUNT_FAILURES=-1"}, "auth.login_throttle.account_failures"},
		"ErrWindow":          {[]string{"CHORUS_AUTH_LOGIN_THROTTLE_WINDOW=0s"}, "auth.login_throttle.window"},
		"ErrPrefix":          {[]string{"CHORUS_AUTH_LOGIN_THROTTLE_PREFIX="}, "auth.login_throttle.prefix"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load("", tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
