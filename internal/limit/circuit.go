package limit

import (
	"sync/atomic"
	"time"
)

// circuit decides whether to call Redis. Closed, every call goes to Redis;
// a fault there costs only that call (its decision is made locally). After
// trip faults in a row it opens: for cooldown no call tries Redis, then one
// caller probes (half-open) while the others stay local, and the probe's
// success closes it. One slow call on a busy machine is not an outage;
// several in a row are.
type circuit struct {
	trip     int64
	cooldown time.Duration
	now      func() time.Time

	inARow    atomic.Int64 // faults since the last success
	openUntil atomic.Int64 // unix ns; 0 while closed
}

func newCircuit(trip int, cooldown time.Duration) *circuit {
	return &circuit{trip: int64(trip), cooldown: cooldown, now: time.Now}
}

// allow reports whether this call may try Redis: yes while closed; while
// open, only the one caller that claims the probe after the cooldown.
func (c *circuit) allow() bool {
	until := c.openUntil.Load()
	if until == 0 {
		return true
	}
	now := c.now().UnixNano()
	if now < until {
		return false
	}
	// Claim the probe: the next one may go only after another cooldown.
	return c.openUntil.CompareAndSwap(until, now+int64(c.cooldown))
}

// isOpen reports whether calls skip Redis now.
func (c *circuit) isOpen() bool { return c.openUntil.Load() != 0 }

// success records a call that reached Redis. closed is true for the one
// success that closed an open circuit.
func (c *circuit) success() (closed bool) {
	c.inARow.Store(0)
	until := c.openUntil.Load()
	return until != 0 && c.openUntil.CompareAndSwap(until, 0)
}

// failure records a call that Redis did not answer in time. opened is true
// for the one failure that opened a closed circuit; a failed probe keeps it
// open for another cooldown.
func (c *circuit) failure() (opened bool) {
	n := c.inARow.Add(1)
	next := c.now().Add(c.cooldown).UnixNano()
	for {
		until := c.openUntil.Load()
		if until == 0 && n < c.trip {
			return false
		}
		if c.openUntil.CompareAndSwap(until, next) {
			return until == 0
		}
	}
}
