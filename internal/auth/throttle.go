package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/redis/go-redis/v9"
)

// The login throttle counts failed sign-ins per account and per client
// address, so that guessing one account's password, or many accounts'
// passwords from one address, is slowed to a handful of tries per window.
//
// Why not package limit: its buckets all refill over one minute (a limit of
// L per minute allows a burst of L), while a useful login limit is a small
// burst over a long window (10 per 15 minutes); its Redis keys also expire
// on that one-minute scale. The arithmetic here is the same GCRA, over a
// configurable window: a subject may fail Max times at once, and each
// failure's allowance comes back Window/Max later. Like package limit it
// runs in process or on Redis, with one script per decision so that all of
// an attempt's subjects are taken together or not at all, on every
// instance.

// ThrottleRule is one limit: at most Max failed attempts in any Window per
// subject. Max 0 disables the rule.
type ThrottleRule struct {
	Max    int
	Window time.Duration
}

func (r ThrottleRule) off() bool { return r.Max <= 0 || r.Window <= 0 }

// Subject is what an attempt counts against: an account or an address.
type Subject struct {
	key  string
	rule ThrottleRule
}

// ThrottleOptions configure a Throttle.
type ThrottleOptions struct {
	Account ThrottleRule // per account (email as typed, whether or not it exists)
	IP      ThrottleRule // per client address (IPv6: per /64)
	// Redis shares the counts between instances; nil counts in process.
	// When Redis fails, the throttle counts in process until it answers
	// again: degraded to per instance, never open.
	Redis   redis.UniversalClient
	Prefix  string        // Redis key prefix; default "chorus:login:"
	Timeout time.Duration // one Redis call; default 100ms
	// Now replaces the clock (tests); nil means the local clock in
	// process and Redis's own clock (TIME) on Redis, one for every instance.
	Now    func() time.Time
	Logger *slog.Logger // Redis faults; nil discards them
}

// Throttle limits failed sign-in attempts. It is safe for concurrent use.
type Throttle struct {
	opts    ThrottleOptions
	now     func() time.Time
	mem     *memoryBuckets
	lastLog atomic.Int64 // unix ns of the last Redis fault logged
}

// NewThrottle returns a throttle.
func NewThrottle(o ThrottleOptions) *Throttle {
	if o.Prefix == "" {
		o.Prefix = "chorus:login:"
	}
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Throttle{opts: o, now: now, mem: &memoryBuckets{tat: make(map[string]int64)}}
}

// Account returns the subject for attempts on the account named by email,
// as typed (trimmed and lower-cased here). The key is a hash, so the
// throttle's store never holds addresses.
func (t *Throttle) Account(email string) Subject {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return Subject{key: "a:" + hex.EncodeToString(h[:16]), rule: t.opts.Account}
}

// IP returns the subject for attempts from a client address: the IPv4
// address, or the /64 network of an IPv6 address (a host is usually given
// a whole /64, so counting single IPv6 addresses would count nothing). An
// empty or unparseable address is counted as given.
func (t *Throttle) IP(ip string) Subject {
	key := ip
	if a, err := netip.ParseAddr(ip); err == nil {
		a = a.Unmap()
		if a.Is6() {
			p, _ := a.Prefix(64)
			key = p.String()
		} else {
			key = a.String()
		}
	}
	return Subject{key: "i:" + key, rule: t.opts.IP}
}

// Attempt is one admitted attempt; its allowance stays taken unless it
// Succeeded.
type Attempt struct {
	t       *Throttle
	buckets []bucket
	done    atomic.Bool
}

// Begin takes one attempt's allowance from every subject, all or none,
// before the password is checked, so that parallel guesses cannot all slip
// in before the first failure is counted. Refused, it returns an
// ERATELIMIT error with the RetryAfter and a message that says nothing
// about whether the account exists.
func (t *Throttle) Begin(ctx context.Context, subjects ...Subject) (*Attempt, error) {
	bs := make([]bucket, 0, len(subjects))
	for _, s := range subjects {
		if s.rule.off() {
			continue
		}
		w := s.rule.Window.Microseconds()
		bs = append(bs, bucket{key: s.key, interval: max(1, w/int64(s.rule.Max)), window: w})
	}
	a := &Attempt{t: t, buckets: bs}
	if len(bs) == 0 {
		return a, nil
	}
	retry, err := t.take(ctx, bs)
	if err != nil {
		return nil, err
	}
	if retry > 0 {
		return nil, &chorus.Error{Code: chorus.ERATELIMIT, RetryAfter: retry,
			Message: "Too many failed sign-in attempts. Try again in " + humanWait(retry) + "."}
	}
	return a, nil
}

// Succeeded gives the attempt's allowance back: only failures count. Only
// the first call counts.
func (a *Attempt) Succeeded(ctx context.Context) {
	if a == nil || len(a.buckets) == 0 || !a.done.CompareAndSwap(false, true) {
		return
	}
	a.t.give(ctx, a.buckets)
}

func (t *Throttle) nowMicros() int64 { return t.now().UnixMicro() }

