package cache_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chorusgw/chorus/internal/cache"
)

// TestMain quiets go-redis's own logger, which prints every failed dial:
// the fault tests make many on purpose.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// testRedisURL is the Redis the tests use: CHORUS_TEST_REDIS_URL or the
// local default.
func testRedisURL() string {
	if u := os.Getenv("CHORUS_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// mustRedis returns a client for the test Redis, closed when the test
// ends. When Redis does not answer the test is skipped, saying so, or fails
// when CHORUS_REQUIRE_SERVICES=1.
func mustRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	c, err := cache.NewRedisClient(testRedisURL(), 2*time.Second)
	if err != nil {
		tb.Fatalf("CHORUS_TEST_REDIS_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("Redis is required (CHORUS_REQUIRE_SERVICES=1) and %s does not answer: %v", testRedisURL(), err)
		}
		tb.Skipf("Redis tests skipped: %s does not answer (%v); set CHORUS_TEST_REDIS_URL", testRedisURL(), err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a key prefix no other test run uses, and deletes its
// keys when the test ends.
func testPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	p := "chorus-test:cache:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Unlink(ctx, iter.Val())
		}
	})
	return p
}

// proxy relays TCP connections to Redis until the test cuts it (Redis
// gone: connections closed, new ones refused) or blackholes it (Redis
// hung: connections accepted, never answered).
type proxy struct {
	addr   string
	target string
	ln     net.Listener

	mu        sync.Mutex
	cut, hang bool
	conns     map[net.Conn]bool
}

func newProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.closeAll()
	})
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut, hang := p.cut, p.hang
		p.conns[c] = true
		p.mu.Unlock()
		switch {
		case cut:
			c.Close()
		case hang: // held open, never read
		default:
			go p.relay(c)
		}
	}
}

func (p *proxy) relay(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[u] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) set(cut, hang bool) {
	p.mu.Lock()
	p.cut, p.hang = cut, hang
	p.mu.Unlock()
	p.closeAll()
}

// redisURLVia returns the test Redis URL with its address replaced.
func redisURLVia(tb testing.TB, addr string) string {
	tb.Helper()
	o, err := redis.ParseURL(testRedisURL())
	if err != nil {
		tb.Fatal(err)
	}
	return "redis://" + addr + "/" + itoa(o.DB)
}

func redisAddr(tb testing.TB) string {
	tb.Helper()
	o, err := redis.ParseURL(testRedisURL())
	if err != nil {
		tb.Fatal(err)
	}
	if o.Network != "tcp" {
		tb.Skipf("fault tests need a TCP Redis, %s is not", testRedisURL())
	}
	return o.Addr
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
