package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestDefaultIsValid(t *testing.T) {
	c := config.Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := c.DatabaseDSN(), filepath.Join("data", "chorus.db"); got != want {
		t.Fatalf("DSN = %q, want %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("OK", func(t *testing.T) {
		p := write("listen: 127.0.0.1:9000\nlimits:\n  max_messages: 10\ntimeouts:\n  drain: 5s\n")
		c, err := config.Load(p, []string{"CHORUS_LIMITS_MAX_TOKENS=99", "CHORUS_LOG_LEVEL=debug", "OTHER=1"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen != "127.0.0.1:9000" || c.Limits.MaxMessages != 10 || c.Timeouts.Drain != 5*time.Second {
			t.Fatalf("file values not applied: %+v", c)
		}
		if c.Limits.MaxTokens != 99 || c.Log.Level != "debug" {
			t.Fatalf("env values not applied: %+v", c)
		}
	})
	t.Run("EnvOverridesFile", func(t *testing.T) {
		p := write("listen: 127.0.0.1:9000\n")
		c, err := config.Load(p, []string{"CHORUS_LISTEN=:7000", "CHORUS_TIMEOUTS_UPSTREAM=2m"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen != ":7000" || c.Timeouts.Upstream != 2*time.Minute {
			t.Fatalf("got %q %v", c.Listen, c.Timeouts.Upstream)
		}
	})
	t.Run("EmptyFile", func(t *testing.T) {
		if _, err := config.Load(write(""), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrUnknownKey", func(t *testing.T) {
		_, err := config.Load(write("lisen: :80\n"), nil)
		if err == nil || !strings.Contains(err.Error(), "lisen") {
			t.Fatalf("err = %v, want it to name the unknown key", err)
		}
	})
	t.Run("ErrMissingFile", func(t *testing.T) {
		if _, err := config.Load(filepath.Join(dir, "nope.yaml"), nil); err == nil {
			t.Fatal("missing file accepted")
		}
	})
	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"ErrBadDuration": {[]string{"CHORUS_TIMEOUTS_DRAIN=soon"}, "CHORUS_TIMEOUTS_DRAIN"},
		"ErrBadInt":      {[]string{"CHORUS_LIMITS_MAX_MESSAGES=many"}, "CHORUS_LIMITS_MAX_MESSAGES"},
		"ErrBadBool":     {[]string{"CHORUS_BOOTSTRAP=maybe"}, "CHORUS_BOOTSTRAP"},
		"ErrListen":      {[]string{"CHORUS_LISTEN=nonsense"}, "listen (CHORUS_LISTEN)"},
		"ErrLogLevel":    {[]string{"CHORUS_LOG_LEVEL=loud"}, "log.level"},
		"ErrDatabaseURL": {[]string{"CHORUS_DATABASE_URL=mysql://u:secret@h/db"}, "database_url"},
		"ErrShortMaster": {[]string{"CHORUS_MASTER_KEY=short"}, "master_key"},
		"ErrZeroLimit":   {[]string{"CHORUS_LIMITS_MAX_BODY_BYTES=10"}, "limits.max_body_bytes"},
		"ErrNegDuration": {[]string{"CHORUS_TIMEOUTS_UPSTREAM=-1s"}, "timeouts.upstream"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load("", tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks a password: %v", err)
			}
		})
	}
	t.Run("AllProblemsAtOnce", func(t *testing.T) {
		_, err := config.Load("", []string{"CHORUS_LOG_LEVEL=loud", "CHORUS_LOG_FORMAT=xml"})
		if err == nil || !strings.Contains(err.Error(), "log.level") || !strings.Contains(err.Error(), "log.format") {
			t.Fatalf("err = %v", err)
		}
	})
}
