package h1_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider/h1"
)

// BenchmarkRoundTrip compares h1 with net/http's Transport on one small
// JSON round trip to a local server, from 8 goroutines at once:
//
//	go test ./internal/provider/h1 -run '^$' -bench RoundTrip -benchmem -count 5
func BenchmarkRoundTrip(b *testing.B) {
	answer := bytes.Repeat([]byte("x"), 600)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write(answer)
	}))
	defer srv.Close()
	body := bytes.Repeat([]byte("y"), 300)
	dial := (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1", &h1.Transport{DialContext: dial}},
		{"net-http", &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1024, DisableCompression: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer sk-test"}}
			b.SetParallelism(4)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 4096)
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", bytes.NewReader(body))
					req.Header = hdr
					resp, err := c.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					for {
						if _, err := resp.Body.Read(buf); err != nil {
							break
						}
					}
					resp.Body.Close()
				}
			})
		})
	}
}
