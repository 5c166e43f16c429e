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
	"github.com/redis/go-redis/v9/maintnotifications"

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
// # Faults
//
// A Redis call gives up after Timeout; a request never waits on Redis
// longer. A call that failed is a fault (OnFault): its decision is made
// without Redis. With FailOpen that decision is made in process, on this
// instance's share of every limit (see Share), so limits hold roughly across
// a fleet that lost Redis; without, it is refused with EUNAVAILABLE (a 503).
// After Trip faults in a row the circuit opens: no request tries Redis
// (none waits on it) while a background call probes it every ProbeEvery;
// the probe's success closes the circuit. Opening and closing are each
// logged once.
//
// All of one request's keys are touched by one script, so on Redis Cluster
// they must share a hash slot: give the Prefix a hash tag ("{chorus-rl}:").
type Redis struct {
	c    redis.UniversalClient
	opts RedisOptions
	id   string // this instance in the fleet count

	circuit *circuit
	fb      *fallback
	local   atomic.Int64 // decisions made without Redis since the circuit opened

	running atomic.Bool // the background loop runs: start's fast path
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
	Prefix   string // key prefix; default "chorus:rl:"
	FailOpen bool   // Redis cannot decide: decide in process on the local share (true) or refuse with EUNAVAILABLE
	// Timeout bounds one Redis call; default DefaultTimeout.
	Timeout time.Duration
	// Trip is how many faults in a row open the circuit; default 3.
	Trip int
	// ProbeEvery is how often an open circuit is probed, off the request
	// path; default 1s.
	ProbeEvery time.Duration
	// Share divides every limit for the in-process decisions made while
	// Redis cannot: each instance enforces ⌈L/Share⌉. 0 (the default)
	// divides by the live instances counted on Redis by their heartbeats.
	Share int
	// Heartbeat is how often this instance says it is alive and counts the
	// fleet; default 5s.
	Heartbeat time.Duration
	Lease     time.Duration // concurrency lease, renewed every Lease/3 while held; default 30s
	Logger    *slog.Logger  // the circuit opening and closing; nil discards them
	// OnFault is called for every decision or release made without Redis
	// (count it in chorus_ratelimit_faults_total).
	OnFault func(err error)
	// OnCircuit is told when the circuit opens (true) and closes (false).
	OnCircuit func(open bool)
	// Observe, if set, is told how long every Redis call took and how it
	// ended (chorus_ratelimit_redis_seconds).
	Observe func(took time.Duration, err error)
	// Now, for tests, replaces Redis's clock (TIME) in decisions and the
	// clock of the in-process fallback.
	Now func() time.Time
}

// DefaultTimeout is the default bound on one Redis call. On a busy two-core
// machine a healthy Redis answers 4–6% of calls after more than 50 ms and
// a few in ten thousand after 250 ms (bench/limitload_test.go): the bound
// must sit above that jitter, or ordinary load counts as an outage. With
// the circuit open no request waits on Redis at all, so only the requests
// in flight when Redis goes pay it.
const DefaultTimeout = 500 * time.Millisecond

// ErrCircuitOpen is the fault of a decision made without trying Redis,
// while the circuit is open after faults in a row.
var ErrCircuitOpen = errors.New("rate limit store unavailable (circuit open after repeated faults)")

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
// the lease renewal and the heartbeat.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "chorus:rl:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Trip <= 0 {
		opts.Trip = 3
	}
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 5 * time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Redis{
		c: client, opts: opts, id: instanceID(), live: make(map[*Ticket]struct{}),
		circuit: newCircuit(opts.Trip), fb: newFallback(opts.Share, opts.Now),
	}
}

// NewRedisClient returns a client for url (redis://, rediss:// or unix://)
// fit for limiting: it honours each call's deadline, and never retries a
// call, which could apply a script twice. A new connection costs one round
// trip (no identity or maintenance-notification handshakes), so replacing
// one that a timeout closed stays cheap.
func NewRedisClient(url string, timeout time.Duration) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if timeout > 0 {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
		o.PoolTimeout = timeout
	}
	return redis.NewClient(o), nil
}

