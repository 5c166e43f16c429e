package limit

import (
	"context"
	_ "embed"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// fallback decides what Redis cannot: in process (a Memory), on this
// instance's share of every limit. With n instances sharing Redis each
// takes ⌈L/n⌉ of a limit L (at least 1), so a fleet that lost Redis still
// admits roughly L in all, as long as its load balancer spreads a subject's
// requests evenly. n is Share when set, else the live instances last
// counted on Redis (their heartbeats), else 1.
type fallback struct {
	mem   *Memory
	share int          // fixed divisor; 0: the fleet count
	fleet atomic.Int64 // live instances last counted on Redis; 0: never counted
}

func newFallback(share int, now func() time.Time) *fallback {
	return &fallback{mem: NewMemory(now), share: share}
}

// divisor is the number of instances a limit is divided among.
func (f *fallback) divisor() int64 {
	if f.share > 0 {
		return int64(f.share)
	}
	return max(f.fleet.Load(), 1)
}

// decide makes a decision in process on the local share of dims' limits.
// Its Ticket, if any, is released in process too.
func (f *fallback) decide(dims []dim, tokens int64) (Decision, *Ticket, error) {
	n := f.divisor()
	var buf [maxDims]dim
	local := buf[:len(dims)]
	copy(local, dims)
	for i := range local {
		local[i].lim = localShare(local[i].lim, n, tokens)
	}
	d, t, err := f.mem.decide(local, tokens)
	d.Degraded = true
	return d, t, err
}

// localShare is one instance's share of l among n. A tokens limit is never
// cut below the request's own estimate when the whole limit admits it: such
// a request is not TooLarge, it only has to wait until this instance's
// bucket is full.
func localShare(l Limits, n, tokens int64) Limits {
	part := func(v int64) int64 {
		if v <= 0 {
			return 0
		}
		return max((v+n-1)/n, 1)
	}
	out := Limits{RPM: part(l.RPM), TPM: part(l.TPM), Concurrency: part(l.Concurrency)}
	if l.TPM > 0 && out.TPM < tokens && tokens <= l.TPM {
		out.TPM = tokens
	}
	return out
}

//go:embed fleet.lua
var fleetSrc string

var fleetScript = redis.NewScript(fleetSrc)

// heartbeat tells Redis this instance is alive for three Heartbeat periods
// and learns how many are: the divisor of the local shares. It tries Redis
// even with the circuit open: it is the probe that closes it.
func (r *Redis) heartbeat() {
	ttl := 3 * r.opts.Heartbeat
	res, err := r.try(context.Background(), fleetScript, []string{r.opts.Prefix + "instances"},
		[]any{r.nowArg(), int64(ttl / time.Microsecond), r.id})
	if err == nil && len(res) == 1 && res[0] > 0 {
		r.fb.fleet.Store(res[0])
	}
}

// leave removes this instance from the fleet count (at Close), so that the
// others' shares grow at once rather than when its heartbeat expires.
func (r *Redis) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	_ = r.c.ZRem(ctx, r.opts.Prefix+"instances", r.id).Err()
}

// FleetSize is the number of live instances last counted on Redis (0 before
// the first count): what the local shares divide by unless Share is set.
func (r *Redis) FleetSize() int { return int(r.fb.fleet.Load()) }

// instanceID names this limiter in the fleet count.
func instanceID() string {
	return strconv.FormatUint(randUint64(), 36)
}