func (t *Throttle) take(ctx context.Context, bs []bucket) (time.Duration, error) {
	if t.opts.Redis != nil {
		retry, err := t.redisCall(ctx, "take", bs)
		if err == nil {
			return time.Duration(retry) * time.Microsecond, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		t.fault(err)
	}
	return time.Duration(t.mem.take(t.nowMicros(), bs)) * time.Microsecond, nil
}

func (t *Throttle) give(ctx context.Context, bs []bucket) {
	if t.opts.Redis != nil {
		if _, err := t.redisCall(context.WithoutCancel(ctx), "give", bs); err == nil {
			return
		} else {
			t.fault(err)
		}
	}
	t.mem.give(t.nowMicros(), bs)
}

// fault logs a Redis failure, at most every 10 s.
func (t *Throttle) fault(err error) {
	now := time.Now().UnixNano()
	if last := t.lastLog.Load(); now-last > int64(10*time.Second) && t.lastLog.CompareAndSwap(last, now) {
		t.opts.Logger.Warn("login throttle: Redis unavailable; counting failed logins in this instance only", "err", err)
	}
}

// humanWait words a wait for people: seconds under two minutes, whole
// minutes (rounded up) beyond.
func humanWait(d time.Duration) string {
	if d < 2*time.Minute {
		s := int((d + time.Second - 1) / time.Second)
		if s == 1 {
			return "1 second"
		}
		return strconv.Itoa(s) + " seconds"
	}
	return strconv.Itoa(int((d+time.Minute-1)/time.Minute)) + " minutes"
}

// bucket is one subject's GCRA state key and parameters, in µs.
type bucket struct {
	key      string
	interval int64 // Window / Max: the time one attempt's allowance takes to come back
	window   int64
}

// takeTAT is the GCRA step shared by both stores: taking one unit at now
// from a bucket whose theoretical arrival time is tat. It returns the new
// TAT, or the wait until the unit would fit.
func takeTAT(tat, now int64, b bucket) (next, wait int64) {
	next = max(tat, now) + b.interval
	if over := next - now - b.window; over > 0 {
		return tat, over
	}
	return next, 0
}

// memoryBuckets is the in-process store: TATs in µs since the Unix epoch.
// An entry lives only until its TAT passes; a sweep every sweepEvery
// decisions drops those, so memory is bounded by the attempts of one
// window.
type memoryBuckets struct {
	mu  sync.Mutex
	tat map[string]int64
	ops int
}

const sweepEvery = 4096

func (m *memoryBuckets) take(now int64, bs []bucket) (wait int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	next := make([]int64, len(bs))
	for i, b := range bs {
		n, w := takeTAT(m.tat[b.key], now, b)
		wait = max(wait, w)
		next[i] = n
	}
	if wait > 0 {
		return wait
	}
	for i, b := range bs {
		m.tat[b.key] = next[i]
	}
	return 0
}

func (m *memoryBuckets) give(now int64, bs []bucket) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range bs {
		if tat, ok := m.tat[b.key]; ok {
			if tat -= b.interval; tat > now {
				m.tat[b.key] = tat
			} else {
				delete(m.tat, b.key)
			}
		}
	}
}

// sweep drops expired entries every sweepEvery calls. The caller holds mu.
func (m *memoryBuckets) sweep(now int64) {
	if m.ops++; m.ops < sweepEvery {
		return
	}
	m.ops = 0
	for k, tat := range m.tat {
		if tat <= now {
			delete(m.tat, k)
		}
	}
}

// throttleScript is takeTAT for every bucket at once on Redis, all or
// none ("take"), or the refund of one unit each ("give"). Times are
// integers of µs (doubles in Lua, exact below 2^53), written back with
// %.0f so no precision is lost to Lua's number formatting. A key expires
// when its TAT passes (plus a second), when it would be full anyway.
//
// KEYS: the buckets. ARGV: mode, now (µs; 0 takes Redis's clock), then
// interval and window per bucket. Returns the wait in µs (0: taken).
var throttleScript = redis.NewScript(`
local mode = ARGV[1]
local now = tonumber(ARGV[2])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function store(key, tat)
  if tat <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
  end
end
if mode == 'give' then
  for i = 1, #KEYS do
    local tat = tonumber(redis.call('GET', KEYS[i]))
    if tat then store(KEYS[i], tat - tonumber(ARGV[1 + 2 * i])) end
  end
  return 0
end
local wait, nxt = 0, {}
for i = 1, #KEYS do
  local interval, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or 0
  local n = math.max(tat, now) + interval
  local over = n - now - window
  if over > 0 then
    if over > wait then wait = over end
  end
  nxt[i] = n
end
if wait > 0 then return wait end
for i = 1, #KEYS do store(KEYS[i], nxt[i]) end
return 0
`)

// redisCall runs throttleScript within the timeout.
func (t *Throttle) redisCall(ctx context.Context, mode string, bs []bucket) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, t.opts.Timeout)
	defer cancel()
	keys := make([]string, len(bs))
	args := make([]any, 0, 2+2*len(bs))
	var now int64 // 0: the script reads Redis's clock
	if t.opts.Now != nil {
		now = t.nowMicros()
	}
	args = append(args, mode, now)
	for i, b := range bs {
		keys[i] = t.opts.Prefix + b.key
		args = append(args, b.interval, b.window)
	}
	v, err := throttleScript.Run(ctx, t.opts.Redis, keys, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("login throttle: %w", err)
	}
	return v, nil
}
