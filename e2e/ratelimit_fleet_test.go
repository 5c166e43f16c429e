package e2e_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

// TestRateLimitFleet runs three gateways on one Redis and hammers one key
// through all of them: together they admit no more than the limit plus its
// burst (GCRA: rpm at once, then rpm/60 per second), and no less than 99%
// of it — per-replica limits would let the fleet admit three times as much.
func TestRateLimitFleet(t *testing.T) {
	t.Parallel()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err != nil {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatalf("Redis is required (CHORUS_REQUIRE_SERVICES=1) but unreachable: %v", err)
		}
		t.Skip("Redis tests skipped: nothing listens on 127.0.0.1:6379")
	} else {
		c.Close()
	}
	const rpm = 1200 // 20 per second
	prefix := "chorus:test:fleet:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	var gws []*gateway
	for i := 0; i < 3; i++ {
		g := startGateway(t, func(c *config.Config) {
			c.RedisURL = "redis://127.0.0.1:6379/0"
			c.RateLimits.Prefix = prefix
			c.RateLimits.Key = config.RateLimit{RPM: rpm}
			// A loaded CI machine can stall a Redis call past the timeout;
			// failing open would then decide that request in process on a
			// third of the limit, which is what fail-open means but not
			// what this test measures.
			c.RateLimits.Timeout = 2 * time.Second
			c.RateLimits.FailOpen = false
		})
		m := g.createModel(modelSpec{Name: "fleet"})
		g.createDeployment(deploymentSpec{ModelID: m.ID, Name: "fleet-sim", Provider: "simulator", Settings: map[string]any{"output_tokens": 1}})
		gws = append(gws, g)
	}
	body := map[string]any{"model": "fleet", "messages": []map[string]string{{"role": "user", "content": "x"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var admitted, refused, other atomic.Int64
	var wg sync.WaitGroup
	for _, g := range gws {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(g *gateway) {
				defer wg.Done()
				for ctx.Err() == nil {
					r := g.do("POST", "/v1/chat/completions", g.MasterKey, body)
					switch r.Status {
					case http.StatusOK:
						admitted.Add(1)
					case http.StatusTooManyRequests:
						refused.Add(1)
					default:
						other.Add(1)
					}
				}
			}(g)
		}
	}
	start := time.Now()
	wg.Wait()
	span := time.Since(start)
	if other.Load() > 0 {
		t.Fatalf("%d answers neither 200 nor 429 (Redis too slow: 503 from fail-closed limits)", other.Load())
	}
	bound := float64(rpm) + float64(rpm)/60*span.Seconds()
	got := float64(admitted.Load())
	t.Logf("admitted %d, refused %d in %v; bound %.0f (%.2f%%)", admitted.Load(), refused.Load(), span, bound, (got/bound-1)*100)
	if refused.Load() == 0 {
		t.Fatal("nothing refused: the load did not reach the limit")
	}
	if got > bound*1.01 || got < bound*0.99 {
		t.Fatalf("three gateways admitted %.0f, want %.0f ± 1%%", got, bound)
	}
}
