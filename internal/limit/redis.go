package limit

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chorusgw/chorus"
)

// Redis is the limiter shared by every instance that uses the same Redis.
// Each decision is one script call (EVALSHA, EVAL when Redis has not seen
// the script): every subject's buckets are read, decided and taken
// atomically, on Redis's clock, so instances' clocks do not matter.
//
// Concurrency slots are leases: a sorted set per subject of lease member →
// expiry. A held ticket's lease is renewed every Lease/3, so only the slots
// of an instance that died (or whose release could not reach Redis) expire,
// at most Lease later.
//
// When Redis is slow or gone, a call gives up after Timeout, and for
// Cooldown afterwards decisions do not try Redis at all: each is a fault
// (OnFault, a log line at most every LogEvery) and is allowed (FailOpen) or
// refused with EUNAVAILABLE. A request never waits on Redis longer than
// Timeout.
//
// All of one request's keys are touched by one script, so on Redis Cluster
// they must share a hash slot: give the Prefix a hash tag ("{chorus-rl}:").
type Redis struct {
	c    redis.UniversalClient
	opts RedisOptions

	coolUntil atomic.Int64 // unix ns: until then decisions skip Redis
	down      atomic.Bool  // a fault since the last success
	faults    atomic.Int64 // since the last log line
	lastLog   atomic.Int64 // unix ns

	mu      sync.Mutex
	live    map[*Ticket]struct{} // tickets holding leases, to renew
	started bool
	stop    chan struct{}
	stopped chan struct{}
}

var (
	_ Limiter  = (*Redis)(nil)
	_ releaser = (*Redis)(nil)
)

// RedisOptions configure a Redis limiter. Zero values take the defaults.
type RedisOptions struct {
	Prefix   string        // key prefix; default "chorus:rl:"
	FailOpen bool          // when Redis cannot be reached: allow (true) or refuse with EUNAVAILABLE
	Timeout  time.Duration // per Redis call; default 50ms
	Cooldown time.Duration // after a fault, decide without Redis this long; default 1s
	Lease    time.Duration // concurrency lease, renewed every Lease/3 while held; default 30s
	LogEvery time.Duration // at most one fault log line this often; default 10s
	Logger   *slog.Logger  // Redis faults and recoveries; nil discards them
	// OnFault is called for every decision or release made without Redis
	// (count it in chorus_ratelimit_faults_total).
	OnFault func(err error)
	// Now, for tests, replaces Redis's clock (TIME) in decisions.
	Now func() time.Time
}

// ErrCooling is the fault of a decision made without trying Redis, in the
// Cooldown after a failed call.
var ErrCooling = errors.New("rate limit store unavailable (cooling down after a fault)")

//go:embed admit.lua
var admitSrc string

//go:embed release.lua
var releaseSrc string

//go:embed renew.lua
var renewSrc string

var (
	admitScript   = redis.NewScript(admitSrc)
	releaseScript = redis.NewScript(releaseSrc)
	renewScript   = redis.NewScript(renewSrc)
)

// NewRedis returns a limiter on client. The client should give up when a
// call's context does (NewRedisClient makes such a client). Close stops
// the lease renewal.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "chorus:rl:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 50 * time.Millisecond
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Redis{c: client, opts: opts, live: make(map[*Ticket]struct{})}
}

// NewRedisClient returns a client for url (redis://, rediss:// or unix://)
// fit for limiting: it honours each call's deadline, and never retries a
// call, which could apply a script twice.
func NewRedisClient(url string, timeout time.Duration) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	if timeout > 0 {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
		o.PoolTimeout = timeout
	}
	return redis.NewClient(o), nil
}

// Close stops renewing leases. Tickets still held keep their slots until
// their leases expire.
func (r *Redis) Close() {
	r.mu.Lock()
	started, stop, stopped := r.started, r.stop, r.stopped
	r.started = false
	r.mu.Unlock()
	if started {
		close(stop)
		<-stopped
	}
}

