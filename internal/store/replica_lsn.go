package store

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// lsn is a PostgreSQL WAL position (pg_lsn): a byte offset into the WAL,
// written "X/Y" with the high and low 32 bits in hex.
type lsn uint64

// parseLSN parses the text form of a pg_lsn.
func parseLSN(s string) (lsn, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("WAL position %q: want X/Y in hex", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("WAL position %q: want X/Y in hex", s)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("WAL position %q: want X/Y in hex", s)
	}
	return lsn(h<<32 | l), nil
}

// String returns the pg_lsn text form.
func (l lsn) String() string {
	return strconv.FormatUint(uint64(l)>>32, 16) + "/" + strconv.FormatUint(uint64(l)&0xFFFFFFFF, 16)
}

// walHistory remembers where the primary's WAL stood over the last while,
// so that a replica's replay position can be turned into a lag in time:
// a replica that has replayed up to position r shows the primary as it was
// the last time the primary was seen at or before r. Unlike
// now() - pg_last_xact_replay_timestamp(), this stays 0 while an idle
// primary writes nothing, and grows from the moment the primary moves on
// past a replica that does not follow (replay paused, or too slow).
type walHistory struct {
	mu      sync.Mutex
	keep    time.Duration // forget positions seen longer ago than this
	samples []walSample   // ascending in pos and in seen
}

// walSample is a primary WAL position and the first and last time it was
// seen current.
type walSample struct {
	pos         lsn
	first, seen time.Time
}

// add records that the primary's WAL stood at pos at time at.
func (h *walHistory) add(at time.Time, pos lsn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.samples); n > 0 && h.samples[n-1].pos >= pos {
		// The primary has not moved (or the reading raced another): the
		// newest position is still current at at.
		if at.After(h.samples[n-1].seen) {
			h.samples[n-1].seen = at
		}
	} else {
		h.samples = append(h.samples, walSample{pos: pos, first: at, seen: at})
	}
	cut := 0
	for cut < len(h.samples)-1 && at.Sub(h.samples[cut].seen) > h.keep {
		cut++
	}
	h.samples = append(h.samples[:0], h.samples[cut:]...)
}

// lag returns how stale a replica that has replayed up to replay is at
// time now: 0 when it has replayed the newest position seen; else now
// minus the last time the primary stood at or before replay; when replay
// is older than everything remembered, now minus the first time the
// oldest position was seen (a lower bound, and more than the max lag
// because the history is kept longer than that). ok is false before the
// first sample.
func (h *walHistory) lag(now time.Time, replay lsn) (lag time.Duration, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.samples)
	if n == 0 {
		return 0, false
	}
	if replay >= h.samples[n-1].pos {
		return 0, true
	}
	for i := n - 2; i >= 0; i-- {
		if h.samples[i].pos <= replay {
			return max(0, now.Sub(h.samples[i].seen)), true
		}
	}
	return max(0, now.Sub(h.samples[0].first)), true
}

// newest returns the newest primary position seen (0 before any).
func (h *walHistory) newest() lsn {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == 0 {
		return 0
	}
	return h.samples[len(h.samples)-1].pos
}
