// Command mockupstream serves the benchmark's instant OpenAI-compatible
// upstream (see package bench/mockupstream) until interrupted.
//
//	go run ./bench/cmd/mockupstream -listen 127.0.0.1:9001 -chunks 16
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chorusgw/chorus/bench/mockupstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to serve on (loopback)")
	chunks := flag.Int("chunks", 16, "content chunks in a streamed answer")
	delay := flag.Duration("chunk-delay", 0, "delay before each streamed content chunk")
	flag.Parse()
	if err := run(*listen, mockupstream.Options{Chunks: *chunks, ChunkDelay: *delay}); err != nil {
		fmt.Fprintln(os.Stderr, "mockupstream:", err)
		os.Exit(1)
	}
}

func run(listen string, opts mockupstream.Options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mockupstream.New(opts), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("mockupstream listening on http://%s/v1\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
