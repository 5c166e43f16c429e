// Package apptest starts a whole Chorus gateway in-process for end-to-end
// tests: a real database (SQLite in a temp dir, or PostgreSQL), the real
// registry, usage writer and HTTP server on a loopback port.
package apptest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/config"
)

// MasterKey is the admin key every test gateway accepts.
const MasterKey = "sk-chorus-test-master-key-0123456789"

// Gateway is a running test gateway.
type Gateway struct {
	URL       string // http://127.0.0.1:port
	MasterKey string
	App       *app.App
}

// Start runs a gateway for the test and shuts it down in t.Cleanup. The
// config starts from config.Default with a temp data dir, the master key, no
// bootstrap, and a quiet logger; edit may change anything.
func Start(tb testing.TB, edit func(*config.Config)) *Gateway {
	tb.Helper()
	return StartOutput(tb, edit, io.Discard)
}

// StartOutput is Start that writes the first-start credentials (printed
// when the config's Bootstrap is on) to bootstrapOut.
func StartOutput(tb testing.TB, edit func(*config.Config), bootstrapOut io.Writer) *Gateway {
	tb.Helper()
	return start(tb, edit, bootstrapOut, nil)
}

// StartWith is Start with options for app.New (a span exporter, say).
func StartWith(tb testing.TB, edit func(*config.Config), opts ...app.Option) *Gateway {
	tb.Helper()
	return start(tb, edit, io.Discard, nil, opts...)
}

// StartLogged is StartWith that writes the gateway's log to logw (at the
// configured log level: edit sets it).
func StartLogged(tb testing.TB, edit func(*config.Config), logw io.Writer, opts ...app.Option) *Gateway {
	tb.Helper()
	return start(tb, edit, io.Discard, logw, opts...)
}

func start(tb testing.TB, edit func(*config.Config), bootstrapOut, logw io.Writer, opts ...app.Option) *Gateway {
	tb.Helper()
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.MasterKey = MasterKey
	cfg.Bootstrap = false
	cfg.Log.Level = "warn"
	// Gateway tests call with customers' keys that hold no credits:
	// billing is off unless a test turns it on (e2e/billing_test.go).
	cfg.Billing.Mode = config.BillingOff
	// The fake upstreams listen on loopback: allow it, as an operator of
	// on-premises model servers would (e2e/upstreams_test.go turns it off).
	cfg.Upstreams.AllowPrivateNetworks = true
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	var w io.Writer = io.Discard
	switch {
	case logw != nil:
		w = logw
	case os.Getenv("CHORUS_TEST_LOG") != "":
		w = os.Stderr
	}
	log := app.NewLogger(cfg.Log, w)
	a, err := app.New(context.Background(), cfg, log, bootstrapOut, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	tb.Cleanup(func() {
		if err := a.Shutdown(); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("serve: %v", err)
		}
	})
	return &Gateway{URL: "http://" + ln.Addr().String(), MasterKey: MasterKey, App: a}
}

// Logger returns a logger that writes only when CHORUS_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("CHORUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
