// Package limittest gives tests a real Redis to limit on and a TCP proxy
// in front of it that a test can cut and restore, to see what the limiter
// does when Redis goes away mid-run.
package limittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chorusgw/chorus/internal/limit"
)

// DefaultRedisURL is used when CHORUS_TEST_REDIS_URL is not set.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// RedisURL returns the Redis the tests use: CHORUS_TEST_REDIS_URL, or
// DefaultRedisURL.
func RedisURL() string {
	if u := os.Getenv("CHORUS_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// Redis returns a client for the test Redis, closed when the test ends. If
// Redis does not answer the test is skipped, saying so, or fails when
// CHORUS_REQUIRE_SERVICES=1.
func Redis(tb testing.TB) *redis.Client {
	tb.Helper()
	c, err := limit.NewRedisClient(RedisURL(), 2*time.Second)
	if err != nil {
		tb.Fatalf("CHORUS_TEST_REDIS_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("Redis is required (CHORUS_REQUIRE_SERVICES=1) and %s does not answer: %v", RedisURL(), err)
		}
		tb.Skipf("Redis tests skipped: %s does not answer (%v); set CHORUS_TEST_REDIS_URL", RedisURL(), err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Prefix returns a key prefix no other test uses, and deletes every key
// under it when the test ends.
func Prefix(tb testing.TB, c redis.UniversalClient) string {
	tb.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	p := "chorus-test:" + unsafe.ReplaceAllString(tb.Name(), "_") + ":" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() { DeletePrefix(tb, c, p) })
	return p
}

// DeletePrefix deletes every key under prefix.
func DeletePrefix(tb testing.TB, c redis.UniversalClient, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
	if err := iter.Err(); err != nil {
		tb.Logf("clean up %s*: %v", prefix, err)
	}
}

// Proxy relays TCP connections to a target until it is cut. Cut closes
// every connection and refuses new ones (Redis gone); Blackhole keeps
// accepting but never answers (Redis hung); Pause stops forwarding bytes on
// every connection, open or new, without closing any (Redis stalled);
// Delay slows every forwarded read (Redis slow); Restore relays again.
type Proxy struct {
	Addr   string // where to connect instead of the target
	target string
	ln     net.Listener

	mu        sync.Mutex
	cut       bool
	blackhole bool
	paused    chan struct{} // non-nil while paused: closed by Resume
	delay     time.Duration // added before every forwarded read
	conns     map[net.Conn]struct{}
}

// NewProxy starts a proxy to target (host:port) for the test.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: make(map[net.Conn]struct{})}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.closeAll()
	})
	return p
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		switch {
		case p.cut:
			p.mu.Unlock()
			c.Close()
			continue
		case p.blackhole:
			p.conns[c] = struct{}{} // held open, never read
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		go p.relay(c)
	}
}

func (p *Proxy) relay(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut || p.blackhole {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		p.forward(dst, src)
		done <- struct{}{}
	}
	go pipe(u, c)
	go pipe(c, u)
	<-done
	c.Close()
	u.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// forward copies src to dst until either fails, holding every read while
// the proxy is paused and delaying it by the proxy's delay.
func (p *Proxy) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			paused, delay := p.paused, p.delay
			p.mu.Unlock()
			if paused != nil {
				<-paused
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: the relay closes both
		}
	}
}

// Pause stops forwarding bytes, on the connections open and on new ones,
// which stay open: Redis seems hung. Resume (or Restore) forwards what was
// held.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused == nil {
		p.paused = make(chan struct{})
	}
}

// Resume forwards again after Pause.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused != nil {
		close(p.paused)
		p.paused = nil
	}
}

// Delay adds d before every forwarded read: Redis seems slow. 0 removes it.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Cut closes every relayed connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	p.closeAll()
}

// Blackhole closes every relayed connection; new ones are accepted and
// never answered.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	p.blackhole = true
	p.mu.Unlock()
	p.closeAll()
}

// Restore relays new connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut, p.blackhole, p.delay = false, false, 0
	if p.paused != nil {
		close(p.paused)
		p.paused = nil
	}
	p.mu.Unlock()
	p.closeAll() // held blackholed connections
}

// ErrNoAddr is returned by Addr when the URL names no TCP address.
var ErrNoAddr = errors.New("redis URL has no host:port")

// Addr returns the host:port of a redis:// URL.
func Addr(url string) (string, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return "", err
	}
	if o.Network != "tcp" || o.Addr == "" {
		return "", ErrNoAddr
	}
	return o.Addr, nil
}

// Server is a redis-server of the test's own, on a loopback port, with no
// persistence: Stop and Start it at will.
type Server struct {
	Addr string
	tb   testing.TB
	bin  string
	cmd  *exec.Cmd
}

// StartRedis runs a private redis-server for the test (skipped when the
// binary is not installed, or failing under CHORUS_REQUIRE_SERVICES=1),
// stopped when the test ends.
func StartRedis(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			tb.Fatal("redis-server is required (CHORUS_REQUIRE_SERVICES=1) and not installed")
		}
		tb.Skip("redis-server not installed: test skipped")
	}
	s := &Server{tb: tb, bin: bin}
	// Reserve a port; redis-server binds it a moment later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	ln.Close()
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) and waits until it answers.
func (s *Server) Start() {
	s.tb.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command(s.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no") // #nosec G204 -- test helper: starts the redis-server found on PATH with fixed arguments
	s.cmd.Dir = s.tb.TempDir()
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redis-server on %s did not start: %v", s.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
