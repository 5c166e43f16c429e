package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/chorusgw/chorus/internal/provider/h1"
)

// runProxy is the bare proxy process: it forwards each request to the mock
// and relays the answer, flushing event streams after every read, with the
// HTTP client Chorus calls plain-HTTP upstreams with (-proxy-client
// net/http: net/http's Transport, pooled like Chorus's before h1). It does nothing else, so it shows what
// one more HTTP hop costs on this machine; Chorus minus the bare proxy is
// what Chorus's own work costs.
func runProxy(args []string) {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	upstream := fs.String("upstream", "", "upstream base URL, http://host:port")
	client := fs.String("client", "h1", "upstream client: h1 (Chorus's, internal/provider/h1) or net/http (http.Transport)")
	_ = fs.Parse(args)
	dial := (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	var rt http.RoundTripper = &h1.Transport{DialContext: dial, MaxIdlePerHost: 1024, IdleTimeout: 90 * time.Second}
	if *client == "net/http" {
		rt = &http.Transport{DialContext: dial, MaxIdleConns: 4096, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second}
	}
	p := &bareProxy{upstream: *upstream, client: &http.Client{Transport: rt}}
	p.bufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }
	srv := &http.Server{Addr: *listen, Handler: p, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

type bareProxy struct {
	upstream string
	client   *http.Client
	bufs     sync.Pool
}

func (p *bareProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := p.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer p.bufs.Put(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.Path, bytes.NewReader(buf.Bytes())) // #nosec G704 -- the benchmark's bare proxy forwards to the mock upstream named on its command line
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header["Content-Type"] = r.Header["Content-Type"]
	req.Header["Authorization"] = r.Header["Authorization"]
	resp, err := p.client.Do(req) // #nosec G704 -- the benchmark's bare proxy forwards to the mock upstream named on its command line
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", "Content-Length", "Cache-Control"} {
		if v, ok := resp.Header[k]; ok {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	rc := http.NewResponseController(w)
	chunk := make([]byte, 16<<10)
	for {
		n, err := resp.Body.Read(chunk)
		if n > 0 {
			if _, werr := w.Write(chunk[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}
