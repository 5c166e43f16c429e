package cache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisOptions configure a Redis cache.
type RedisOptions struct {
	// Timeout bounds every Get and Set (default 50ms). Slower is a fault.
	Timeout time.Duration
	// Prefix starts every key (default "chorus:cache:").
	Prefix string
	// Backoff is how long Redis is left alone after a fault (default 1s):
	// meanwhile Get misses at once and Set drops, then one call probes.
	Backoff time.Duration
	// Logger gets one line per fault, at most one per LogEvery (default
	// 10s) with a count of the faults not logged.
	Logger   *slog.Logger
	LogEvery time.Duration
	// OnFault, if set, is called on every fault: op is "get" or "set",
	// kind "timeout", "error" or "corrupt" (an entry that does not decode).
	OnFault func(op, kind string)
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Redis is a cache in Redis, shared by every instance. Entries are stored
// in a compact binary encoding with Redis's own expiry. Redis slow or gone
// never holds a request up for more than Timeout: a fault is a miss (or a
// dropped Set), a call to OnFault and a rate-limited log line, and Redis is
// then skipped for Backoff.
type Redis struct {
	client redis.UniversalClient
	opt    RedisOptions

	downUntil atomic.Int64 // unix ns; 0: up
	lastLog   atomic.Int64 // unix ns of the last fault logged
	unlogged  atomic.Int64 // faults since then
}

var _ Cache = (*Redis)(nil)

// NewRedis returns a cache in client. The client should be made by
// NewRedisClient, or at least with ContextTimeoutEnabled: otherwise a hung
// connection blocks for the client's ReadTimeout, not for opt.Timeout.
func NewRedis(client redis.UniversalClient, opt RedisOptions) *Redis {
	if opt.Timeout <= 0 {
		opt.Timeout = 50 * time.Millisecond
	}
	if opt.Prefix == "" {
		opt.Prefix = "chorus:cache:"
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	if opt.LogEvery <= 0 {
		opt.LogEvery = 10 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	r := &Redis{client: client, opt: opt}
	if c, ok := client.(*redis.Client); ok && !c.Options().ContextTimeoutEnabled && opt.Logger != nil {
		opt.Logger.Warn("redis client without ContextTimeoutEnabled: a hung Redis may hold requests for its ReadTimeout", "timeout", opt.Timeout)
	}
	return r
}

// NewRedisClient returns a client for url (redis://, rediss:// or
// unix://) fit for the request path: it honours context deadlines, fails
// within timeout on a dead server and does not retry.
func NewRedisClient(url string, timeout time.Duration) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	o.ContextTimeoutEnabled = true
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(o), nil
}

// Get returns the entry for key, or a miss when it is absent, when Redis
// fails or is slower than Timeout, or while Redis is backed off.
func (r *Redis) Get(ctx context.Context, key [32]byte) (*Entry, bool) {
	if !r.up() {
		return nil, false
	}
	cctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	b, err := r.client.Get(cctx, r.redisKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		r.ok()
		return nil, false
	}
	if err != nil {
		r.fault(ctx, "get", err)
		return nil, false
	}
	r.ok()
	e, err := decodeEntry(b)
	if err != nil {
		r.report("get", "corrupt", err)
		return nil, false
	}
	if !e.Expires.IsZero() && !r.opt.Now().Before(e.Expires) {
		return nil, false // Redis expires by its own clock; ours may be ahead
	}
	return e, true
}

// Set stores e under key with Redis's expiry set to ttl. A fault drops the
// entry.
func (r *Redis) Set(ctx context.Context, key [32]byte, e *Entry, ttl time.Duration) {
	if ttl <= 0 || e == nil || !r.up() {
		return
	}
	bp := encodeBufs.Get().(*[]byte)
	b := encodeEntry((*bp)[:0], stored(e, r.opt.Now().Add(ttl)))
	cctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	err := r.client.Set(cctx, r.redisKey(key), b, ttl).Err()
	cancel()
	if cap(b) <= 1<<20 {
		*bp = b
		encodeBufs.Put(bp)
	}
	if err != nil {
		r.fault(ctx, "set", err)
		return
	}
	r.ok()
}

// encodeBufs recycles the buffers entries are encoded into.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (r *Redis) redisKey(key [32]byte) string {
	var b [64]byte
	hex.Encode(b[:], key[:])
	return r.opt.Prefix + string(b[:])
}

// up reports whether to call Redis: yes unless backed off; when the backoff
// has passed, only the one caller that claims the probe does.
func (r *Redis) up() bool {
	until := r.downUntil.Load()
	if until == 0 {
		return true
	}
	now := r.opt.Now().UnixNano()
	if now < until {
		return false
	}
	return r.downUntil.CompareAndSwap(until, now+int64(r.opt.Backoff))
}

// ok records a call that Redis answered: the shared tier is back, said
// once per outage.
func (r *Redis) ok() {
	until := r.downUntil.Load()
	if until != 0 && r.downUntil.CompareAndSwap(until, 0) && r.opt.Logger != nil {
		r.opt.Logger.Info("response cache: redis reachable again, shared tier restored")
	}
}

// fault records a failed call. A call abandoned because the caller's own
// context ended (the client went away) says nothing about Redis.
func (r *Redis) fault(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	kind := "error"
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		kind = "timeout"
	}
	r.downUntil.Store(r.opt.Now().Add(r.opt.Backoff).UnixNano())
	r.report(op, kind, err)
}

func (r *Redis) report(op, kind string, err error) {
	if r.opt.OnFault != nil {
		r.opt.OnFault(op, kind)
	}
	if r.opt.Logger == nil {
		return
	}
	now := r.opt.Now().UnixNano()
	last := r.lastLog.Load()
	if now-last < int64(r.opt.LogEvery) || !r.lastLog.CompareAndSwap(last, now) {
		r.unlogged.Add(1)
		return
	}
	r.opt.Logger.Warn("response cache: redis fault, cache bypassed", "op", op, "kind", kind, "err", err,
		"backoff", r.opt.Backoff, "faults_not_logged", r.unlogged.Swap(0))
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
