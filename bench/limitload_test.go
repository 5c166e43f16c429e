package bench_test

// The rate limiter on Redis under ordinary load, as issue #14 found it:
// three gateways on one Redis, a steady open-loop rate of chat requests
// through them, and the machine's two cores kept busy by other processes.
// It counts the decisions made without Redis (chorus_ratelimit_faults_total)
// and prints the latency of the limiter's Redis calls
// (chorus_ratelimit_redis_seconds).
//
//	CHORUS_BENCH_LIMIT_LOAD=60s go test ./bench -run TestLimiterLoad -v
//
// Optional: CHORUS_BENCH_LIMIT_RATE (requests/s, default 300) and
// CHORUS_BENCH_LIMIT_BURN (CPU-burning processes, default 2). It is opt-in
// (a minute of wall time and two cores).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/bench/mockupstream"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/limit/limittest"
)

// TestBurnHelper is not a test: run as a child process by TestLimiterLoad
// with CHORUS_BENCH_BURN set, it spins one core until that many seconds
// have passed.
func TestBurnHelper(t *testing.T) {
	secs, err := strconv.Atoi(os.Getenv("CHORUS_BENCH_BURN"))
	if err != nil {
		t.Skip("a helper process of TestLimiterLoad")
	}
	end := time.Now().Add(time.Duration(secs) * time.Second)
	x := 0
	for time.Now().Before(end) {
		for i := range 100_000 {
			x += i
		}
	}
	_ = x
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

// loadGateway starts one gateway on Redis in front of the mock, with a key
// whose limits are high enough that every request is decided on Redis and
// none refused.
func loadGateway(t *testing.T, mockURL, prefix string) (url, key string, g *apptest.Gateway) {
	t.Helper()
	g = apptest.Start(t, func(c *config.Config) {
		c.RedisURL = limittest.RedisURL()
		c.RateLimits.Prefix = prefix
		c.RateLimits.Key = config.RateLimit{RPM: 1e7, TPM: 1e10, Concurrency: 1e5}
		c.RateLimits.User = config.RateLimit{RPM: 1e7, TPM: 1e10}
	})
	ctx := context.Background()
	db := g.App.DB
	user := &chorus.User{Email: "load@example.com", Name: "Load", Role: chorus.RoleCustomer}
	if err := db.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	secret, kp, hash := auth.NewAPIKey()
	if err := db.CreateKey(ctx, &chorus.APIKey{Name: "load", Prefix: kp, Hash: hash, UserID: user.ID}); err != nil {
		t.Fatal(err)
	}
	m := &chorus.Model{Name: "bench-model", Kind: chorus.KindChat, Enabled: true}
	if err := db.CreateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	d := &chorus.Deployment{ModelID: m.ID, Name: "bench-mock", Provider: chorus.ProviderOpenAI, UpstreamModel: "mock-model",
		BaseURL: mockURL + "/v1", InputPrice: 150_000, OutputPrice: 600_000, Weight: 1, Enabled: true}
	if err := db.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := g.App.Registry.Refresh(ctx, true); err != nil {
		t.Fatal(err)
	}
	return g.URL + "/v1/chat/completions", secret, g
}

func TestLimiterLoad(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("CHORUS_BENCH_LIMIT_LOAD"))
	if err != nil {
		t.Skip("opt-in: CHORUS_BENCH_LIMIT_LOAD=60s go test ./bench -run TestLimiterLoad -v")
	}
	limittest.Redis(t)
	rate, burners := envInt("CHORUS_BENCH_LIMIT_RATE", 300), envInt("CHORUS_BENCH_LIMIT_BURN", 2)
	mock := httptest.NewServer(mockupstream.New(mockupstream.Options{}))
	t.Cleanup(mock.Close)
	prefix := "chorus-bench:load:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	t.Cleanup(func() { limittest.DeletePrefix(t, limittest.Redis(t), prefix) })
	type target struct {
		url, key string
		g        *apptest.Gateway
	}
	var targets []target
	for range 3 {
		u, k, g := loadGateway(t, mock.URL, prefix)
		targets = append(targets, target{u, k, g})
	}
	for i := range burners {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBurnHelper$")
		cmd.Env = append(os.Environ(), "CHORUS_BENCH_BURN="+strconv.Itoa(int(dur.Seconds())+5))
		if err := cmd.Start(); err != nil {
			t.Fatalf("burner %d: %v", i, err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	body := []byte(`{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}`)

	var (
		mu       sync.Mutex
		lat      []time.Duration
		statuses = map[int]int{}
		inflight atomic.Int64
		wg       sync.WaitGroup
	)
	one := func(tg target) {
		defer wg.Done()
		defer inflight.Add(-1)
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, tg.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tg.key)
		status := 0
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		took := time.Since(start)
		mu.Lock()
		lat = append(lat, took)
		statuses[status]++
		mu.Unlock()
	}
	faults0 := make([]float64, len(targets))
	for i, tg := range targets {
		faults0[i] = counterSum(t, tg.g, "chorus_ratelimit_faults_total")
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	end := time.Now().Add(dur)
	sent := 0
	for now := range tick.C {
		if now.After(end) {
			break
		}
		if inflight.Load() > 1000 {
			continue // the gateways are not keeping up: do not pile on
		}
		inflight.Add(1)
		wg.Add(1)
		go one(targets[sent%len(targets)])
		sent++
	}
	tick.Stop()
	wg.Wait()

	var faults float64
	for i, tg := range targets {
		faults += counterSum(t, tg.g, "chorus_ratelimit_faults_total") - faults0[i]
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	t.Logf("%d requests at %d/s for %v with %d burners: statuses %v; client latency p50 %v p99 %v max %v",
		len(lat), rate, dur, burners, statuses, q(0.5), q(0.99), lat[len(lat)-1])
	t.Logf("limiter faults (decisions without Redis): %.0f, %.1f per minute", faults, faults/dur.Minutes())
	t.Logf("limiter Redis calls:\n%s", redisHistogram(t, targets[0].g, targets[1].g, targets[2].g))
}

// counterSum sums a counter's series on one gateway.
func counterSum(t *testing.T, g *apptest.Gateway, name string) float64 {
	t.Helper()
	mfs, err := g.App.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				s += m.GetCounter().GetValue()
			}
		}
	}
	return s
}

// redisHistogram prints the limiter's Redis call latency histogram summed
// over gateways, or says it is absent.
func redisHistogram(t *testing.T, gs ...*apptest.Gateway) string {
	t.Helper()
	counts := map[float64]uint64{}
	var total uint64
	var sum float64
	for _, g := range gs {
		mfs, err := g.App.Metrics.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "chorus_ratelimit_redis_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				h := m.GetHistogram()
				total += h.GetSampleCount()
				sum += h.GetSampleSum()
				for _, b := range h.GetBucket() {
					counts[b.GetUpperBound()] += b.GetCumulativeCount()
				}
			}
		}
	}
	if total == 0 {
		return "  (no chorus_ratelimit_redis_seconds histogram)"
	}
	var bounds []float64
	for b := range counts {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	var sb strings.Builder
	fmt.Fprintf(&sb, "  %d calls, mean %.2f ms\n", total, sum/float64(total)*1000)
	for _, b := range bounds {
		fmt.Fprintf(&sb, "  ≤ %6.1f ms: %7d (%.3f%%)\n", b*1000, counts[b], float64(counts[b])/float64(total)*100)
	}
	return sb.String()
}
