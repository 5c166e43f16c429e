package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestReadMemory(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP go_goroutines Number of goroutines.\ngo_goroutines 1234\n"+
			"go_memstats_heap_inuse_bytes 5.24288e+07\nchorus_requests_total{endpoint=\"chat\"} 9\n")
	}))
	defer srv.Close()
	m := readMemory(context.Background(), os.Getpid(), srv.URL)
	if m.rss <= 0 {
		t.Fatalf("rss = %d, want this process's", m.rss)
	}
	if m.goroutines != 1234 || m.heap != 52428800 {
		t.Fatalf("goroutines %d, heap %d; want 1234, 52428800", m.goroutines, m.heap)
	}
	if m := readMemory(context.Background(), os.Getpid(), ""); m.goroutines != -1 || m.heap != -1 {
		t.Fatalf("without /metrics: goroutines %d, heap %d; want -1 (unread)", m.goroutines, m.heap)
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := percentiles(ds); got[0] != 51*time.Millisecond || got[1] != 100*time.Millisecond {
		t.Fatalf("p50, p99 = %v, want 51ms, 100ms", got)
	}
	if got := percentiles(nil); got != [2]time.Duration{} {
		t.Fatalf("empty: %v", got)
	}
}
