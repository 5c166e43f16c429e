// Package bench_test holds the in-process gateway benchmarks: a whole Chorus
// (apptest.Start: SQLite, registry, usage writer, metrics, HTTP server on
// loopback) in front of the instant mock upstream, called over keep-alive
// HTTP like a client would.
//
//	go test ./bench -bench Passthrough -benchmem -run '^$'
//	go test ./bench -bench ChatPassthrough -run '^$' -cpuprofile cpu.out
//
// Each benchmark first times the same request sent straight to the mock,
// then through Chorus; ns/op and allocs/op are the request through Chorus
// (client, gateway and mock together: they share the process), and the
// added-* metrics are Chorus minus direct.
package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/bench/mockupstream"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
)

// rig is a gateway in front of the mock.
type rig struct {
	gw        *apptest.Gateway
	mock      *mockupstream.Server
	directURL string
	chorusURL string
	key       string
	client    *http.Client
}

func newRig(tb testing.TB) *rig { tb.Helper(); return newRigWith(tb, nil) }

// newRigWith is newRig with the gateway's config edited and app options.
func newRigWith(tb testing.TB, edit func(*config.Config), opts ...app.Option) *rig {
	tb.Helper()
	mock := mockupstream.New(mockupstream.Options{})
	ms := httptest.NewServer(mock)
	tb.Cleanup(ms.Close)
	gw := apptest.StartWith(tb, edit, opts...)
	ctx := context.Background()
	db := gw.App.DB
	user := &chorus.User{Email: "bench@example.com", Name: "Bench", Role: chorus.RoleCustomer}
	if err := db.CreateUser(ctx, user); err != nil {
		tb.Fatal(err)
	}
	secret, prefix, hash := auth.NewAPIKey()
	if err := db.CreateKey(ctx, &chorus.APIKey{Name: "bench", Prefix: prefix, Hash: hash, UserID: user.ID}); err != nil {
		tb.Fatal(err)
	}
	m := &chorus.Model{Name: "bench-model", Kind: chorus.KindChat, Enabled: true}
	if err := db.CreateModel(ctx, m); err != nil {
		tb.Fatal(err)
	}
	d := &chorus.Deployment{ModelID: m.ID, Name: "bench-mock", Provider: chorus.ProviderOpenAI, UpstreamModel: "mock-model",
		BaseURL: ms.URL + "/v1", InputPrice: 150_000, OutputPrice: 600_000, Weight: 1, Enabled: true}
	if err := db.CreateDeployment(ctx, d); err != nil {
		tb.Fatal(err)
	}
	if err := gw.App.Registry.Refresh(ctx, true); err != nil {
		tb.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true,
	}}
	tb.Cleanup(client.CloseIdleConnections)
	return &rig{gw: gw, mock: mock, directURL: ms.URL + "/v1/chat/completions",
		chorusURL: gw.URL + "/v1/chat/completions", key: secret, client: client}
}

var (
	chatBody   = []byte(`{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in a few words."}],"max_tokens":64}`)
	streamBody = []byte(`{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in a few words."}],"max_tokens":64,"stream":true,"stream_options":{"include_usage":true}}`)
)

// result is one request's timings.
type result struct{ total, ttft time.Duration }

// do sends one request and reads the whole answer; for streams it notes
// when the first content chunk arrived.
func (r *rig) do(url string, body []byte, stream bool, rd *bufio.Reader) (result, error) {
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.key)
	resp, err := r.client.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return result{}, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if !stream {
		_, err := io.Copy(io.Discard, resp.Body)
		return result{total: time.Since(start)}, err
	}
	var res result
	done := false
	rd.Reset(resp.Body)
	for {
		line, err := rd.ReadSlice('\n')
		if res.ttft == 0 && bytes.HasPrefix(line, []byte("data: ")) && bytes.Contains(line, []byte(`"content":"tok`)) {
			res.ttft = time.Since(start)
		}
		if bytes.HasPrefix(line, []byte("data: [DONE]")) {
			done = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
	}
	res.total = time.Since(start)
	if !done || res.ttft == 0 {
		return res, errors.New("stream incomplete")
	}
	return res, nil
}

// baseline is what a request straight to the mock costs.
type baseline struct {
	ns, ttftNs, allocs float64
}

