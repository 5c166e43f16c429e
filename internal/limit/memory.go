package limit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Memory is the in-process limiter, for one instance. Buckets live in
// sharded maps, each shard behind its own mutex; a decision locks only the
// shards of its subjects, in index order. A bucket that is full again and
// holds no slot is indistinguishable from one never used, so each shard
// drops such entries at most every SweepEvery when it is next touched:
// memory stays proportional to the subjects active in the last minute or
// so, however many there have been.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [numShards]shard
}

var (
	_ Limiter  = (*Memory)(nil)
	_ releaser = (*Memory)(nil)
)

const numShards = 512

// SweepEvery is how often a shard drops its idle entries.
const SweepEvery = 30 * time.Second

// key names one subject's entry.
type key struct {
	id    int64
	name  string
	scope scope
}

// entry is one subject's buckets: TATs in µs (0: never used) and the
// concurrency slots held.
type entry struct {
	req, tok float64
	conc     int64
}

func (e *entry) idle(now float64) bool { return e.req <= now && e.tok <= now && e.conc <= 0 }

type shard struct {
	mu    sync.Mutex
	m     map[key]entry
	swept float64  // µs
	_     [40]byte // keep shards on separate cache lines
}

// NewMemory returns an in-process limiter reading the time from now
// (time.Now when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	m := &Memory{now: now, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = make(map[key]entry)
	}
	return m
}

func (d *dim) key() key { return key{id: d.id, name: d.name, scope: d.scope} }

func (m *Memory) shardOf(k key) int {
	h := uint64(k.id) ^ uint64(k.scope)<<56 // #nosec G115 -- hash mixing: the bits are what matters, not the value
	if k.name != "" {
		h ^= maphash.String(m.seed, k.name)
	}
	// murmur3's finaliser: sequential IDs spread over every shard.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return int(h % numShards)
}

// locked is the set of shards a decision holds, in ascending order.
type locked struct {
	order [maxDims]int
	n     int
}

// lock locks the shards of dims in ascending order, once each, and stores
// the shard index of every dim in idx.
func (m *Memory) lock(dims []dim, idx *[maxDims]int) locked {
	var l locked
	for i := range dims {
		s := m.shardOf(dims[i].key())
		idx[i] = s
		j := l.n
		for j > 0 && l.order[j-1] > s {
			j--
		}
		if j > 0 && l.order[j-1] == s {
			continue
		}
		copy(l.order[j+1:l.n+1], l.order[j:l.n])
		l.order[j] = s
		l.n++
	}
	for i := 0; i < l.n; i++ {
		m.shards[l.order[i]].mu.Lock()
	}
	return l
}

func (m *Memory) unlock(l *locked) {
	for i := l.n - 1; i >= 0; i-- {
		m.shards[l.order[i]].mu.Unlock()
	}
}

// Admit implements Limiter.
func (m *Memory) Admit(ctx context.Context, r *Request) (Decision, *Ticket, error) {
	var buf [maxDims]dim
	dims := r.subjects(&buf)
	return m.decide(dims, r.Tokens)
}

// TryDeployment implements Limiter.
func (m *Memory) TryDeployment(ctx context.Context, deployment string, l Limits, tokens int64) (Decision, *Ticket, error) {
	if l.IsZero() {
		return Decision{Allowed: true}, nil, nil
	}
	dims := [1]dim{{scope: scopeDeployment, name: deployment, lim: l}}
	return m.decide(dims[:], tokens)
}

func (m *Memory) decide(dims []dim, tokens int64) (Decision, *Ticket, error) {
	if len(dims) == 0 {
		return Decision{Allowed: true}, nil, nil
	}
	tokens = max(tokens, 0)
	now := sinceEpoch(m.now())
	var idx [maxDims]int
	held := m.lock(dims, &idx)
	defer m.unlock(&held)

	var (
		entries [maxDims]entry
		st      [maxDims]state
		v       = verdict{allowed: true}
	)
	for i := range dims {
		l, sh := &dims[i].lim, &m.shards[idx[i]]
		e := sh.m[dims[i].key()]
		if l.RPM > 0 {
			if tat, ok, over := gcra(e.req, now, l.RPM, 1); ok {
				e.req = tat
			} else {
				v.refuse(i, kindRequests, roundMicros(over))
			}
		}
		if l.TPM > 0 {
			if tokens > l.TPM {
				v.refuse(i, kindTooLarge, 0)
			} else if tat, ok, over := gcra(e.tok, now, l.TPM, tokens); ok {
				e.tok = tat
			} else {
				v.refuse(i, kindTokens, roundMicros(over))
			}
		}
		if l.Concurrency > 0 {
			if e.conc >= l.Concurrency {
				v.refuse(i, kindConcurrency, int64(ConcurrencyRetry/time.Microsecond))
			} else {
				e.conc++
			}
		}
		entries[i] = e
	}
	for i := range dims {
		l, sh, k := &dims[i].lim, &m.shards[idx[i]], dims[i].key()
		e := entries[i]
		if v.allowed {
			sh.m[k] = e
		} else {
			e = sh.m[k] // report the buckets as they stay
		}
		s := &st[i]
		if l.RPM > 0 {
			s.reqRemaining, s.reqReset = remaining(e.req, now, l.RPM), reset(e.req, now)
		}
		if l.TPM > 0 {
			s.tokRemaining, s.tokReset = remaining(e.tok, now, l.TPM), reset(e.tok, now)
		}
		s.inUse = e.conc
		sh.maybeSweep(now)
	}
	d := decision(v, dims, st[:len(dims)], tokens)
	if !v.allowed {
		return d, nil, nil
	}
	return d, newTicket(m, dims, tokens), nil
}

// release implements releaser: the tokens correction and the slots.
func (m *Memory) release(t *Ticket, actual int64) {
	dims := t.subjects()
	now := sinceEpoch(m.now())
	var idx [maxDims]int
	held := m.lock(dims, &idx)
	defer m.unlock(&held)
	delta := max(actual, 0) - t.estimate
	for i := range dims {
		l, sh, k := &dims[i].lim, &m.shards[idx[i]], dims[i].key()
		e, ok := sh.m[k]
		if l.TPM > 0 && delta != 0 {
			e.tok = correct(e.tok, now, l.TPM, delta)
		}
		if l.Concurrency > 0 && e.conc > 0 {
			e.conc--
		}
		switch {
		case !e.idle(now):
			sh.m[k] = e
		case ok:
			delete(sh.m, k)
		}
	}
}

// maybeSweep drops the shard's idle entries if it has not for SweepEvery.
// The caller holds the shard's lock.
func (s *shard) maybeSweep(now float64) {
	if now-s.swept < float64(SweepEvery/time.Microsecond) {
		return
	}
	s.sweep(now)
}

func (s *shard) sweep(now float64) int {
	s.swept = now
	n := 0
	for k, e := range s.m {
		if e.idle(now) {
			delete(s.m, k)
			n++
		}
	}
	return n
}

// Sweep drops every idle entry now and returns how many it dropped. It is
// not needed for correctness; shards sweep themselves as they are used.
func (m *Memory) Sweep() int {
	now := sinceEpoch(m.now())
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.sweep(now)
		s.mu.Unlock()
	}
	return n
}

// Len returns the number of subjects held in memory.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
