// Command chorus-pprof is `chorus serve` with net/http/pprof on a second,
// separate listener (BENCH_PPROF_LISTEN, default 127.0.0.1:6060), so the
// benchmark can profile the gateway under load without the production
// binary exposing pprof. It reads the same config and CHORUS_* variables.
//
//	go build -o bin/chorus-pprof ./bench/cmd/chorus-pprof
//	go run ./bench/cmd/loadgen -chorus bin/chorus-pprof -cpuprofile /tmp/prof
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/config"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	if len(args) > 0 {
		fmt.Fprintln(os.Stderr, "chorus-pprof: takes no arguments but serve; configure it with CHORUS_* variables")
		os.Exit(2)
	}
	// Contention profiles (loadgen -cpuprofile saves them): about one
	// mutex event in 10 and blocking of 10 µs or more.
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(10000)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "chorus-pprof:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.Load(os.Getenv("CHORUS_CONFIG"), os.Environ())
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, os.Stderr)
	a, err := app.New(ctx, cfg, log, os.Stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.DB.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	pprofAddr := os.Getenv("BENCH_PPROF_LISTEN")
	if pprofAddr == "" {
		pprofAddr = "127.0.0.1:6060"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	dbg := &http.Server{Addr: pprofAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := dbg.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof listener", "err", err)
		}
	}()
	defer dbg.Close()

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