// Admit implements Limiter.
func (r *Redis) Admit(ctx context.Context, req *Request) (Decision, *Ticket, error) {
	var buf [maxDims]dim
	return r.decide(ctx, req.subjects(&buf), req.Tokens)
}

// TryDeployment implements Limiter.
func (r *Redis) TryDeployment(ctx context.Context, deployment string, l Limits, tokens int64) (Decision, *Ticket, error) {
	if l.IsZero() {
		return Decision{Allowed: true}, nil, nil
	}
	dims := [1]dim{{scope: scopeDeployment, name: deployment, lim: l}}
	return r.decide(ctx, dims[:], tokens)
}

// appendKey appends the Redis key of d's buckets: prefix, scope letter, ID
// or name ("chorus:rl:k:12", "chorus:rl:m:12:gpt-4o", "chorus:rl:d:east").
func (r *Redis) appendKey(b []byte, d *dim) []byte {
	b = append(b, r.opts.Prefix...)
	switch d.scope {
	case scopeKey:
		b = append(b, "k:"...)
	case scopeUser:
		b = append(b, "u:"...)
	case scopeTeam:
		b = append(b, "t:"...)
	case scopeModel:
		b = append(b, "m:"...)
	case scopeDeployment:
		return append(append(b, "d:"...), d.name...)
	}
	b = strconv.AppendInt(b, d.id, 10)
	if d.scope == scopeModel {
		b = append(append(b, ':'), d.name...)
	}
	return b
}

// keys returns each subject's rate hash and lease set keys.
func (r *Redis) keys(dims []dim) []string {
	keys := make([]string, 0, 2*len(dims))
	var b []byte
	for i := range dims {
		b = r.appendKey(b[:0], &dims[i])
		keys = append(keys, string(b), string(append(b, ":c"...)))
	}
	return keys
}

func (r *Redis) nowArg() int64 {
	if r.opts.Now != nil {
		return r.opts.Now().UnixMicro()
	}
	return 0
}

func (r *Redis) decide(ctx context.Context, dims []dim, tokens int64) (Decision, *Ticket, error) {
	if len(dims) == 0 {
		return Decision{Allowed: true}, nil, nil
	}
	tokens = max(tokens, 0)
	member := ""
	for i := range dims {
		if dims[i].lim.Concurrency > 0 {
			member = strconv.FormatUint(rand.Uint64(), 36) // #nosec G404 -- a lease member only needs to be unique among concurrent leases, not unpredictable
			break
		}
	}
	args := make([]any, 0, 4+3*len(dims))
	args = append(args, r.nowArg(), int64(r.opts.Lease/time.Microsecond), member, tokens)
	for i := range dims {
		l := &dims[i].lim
		args = append(args, max(l.RPM, 0), max(l.TPM, 0), max(l.Concurrency, 0))
	}
	res, err := r.run(ctx, admitScript, r.keys(dims), args)
	if err != nil {
		if ctx.Err() != nil {
			return Decision{}, nil, ctx.Err()
		}
		if r.opts.FailOpen {
			return Decision{Allowed: true, Degraded: true}, nil, nil
		}
		return Decision{}, nil, &chorus.Error{Code: chorus.EUNAVAILABLE, RetryAfter: time.Second,
			Message: "Rate limits cannot be checked right now; please try again shortly.", Err: err}
	}
	if len(res) != 5+5*len(dims) {
		return Decision{}, nil, &chorus.Error{Code: chorus.EINTERNAL, Message: "The rate limiter failed.",
			Err: errors.New("admit script returned " + strconv.Itoa(len(res)) + " values")}
	}
	v := verdict{allowed: res[0] == 1, retry: res[1], dim: int(res[2]) - 1, kind: int(res[3])}
	var st [maxDims]state
	for i := range dims {
		o := res[5+5*i:]
		st[i] = state{reqRemaining: o[0], reqReset: o[1], tokRemaining: o[2], tokReset: o[3], inUse: o[4]}
	}
	d := decision(v, dims, st[:len(dims)], tokens)
	if !v.allowed {
		return d, nil, nil
	}
	t := newTicket(r, dims, tokens)
	if t != nil && member != "" {
		t.lease = member
		r.hold(t)
	}
	return d, t, nil
}

