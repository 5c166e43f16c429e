package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
)

// DBHealth is the one circuit that says whether the database is reachable,
// so that what needs it answers at once when it is not — strict billing
// and the management API with a 503, fast billing and the usage writer by
// spooling — instead of each waiting for a connection timeout.
//
// A ping every Interval (every Interval/4 while down) decides; a store call
// that failed with anything but a domain error (Failed) pings at once. A
// failed ping is tried once more before the circuit opens, so one dead
// pooled connection does not open it. It logs one line when the database
// goes away and one when it returns.
type DBHealth struct {
	ping     func(ctx context.Context) error
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
	timeout  time.Duration

	down    atomic.Bool
	outages atomic.Int64
	nudge   chan struct{}

	mu        sync.Mutex
	downSince time.Time
	lastErr   error
	recovered []func() // called (in Run's goroutine) when the database returns
}

// NewDBHealth returns a circuit over ping, closed (up) until a ping fails.
func NewDBHealth(ping func(ctx context.Context) error, interval, timeout time.Duration, log *slog.Logger) *DBHealth {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DBHealth{ping: ping, log: log, now: time.Now, interval: interval, timeout: timeout,
		nudge: make(chan struct{}, 1)}
}

// Down reports whether the database is unreachable. A nil *DBHealth never is.
func (h *DBHealth) Down() bool { return h != nil && h.down.Load() }

// DownSince returns when the current outage began (zero when up) and the
// error that began it.
func (h *DBHealth) DownSince() (time.Time, error) {
	if h == nil {
		return time.Time{}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.downSince, h.lastErr
}

// Outages returns how many times the database went away.
func (h *DBHealth) Outages() int64 {
	if h == nil {
		return 0
	}
	return h.outages.Load()
}

// Failed tells the circuit that a store call failed: unless err is a
// domain error (a *chorus.Error: not found, conflict, quota …) or a
// cancelled request, the database is pinged at once.
func (h *DBHealth) Failed(err error) {
	if h == nil || err == nil || errors.Is(err, context.Canceled) {
		return
	}
	var ce *chorus.Error
	if errors.As(err, &ce) {
		return
	}
	select {
	case h.nudge <- struct{}{}:
	default:
	}
}

// OnRecover registers fn to run when the database returns after an outage
// (call before Run).
func (h *DBHealth) OnRecover(fn func()) {
	if h != nil {
		h.recovered = append(h.recovered, fn)
	}
}

// Run pings until ctx ends (a nil *DBHealth returns at once).
func (h *DBHealth) Run(ctx context.Context) {
	if h == nil {
		return
	}
	t := time.NewTimer(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.nudge:
		}
		h.Check(ctx)
		next := h.interval
		if h.Down() {
			next = max(h.interval/4, 50*time.Millisecond)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// Check pings the database (twice before it says down) and moves the
// circuit.
func (h *DBHealth) Check(ctx context.Context) {
	err := h.pingOnce(ctx)
	if err != nil && ctx.Err() == nil {
		err = h.pingOnce(ctx)
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		h.open(err)
		return
	}
	h.close()
}

func (h *DBHealth) pingOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	return h.ping(ctx)
}

// open marks the database down, logging the first failure only.
func (h *DBHealth) open(err error) {
	h.mu.Lock()
	h.lastErr = err
	if h.down.Load() {
		h.mu.Unlock()
		return
	}
	h.downSince = h.now()
	h.down.Store(true)
	h.mu.Unlock()
	h.outages.Add(1)
	h.log.Error("database unreachable: strict billing and the management API answer 503, fast billing and usage are spooled until it returns",
		"err", err)
}

// close marks the database up again, logging how long it was away.
func (h *DBHealth) close() {
	h.mu.Lock()
	if !h.down.Load() {
		h.mu.Unlock()
		return
	}
	since := h.downSince
	h.downSince, h.lastErr = time.Time{}, nil
	h.down.Store(false)
	h.mu.Unlock()
	h.log.Info("database reachable again", "outage", h.now().Sub(since).Round(time.Millisecond).String())
	for _, fn := range h.recovered {
		fn()
	}
}