// measureDirect times n requests straight to the mock.
func (r *rig) measureDirect(tb testing.TB, n int, body []byte, stream bool) baseline {
	rd := bufio.NewReaderSize(nil, 16<<10)
	for range 200 { // warm the connection pool
		if _, err := r.do(r.directURL, body, stream, rd); err != nil {
			tb.Fatal(err)
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	var ttft time.Duration
	for range n {
		res, err := r.do(r.directURL, body, stream, rd)
		if err != nil {
			tb.Fatal(err)
		}
		ttft += res.ttft
	}
	el := time.Since(start)
	runtime.ReadMemStats(&ms1)
	return baseline{
		ns:     float64(el.Nanoseconds()) / float64(n),
		ttftNs: float64(ttft.Nanoseconds()) / float64(n),
		allocs: float64(ms1.Mallocs-ms0.Mallocs) / float64(n),
	}
}

func benchPassthrough(b *testing.B, body []byte, stream bool) {
	benchPassthroughOn(b, newRig(b), body, stream)
}

// benchPassthroughOn is benchPassthrough through r's Chorus.
func benchPassthroughOn(b *testing.B, r *rig, body []byte, stream bool) {
	base := r.measureDirect(b, 2000, body, stream)
	rd := bufio.NewReaderSize(nil, 16<<10)
	for range 200 { // warm Chorus's pools too
		if _, err := r.do(r.chorusURL, body, stream, rd); err != nil {
			b.Fatal(err)
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var ttft time.Duration
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		res, err := r.do(r.chorusURL, body, stream, rd)
		if err != nil {
			b.Fatal(err)
		}
		ttft += res.ttft
		n++
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(n)
	// CPU of client, Chorus and mock together (one process): steadier than
	// ns/op when other work shares the machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	b.ReportMetric(base.ns, "direct-ns/op")
	b.ReportMetric(perOp-base.ns, "added-ns/op")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(n)-base.allocs, "added-allocs/op")
	if stream {
		b.ReportMetric(float64(ttft.Nanoseconds())/float64(n)-base.ttftNs, "added-ttft-ns/op")
	}
}

// BenchmarkChatPassthrough is a non-streamed OpenAI chat request through
// Chorus to an OpenAI deployment: key check, model lookup, body rewrite,
// upstream call, raw relay, metrics and usage record.
func BenchmarkChatPassthrough(b *testing.B) { benchPassthrough(b, chatBody, false) }

// BenchmarkChatStreamPassthrough is the same request streamed: 16 content
// chunks relayed as they come, with the usage chunk the client asked for.
func BenchmarkChatStreamPassthrough(b *testing.B) { benchPassthrough(b, streamBody, true) }

// BenchmarkChatPassthroughParallel loads Chorus from GOMAXPROCS×4 clients
// at once, as the closed-loop load generator does.
func BenchmarkChatPassthroughParallel(b *testing.B) { benchParallel(b, newRig(b)) }

// benchParallel sends the non-streamed chat request through r's Chorus
// from GOMAXPROCS×4 clients at once.
func benchParallel(b *testing.B, r *rig) {
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rd := bufio.NewReaderSize(nil, 16<<10)
		for pb.Next() {
			if _, err := r.do(r.chorusURL, chatBody, false, rd); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestPassthroughRig checks the benchmark rig end to end, so `go test ./...`
// catches a broken benchmark: both kinds of request through Chorus, and
// their usage records written.
func TestPassthroughRig(t *testing.T) {
	r := newRig(t)
	rd := bufio.NewReaderSize(nil, 16<<10)
	for _, stream := range []bool{false, true} {
		body := chatBody
		if stream {
			body = streamBody
		}
		for _, url := range []string{r.directURL, r.chorusURL} {
			if _, err := r.do(url, body, stream, rd); err != nil {
				t.Fatalf("%s stream=%v: %v", url, stream, err)
			}
		}
	}
	chats, streams, _ := r.mock.Counts()
	if got, want := chats+streams, int64(4); got != want {
		t.Fatalf("mock answered %d requests, want %d", got, want)
	}
	// The usage writer flushes in the background; wait for both records.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := r.gw.App.DB.CountUsage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			return
		}
		if n > 2 || time.Now().After(deadline) {
			t.Fatalf("usage records: got %d, want 2", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
