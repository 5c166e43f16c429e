package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider/adapters"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/chorusgw/chorus/internal/store"
	"github.com/chorusgw/chorus/internal/telemetry"
	"github.com/chorusgw/chorus/internal/usage"
)

// loadConfig parses the common --config flag and loads the configuration.
func loadConfig(fs *flag.FlagSet, args []string) (config.Config, error) {
	path := fs.String("config", os.Getenv("CHORUS_CONFIG"), "config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	return config.Load(*path, os.Environ())
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the database with the credential-sealing key, applies or
// checks migrations, and checks that stored secrets can be read.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*store.DB, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	key, generated, err := sealingKey(cfg)
	if err != nil {
		return nil, err
	}
	var sealer *secret.Sealer
	if key != nil {
		if sealer, err = secret.NewSealer(key); err != nil {
			return nil, err
		}
	}
	db, err := store.Open(ctx, cfg.DatabaseDSN(), store.Options{Sealer: sealer})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if migrate {
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	if err := db.CheckSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.CheckSecrets(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if generated {
		log.Info("generated a key to seal provider credentials; keep it with the database", "file", cfg.KeyFile())
	}
	return db, nil
}

// sealingKey returns the credential-sealing key from config, env or the key
// file; when none exists it creates the key file (first start). A generated
// key is never used to read old credentials: CheckSecrets catches that.
func sealingKey(cfg config.Config) (key []byte, generated bool, err error) {
	if cfg.SecretKey != "" {
		key, err = secret.LoadKey(cfg.SecretKey, "")
		return key, false, err
	}
	path := cfg.KeyFile()
	if _, statErr := os.Stat(path); statErr == nil {
		key, err = secret.LoadKey("", path)
		return key, false, err
	}
	if cfg.SecretKeyFile != "" {
		return nil, false, fmt.Errorf("secret_key_file %s does not exist", path)
	}
	k := secret.GenerateKey()
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return nil, false, fmt.Errorf("write %s: %w", path, err)
	}
	key, err = secret.LoadKey(k, "")
	return key, true, err
}

// registrySource adapts the store to what the registry reads.
type registrySource struct{ db *store.DB }

func (s registrySource) RegistryVersion(ctx context.Context) (int64, error) {
	return s.db.RegistryVersion(ctx)
}

func (s registrySource) LoadRegistry(ctx context.Context) (*registry.Data, error) {
	r, err := s.db.LoadRegistry(ctx)
	if err != nil {
		return nil, err
	}
	return &registry.Data{Version: r.Version, Models: r.Models, Secrets: r.Secrets, Keys: r.Keys}, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	db, err := openStore(ctx, cfg, log, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()

	if n, err := usage.Import(ctx, db, cfg.DataDir); err != nil {
		return fmt.Errorf("import usage spill: %w", err)
	} else if n > 0 {
		log.Info("imported usage records saved at the last shutdown", "records", n)
	}
	if cfg.Bootstrap {
		if err := bootstrap(ctx, db, cfg, stdout); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}

	metrics := telemetry.New()
	reg := registry.New(registrySource{db}, adapters.New, registry.Options{
		MasterKey:  cfg.MasterKey,
		HTTPClient: adapters.HTTPClient(cfg.Timeouts.Connect),
		Logger:     log,
	})
	if err := reg.Refresh(ctx, true); err != nil {
		return err
	}
	writer := usage.NewWriter(db, usage.Options{
		QueueSize: cfg.Usage.QueueSize, BatchSize: cfg.Usage.BatchSize, FlushInterval: cfg.Usage.FlushInterval,
		SpillDir: cfg.DataDir, Metrics: metrics, Logger: log,
	})
	go writer.Run()

	srv := &api.Server{
		Registry: reg, Factory: adapters.New, Store: db, Usage: writer, Metrics: metrics, Logger: log,
		Limits: cfg.Limits, Upstream: cfg.Timeouts.Upstream,
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader,
		ReadTimeout:       cfg.Timeouts.Read,
		IdleTimeout:       cfg.Timeouts.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	pollCtx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go reg.Run(pollCtx, cfg.Registry.PollInterval)

	log.Info("chorus serving", "addr", ln.Addr().String(), "version", version, "database", db.Dialect(),
		"models", len(reg.Snapshot().Models()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return shutdown(hs, srv, writer, cfg.Timeouts.Drain, log)
}

// shutdown stops accepting, lets in-flight requests and streams finish
// within the drain timeout, then flushes the usage writer.
func shutdown(hs *http.Server, srv *api.Server, writer *usage.Writer, drain time.Duration, log *slog.Logger) error {
	log.Info("shutting down: draining in-flight requests", "timeout", drain)
	srv.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := hs.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("drain timeout passed; closing remaining connections")
		_ = hs.Close()
	}
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelWait()
	if err := srv.Wait(waitCtx); err != nil {
		log.Error("some requests did not finish recording usage", "err", err)
	}
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), drain)
	defer cancelFlush()
	if err := writer.Close(flushCtx); err != nil {
		log.Error("usage flush incomplete", "err", err)
		return err
	}
	log.Info("shutdown complete")
	return nil
}
