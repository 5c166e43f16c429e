package limit

import "sync/atomic"

// circuit decides whether requests call Redis. Closed, every call goes to
// Redis; a fault there costs only that call (its decision is made without
// Redis). After trip faults in a row it opens: no request tries Redis
// until a call made off the request path (the background probe) succeeds.
// One slow call on a busy machine is not an outage; several in a row are.
type circuit struct {
	trip   int64
	inARow atomic.Int64 // faults since the last success
	open   atomic.Bool
}

func newCircuit(trip int) *circuit { return &circuit{trip: int64(trip)} }

// isOpen reports whether requests skip Redis.
func (c *circuit) isOpen() bool { return c.open.Load() }

// success records a call that Redis answered. closed is true for the one
// success that closed an open circuit.
func (c *circuit) success() (closed bool) {
	c.inARow.Store(0)
	return c.open.Load() && c.open.CompareAndSwap(true, false)
}

// failure records a call that Redis did not answer in time. opened is true
// for the one failure that opened the circuit.
func (c *circuit) failure() (opened bool) {
	if c.inARow.Add(1) < c.trip {
		return false
	}
	return c.open.CompareAndSwap(false, true)
}