// run calls a script within Timeout, unless a recent fault says not to try.
func (r *Redis) run(ctx context.Context, s *redis.Script, keys []string, args []any) ([]int64, error) {
	if time.Now().UnixNano() < r.coolUntil.Load() {
		r.fault(ErrCooling)
		return nil, ErrCooling
	}
	cctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	res, err := s.Run(cctx, r.c, keys, args...).Int64Slice()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, err // the caller gave up: not Redis's fault
		}
		r.coolUntil.Store(time.Now().Add(r.opts.Cooldown).UnixNano())
		r.down.Store(true)
		r.fault(err)
		return nil, err
	}
	if r.down.Load() && r.down.CompareAndSwap(true, false) {
		r.opts.Logger.Info("rate limiter: redis reachable again")
	}
	return res, nil
}

// fault counts a decision made without Redis and logs at most every LogEvery.
func (r *Redis) fault(err error) {
	if r.opts.OnFault != nil {
		r.opts.OnFault(err)
	}
	n := r.faults.Add(1)
	now := time.Now().UnixNano()
	last := r.lastLog.Load()
	if now-last < int64(r.opts.LogEvery) || !r.lastLog.CompareAndSwap(last, now) {
		return
	}
	r.faults.Add(-n)
	mode := "refusing requests (fail-closed)"
	if r.opts.FailOpen {
		mode = "allowing requests unchecked (fail-open)"
	}
	r.opts.Logger.Warn("rate limiter: redis unavailable, "+mode, "faults", n, "err", err)
}

// release implements releaser: one script call, bounded by Timeout and
// detached from the request.
func (r *Redis) release(t *Ticket, actual int64) {
	if t.lease != "" {
		r.mu.Lock()
		delete(r.live, t)
		r.mu.Unlock()
	}
	dims := t.subjects()
	args := make([]any, 0, 3+2*len(dims))
	args = append(args, r.nowArg(), t.lease, max(actual, 0)-t.estimate)
	for i := range dims {
		held := 0
		if dims[i].lim.Concurrency > 0 {
			held = 1
		}
		args = append(args, max(dims[i].lim.TPM, 0), held)
	}
	// A failed release is a fault like any other; the lease then expires.
	_, _ = r.run(context.Background(), releaseScript, r.keys(dims), args)
}

// hold registers a ticket's lease for renewal, starting the renewer.
func (r *Redis) hold(t *Ticket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[t] = struct{}{}
	if !r.started {
		r.started = true
		r.stop, r.stopped = make(chan struct{}), make(chan struct{})
		go r.renewLoop(r.stop, r.stopped)
	}
}

func (r *Redis) renewLoop(stop, stopped chan struct{}) {
	defer close(stopped)
	tick := time.NewTicker(r.opts.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			r.renew()
		}
	}
}

// renewBatch bounds the leases renewed by one script call.
const renewBatch = 500

// renew extends every held lease, renewBatch per call.
func (r *Redis) renew() {
	r.mu.Lock()
	held := make([]*Ticket, 0, len(r.live))
	for t := range r.live {
		held = append(held, t)
	}
	r.mu.Unlock()
	var (
		keys []string
		args []any
		b    []byte
	)
	flush := func() {
		if len(keys) > 0 {
			_, _ = r.run(context.Background(), renewScript, keys, args)
		}
		keys, args = keys[:0], nil
	}
	for _, t := range held {
		for i, d := range t.subjects() {
			if d.lim.Concurrency <= 0 {
				continue
			}
			if len(keys) == 0 {
				args = append(args, r.nowArg(), int64(r.opts.Lease/time.Microsecond))
			}
			b = append(r.appendKey(b[:0], &t.subjects()[i]), ":c"...)
			keys = append(keys, string(b))
			args = append(args, t.lease)
			if len(keys) == renewBatch {
				flush()
			}
		}
	}
	flush()
}