// Close stops renewing leases and leaves the fleet count. Tickets still
// held keep their slots until their leases expire.
func (r *Redis) Close() {
	r.mu.Lock()
	started, stop, stopped := r.started, r.stop, r.stopped
	r.started = false
	r.running.Store(false)
	r.mu.Unlock()
	if started {
		close(stop)
		<-stopped
		r.leave()
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
	r.start()
	tokens = max(tokens, 0)
	member := ""
	for i := range dims {
		if dims[i].lim.Concurrency > 0 {
			member = strconv.FormatUint(randUint64(), 36)
			break
		}
	}
	args := make([]any, 0, 4+3*len(dims))
	args = append(args, r.nowArg(), int64(r.opts.Lease/time.Microsecond), member, tokens)
	for i := range dims {
		l := &dims[i].lim
		args = append(args, max(l.RPM, 0), max(l.TPM, 0), max(l.Concurrency, 0))
	}
	res, err := r.call(ctx, admitScript, r.keys(dims), args)
	if err != nil {
		return r.without(ctx, dims, tokens, err)
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

// without decides when Redis could not: in process on the local share
// (FailOpen), else refused with EUNAVAILABLE. A caller that gave up gets
// its context's error.
func (r *Redis) without(ctx context.Context, dims []dim, tokens int64, err error) (Decision, *Ticket, error) {
	if ctx.Err() != nil {
		return Decision{}, nil, ctx.Err()
	}
	r.fault(err)
	if !r.opts.FailOpen {
		return Decision{}, nil, &chorus.Error{Code: chorus.EUNAVAILABLE, RetryAfter: time.Second,
			Message: "Rate limits cannot be checked right now; please try again shortly.", Err: err}
	}
	return r.fb.decide(dims, tokens)
}

// randUint64 returns a random lease member or instance ID.
func randUint64() uint64 {
	return rand.Uint64() // #nosec G404 -- only needs to be unique among concurrent leases and instances, not unpredictable
}

// call runs a script on Redis unless the circuit is open.
func (r *Redis) call(ctx context.Context, s *redis.Script, keys []string, args []any) ([]int64, error) {
	if r.circuit.isOpen() {
		return nil, ErrCircuitOpen
	}
	return r.try(ctx, s, keys, args)
}

// try runs a script within Timeout and tells the circuit how it went. A
// call the caller abandoned (its own context ended) says nothing about
// Redis.
func (r *Redis) try(ctx context.Context, s *redis.Script, keys []string, args []any) ([]int64, error) {
	cctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	start := time.Now()
	res, err := s.Run(cctx, r.c, keys, args...).Int64Slice()
	cancel()
	if r.opts.Observe != nil {
		r.opts.Observe(time.Since(start), err)
	}
	if err != nil {
		if ctx.Err() == nil && r.circuit.failure() {
			r.opened(err)
		}
		return nil, err
	}
	if r.circuit.success() {
		r.closed()
	}
	return res, nil
}

// fault counts a decision or release made without Redis.
func (r *Redis) fault(err error) {
	r.local.Add(1)
	if r.opts.OnFault != nil {
		r.opts.OnFault(err)
	}
}

// opened logs the circuit opening: once per outage, not per request.
func (r *Redis) opened(err error) {
	if r.opts.OnCircuit != nil {
		r.opts.OnCircuit(true)
	}
	if r.opts.FailOpen {
		r.opts.Logger.Warn("rate limiter: redis unavailable, enforcing this instance's share of every limit in process",
			"err", err, "faults_in_a_row", r.opts.Trip, "share", "1/"+strconv.FormatInt(r.fb.divisor(), 10), "probe_every", r.opts.ProbeEvery)
		return
	}
	r.opts.Logger.Warn("rate limiter: redis unavailable, refusing requests (fail-closed)",
		"err", err, "faults_in_a_row", r.opts.Trip, "probe_every", r.opts.ProbeEvery)
}

// closed logs the circuit closing: shared limits again.
func (r *Redis) closed() {
	if r.opts.OnCircuit != nil {
		r.opts.OnCircuit(false)
	}
	r.opts.Logger.Info("rate limiter: redis reachable again, shared limits restored", "decided_without_redis", r.local.Swap(0))
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
	if _, err := r.call(context.Background(), releaseScript, r.keys(dims), args); err != nil {
		r.fault(err)
	}
}

// hold registers a ticket's lease for renewal.
func (r *Redis) hold(t *Ticket) {
	r.mu.Lock()
	r.live[t] = struct{}{}
	r.mu.Unlock()
}

// start starts the background loop (lease renewal, heartbeat) on the
// first decision.
func (r *Redis) start() {
	if r.running.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return
	}
	r.started = true
	r.running.Store(true)
	r.stop, r.stopped = make(chan struct{}), make(chan struct{})
	go r.background(r.stop, r.stopped)
}

// background renews leases every Lease/3 and beats every Heartbeat; while
// the circuit is open the heartbeat is the probe, every ProbeEvery.
func (r *Redis) background(stop, stopped chan struct{}) {
	defer close(stopped)
	r.heartbeat()
	last := time.Now()
	renew := time.NewTicker(r.opts.Lease / 3)
	defer renew.Stop()
	tick := time.NewTicker(min(r.opts.ProbeEvery, r.opts.Heartbeat))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-renew.C:
			r.renew()
		case now := <-tick.C:
			if r.circuit.isOpen() || now.Sub(last) >= r.opts.Heartbeat {
				r.heartbeat()
				last = now
			}
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
			_, _ = r.call(context.Background(), renewScript, keys, args)
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
