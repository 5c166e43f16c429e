package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/config"
)

// loadConfig parses the common --config flag and loads the configuration.
func loadConfig(fs *flag.FlagSet, args []string) (config.Config, error) {
	path := fs.String("config", os.Getenv("CHORUS_CONFIG"), "config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	return config.Load(*path, os.Environ())
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, stderr)
	setMemoryLimit("/", os.Getenv, log)
	a, err := app.New(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.DB.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	rctx, stopRelease := context.WithCancel(ctx)
	defer stopRelease()
	go releaseIdleMemory(rctx, log)
	errc := make(chan error, 1)
	go func() { errc <- a.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			_ = a.Shutdown()
			return fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
	}
	return a.Shutdown()
}
